"""Accelerator nodes repel everything that does not ask for an accelerator (AI-GPU-001).

A GPU node that also accepts CPU-only pods ends up running (and being kept alive by) web servers and batch
jobs at accelerator prices, and a training job then finds its GPUs' node full.
"""

from __future__ import annotations

from policies.support.karpenter import GPU_RESOURCE, NEURON_RESOURCE, NodePool, is_gpu_family, is_neuron_family
from policies.support.rule import Ctx, Res, resource_policy
from policies.support.tokens import EKS_NODE_GROUP, NODE_POOL, any_of
from policies.support.values import as_list, known


def _node_group_accelerator(group: Res) -> str | None:
    types = [known(t) for t in as_list(group.get("instanceTypes"))]
    ami = str(group.get("amiType") or "")
    if any(is_gpu_family(t) for t in types) or "NVIDIA" in ami or ami.endswith("_GPU"):
        return GPU_RESOURCE
    if any(is_neuron_family(t) for t in types) or "NEURON" in ami:
        return NEURON_RESOURCE
    return None


def _tainted(res: Res, ctx: Ctx) -> None:
    if NODE_POOL(res.type):
        pool = NodePool(res)
        resource = pool.accelerator_resource()
        if resource and not pool.has_taint(resource, "NoSchedule"):
            ctx.violation(
                res,
                f"pool {pool.name!r} selects {'GPU' if resource == GPU_RESOURCE else 'Neuron'} instances but has no "
                f"{resource}:NoSchedule taint, so pods that need no accelerator land (and stay) on it; add "
                f"{{key: {resource}, effect: NoSchedule}} to spec.template.spec.taints (Crucible derives it from "
                "`crucible:pools[].kind`).",
            )
        return
    resource = _node_group_accelerator(res)
    if resource is None:
        return
    taints = [t for t in as_list(res.get("taints")) if isinstance(t, dict)]
    if not any(known(t.get("key")) == resource and known(t.get("effect")) == "NO_SCHEDULE" for t in taints):
        ctx.violation(
            res,
            f"accelerated node group without a {resource} NO_SCHEDULE taint; add taints = "
            f"[{{key: {resource}, effect: NO_SCHEDULE}}] so only pods that tolerate it are scheduled there.",
        )


AI_GPU_001 = resource_policy(
    rule_id="AI-GPU-001",
    slug="accelerator-taints",
    description="GPU and Neuron node pools carry a NoSchedule taint for their device resource (nvidia.com/gpu, "
    "aws.amazon.com/neuron), so only workloads that request accelerators run on accelerator-priced nodes.",
    applies_to=any_of(NODE_POOL, EKS_NODE_GROUP),
    checks=[_tainted],
    anchor="EKS BPG aiml_compute: taints and tolerations; BPG multitenancy",
)

POLICIES = [AI_GPU_001]
