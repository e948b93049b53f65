"""GPU sharing for small work (issue 16 item 6): time-slicing on interactive GPU pools through the NVIDIA device
plugin's named configs, Kueue quotas counting the shared nvidia.com/gpu (GPUs x replicas per node), the plan showing
the effective accelerators per node; config errors name the key."""

from __future__ import annotations

import pytest
import yaml

from addons.device_plugins import CONFIG_LABEL, nvidia_values
from helpers import plan, shipped_report, spec_of
from rendered import objects, pod_spec, release_of
from stacks.derive.capacity import pool_capacity
from stacks.derive.quotas import plan_queues
from stacks.spec import ConfigError

SHARED = {"name": "nb-gpu", "kind": "gpu", "workload": "interactive", "instanceTypes": ["g6.xlarge", "g6.12xlarge"], "maxNodes": 3}
CPU = {"name": "nb-cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.xlarge"], "maxNodes": 2}
TEAMS = [{"name": "a", "memberGroups": ["a-users"], "shares": {"nb-gpu": 75}}, {"name": "b", "memberGroups": ["b-users"], "shares": {"nb-gpu": 25}}]


def _problems(**overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", **overrides)
    return {p.path: p.message for p in caught.value.problems}


def _spec(replicas: int = 4):
    return spec_of("dev", pools=[{**SHARED, "gpuSharing": {"mode": "time-slicing", "replicas": replicas}}, CPU], teams=TEAMS)


# ---- what is counted ---------------------------------------------------------------------------------------------


def test_kueue_quotas_count_gpus_times_replicas_per_node():
    spec = _spec(replicas=4)
    cap = pool_capacity(spec.pools[0])
    # at maxNodes 3 the pool's GPUs are those of its largest type: g6.12xlarge has 4, g6.xlarge 1
    assert cap.accelerators == 12 and cap.shared_accelerators == 48
    assert cap.accelerators_per_node() == {"g6.xlarge": (1, 4), "g6.12xlarge": (4, 16)}
    # Karpenter counts a registered node's advertised capacity against the NodePool limit (sigs.k8s.io/karpenter
    # v1.14.1 state/cluster.go, scheduling/scheduler.go: Node.Status.Capacity): a limit of the physical 12 would stop
    # the pool at a quarter of its nodes
    assert cap.limits()["nvidia.com/gpu"] == "48"
    # and the physical bound, whatever a node advertises: at most maxNodes nodes
    assert cap.limits()["nodes"] == "3" and "nodes" not in pool_capacity(spec_of("dev", pools=[SHARED, CPU]).pools[0]).limits()
    queues = plan_queues(spec.teams, spec.pools)
    assert queues.totals("nb-gpu")["nvidia.com/gpu"] == 48
    assert {t: queues.quotas[t]["nb-gpu"].nominal["nvidia.com/gpu"] for t in ("a", "b")} == {"a": 36, "b": 12}


def test_without_sharing_one_gpu_counts_once():
    spec = spec_of("dev", pools=[SHARED, CPU], teams=TEAMS)
    assert plan_queues(spec.teams, spec.pools).totals("nb-gpu")["nvidia.com/gpu"] == 12


# ---- what Karpenter simulates -------------------------------------------------------------------------------------
OVERLAY = "kubernetes:karpenter.sh/v1alpha1:NodeOverlay"


def test_karpenter_is_told_what_each_type_of_a_time_sliced_pool_advertises():
    # Without it Karpenter gives g6.xlarge 1 nvidia.com/gpu in its simulation: one node per shared pod, the rest
    # consolidated later. The overlay's capacity replaces the type's (cloudprovider/types.go ApplyCapacityOverlay).
    run = plan("dev", pools=[{**SHARED, "gpuSharing": {"replicas": 4}}, CPU])
    overlays = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in run.of_type(OVERLAY)}

    def expected(types: list[str], count: int) -> dict:
        requirements = [
            {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["nb-gpu"]},
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
        ]
        return {"requirements": requirements, "capacity": {"nvidia.com/gpu": str(count)}}

    assert overlays == {"nb-gpu-gpu-4": expected(["g6.xlarge"], 4), "nb-gpu-gpu-16": expected(["g6.12xlarge"], 16)}
    release = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith("/karpenter"))
    assert release.inputs["values"]["settings"]["featureGates"]["nodeOverlay"] is True  # alpha: off by default
    karpenter_urn = release.urn
    assert all(karpenter_urn in r.dependencies for r in run.of_type(OVERLAY))


def test_without_time_slicing_there_is_no_overlay_and_the_gate_stays_off():
    run = plan("dev", pools=[SHARED, CPU])
    assert run.of_type(OVERLAY) == []
    release = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith("/karpenter"))
    assert "nodeOverlay" not in release.inputs["values"]["settings"]["featureGates"]


# ---- the device plugin's config ------------------------------------------------------------------------------------


def test_the_shared_pool_gets_a_named_time_slicing_config_and_other_gpu_nodes_the_default():
    values = nvidia_values({"nb-gpu": 4})
    assert values["config"]["default"] == "default"
    configs = {name: yaml.safe_load(text) for name, text in values["config"]["map"].items()}
    assert configs["default"] == {"version": "v1", "flags": {"migStrategy": "none"}}
    slicing = configs["nb-gpu"]["sharing"]["timeSlicing"]
    assert slicing["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert slicing["renameByDefault"] is False  # pods and Kueue keep asking for nvidia.com/gpu
    assert slicing["failRequestsGreaterThanOne"] is True
    assert "config" not in nvidia_values()  # no sharing: the chart's defaults


def test_the_shared_pools_nodes_carry_the_label_that_selects_their_config():
    run = plan("dev", pools=[{**SHARED, "gpuSharing": {"replicas": 3}}, {**SHARED, "name": "other-gpu"}, CPU])
    pools = {r.inputs["metadata"]["name"]: r.inputs for r in run.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    assert pools["nb-gpu"]["spec"]["template"]["metadata"]["labels"][CONFIG_LABEL] == "nb-gpu"
    assert CONFIG_LABEL not in pools["other-gpu"]["spec"]["template"]["metadata"]["labels"]
    release = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "nvidia-device-plugin")
    assert set(release.inputs["values"]["config"]["map"]) == {"default", "nb-gpu"}


def test_the_rendered_chart_ships_the_config_and_the_config_manager_reading_the_node_label():
    # research shares notebooks-gpu x4 (stacks/Pulumi.research.yaml); rendered by the real Helm from the vendored chart
    rendered = release_of("research", "nvidia-device-plugin")
    (config_map,) = objects(rendered, "ConfigMap")
    assert yaml.safe_load(config_map["data"]["notebooks-gpu"])["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    daemonset = next(d for d in objects(rendered, "DaemonSet") if "mps" not in d["metadata"]["name"])
    spec = pod_spec(daemonset)
    managers = [c for c in [*spec.get("initContainers", []), *spec["containers"]] if c.get("command") == ["config-manager"]]
    assert managers, "the chart's config-manager picks each node's named config"
    for manager in managers:
        env = {e["name"]: e.get("value") for e in manager.get("env") or []}
        assert env["NODE_LABEL"] == CONFIG_LABEL and env["DEFAULT_CONFIG"] == "default"


# ---- the plan ----------------------------------------------------------------------------------------------------


def test_the_plan_shows_effective_accelerators_per_node():
    document, lines = shipped_report("research")
    entry = document["capacity"]["notebooks-gpu"]
    assert entry["gpuSharingReplicas"] == 4 and entry["sharedAcceleratorsAtMax"] == 32
    assert entry["effectiveAcceleratorsPerNode"] == {"g6.xlarge": 4, "g6.2xlarge": 4, "g5.xlarge": 4}
    assert any("notebooks-gpu: GPU time-slicing x4: effective nvidia.com/gpu per node g6.xlarge 4 (1 GPU)" in line for line in lines)


# ---- config errors name the key ------------------------------------------------------------------------------------


def test_sharing_is_for_interactive_al2023_gpu_pools_only():
    problems = _problems(
        pools=[
            {**CPU, "gpuSharing": {"replicas": 2}},
            {**SHARED, "name": "train", "workload": "training", "gpuSharing": {"replicas": 2}},
            {**SHARED, "name": "br", "amiFamily": "Bottlerocket", "gpuSharing": {"replicas": 2}},
        ]
    )
    assert "allowed: gpu pools only" in problems["crucible:pools[0].gpuSharing"]
    assert "allowed: interactive pools" in problems["crucible:pools[1].gpuSharing"]
    assert "allowed: AL2023 pools" in problems["crucible:pools[2].gpuSharing"]


def test_replicas_are_bounded():
    problems = _problems(pools=[{**SHARED, "gpuSharing": {"replicas": 1}}])
    assert "crucible:pools[0].gpuSharing.replicas" in problems


def test_mig_is_refused_naming_which_types_could_have_it():
    problems = _problems(pools=[{**SHARED, "gpuSharing": {"mode": "mig"}}])
    assert "none of this pool's types supports MIG" in problems["crucible:pools[0].gpuSharing.mode"]
    mixed = _problems(pools=[{**SHARED, "instanceTypes": ["p4d.24xlarge", "g6.xlarge"], "gpuSharing": {"mode": "mig"}}])
    message = mixed["crucible:pools[0].gpuSharing.mode"]
    assert "only p4d.24xlarge support MIG (g6.xlarge do not)" in message and "allowed: time-slicing" in message


# ---- AI-KUEUE-001 and AI-KARP-004 count the shared GPUs as the nodes advertise them ------------------------------


def _mandatory(resources: list[dict], policy: str) -> list[str]:
    from policies.offline import evaluate

    report = evaluate(resources, "dev")
    return [v.message for v in report.mandatory_violations if policy in v.policy]


def _research() -> list[dict]:
    from helpers import shipped_plan

    return [r.to_json() for r in shipped_plan("research").run.resources]


def test_quotas_of_shared_gpus_fit_the_pool_and_fire_when_the_node_label_is_gone():
    import copy

    resources = _research()
    assert _mandatory(resources, "quota-fits-pool-limits") == []  # 32 shared = 8 GPUs x 4 replicas, the pool's limit
    assert _mandatory(resources, "time-sliced-pools-simulated") == []
    edited = copy.deepcopy(resources)
    pool = next(r for r in edited if r["type"] == "kubernetes:karpenter.sh/v1:NodePool" and r["inputs"]["metadata"]["name"] == "notebooks-gpu")
    del pool["inputs"]["spec"]["template"]["metadata"]["labels"][CONFIG_LABEL]  # its nodes would advertise 1 per GPU
    assert any("its nodes run no time-slicing config" in m for m in _mandatory(edited, "time-sliced-pools-simulated"))


def test_a_time_sliced_pool_without_its_overlays_fires():
    resources = [r for r in _research() if r["type"] != OVERLAY]
    (message,) = _mandatory(resources, "time-sliced-pools-simulated")
    assert "pool 'notebooks-gpu' advertises each GPU 4 times" in message and "g5.xlarge, g6.2xlarge, g6.xlarge" in message
