"""Shapes of Karpenter and accelerator misconfigurations (issue 18 A.3): AI-GPU-001, AI-GPU-002, AI-KARP-002,
AI-KARP-003."""

from __future__ import annotations

from policy_builder import k8s, res
from pools import node_pool
from shapes import firing

P1 = "ai-gpu-001-accelerator-taints"


def untainted(name, *requirements):
    pool = node_pool(name, taints=())
    pool["inputs"]["spec"]["template"]["spec"]["requirements"] = [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        *requirements,
    ]
    return pool


@firing(P1, "instance-type-list")
def _():
    return [untainted("types", {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"]})], ["types"]


@firing(P1, "instance-family")
def _():
    return [untainted("family", {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["g6e"]})], ["family"]


@firing(P1, "instance-category")
def _():
    return [untainted("category", {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["p"]})], ["category"]


@firing(P1, "gpu-count-gt")
def _():
    return [untainted("count", {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["0"]})], ["count"]


@firing(P1, "gpu-name-exists")
def _():
    return [untainted("gpu-name", {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "Exists"})], ["gpu-name"]


@firing(P1, "neuron-by-accelerator-name")
def _():
    return [untainted("neuron", {"key": "karpenter.k8s.aws/instance-accelerator-name", "operator": "In", "values": ["trainium"]})], ["neuron"]


@firing(P1, "managed-node-group-gpu-ami")
def _():
    group = res("aws:eks/nodeGroup:NodeGroup", "gpu-group", {"clusterName": "eks", "amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": ["m7i.large"]})
    return [group], ["gpu-group"]


P_DEVICES = "ai-gpu-002-neuron-devices-for-non-root"
NEURON_TAINT = {"key": "aws.amazon.com/neuron", "effect": "NoSchedule"}


def neuron_class(name: str, user_data: str | None, **spec) -> list[dict]:
    pool = node_pool(name, types=("trn1.32xlarge",), taints=(NEURON_TAINT,))
    spec.setdefault("amiSelectorTerms", [{"alias": "bottlerocket@1.47.0"}])
    body = {"role": "r", **spec, **({"userData": user_data} if user_data is not None else {})}
    return [pool, k8s("karpenter.k8s.aws/v1", "EC2NodeClass", name, body)]


@firing(P_DEVICES, "no-user-data")
def _():
    return neuron_class("bare", None), ["bare"]


@firing(P_DEVICES, "labels-only")
def _():
    return neuron_class("labels", '[settings.kubernetes.node-labels]\n"crucible.io/pool" = "labels"\n'), ["labels"]


@firing(P_DEVICES, "container-runtime-table")
def _():
    # containerd's spelling under the wrong table: Bottlerocket reads it from settings.kubernetes only
    return neuron_class("runtime", "[settings.container-runtime]\ndevice-ownership-from-security-context = true\n"), ["runtime"]


@firing(P_DEVICES, "custom-ami-bottlerocket-family")
def _():
    return neuron_class("custom", None, amiFamily="Bottlerocket", amiSelectorTerms=[{"id": "ami-0123456789abcdef0"}]), ["custom"]


P_SLICED = "ai-karp-004-time-sliced-pools-simulated"


def sliced_pool(name: str = "nb", replicas: int = 4) -> list[dict]:
    """An interactive pool of g6.xlarge (1 GPU) whose nodes run a time-slicing config, and the device plugin's."""
    pool = node_pool(name, types=("g6.xlarge",), workload="interactive", labels={"nvidia.com/device-plugin.config": name})
    config = f"version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: {replicas}\n"
    plugin = res(
        "kubernetes:helm.sh/v3:Release",
        "nvidia-device-plugin",
        {"chart": "nvidia-device-plugin", "version": "0.20.0", "values": {"config": {"map": {name: config}}}},
    )
    return [pool, plugin]


def overlay(name: str, pool: str, count: int, types=("g6.xlarge",)) -> dict:
    spec = {
        "requirements": [
            {"key": "karpenter.sh/nodepool", "operator": "In", "values": [pool]},
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(types)},
        ],
        "capacity": {"nvidia.com/gpu": str(count)},
    }
    return k8s("karpenter.sh/v1alpha1", "NodeOverlay", name, spec)


def karpenter(gate: bool = True) -> dict:
    gates = {"nodeRepair": True, **({"nodeOverlay": True} if gate else {})}
    return res("kubernetes:helm.sh/v3:Release", "karpenter", {"chart": "karpenter", "version": "1.14.1", "values": {"settings": {"featureGates": gates}}})


@firing(P_SLICED, "time-sliced-without-overlays")
def _():
    return [*sliced_pool(), karpenter()], ["nb"]


@firing(P_SLICED, "overlay-not-a-multiple-of-replicas")
def _():
    return [*sliced_pool(), overlay("nb-gpu-3", "nb", 3), karpenter()], ["nb"]


@firing(P_SLICED, "overlays-with-the-gate-off")
def _():
    return [*sliced_pool(), overlay("nb-gpu-4", "nb", 4), karpenter(gate=False)], ["nb"]


@firing(P_SLICED, "overlay-on-a-pool-that-does-not-slice")
def _():
    return [node_pool("serve", types=("g6.xlarge",)), overlay("serve-gpu-4", "serve", 4), karpenter()], ["serve"]


P2 = "ai-karp-002-training-disruption"


def training(name, disruption, **kwargs):
    return node_pool(name, disruption=disruption, **kwargs)


@firing(P2, "consolidate-underutilized")
def _():
    return [training("underutilized", {"consolidationPolicy": "WhenEmptyOrUnderutilized", "budgets": [{"nodes": "0", "reasons": ["Drifted"]}]})], [
        "underutilized"
    ]


@firing(P2, "when-empty-but-drift-drains")
def _():
    return [training("drift", {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m"})], ["drift"]


@firing(P2, "zero-budget-only-in-a-window")
def _():
    budgets = [{"nodes": "0", "reasons": ["Underutilized", "Drifted"], "schedule": "0 9 * * mon-fri", "duration": "8h"}]
    return [training("window", {"consolidationPolicy": "WhenEmptyOrUnderutilized", "budgets": budgets})], ["window"]


@firing(P2, "node-expiry")
def _():
    return [node_pool("expiring", expire="720h")], ["expiring"]


P3 = "ai-karp-003-spot-interruption-handling"


def spot_pool(name, requirement):
    pool = node_pool(name)
    requirements = pool["inputs"]["spec"]["template"]["spec"]["requirements"]
    requirements[:] = [r for r in requirements if r["key"] != "karpenter.sh/capacity-type"] + [requirement]
    return pool


@firing(P3, "capacity-in-spot")
def _():
    return [spot_pool("spot-in", {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]})], ["spot-in"]


@firing(P3, "capacity-not-in-on-demand")
def _():
    return [spot_pool("not-on-demand", {"key": "karpenter.sh/capacity-type", "operator": "NotIn", "values": ["on-demand"]})], ["not-on-demand"]


@firing(P3, "capacity-exists")
def _():
    return [spot_pool("any-capacity", {"key": "karpenter.sh/capacity-type", "operator": "Exists"})], ["any-capacity"]


# AI-KARP-001: a pool without a bound ------------------------------------------------------------------------------
P4 = "ai-karp-001-pool-limits"


@firing(P4, "no-limits")
def _():
    return [node_pool("unbounded", limits={})], ["unbounded"]


@firing(P4, "node-count-only")
def _():
    return [node_pool("nodes-only", limits={"nodes": "4"})], ["nodes-only"]


@firing(P4, "gpu-pool-by-family-without-a-gpu-limit")
def _():
    pool = untainted("family-gpu", {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p5"]})
    pool["inputs"]["spec"]["limits"] = {"cpu": "1536", "memory": "16384Gi"}
    return [pool], ["family-gpu"]


# SEC-HELM-001: what runs is not pinned ----------------------------------------------------------------------------
P5 = "sec-helm-001-supply-chain-pinning"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _job(name, image):
    from policy_builder import k8s

    return k8s("batch/v1", "Job", name, {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}})


@firing(P5, "chart-version-range")
def _():
    return [res(RELEASE, "range", {"chart": "kueue", "version": "^0.19", "values": {}})], ["range"]


@firing(P5, "chart-version-unset")
def _():
    return [res(RELEASE, "unset", {"chart": "kueue", "values": {}})], ["unset"]


@firing(P5, "image-latest-in-values")
def _():
    return [res(RELEASE, "latest", {"chart": "x", "version": "1.0.0", "values": {"image": {"repository": "r", "tag": "latest"}}})], ["latest"]


@firing(P5, "image-untagged")
def _():
    return [_job("untagged", "busybox")], ["untagged"]


@firing(P5, "image-moving-tag")
def _():
    return [_job("stable", "nvcr.io/nvidia/pytorch:stable")], ["stable"]


@firing(P5, "mutable-ecr-repository")
def _():
    return [res("aws:ecr/repository:Repository", "models", {"imageScanningConfiguration": {"scanOnPush": True}})], ["models"]
