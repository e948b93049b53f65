"""Refactors keep every resource: no shipped stack's plan removes or replaces a resource of the recorded plan.

The record (tests/fixtures/plan_identity/, see tests/plan_identity.py) is the identity of each shipped stack's plan
as it was before the layer refactor (issue 14): URNs, aliases and the inputs that can force a replacement. `crucible
diff` compares it with today's plan the way it compares a pull request's base and head, so a module, parent or name
that moved without an alias shows up here as a delete-and-create.
"""

from __future__ import annotations

import json

import pytest

from helpers import shipped_report
from plan_identity import FIXTURES, identity_of
from stacks.tools.plan.diff import diff_plans
from stacks.tools.plan.locate import shipped_stacks


@pytest.mark.parametrize("stack", shipped_stacks())
def test_no_resource_of_the_recorded_plan_is_removed_or_replaced(stack):
    recorded = json.loads((FIXTURES / f"{stack}.json").read_text())
    document, _ = shipped_report(stack)
    diff = diff_plans(recorded, identity_of(document), "recorded", "today")
    lost = [f"{c.kind} {c.type} {c.name} ({c.urn}) {c.replaces}" for c in diff.changes if c.kind in ("removed", "replaced")]
    assert lost == []


def test_every_shipped_stack_has_a_record():
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(shipped_stacks())
