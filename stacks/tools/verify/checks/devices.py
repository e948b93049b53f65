"""Device plugins advertise every accelerator and EFA device on a node of each accelerator/EFA pool.

For each such pool, within its budget (`pool_timeout`, at most an even share of the time left): its Ready nodes
(label karpenter.sh/nodepool) that are not being deleted; when it has none, a probe Job pinned to the pool asking
for one accelerator is queued in verify's own queue (addons.verify; without it, unqueued in verify's own
namespace: never a team's queue, whose quota it would take) and verify waits for Karpenter's node. Each node's
`status.allocatable` is compared with one node's figures for its instance type (the catalog, through the plan;
label node.kubernetes.io/instance-type), waiting up to `device_settle` seconds for the plugins to start. The probe
is deleted once its node is judged, giving its borrowed quota back.
"""

from __future__ import annotations

import time
from typing import Optional

from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, TIMEOUT, Context, Row, condition, dns_name
from stacks.tools.verify.kube import api_path
from components.labels import EFA_RESOURCE, NODEPOOL_LABEL
from stacks.tools.verify.targets import PoolTarget
from stacks.tools.verify.workloads import probe_job

NAME = "devices"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


def _ready_nodes(ctx: Context, pool: str) -> list[dict]:
    """Ready nodes of `pool` that are not being deleted (a node Karpenter drains stays Ready while Terminating)."""
    nodes = ctx.list(api_path("v1", "nodes"), f"{NODEPOOL_LABEL}={pool}")
    return [n for n in nodes if (condition(n, "Ready") or {}).get("status") == "True" and not (n.get("metadata") or {}).get("deletionTimestamp")]


def _count(node: dict, resource: Optional[str]) -> int:
    if not resource:
        return 0
    value = ((node.get("status") or {}).get("allocatable") or {}).get(resource, "0")
    try:
        return int(value)
    except ValueError:
        return 0


def _judge(pool: PoolTarget, node: dict) -> tuple[bool, dict]:
    itype = ((node.get("metadata") or {}).get("labels") or {}).get(INSTANCE_TYPE_LABEL)
    exp = pool.expectation(itype)
    have_acc, have_efa = _count(node, pool.accelerator_resource), _count(node, EFA_RESOURCE)
    want_acc = exp.accelerators if exp else None  # None: the plan has no figure; any accelerator will do
    want_efa = exp.efa if exp else pool.efa
    ok_acc = (have_acc == want_acc) if want_acc is not None else (have_acc > 0 or not pool.accelerator_resource)
    ok = ok_acc and have_efa == want_efa
    return ok, {
        "node": (node.get("metadata") or {}).get("name"),
        "instanceType": itype,
        "accelerators": have_acc,
        "expectedAccelerators": want_acc,
        "efa": have_efa,
        "expectedEfa": want_efa,
    }


def _text(pool: PoolTarget, data: dict, expected: bool) -> str:
    short = (pool.accelerator_resource or "").split("/")[-1]
    parts = []
    if pool.accelerator_resource:
        value = data["expectedAccelerators"] if expected else data["accelerators"]
        parts.append(f"{short} {value if value is not None else '>=1'}")
    parts.append(f"efa {data['expectedEfa'] if expected else data['efa']}")
    return ", ".join(parts)


def run(ctx: Context) -> None:
    pools = [p for p in ctx.targets.pools if p.accelerated or p.efa]
    if not pools:
        ctx.emit(Row(NAME, "-", SKIP, detail="no accelerator or EFA pools in the plan"))
        return
    for i, pool in enumerate(pools):
        ctx.target = pool.name
        budget = ctx.pool_budget(len(pools) - i)
        ctx.phase = f"listing nodes of {pool.name}"
        nodes = _ready_nodes(ctx, pool.name)
        probe = None
        if not nodes:
            namespace, queue, priority = ctx.queue_for_probes()
            probe = dns_name("cv", ctx.run_id, "probe", pool.name)
            ctx.phase = f"creating probe job {namespace}/{probe}"
            ctx.create("batch/v1", "jobs", namespace, probe_job(probe, pool, queue, ctx.options.image, int(ctx.options.check_timeout) + 60, priority))
            what = f"waiting for a node of {pool.name} (probe {namespace}/{probe}" + (f" in LocalQueue {queue})" if queue else ")")
            nodes = ctx.wait_for(what, lambda: _ready_nodes(ctx, pool.name), budget=budget)
            if not nodes:
                ctx.emit(Row(NAME, pool.name, TIMEOUT, detail=f"no Ready node within this pool's {budget:.0f}s budget while {what}"))
                continue
        node = nodes[0]
        started = time.monotonic()
        ok, data = _judge(pool, node)
        name = data["node"]
        while not ok and time.monotonic() - started < ctx.options.device_settle:
            ctx.phase = f"waiting for device plugins on {name}"
            ctx.sleep()
            fresh = next((n for n in ctx.list(api_path("v1", "nodes"), f"{NODEPOOL_LABEL}={pool.name}") if n["metadata"].get("name") == name), node)
            ok, data = _judge(pool, fresh)
        data["probe"] = probe
        if probe:  # its node is judged: give back the borrowed device before the next pool (and NCCL) needs quota
            ctx.delete("batch/v1", "jobs", namespace, probe)
        ctx.emit(
            Row(
                NAME,
                pool.name,
                PASS if ok else FAIL,
                measured=_text(pool, data, expected=False),
                expected=_text(pool, data, expected=True),
                detail=f"node {name} ({data['instanceType']})" + (f"; brought up by probe job {probe}" if probe else ""),
                data=data,
            )
        )
