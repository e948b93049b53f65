"""The ResourceFlavors as they stand now are updates the API server accepts from the shape they were deployed with.

Accelerator flavors moved their pool's taint from `tolerations` (Kueue added them to admitted pods, so CPU-only work
that overflowed the cpu flavor was admitted onto accelerator pools) to `nodeTaints` (Kueue admits there only the pod
sets that tolerate it). Kueue's CRD has transition rules: once `topologyName` is set, `tolerations` and `nodeLabels`
are immutable, so a topology-aware flavor keeps its tolerations. The update of every flavor is checked against the
CRD's rules over `oldSelf` with cel-python, as the API server evaluates them.
"""

from __future__ import annotations

import copy
import functools

import pytest

from helpers import plan, shipped_report
from stacks.tools.plan.locate import shipped_stacks

FLAVOR = "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor"
EFA_TRAIN = {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2, "efa": True}
CPU = {"name": "cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.xlarge"], "maxNodes": 2}


def _manifest(resource: dict) -> dict:
    return {k: copy.deepcopy(resource["inputs"][k]) for k in ("apiVersion", "kind", "metadata", "spec")}


def _as_deployed_before(flavor: dict) -> dict:
    """The flavor in the shape the previous release deployed: its pool's taints as tolerations."""
    old = copy.deepcopy(flavor)
    taints = old["spec"].pop("nodeTaints", [])
    if taints:
        old["spec"]["tolerations"] = [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in taints]
    return old


def _flavors(document: dict) -> list[dict]:
    return [_manifest(r) for r in document["resources"] if r["type"] == FLAVOR]


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_shipped_flavor_is_an_update_the_api_server_accepts(stack):
    from upstream import transition_errors

    for flavor in _flavors(shipped_report(stack)[0]):
        assert transition_errors(_as_deployed_before(flavor), flavor) == [], flavor["metadata"]["name"]


@functools.lru_cache(maxsize=None)
def _topology_aware_run():
    """A small stack whose EFA training pool is topology-aware (planned once; read only)."""
    return plan(
        "dev",
        pools=[EFA_TRAIN, CPU],
        teams=[{"name": "llm", "memberGroups": ["llm-users"], "shares": {"train": 100}}],
        queues={"topologyAwarePools": ["train"]},
    )


def _topology_aware_flavor() -> dict:
    (train,) = [_manifest(r.to_json()) for r in _topology_aware_run().of_type(FLAVOR) if r.inputs["metadata"]["name"] == "train"]
    return train


def test_a_topology_aware_flavor_keeps_its_tolerations_and_so_its_update_is_accepted():
    from upstream import transition_errors

    train = _topology_aware_flavor()
    assert train["spec"]["topologyName"] and "nodeTaints" not in train["spec"]
    assert train["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert transition_errors(_as_deployed_before(train), train) == []


def test_moving_a_topology_aware_flavors_tolerations_to_node_taints_is_refused():
    # what the rule guards against: the check is not vacuous
    from upstream import transition_errors

    old = _topology_aware_flavor()
    new = copy.deepcopy(old)
    new["spec"]["nodeTaints"] = [{"key": t["key"], "effect": t["effect"]} for t in new["spec"].pop("tolerations")]
    assert transition_errors(old, new) == ["spec: tolerations are immutable when topologyName is set"]


# -- crucible diff judges the update as the API server would -----------------------------------------------------------
def _topology_aware_plan() -> dict:
    return {"resources": [r.to_json() for r in _topology_aware_run().resources]}


def _moved_to_node_taints(document: dict) -> dict:
    head = copy.deepcopy(document)
    for r in head["resources"]:
        if r["type"] == FLAVOR and r["inputs"]["spec"].get("topologyName"):
            spec = r["inputs"]["spec"]
            spec["nodeTaints"] = [{"key": t["key"], "effect": t["effect"]} for t in spec.pop("tolerations")]
    return head


def test_crucible_diff_reports_an_update_the_flavors_crd_refuses_and_fails(tmp_path, capsys):
    import json

    from stacks.tools.cli import main
    from stacks.tools.plan.diff import diff_plans, render

    base = _topology_aware_plan()
    head = _moved_to_node_taints(base)
    diff = diff_plans(base, head)
    (refused,) = diff.refused
    assert refused["type"] == FLAVOR and refused["name"] == "kueue-flavor-train"
    assert refused["errors"] == ["spec: tolerations are immutable when topologyName is set"]
    assert "UPDATES THE API SERVER REFUSES" in render(diff)
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "head.json").write_text(json.dumps(head))
    assert main(["diff", str(tmp_path / "base.json"), str(tmp_path / "head.json")]) == 1
    assert "REFUSED" in capsys.readouterr().out


def test_crucible_diff_passes_an_update_the_crd_accepts():
    from stacks.tools.plan.diff import diff_plans

    base = _topology_aware_plan()
    head = copy.deepcopy(base)
    for r in head["resources"]:
        if r["type"] == FLAVOR and r["inputs"]["metadata"]["name"] == "cpu":
            r["inputs"]["spec"]["nodeLabels"]["crucible.io/extra"] = "yes"  # a flavor without topology: labels may change
    diff = diff_plans(base, head)
    assert [c.name for c in diff.changes if c.kind == "updated"] and diff.refused == []


def test_without_the_upstream_crds_the_diff_says_the_updates_were_not_checked(tmp_path, monkeypatch):
    from stacks.tools.plan.diff import diff_plans

    base = _topology_aware_plan()
    monkeypatch.setenv("CRUCIBLE_SHARED", str(tmp_path))
    diff = diff_plans(base, _moved_to_node_taints(base))
    assert diff.refused == []
    assert any("not checked against their CRDs' transition rules" in note and str(tmp_path) in note for note in diff.notes)


def test_a_rule_inside_a_list_map_item_is_judged_on_the_item_with_the_same_key():
    # ClusterTrainingRuntime: replicatedJobs is a list-map keyed by name, and a job's dependsOn is immutable
    # (`self == oldSelf`): the API server correlates the items by name and evaluates the rule on each pair
    from stacks.tools.plan.transitions import schema_of, transition_errors, upstream_root
    from upstream import shared_dir

    shared_dir()  # skips without ../shared
    schema = schema_of("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime", upstream_root())

    def runtime(depends_on: list, order: tuple = ("initializer", "node")) -> dict:
        jobs = {"initializer": {"name": "initializer"}, "node": {"name": "node", "dependsOn": depends_on}}
        spec = {"template": {"spec": {"replicatedJobs": [jobs[n] for n in order]}}}
        return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime", "metadata": {"name": "r"}, "spec": spec}

    before = runtime([{"name": "initializer", "status": "Complete"}])
    after = runtime([{"name": "initializer", "status": "Ready"}], order=("node", "initializer"))  # reordered too
    assert transition_errors(before, after, schema) == ["spec.template.spec.replicatedJobs[node].dependsOn: Value is immutable"]
    assert transition_errors(before, runtime([{"name": "initializer", "status": "Complete"}], order=("node", "initializer")), schema) == []


def test_the_prometheus_operators_kinds_are_judged_from_the_charts_crds():
    # kube-prometheus-stack names its CRD files crd-<plural>.yaml: an updated ServiceMonitor is judged, not "not checked"
    from stacks.tools.plan.transitions import refused_updates
    from upstream import shared_dir

    monitor = {
        "urn": "urn:pulumi:s::p::kubernetes:monitoring.coreos.com/v1:ServiceMonitor::m",
        "type": "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
        "name": "m",
        "inputs": {"metadata": {"name": "m"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "http"}]}},
    }
    edited = copy.deepcopy(monitor)
    edited["inputs"]["spec"]["endpoints"][0]["port"] = "metrics"
    refused, unjudged = refused_updates([(monitor, edited)], shared_dir())
    assert refused == [] and unjudged == []
