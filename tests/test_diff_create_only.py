"""`crucible diff` on create-only inputs the program ignores after creation (issue 12, C9: bootstrapCreatorAdmin)."""

from __future__ import annotations

from helpers import plan
from stacks.tools.plan.diff import diff_plans, render

CLUSTER = "aws:eks/cluster:Cluster"


def document(**overrides) -> dict:
    run = plan("dev", stack="pr", **overrides)
    return {"resources": [r.to_json() for r in run.resources]}


def test_a_changed_creator_admin_is_neither_an_update_nor_a_replacement_and_the_diff_says_why():
    base = document()
    head = document(cluster={"bootstrapCreatorAdmin": False})
    diff = diff_plans(base, head)
    assert [c for c in diff.changes if c.type == CLUSTER] == []  # ignored by the program: nothing is applied
    assert not diff.dangerous
    (note,) = diff.notes
    assert "bootstrapCreatorAdmin is create-only" in note and "replace the cluster" in note
    assert "note: cluster: accessConfig.bootstrapClusterCreatorAdminPermissions changed and is ignored" in render(diff)
    assert diff.to_json()["notes"] == [note]


def test_a_create_only_change_beside_a_real_one_keeps_the_real_one():
    base = document()
    head = document(cluster={"bootstrapCreatorAdmin": False, "logTypes": ["api", "audit"]})
    (change,) = [c for c in diff_plans(base, head).changes if c.type == CLUSTER]
    assert change.kind == "updated" and change.fields == ["enabledClusterLogTypes"]
