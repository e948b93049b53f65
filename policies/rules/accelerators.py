"""Accelerator nodes repel everything that does not ask for an accelerator (AI-GPU-001), and their devices open for
the pods that do (AI-GPU-002).

A GPU node that also accepts CPU-only pods ends up running (and being kept alive by) web servers and batch
jobs at accelerator prices, and a training job then finds its GPUs' node full. A Neuron node on Bottlerocket hands
its pods device nodes only root may open unless the node gives them the pod's user.
"""

from __future__ import annotations

import tomllib

from policies.support.karpenter import GPU_RESOURCE, NEURON_RESOURCE, NodePool, is_gpu_family, is_neuron_family, node_pools
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.tokens import EKS_NODE_GROUP, NODE_POOL, any_of
from policies.support.values import as_list, known, text


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

# AI-GPU-002 -----------------------------------------------------------------------------------------------------
DEVICE_OWNERSHIP = "device-ownership-from-security-context"


def _bottlerocket(node_class: Res) -> bool:
    if text(node_class.get("spec", "amiFamily")) == "Bottlerocket":
        return True
    aliases = [text(t.get("alias")) or "" for t in as_list(node_class.get("spec", "amiSelectorTerms")) if isinstance(t, dict)]
    return any(alias.lower().startswith("bottlerocket@") for alias in aliases)


def _device_ownership(user_data: str | None) -> tuple[bool, str]:
    """Whether Bottlerocket settings TOML gives device nodes the pod's user, and what is wrong if not."""
    if not user_data:
        return False, "the node class has no user data"
    try:
        settings = tomllib.loads(user_data).get("settings") or {}
    except tomllib.TOMLDecodeError as err:
        return False, f"its user data is not TOML ({err}): Karpenter cannot merge it"
    value = (settings.get("kubernetes") or {}).get(DEVICE_OWNERSHIP) if isinstance(settings, dict) else None
    return value is True, f"settings.kubernetes.{DEVICE_OWNERSHIP} is {value!r}"


def _neuron_devices_open(stack: Stack, ctx: Ctx) -> None:
    for pool in node_pools(stack):
        with ctx.each():
            if not pool.is_neuron():
                continue
            node_class = pool.node_class(stack)
            if node_class is None or not _bottlerocket(node_class):
                continue
            raw = node_class.get("spec", "userData")
            known(raw)
            ok, why = _device_ownership(text(raw))
            if not ok:
                ctx.violation(
                    node_class,
                    f"pool {pool.name!r} runs Neuron devices on Bottlerocket but {why}: the device nodes stay root's "
                    f"and a non-root pod (every pod of a restricted namespace) cannot open them; set "
                    f"[settings.kubernetes] {DEVICE_OWNERSHIP} = true in spec.userData (Crucible does for every "
                    "neuron pool on Bottlerocket).",
                )


AI_GPU_002 = stack_policy(
    rule_id="AI-GPU-002",
    slug="neuron-devices-for-non-root",
    description="A Neuron pool on Bottlerocket gives the devices to the pod's runAsUser/runAsGroup "
    "(settings.kubernetes.device-ownership-from-security-context), so non-root pods can open them.",
    check=_neuron_devices_open,
    anchor="EKS user guide: EKS-optimized Bottlerocket AMIs, Neuron; Bottlerocket QUICKSTART-EKS Neuron support",
)

POLICIES = [AI_GPU_001, AI_GPU_002]
