"""Kueue's cluster-scoped objects the plan declares are in the cluster as declared: each WorkloadPriorityClass with
its `value` (what Kueue gives a workload naming it: a different value reorders preemption, a missing class keeps
Kueue from creating the workload at all) and each Topology with its levels, in order (what topology-aware flavors
place pods by). Read only: one list per kind (kueue.x-k8s.io/v1beta2, cluster-scoped); an object the cluster has
and the plan does not declare is shown, not judged."""

from __future__ import annotations

from typing import Callable, Sequence

from components.kueue_objects import KUEUE_API
from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, Context, Row
from stacks.tools.verify.kube import KubeError, api_path

NAME = "kueue"


def _levels(obj: dict) -> tuple[str, ...]:
    return tuple(str(level.get("nodeLabel")) for level in (obj.get("spec") or {}).get("levels") or [])


def _show_levels(levels: object) -> str:
    names = [str(level) for level in levels] if isinstance(levels, (tuple, list)) else []
    return "levels " + (" > ".join(names) if names else "(none)")


def _compare(
    ctx: Context,
    kind: str,
    plural: str,
    planned: Sequence,
    found_value: Callable[[dict], object],
    planned_value: Callable[[object], object],
    show: Callable[[object], str],
) -> None:
    ctx.target = kind
    ctx.phase = f"listing {plural}.kueue.x-k8s.io"
    try:
        items = ctx.list(api_path(KUEUE_API, plural))
    except KubeError as exc:
        if exc.status != 404:
            raise
        if planned:  # the API has no such resource: Kueue's CRDs are not installed
            for target in planned:
                ctx.emit(
                    Row(
                        NAME,
                        f"{kind}/{target.name}",
                        FAIL,
                        measured="not served",
                        expected=show(planned_value(target)),
                        detail=f"the API serves no {plural}.kueue.x-k8s.io: Kueue's CRDs are not installed",
                    )
                )
        return
    found = {(o.get("metadata") or {}).get("name"): o for o in items}
    for target in planned:
        want = planned_value(target)
        obj = found.get(target.name)
        if obj is None:
            ctx.emit(
                Row(
                    NAME,
                    f"{kind}/{target.name}",
                    FAIL,
                    measured="not found",
                    expected=show(want),
                    detail=f"the plan declares {kind} {target.name}; the cluster has none",
                )
            )
            continue
        have = found_value(obj)
        ok = have == want
        ctx.emit(
            Row(
                NAME,
                f"{kind}/{target.name}",
                PASS if ok else FAIL,
                measured=show(have),
                expected=show(want),
                detail="" if ok else f"{kind} {target.name} differs from the plan: {show(have)} in the cluster, the plan says {show(want)}",
                data={"found": have if not isinstance(have, tuple) else list(have), "planned": want if not isinstance(want, tuple) else list(want)},
            )
        )
    declared = {t.name for t in planned}
    for name in sorted(n for n in found if n not in declared):
        ctx.emit(Row(NAME, f"{kind}/{name}", SKIP, measured=show(found_value(found[name])), detail="in the cluster, not declared by the plan: not judged"))
    if not planned and not found:
        ctx.emit(Row(NAME, kind, SKIP, detail=f"the plan declares no {kind} and the cluster has none"))


def run(ctx: Context) -> None:
    targets = ctx.targets
    if not targets.kueue:
        ctx.emit(Row(NAME, "-", SKIP, detail="the plan has no Kueue objects"))
        return
    _compare(
        ctx,
        "WorkloadPriorityClass",
        "workloadpriorityclasses",
        targets.priority_classes,
        lambda obj: obj.get("value"),
        lambda target: target.value,
        lambda value: f"value {value}",
    )
    _compare(
        ctx,
        "Topology",
        "topologies",
        targets.topologies,
        _levels,
        lambda target: tuple(target.levels),
        _show_levels,
    )
