"""The plan's read model (stacks/tools/plan/model.py): built once from the registered resources; the report renders
it, `crucible verify` and `crucible check` read it from a saved plan, and both ways give the same views."""

from __future__ import annotations

import functools
import json

import pytest

from components.labels import POOL_LABEL
from stacks.tools.plan.model import PlanModel
from hub_config import offered_profiles
from verify_data import plan_document


@functools.lru_cache(maxsize=None)
def _planned(stack: str):
    from stacks.tools.plan.locate import plan_stack

    return plan_stack(stack)


@pytest.fixture(scope="module")
def prod():
    """prod's plan run (no report: the model of a live plan) and its model."""
    planned = _planned("prod")
    return planned, PlanModel.of(planned)


def test_a_plan_has_one_model_that_every_section_reads(prod):
    planned, model = prod
    assert PlanModel.of(planned) is model
    assert len(model.by_urn) == len(planned.run.resources) == len(model.resources)


def test_each_resource_is_in_the_layer_of_the_component_at_the_top_of_its_parent_chain(prod):
    planned, model = prod
    by_urn = {r.urn: r for r in planned.run.resources}
    for r in planned.run.resources:
        top = r
        while top.parent in by_urn:
            top = by_urn[top.parent]
        kind = top.type.split(":")
        expected = kind[1] if kind[0] == "crucible" and kind[1] in planned.spec.layers else ("providers" if kind[:2] == ["pulumi", "providers"] else "stack")
        assert model.layer_of(r.urn) == expected, r.urn
    assert {model.layer_of(r.urn) for r in planned.run.resources} >= {"network", "cluster", "compute", "storage", "platform"}


def test_every_configured_pool_is_read_back_joined_to_its_node_class(prod):
    from stacks.derive.capacity import pool_capacity

    planned, model = prod
    assert [p.name for p in model.pools] and {p.name for p in model.pools} == {p.name for p in planned.spec.pools}
    for pool in planned.spec.pools:
        registered = model.pool(pool.name)
        cap = pool_capacity(pool)
        assert registered.node_class_found and registered.node_class in model.node_classes
        assert registered.workload == pool.workload and registered.capacity_types == tuple(pool.capacity_types)
        assert registered.instance_types == tuple(cap.instance_types)
        assert dict(registered.limits) == cap.limits()
        assert registered.efa_interfaces == cap.efa_interfaces
        assert registered.max_pods == cap.max_pods
        assert registered.zones and set(registered.zones) <= set(planned.spec.availability_zones)
        assert (registered.accelerator_resource is None) == (pool.kind == "cpu")
        assert registered.labels[POOL_LABEL] == pool.name


def test_every_team_is_read_back_with_its_queue_quota_and_claims(prod):
    planned, model = prod
    assert {t.team for t in model.teams} == {t.name for t in planned.spec.teams}
    assert [t.namespace for t in model.teams] == sorted(t.namespace for t in model.teams)
    for team in model.teams:
        assert team.local_queue is not None and team.local_queue.namespace == team.namespace
        assert team.cluster_queue is not None and team.cluster_queue.name == team.local_queue.cluster_queue
        assert set(team.cluster_queue.quotas) == set(team.cluster_queue.flavors)
        assert team.pod_security in ("baseline", "restricted", "privileged")
    # every pool a ClusterQueue reaches is a pool of the plan, through a flavor pinned to it
    pools = {p.name for p in model.pools}
    for cq in model.queues.cluster_queues.values():
        assert set(cq.pools) <= pools
        assert all(model.queues.flavors[f].pool in cq.pools for f in cq.flavors if model.queues.flavors.get(f) and model.queues.flavors[f].pool)


def test_the_hub_file_systems_buckets_and_protected_resources_are_read_back(prod):
    planned, model = prod
    assert model.hub is not None and model.hub.namespace and model.hub.profiles
    # the profiles the hub offers (its profile_list callable, executed): each team's, in the team's namespace and queue
    offered = offered_profiles(model.hub.values)
    assert [p["slug"] for p in model.hub.profiles] == [e["slug"] for e in offered]
    teams = {t.team: t for t in model.teams}
    for profile in model.hub.profiles:
        team = teams[profile["team"]]
        assert profile["namespace"] == team.namespace and profile["queue"] == team.local_queue.name, profile["slug"]
        assert profile["groups"], profile["slug"]  # the hub groups whose members see it
    assert len(model.file_systems) == 1 and model.file_systems[0].zone == planned.spec.storage.lustre.zone
    assert model.buckets and all(b.protected for b in model.buckets)
    assert model.lustre_claim is not None
    assert {r["urn"] for r in model.protected} == {r.urn for r in planned.run.resources if r.custom and r.protect}


def test_a_saved_plan_reads_back_as_the_same_model_as_the_live_plan(prod):
    """What verify and check read from a saved plan is what the report rendered from the live one."""
    planned, model = prod
    saved = PlanModel.from_document(json.loads(json.dumps({"resources": [r.to_json() for r in planned.run.resources]})))
    for view in ("pools", "node_groups", "queues", "teams", "hub", "file_systems", "buckets", "lustre_claim", "claims"):
        assert getattr(saved, view) == getattr(model, view), view
    assert [r["urn"] for r in saved.protected] == [r["urn"] for r in model.protected]


def test_the_report_reads_the_resources_without_changing_them():
    """The document's resources are the model's records, shared by every section (policies and workloads too)."""
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.report import build_report

    planned = plan_stack("dev")
    before = [r.to_json() for r in planned.run.resources]
    document, _ = build_report(planned)
    assert document["resources"] == before
    assert document["resources"] is PlanModel.of(planned).resources


def test_verify_targets_are_the_models_pools_queues_claim_and_hub():
    from stacks.tools.verify.targets import targets_from_plan

    document = plan_document()
    model = PlanModel.from_document(document)
    targets = targets_from_plan(document)
    assert [p.name for p in targets.pools] == sorted(p.name for p in model.pools)
    for target in targets.pools:
        pool = model.pool(target.name)
        assert (target.node_class, target.workload, target.taints) == (pool.node_class, pool.workload, pool.taints)
        assert target.queue == model.queues.for_pool().get(target.name)
    assert [(q.namespace, q.name) for q in targets.queues] == sorted((q.namespace, q.name) for q in model.queues.local_queues)
    assert (targets.lustre.namespace, targets.lustre.claim) == (model.lustre_claim.namespace, model.lustre_claim.name)
    assert targets.hub.namespace == model.hub.namespace


def test_a_pool_is_reached_by_the_first_local_queue_whose_cluster_queue_pins_it():
    model = PlanModel.from_document(plan_document())
    assert model.queues.for_pool() == {"train": ("team-research", "training")}


def test_check_reads_the_workloads_of_a_saved_plan_again_from_its_edited_resources():
    """An edited plan: the NodePools removed, every saved workload lands nowhere when checked again."""
    from tests.helpers import report_copy

    document = report_copy("dev")
    document["resources"] = [r for r in document["resources"] if r["type"] != "kubernetes:karpenter.sh/v1:NodePool"]
    model = PlanModel.from_document(document)
    assert model.pools == ()
    block = model.workloads
    tenants = [w for w in block["workloads"] if w.get("source") == "example"]
    assert tenants and all(not w["checks"]["lands"]["ok"] for w in tenants)
    assert any(v["check"] == "lands" and v["level"] == "mandatory" for v in block["violations"])


def test_the_models_records_are_the_captured_resources_as_a_saved_plan_holds_them(prod):
    """record_of gives what CapturedResource.to_json() gives, key for key and in the same order, as its own copy."""
    from stacks.tools.plan.model import record_of

    planned, model = prod
    for r, record in zip(planned.run.resources, model.resources):
        expected = r.to_json()
        assert record == expected and list(record) == list(expected), r.urn
    first = next(r for r in planned.run.resources if r.inputs)
    record = record_of(first)
    assert record["inputs"] is not first.inputs and record["dependencies"] is not first.dependencies
