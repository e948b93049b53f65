"""The stack side of `crucible verify` (addons.verify): the namespace, queue, priority class and RBAC the prod plan
registers, valid upstream and shaped so verify takes only idle capacity and never preempts."""

from __future__ import annotations

import functools

import pytest

from addons.verify import GROUP, NAMESPACE, PRIORITY_CLASS, QUEUE
from helpers import shipped_report, stack_config
from stacks.spec import ConfigError, load_spec


@functools.lru_cache(maxsize=None)
def _verify_objects() -> dict[str, dict]:
    document, _ = shipped_report("prod")
    out = {}
    for r in document["resources"]:
        if "verify" in r["urn"]:
            meta = r["inputs"].get("metadata") or {}
            where = f"{meta['namespace']}/" if meta.get("namespace") and r["type"].endswith(("Role", "RoleBinding")) else ""
            out[r["type"].rsplit(":", 1)[-1] + "/" + where + meta.get("name", "")] = r["inputs"]
    return out


def test_the_verify_queue_priority_class_and_namespace_are_valid_upstream():
    from upstream import assert_valid

    objects = _verify_objects()
    for key in (f"ClusterQueue/{QUEUE}", f"LocalQueue/{QUEUE}", f"WorkloadPriorityClass/{PRIORITY_CLASS}"):
        assert_valid(objects[key])
    assert objects[f"Namespace/{NAMESPACE}"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_verify_cluster_queue_only_borrows_never_preempts_and_yields_first():
    spec = _verify_objects()[f"ClusterQueue/{QUEUE}"]["spec"]
    assert spec["cohortName"] == "teams"
    assert spec["preemption"] == {"withinClusterQueue": "Never", "reclaimWithinCohort": "Never", "borrowWithinCohort": {"policy": "Never"}}
    assert spec["fairSharing"] == {"weight": "0"}  # Kueue fair sharing: weight 0 is an infinite share, preempted first
    flavors = {f["name"]: {r["name"]: r for r in f["resources"]} for f in spec["resourceGroups"][0]["flavors"]}
    assert all(r["nominalQuota"] in ("0", "0Gi") and r["lendingLimit"] in ("0", "0Gi") for f in flavors.values() for r in f.values())
    borrow = {pool: {name: r["borrowingLimit"] for name, r in f.items() if r["borrowingLimit"] not in ("0", "0Gi")} for pool, f in flavors.items()}
    # two p5.48xlarge for NCCL (8 H100, 32 EFA, 192 vCPU, 2 TiB each); one device for each other accelerator pool's probe
    assert borrow == {
        "train": {"cpu": "384", "memory": "4096Gi", "nvidia.com/gpu": "16", "vpc.amazonaws.com/efa": "64"},
        "serve": {"nvidia.com/gpu": "1"},
        "inf": {"aws.amazon.com/neuron": "1"},
        "cpu": {},
    }


def test_the_priority_class_is_below_any_team_workload():
    assert _verify_objects()[f"WorkloadPriorityClass/{PRIORITY_CLASS}"]["value"] < 0  # Kueue's default priority is 0


def test_the_rbac_binds_only_the_verify_group_with_no_wildcards():
    bindings = [o for k, o in _verify_objects().items() if k.startswith(("RoleBinding/", "ClusterRoleBinding/"))]
    assert bindings and all(o["subjects"] == [{"kind": "Group", "name": GROUP, "apiGroup": "rbac.authorization.k8s.io"}] for o in bindings)
    namespaces = sorted(o["metadata"].get("namespace") or "-" for o in bindings)
    assert namespaces == ["-", NAMESPACE, "jupyterhub", "llm", "search", "vision"]


def test_a_stack_without_the_option_creates_none_of_it():
    document, _ = shipped_report("dev")
    assert not any("crucible:platform:VerifyAccess" == r["type"] for r in document["resources"])


def test_a_non_boolean_enabled_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as caught:
        load_spec(stack_config("dev", addons={"verify": {"enabled": "sometimes"}}), "test")
    [problem] = [str(p) for p in caught.value.problems]
    assert "crucible:addons.verify.enabled" in problem and "sometimes" in problem
