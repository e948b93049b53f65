"""The shipped stacks the rendered-chart tests render (tests/rendered.py PLATFORM_STACKS, read from the specs so that
collecting the tests plans nothing) are exactly the shipped stacks whose plans register Helm releases."""

from __future__ import annotations

from helpers import shipped_report
from rendered import PLATFORM_STACKS
from stacks.tools.plan import helm
from stacks.tools.plan.locate import shipped_stacks


def test_the_stacks_whose_layers_register_helm_releases_are_the_stacks_whose_plans_do():
    registering = [s for s in shipped_stacks() if any(r["type"] == helm.RELEASE_TYPE for r in shipped_report(s)[0]["resources"])]
    assert PLATFORM_STACKS == registering
    assert "prod-core" not in PLATFORM_STACKS  # network and cluster only
