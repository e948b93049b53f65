"""The README stays true: its configuration reference is the one the spec generates."""

from helpers import REPO
from stacks.spec.reference import BEGIN, END, render


def test_configuration_reference_matches_the_spec():
    readme = (REPO / "README.md").read_text()
    current = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert current == render(), "README configuration reference is stale: run `python -m stacks.spec.reference --write`"


def test_quick_start_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_command = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    assert test_command in readme
    assert ".venv/bin/python -m pytest" in ci
