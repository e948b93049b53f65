"""What the cluster has recorded about its nodes' health, per pool: burn-in (the node label `crucible.io/burn-in`, its
startup and failed taints and its node condition `CrucibleBurnIn`, addons/burn_in.py), the EKS node monitoring agent (its NodeConditions) and the fleet health canary (the node label
`crucible.io/canary`, its taint and annotation, and the last result per pool in the canary's results ConfigMap).
Read only: it creates nothing. Names: components/labels.py.

A pool fails when one of its nodes failed burn-in, has a node monitoring condition False (a problem the agent
found: Karpenter's node repair replaces such a node), is not Ready, or was marked by the canary; a node still
burning in, a pool without nodes (scaled to zero) or a node the agent does not report on yet are said, not failed.
"""

from __future__ import annotations

import json
from typing import Optional

from addons.health_canary import NAMESPACE as CANARY_NAMESPACE, RESULTS as CANARY_RESULTS
from components.labels import (
    BURN_IN_CONDITION,
    BURN_IN_FAILED_TAINT,
    BURN_IN_LABEL,
    BURN_IN_STARTUP_TAINT,
    CANARY_FAILED,
    CANARY_LABEL,
    CANARY_RESULT_ANNOTATION,
    CANARY_TAINT,
    NODE_HEALTH_CONDITIONS,
    NODEPOOL_LABEL,
)
from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, Context, Row
from stacks.tools.verify.kube import api_path

NAME = "health"


def _conditions(node: dict) -> dict[str, dict]:
    return {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}


def _taints(node: dict) -> set[tuple[str, str]]:
    return {(t.get("key"), t.get("value", "")) for t in (node.get("spec") or {}).get("taints") or []}


def _has(taints: set[tuple[str, str]], taint: dict) -> bool:
    return (taint["key"], taint.get("value", "")) in taints


def node_health(node: dict) -> tuple[list[str], list[str], dict]:
    """(problems, notes, data) of one node."""
    meta = node.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    conditions, taints = _conditions(node), _taints(node)
    problems, notes = [], []
    ready = conditions.get("Ready", {}).get("status")
    if ready != "True":
        problems.append(f"Ready={ready or 'unknown'}")
    burn_in = labels.get(BURN_IN_LABEL)
    verdict = conditions.get(BURN_IN_CONDITION) or {}
    if burn_in == "failed" or _has(taints, BURN_IN_FAILED_TAINT) or verdict.get("status") == "False":
        why = ": ".join(x for x in (verdict.get("reason"), verdict.get("message")) if x)
        problems.append("burn-in failed" + (f" ({why})" if why else ""))
    elif _has(taints, BURN_IN_STARTUP_TAINT) or burn_in == "pending":
        notes.append("burn-in in progress")
    reported = [c for c in NODE_HEALTH_CONDITIONS if c in conditions]
    for kind in reported:
        c = conditions[kind]
        if c.get("status") == "False":
            why = ": ".join(x for x in (c.get("reason"), c.get("message")) if x)
            problems.append(f"{kind}=False" + (f" ({why})" if why else ""))
    if not reported:
        notes.append("no node monitoring conditions (is the EKS node monitoring agent running?)")
    canary: Optional[dict] = None
    if CANARY_RESULT_ANNOTATION in annotations:
        try:
            canary = json.loads(annotations[CANARY_RESULT_ANNOTATION])
        except ValueError:
            canary = {"unreadable": annotations[CANARY_RESULT_ANNOTATION][:80]}
    if labels.get(CANARY_LABEL) == CANARY_FAILED or _has(taints, CANARY_TAINT):
        why = "; ".join((canary or {}).get("problems") or []) or "see the node's crucible.io/canary-result annotation"
        problems.append(f"marked by the canary ({why})")
    data = {"burnIn": burn_in, "conditions": {k: conditions[k].get("status") for k in reported}, "canary": labels.get(CANARY_LABEL), "canaryResult": canary}
    return problems, notes, data


def _canary_results(ctx: Context) -> dict:
    config = ctx.get(api_path("v1", "configmaps", CANARY_NAMESPACE, CANARY_RESULTS)) or {}
    out = {}
    for key, value in (config.get("data") or {}).items():
        if key.endswith(".json"):
            try:
                out[key[: -len(".json")]] = json.loads(value)
            except ValueError:
                continue
    return out


def _last_run(result: Optional[dict]) -> str:
    if not result:
        return ""
    ratio = result.get("ratio")
    return f"canary last run {result.get('outcome', '?')}" + (f", ratio {ratio:.2f}" if isinstance(ratio, (int, float)) else "")


def run(ctx: Context) -> None:
    if not ctx.targets.pools:
        ctx.emit(Row(NAME, "-", SKIP, detail="the plan has no Karpenter pools"))
        return
    results = {}
    if ctx.targets.canary:  # read only where the stack installs it (and verify's RBAC lets it read that ConfigMap)
        ctx.phase = f"reading the canary's results ({CANARY_NAMESPACE}/{CANARY_RESULTS})"
        results = _canary_results(ctx)
    for pool in ctx.targets.pools:
        ctx.target = pool.name
        ctx.phase = f"reading the nodes of pool {pool.name}"
        nodes = ctx.list(api_path("v1", "nodes"), f"{NODEPOOL_LABEL}={pool.name}")
        last = results.get(pool.name)
        if not nodes:
            ctx.emit(
                Row(NAME, pool.name, SKIP, detail="no nodes (the pool is scaled to zero)" + (f"; {_last_run(last)}" if last else ""), data={"canary": last})
            )
            continue
        per_node, failing, notes = {}, [], []
        for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
            name = node["metadata"]["name"]
            problems, node_notes, data = node_health(node)
            per_node[name] = {**data, "problems": problems, "notes": node_notes}
            if problems:
                failing.append(f"{name}: {', '.join(problems)}")
            notes += [f"{name}: {n}" for n in node_notes]
        if last and last.get("outcome") == "failed" and not failing:
            notes.append(f"the canary's last run failed on nodes no longer in the pool ({', '.join(last.get('nodes') or []) or 'unknown'})")
        detail = "; ".join(failing) if failing else "; ".join(notes[:3] + ([f"+{len(notes) - 3} more"] if len(notes) > 3 else []))
        measured = f"{len(nodes) - len(failing)}/{len(nodes)} nodes healthy" + (f", {_last_run(last)}" if last else "")
        ctx.emit(
            Row(
                NAME,
                pool.name,
                FAIL if failing else PASS,
                measured=measured,
                expected="burn-in passed, node monitoring conditions True, not marked by the canary",
                detail=detail,
                data={"nodes": per_node, "canary": last},
            )
        )
