"""The ResourceFlavors as they stand now are updates the API server accepts from the shape they were deployed with.

Accelerator flavors moved their pool's taint from `tolerations` (Kueue added them to admitted pods, so CPU-only work
that overflowed the cpu flavor was admitted onto accelerator pools) to `nodeTaints` (Kueue admits there only the pod
sets that tolerate it). Kueue's CRD has transition rules: once `topologyName` is set, `tolerations` and `nodeLabels`
are immutable, so a topology-aware flavor keeps its tolerations. The update of every flavor is checked against the
CRD's rules over `oldSelf` with cel-python, as the API server evaluates them.
"""

from __future__ import annotations

import copy

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


def _topology_aware_flavor() -> dict:
    run = plan(
        "dev",
        pools=[EFA_TRAIN, CPU],
        teams=[{"name": "llm", "memberGroups": ["llm-users"], "shares": {"train": 100}}],
        queues={"topologyAwarePools": ["train"]},
    )
    (train,) = [_manifest(r.to_json()) for r in run.of_type(FLAVOR) if r.inputs["metadata"]["name"] == "train"]
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
