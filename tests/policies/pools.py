"""Karpenter and Kueue objects in the shape components/node_pool.py registers them."""

from policy_builder import k8s

GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}


def node_pool(
    name="gpu-train",
    *,
    types=("p5.48xlarge",),
    zones=("us-east-1a",),
    workload="training",
    capacity=("on-demand",),
    taints=(GPU_TAINT,),
    limits=None,
    disruption=None,
    expire="Never",
    labels=None,
    node_class=None,
    **template_spec,
):
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(types)},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(capacity)},
    ]
    if zones is not None:
        requirements.append({"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)})
    spec = {
        "template": {
            "metadata": {"labels": {"crucible.io/pool": name, "crucible.io/workload": workload, **(labels or {})}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class or name},
                "requirements": requirements,
                "taints": list(taints),
                "expireAfter": expire,
                **template_spec,
            },
        },
        "limits": limits if limits is not None else {"cpu": "1536", "memory": "16384Gi", "nvidia.com/gpu": "64"},
        "disruption": disruption
        if disruption is not None
        else {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": "10m",
            "budgets": [{"nodes": "0", "reasons": ["Underutilized", "Drifted"]}],
        },
    }
    return k8s("karpenter.sh/v1", "NodePool", name, spec)


def cpu_pool(name="cpu", **kwargs):
    kwargs.setdefault("types", ("m7i.4xlarge",))
    kwargs.setdefault("taints", ())
    kwargs.setdefault("workload", "serving")
    kwargs.setdefault("limits", {"cpu": "256", "memory": "1024Gi"})
    return node_pool(name, **kwargs)
