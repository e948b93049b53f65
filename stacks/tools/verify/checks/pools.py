"""Every pool's NodePool (karpenter.sh/v1) and EC2NodeClass (karpenter.k8s.aws/v1) reports Ready=True."""

from __future__ import annotations

from stacks.tools.verify.checks.base import FAIL, PASS, Context, Row, condition
from stacks.tools.verify.kube import api_path

NAME = "pools"


def _ready(obj) -> tuple[bool, str]:
    if obj is None:
        return False, "not found"
    ready = condition(obj, "Ready")
    if ready is None:
        return False, "no Ready condition yet"
    text = ready.get("status", "Unknown")
    why = "; ".join(x for x in (ready.get("reason"), ready.get("message")) if x)
    return text == "True", f"Ready={text}" + (f" ({why})" if why and text != "True" else "")


def run(ctx: Context) -> None:
    if not ctx.targets.pools:
        ctx.emit(Row(NAME, "-", "skip", detail="the plan has no Karpenter pools"))
        return
    for pool in ctx.targets.pools:
        ctx.target = pool.name
        ctx.phase = f"reading NodePool {pool.name}"
        pool_ok, pool_text = _ready(ctx.get(api_path("karpenter.sh/v1", "nodepools", name=pool.name)))
        class_ok, class_text = _ready(ctx.get(api_path("karpenter.k8s.aws/v1", "ec2nodeclasses", name=pool.node_class)))
        ok = pool_ok and class_ok
        ctx.emit(
            Row(
                NAME,
                pool.name,
                PASS if ok else FAIL,
                measured=f"NodePool {pool_text}; EC2NodeClass {class_text}",
                expected="Ready=True",
                data={"nodePoolReady": pool_ok, "nodeClassReady": class_ok, "nodeClass": pool.node_class},
            )
        )
