"""Lands (stacks/tools/plan/lands.py): a pod lands on a pool's instance type when its selectors, affinity and tolerations
match the pool's NodePool and its requests (LimitRange defaults applied) fit the node's allocatable less the
DaemonSets that run there. These specifications run on small hand-built plans (the registered resources' JSON)."""

from __future__ import annotations

import copy

from components.catalog import load_catalog
from stacks.derive.allocatable import NodeConfig, karpenter_allocatable, node_allocatable
from stacks.tools.plan.lands import container_requests, evaluate, failures, limit_ranges_of, pod_requests

GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def k8s(kind: str, api: str, body: dict) -> dict:
    token = f"kubernetes:{api if '/' in api else 'core/' + api}:{kind}"
    return {"type": token, "name": body["metadata"]["name"], "inputs": {"apiVersion": api, "kind": kind, **body}}


def nodeclass(name: str, *, alias: str = "al2023@v20251108", max_pods: int = 110, user_data: str | None = None, interfaces=None) -> dict:
    spec: dict = {"amiSelectorTerms": [{"alias": alias}], "kubelet": {"maxPods": max_pods}}
    if user_data:
        spec["userData"] = user_data
    if interfaces is not None:
        spec["networkInterfaces"] = interfaces
    return k8s("EC2NodeClass", "karpenter.k8s.aws/v1", {"metadata": {"name": name}, "spec": spec})


def nodepool(name: str, types: list[str], *, taints=(), labels=None, limits=None) -> dict:
    template_spec: dict = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
        "requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]},
        ],
    }
    if taints:
        template_spec["taints"] = list(taints)
    spec = {"template": {"metadata": {"labels": {"crucible.io/pool": name, **(labels or {})}}, "spec": template_spec}}
    if limits:
        spec["limits"] = limits
    return k8s("NodePool", "karpenter.sh/v1", {"metadata": {"name": name}, "spec": spec})


def pool(name: str, types: list[str], **kwargs) -> list[dict]:
    node_class_args = {k: kwargs.pop(k) for k in ("alias", "max_pods", "user_data", "interfaces") if k in kwargs}
    return [nodeclass(name, **node_class_args), nodepool(name, types, **kwargs)]


def gpu_pool() -> list[dict]:
    return pool("train", ["p5.48xlarge"], taints=[GPU_TAINT])


def cpu_pool() -> list[dict]:
    return pool("cpu", ["m7i.xlarge", "m7i.2xlarge"])


def container(requests: dict | None = None, limits: dict | None = None, name: str = "main") -> dict:
    resources = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": name, "image": "example:1", "resources": resources}


def workload(name: str, spec: dict, namespace: str = "team-a", kind: str = "Pod") -> dict:
    return {"name": name, "source": "test", "kind": kind, "object": name, "namespaces": [namespace], "replicas": 1, "template": {"spec": spec}}


def check(resources: list[dict], *workloads: dict, objects=()) -> dict:
    block = evaluate(resources, list(workloads), list(objects))
    return {e["name"]: e["checks"]["lands"] for e in block["workloads"]} | {"_violations": failures(block)}


def on_gpus(resources: dict, **extra) -> dict:
    return {"nodeSelector": {"karpenter.sh/nodepool": "train"}, "tolerations": [GPU_TOLERATION], "containers": [container(resources, resources)], **extra}


# ---- huge pages ----------------------------------------------------------------------------------------------


def test_a_pod_requesting_huge_pages_lands_nowhere_and_the_violation_names_pool_and_resource():
    ask = {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32", "hugepages-2Mi": "5120Mi"}
    result = check(gpu_pool(), workload("efa-job", on_gpus(ask)))
    assert not result["efa-job"]["ok"]
    (violation,) = result["_violations"]
    assert violation["level"] == "mandatory" and violation["workload"] == "efa-job"
    assert "pool train" in violation["message"] and "hugepages-2Mi requests 5Gi" in violation["message"]
    assert "p5.48xlarge has 0 allocatable" in violation["message"]


def test_the_same_pod_without_huge_pages_lands_on_the_pool():
    ask = {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32"}
    result = check(gpu_pool(), workload("efa-job", on_gpus(ask)))
    assert result["efa-job"]["ok"] and result["efa-job"]["pools"] == [{"pool": "train", "instanceTypes": ["p5.48xlarge"]}]


OVERLAY = k8s(
    "NodeOverlay",
    "karpenter.sh/v1alpha1",
    {
        "metadata": {"name": "train-hugepages"},
        "spec": {"requirements": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": ["train"]}], "capacity": {"hugepages-2Mi": "10Gi"}},
    },
)


def karpenter_release(node_overlay: bool) -> dict:
    values = {"settings": {"featureGates": {"nodeOverlay": node_overlay}}}
    return {"type": "kubernetes:helm.sh/v3:Release", "name": "karpenter", "inputs": {"chart": "oci://public.ecr.aws/karpenter/karpenter", "values": values}}


def test_huge_pages_count_only_from_a_node_overlay_with_the_gate_on_on_nodes_that_reserve_them():
    ask = {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "8", "hugepages-2Mi": "5120Mi"}
    job = workload("efa-job", on_gpus(ask))
    reserving = pool("train", ["p5.48xlarge"], taints=[GPU_TAINT], user_data="#!/bin/bash\necho 5120 > /proc/sys/vm/nr_hugepages\n")
    assert check([*reserving, OVERLAY, karpenter_release(True)], job)["efa-job"]["ok"]
    gate_off = check([*reserving, OVERLAY, karpenter_release(False)], job)["efa-job"]
    assert not gate_off["ok"] and "nodeOverlay feature gate is off" in gate_off["reasons"][0]
    not_reserved = check([*gpu_pool(), OVERLAY, karpenter_release(True)], job)["efa-job"]
    assert not not_reserved["ok"] and "does not reserve them" in not_reserved["reasons"][0]


# ---- requests against allocatable -------------------------------------------------------------------------------


def test_a_request_above_every_node_fails_naming_the_resource_on_each_pool():
    spec = {"tolerations": [GPU_TOLERATION], "containers": [container({"cpu": "400"})]}
    result = check([*gpu_pool(), *cpu_pool()], workload("huge", spec))["huge"]
    assert not result["ok"]
    assert any(r.startswith("pool train: cpu requests 400, p5.48xlarge has 191450m allocatable") for r in result["reasons"])
    assert any(r.startswith("pool cpu: cpu requests 400") and "m7i.2xlarge" in r for r in result["reasons"])


def test_a_request_equal_to_allocatable_fits_and_one_millicore_more_does_not():
    free = karpenter_allocatable(load_catalog().get("m7i.xlarge"))
    assert node_allocatable(load_catalog().get("m7i.xlarge"), NodeConfig(max_pods=110))["cpu"] == free["cpu"]
    just = {"cpu": f"{free['cpu']}m", "memory": "1Gi"}
    over = {"cpu": f"{free['cpu'] + 1}m", "memory": "1Gi"}
    resources = pool("cpu", ["m7i.xlarge"])
    assert check(resources, workload("just", {"containers": [container(just)]}))["just"]["ok"]
    assert not check(resources, workload("over", {"containers": [container(over)]}))["over"]["ok"]


def test_only_the_types_a_pod_fits_are_listed():
    spec = {"containers": [container({"cpu": "6", "memory": "8Gi"})]}
    result = check(cpu_pool(), workload("mid", spec))["mid"]
    assert result["pools"] == [{"pool": "cpu", "instanceTypes": ["m7i.2xlarge"]}]


def test_a_node_above_the_nodepool_limits_is_never_launched():
    resources = pool("cpu", ["m7i.xlarge", "m7i.2xlarge"], limits={"cpu": "4"})
    result = check(resources, workload("mid", {"containers": [container({"cpu": "6"})]}))["mid"]
    assert not result["ok"] and "exceeds the NodePool limit" in result["reasons"][0]


def test_daemonsets_that_run_on_the_node_take_their_requests_off_it_and_are_named():
    free = karpenter_allocatable(load_catalog().get("m7i.xlarge"))["cpu"]
    resources = pool("cpu", ["m7i.xlarge"])
    daemon = k8s(
        "DaemonSet",
        "apps/v1",
        {"metadata": {"name": "agent", "namespace": "kube-system"}, "spec": {"template": {"spec": {"containers": [container({"cpu": "100m"})]}}}},
    )
    job = workload("tight", {"containers": [container({"cpu": f"{free - 50}m"})]})
    assert check(resources, job)["tight"]["ok"]
    result = check([*resources, daemon], job)["tight"]
    assert not result["ok"] and "after DaemonSets (kube-system/agent)" in result["reasons"][0]
    # rendered chart objects count the same as registered ones
    assert not check(resources, job, objects=[daemon["inputs"]])["tight"]["ok"]


def test_a_daemonset_that_selects_other_nodes_takes_nothing():
    free = karpenter_allocatable(load_catalog().get("m7i.xlarge"))["cpu"]
    daemon = k8s(
        "DaemonSet",
        "apps/v1",
        {
            "metadata": {"name": "gpu-agent", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"nodeSelector": {"crucible.io/accelerator": "nvidia"}, "containers": [container({"cpu": "1"})]}}},
        },
    )
    assert check([*pool("cpu", ["m7i.xlarge"]), daemon], workload("tight", {"containers": [container({"cpu": f"{free - 50}m"})]}))["tight"]["ok"]


def test_limitrange_defaults_apply_as_the_api_server_applies_them():
    limit_range = k8s(
        "LimitRange",
        "v1",
        {
            "metadata": {"name": "team-defaults", "namespace": "team-a"},
            "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "250m"}, "default": {"memory": "64Gi"}}]},
        },
    )
    ranges = limit_ranges_of([limit_range["inputs"]])["team-a"]
    # no requests: cpu from defaultRequest, memory from default (defaultRequest defaults to default)
    assert container_requests(container(), ranges) == {"cpu": 250, "memory": 64 * 2**30}
    # limits only: requests default to the limits before the LimitRange applies
    assert container_requests(container(limits={"memory": "1Gi"}), ranges) == {"cpu": 250, "memory": 2**30}
    job = workload("bare", {"containers": [container()]})
    result = check([*pool("cpu", ["m7i.xlarge"]), limit_range], job)["bare"]
    assert not result["ok"] and "memory requests 64Gi" in result["reasons"][0]
    assert check(pool("cpu", ["m7i.xlarge"]), job)["bare"]["ok"]  # another namespace, no LimitRange: nothing requested


def test_init_containers_count_at_their_largest_and_sidecars_add_up():
    spec = {
        "initContainers": [container({"cpu": "3"}, name="setup"), {**container({"cpu": "500m"}, name="proxy"), "restartPolicy": "Always"}],
        "containers": [container({"cpu": "1"}), container({"cpu": "1"}, name="second")],
    }
    assert pod_requests(spec)["cpu"] == 3000  # max(3, 0.5 + 1 + 1)
    spec["initContainers"][0] = container({"cpu": "1"}, name="setup")
    assert pod_requests(spec)["cpu"] == 2500
    assert pod_requests(spec)["pods"] == 1


# ---- selectors, affinity, taints ------------------------------------------------------------------------------------


def test_a_pod_without_the_pools_toleration_fails_naming_the_taint():
    spec = {"nodeSelector": {"karpenter.sh/nodepool": "train"}, "containers": [container({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"})]}
    result = check(gpu_pool(), workload("no-toleration", spec))["no-toleration"]
    assert not result["ok"]
    assert result["reasons"] == ["pool train: does not tolerate taint nvidia.com/gpu:NoSchedule"]


def test_a_node_selector_on_a_label_no_pool_defines_lands_nowhere():
    spec = {"nodeSelector": {"example.com/rack": "a"}, "containers": [container({"cpu": "1"})]}
    result = check(cpu_pool(), workload("odd", spec))["odd"]
    assert not result["ok"] and "its nodes have no label example.com/rack" in result["reasons"][0]


def test_node_selectors_match_the_pool_labels_its_requirements_and_the_instance_type():
    base = {"containers": [container({"cpu": "1"})]}
    assert check(cpu_pool(), workload("a", {**base, "nodeSelector": {"crucible.io/pool": "cpu", "topology.kubernetes.io/zone": "us-east-1a"}}))["a"]["ok"]
    typed = check(cpu_pool(), workload("b", {**base, "nodeSelector": {"node.kubernetes.io/instance-type": "m7i.2xlarge"}}))["b"]
    assert typed["pools"] == [{"pool": "cpu", "instanceTypes": ["m7i.2xlarge"]}]
    assert not check(cpu_pool(), workload("c", {**base, "nodeSelector": {"topology.kubernetes.io/zone": "us-east-1b"}}))["c"]["ok"]


def test_required_node_affinity_is_honoured():
    term = {
        "matchExpressions": [
            {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["m7i"]},
            {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]},
        ]
    }
    spec = {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}},
        "containers": [container({"cpu": "1"})],
    }
    assert check(cpu_pool(), workload("a", spec))["a"]["ok"]
    other = copy.deepcopy(spec)
    other["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] = ["c7g"]
    result = check(cpu_pool(), workload("b", other))["b"]
    assert not result["ok"] and "required node affinity" in result["reasons"][0]


def test_a_managed_node_group_is_a_pool_with_its_labels_and_taints():
    group = {
        "type": "aws:eks/nodeGroup:NodeGroup",
        "name": "system",
        "inputs": {"nodeGroupName": "system", "instanceTypes": ["m7i.xlarge"], "capacityType": "ON_DEMAND", "labels": {"crucible.io/pool": "system"}},
    }
    spec = {"nodeSelector": {"crucible.io/pool": "system"}, "containers": [container({"cpu": "1"})]}
    assert check([group], workload("ctl", spec))["ctl"]["pools"] == [{"pool": "system", "instanceTypes": ["m7i.xlarge"]}]
    tainted = copy.deepcopy(group)
    tainted["inputs"]["taints"] = [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    result = check([tainted], workload("ctl", spec))["ctl"]
    assert result["reasons"] == ["pool system: does not tolerate taint CriticalAddonsOnly=true:NoSchedule"]


def test_a_daemonset_must_fit_beside_the_other_daemonsets_where_it_runs_and_may_run_nowhere():
    def daemon(name: str, cpu: str, selector=None) -> dict:
        spec = {"containers": [container({"cpu": cpu})]}
        if selector:
            spec["nodeSelector"] = selector
        return {"name": name, "source": "test", "kind": "DaemonSet", "object": name, "namespaces": ["kube-system"], "replicas": 1, "template": {"spec": spec}}

    objects = [
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": w["object"], "namespace": "kube-system"}, "spec": {"template": w["template"]}}
        for w in (daemon("a", "3"), daemon("b", "1"))
    ]
    block = evaluate(pool("cpu", ["m7i.xlarge"]), [daemon("a", "3"), daemon("b", "1"), daemon("nowhere", "1", {"crucible.io/accelerator": "neuron"})], objects)
    result = {e["name"]: e["checks"]["lands"] for e in block["workloads"]}
    assert not result["a"]["ok"] and "after DaemonSets (kube-system/b)" in result["a"]["reasons"][0]
    assert result["nowhere"]["ok"] and result["nowhere"]["summary"] == "no pool selects it (runs nowhere)"


def test_a_ray_head_with_in_tree_autoscaling_carries_kuberays_autoscaler_sidecar():
    from stacks.tools.plan.lands import pod_groups

    head = {"template": {"spec": {"containers": [container({"cpu": "2", "memory": "8Gi"}, name="ray-head")]}}}
    service = {"kind": "RayService", "metadata": {"name": "llm"}, "spec": {"rayClusterConfig": {"enableInTreeAutoscaling": True, "headGroupSpec": head}}}
    (group,) = pod_groups(service)
    assert pod_requests(group.template["spec"]) == {"cpu": 2500, "memory": 8 * 2**30 + 512 * 2**20, "pods": 1}
    service["spec"]["rayClusterConfig"]["autoscalerOptions"] = {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
    assert pod_requests(pod_groups(service)[0].template["spec"])["cpu"] == 3000


def test_nodepool_requirements_on_instance_labels_narrow_its_types():
    resources = [
        nodeclass("any"),
        k8s(
            "NodePool",
            "karpenter.sh/v1",
            {
                "metadata": {"name": "any"},
                "spec": {
                    "template": {
                        "metadata": {"labels": {}},
                        "spec": {
                            "nodeClassRef": {"name": "any"},
                            "requirements": [
                                {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["g6e"]},
                                {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["1"]},
                            ],
                        },
                    }
                },
            },
        ),
    ]
    result = check(resources, workload("gpu", {"containers": [container({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"})]}))["gpu"]
    assert result["pools"] == [{"pool": "any", "instanceTypes": ["g6e.12xlarge", "g6e.24xlarge", "g6e.48xlarge"]}]
