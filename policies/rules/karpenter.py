"""Karpenter pools: spending limits, disruption of training nodes and Spot interruption handling
(AI-KARP-001 ... AI-KARP-003)."""

from __future__ import annotations

import re
from typing import Optional

from components.accelerators import DEVICE_RESOURCES
from policies.support import helm
from policies.support.karpenter import INSTANCE_TYPE, NodePool, node_pools, time_slicing_replicas
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.tokens import EVENT_RULE, NODE_OVERLAY, NODE_POOL, SQS_QUEUE
from policies.support.values import Unknown, as_list, dig, is_set, known, text

TRAINING = "training"


# AI-KARP-001 ---------------------------------------------------------------------------------------------------
def _limits(res: Res, ctx: Ctx) -> None:
    pool = NodePool(res)
    limits = pool.limits()
    wanted = ["cpu", "memory"] + ([pool.accelerator_resource()] if pool.accelerator_resource() else [])
    missing = [key for key in wanted if key not in limits]
    if missing:
        ctx.violation(
            res,
            f"pool {pool.name!r} has no spec.limits for {', '.join(missing)}, so a burst of pending pods can launch "
            "nodes without bound; set `crucible:pools[].maxNodes` or `maxAccelerators` (Crucible derives the "
            "limits from it).",
        )


AI_KARP_001 = resource_policy(
    rule_id="AI-KARP-001",
    slug="pool-limits",
    description="Every Karpenter NodePool caps what it may launch (spec.limits for cpu and memory, and for the "
    "accelerator resource on GPU/Neuron pools) -- the runaway-cost guard.",
    applies_to=NODE_POOL,
    checks=[_limits],
    anchor="Karpenter docs spec.limits; EKS BPG karpenter",
)


# AI-KARP-002 ---------------------------------------------------------------------------------------------------
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def duration_seconds(value: str) -> Optional[float]:
    """Go durations as Karpenter writes them (720h, 1h30m, 90s); ``None`` if unparsable."""
    match = _DURATION.match(value.strip())
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _still_drains(pool: NodePool) -> list[str]:
    """The voluntary disruptions that can still drain a busy node of the pool (empty: none can). Consolidation of
    busy nodes is off with consolidationPolicy WhenEmpty or a standing nodes: "0" budget for Underutilized; drift
    replacement only with a standing nodes: "0" budget for Drifted. Budgets add up: one budget per reason counts
    like one budget naming both; a budget with a schedule is a window, not a standing guarantee."""
    disruption = dig(pool.spec, "disruption", default={})
    known(disruption)
    frozen: set[str] = set()
    for budget in as_list(disruption.get("budgets")):
        if not isinstance(budget, dict) or str(known(budget.get("nodes"))).strip() not in ("0", "0%"):
            continue
        if is_set(budget.get("schedule")):
            continue
        reasons = {known(r) for r in as_list(budget.get("reasons"))}
        frozen |= reasons or {"Underutilized", "Drifted", "Empty"}
    drains = []
    if known(disruption.get("consolidationPolicy")) != "WhenEmpty" and "Underutilized" not in frozen:
        drains.append('consolidation of underutilized nodes (consolidationPolicy WhenEmptyOrUnderutilized without a nodes: "0" budget for Underutilized)')
    if "Drifted" not in frozen:
        drains.append('drift replacement (no nodes: "0" budget for Drifted: an AMI or NodeClass change drains every node)')
    return drains


def _training_disruption(res: Res, ctx: Ctx) -> None:
    pool = NodePool(res)
    if pool.workload != TRAINING:
        return
    drains = _still_drains(pool)  # the disruption block may be computed at preview: the other checks still run
    if drains:
        ctx.violation(
            res,
            f"training pool {pool.name!r} lets Karpenter drain busy nodes by {' and '.join(drains)}, killing running "
            "jobs; keep `crucible:pools[].workload: training` on Crucible's training profile (WhenEmpty and a "
            'nodes: "0" budget for Underutilized and Drifted).',
        )


def _training_expiry(res: Res, ctx: Ctx) -> None:
    pool = NodePool(res)
    if pool.workload != TRAINING:
        return
    expire = text(dig(pool.spec, "template", "spec", "expireAfter"))
    minimum_hours = float(ctx.setting("minExpireAfterHours"))
    if expire != "Never":
        seconds = duration_seconds(expire) if expire else 720 * 3600.0
        if not minimum_hours or seconds is None or seconds < minimum_hours * 3600:
            ctx.violation(
                res,
                f"training pool {pool.name!r} expires nodes after {expire or '720h (the Karpenter default)'}; "
                "expiry is a forced drain that ignores karpenter.sh/do-not-disrupt and kills the job on the node: "
                'set spec.template.spec.expireAfter = "Never"'
                + (f" (or at least {minimum_hours:g}h, this environment's longest job)" if minimum_hours else "")
                + ".",
            )


def _training_grace(res: Res, ctx: Ctx) -> None:
    pool = NodePool(res)
    if pool.workload != TRAINING:
        return
    grace = text(dig(pool.spec, "template", "spec", "terminationGracePeriod"))
    flush = float(ctx.setting("checkpointFlushSeconds"))
    if grace:
        seconds = duration_seconds(grace)
        if seconds is not None and seconds < flush:
            ctx.violation(
                res,
                f"training pool {pool.name!r} force-terminates pods {grace} after a drain starts, less than the "
                f"{flush:g}s a checkpoint needs to flush; raise spec.template.spec.terminationGracePeriod or leave "
                "it unset.",
            )


AI_KARP_002 = resource_policy(
    rule_id="AI-KARP-002",
    slug="training-disruption",
    description="Training pools (crucible.io/workload: training) are disruption-safe: no consolidation of busy "
    "nodes, no node expiry mid-job, and enough termination grace for a checkpoint to flush.",
    applies_to=NODE_POOL,
    checks=[_training_disruption, _training_expiry, _training_grace],
    settings={
        "minExpireAfterHours": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "description": "Accept a finite expireAfter of at least this many hours (the longest job); 0 requires Never.",
        },
        "checkpointFlushSeconds": {
            "type": "number",
            "minimum": 0,
            "default": 600,
            "description": "Seconds a checkpoint needs to flush; a shorter terminationGracePeriod is refused.",
        },
    },
    anchor="EKS BPG aiml_compute: disable consolidation for interruption-sensitive workloads; Karpenter disruption",
)


# AI-KARP-003 ---------------------------------------------------------------------------------------------------
def _interruption_queue_configured(stack: Stack, release: Res) -> bool:
    values = release.get("values")
    if isinstance(values, Unknown):
        # Values computed during preview: they were derived from a queue of this stack, or we cannot tell.
        if stack.linked(release, "values", SQS_QUEUE):
            return True
        known(values)
    return is_set(dig(values if isinstance(values, dict) else {}, "settings", "interruptionQueue"))


def _spot_rules_exist(stack: Stack) -> bool:
    for rule in stack.of(EVENT_RULE):
        pattern = known(rule.get("eventPattern"))
        if isinstance(pattern, str) and "Spot Instance Interruption Warning" in pattern:
            return True
    return False


def _spot_interruption(stack: Stack, ctx: Ctx) -> None:
    spot_pools = []
    for pool in node_pools(stack):
        with ctx.each():
            if pool.accelerator_resource() and "spot" in pool.capacity_types():
                spot_pools.append(pool)
    if not spot_pools:
        return
    releases = helm.releases(stack, "karpenter")
    queues = stack.of(SQS_QUEUE)
    for pool in spot_pools:
        with ctx.each():
            configured = any(_interruption_queue_configured(stack, r) for r in releases)
            missing = []
            if not releases or not configured:
                missing.append("the Karpenter release's settings.interruptionQueue")
            if not queues:
                missing.append("an SQS interruption queue")
            if not _spot_rules_exist(stack):
                missing.append('an EventBridge rule for "EC2 Spot Instance Interruption Warning"')
            if missing:
                ctx.violation(
                    pool.res,
                    f"accelerator pool {pool.name!r} uses Spot but this stack lacks {', '.join(missing)}; without "
                    "interruption handling nodes vanish with 2 minutes' notice nobody acts on. Install Karpenter with "
                    "its interruption queue, or drop spot from `crucible:pools[].capacityTypes`.",
                )


AI_KARP_003 = stack_policy(
    rule_id="AI-KARP-003",
    slug="spot-interruption-handling",
    description="Accelerator pools that use Spot have Karpenter interruption handling: the controller's "
    "interruption queue setting, the SQS queue and the EventBridge rules that feed it.",
    check=_spot_interruption,
    anchor="EKS BPG karpenter: enable interruption handling when using Spot",
)

# AI-KARP-004 ---------------------------------------------------------------------------------------------------


def _overlay_selects(overlay: Res, key: str) -> Optional[set[str]]:
    """Values an ``In`` requirement of the overlay on ``key`` allows (None: the overlay does not restrict ``key``)."""
    for req in as_list(overlay.get("spec", "requirements")):
        if isinstance(req, dict) and known(req.get("key")) == key and known(req.get("operator")) == "In":
            return {str(known(v)) for v in as_list(req.get("values"))}
    return None


def _overlaid_types(stack: Stack, pool: NodePool, resource: str) -> dict[str, int]:
    """instance type (as the overlays name it) -> the ``resource`` capacity the pool's NodeOverlays give it."""
    out: dict[str, int] = {}
    for overlay in stack.of(NODE_OVERLAY):
        pools = _overlay_selects(overlay, "karpenter.sh/nodepool")
        if pools is None or not pools & pool.names():
            continue
        capacity = overlay.get("spec", "capacity", default={})
        amount = known(capacity.get(resource)) if isinstance(capacity, dict) else None
        if amount is None:
            continue
        for instance_type in _overlay_selects(overlay, INSTANCE_TYPE) or {"*"}:
            out[instance_type] = int(str(amount))
    return out


def _overlay_gate_on(stack: Stack) -> bool:
    return any(dig(helm.values(r), "settings", "featureGates", "nodeOverlay") is True for r in helm.releases(stack, "karpenter"))


def _simulated_as_advertised(stack: Stack, ctx: Ctx) -> None:
    for pool in node_pools(stack):
        with ctx.each():
            sliced = time_slicing_replicas(stack, pool)
            for resource in DEVICE_RESOURCES:
                overlaid = _overlaid_types(stack, pool, resource)
                replicas = sliced.get(resource)
                if replicas is None:
                    if overlaid:
                        ctx.violation(
                            pool.res,
                            f"NodeOverlays give pool {pool.name!r} {resource} capacity ({', '.join(f'{t} {n}' for t, n in sorted(overlaid.items()))}) "
                            "but its nodes run no time-slicing config for it: Karpenter plans capacity the nodes never "
                            "report, and pods it launched nodes for stay pending.",
                        )
                    continue
                types = sorted(pool.selected(INSTANCE_TYPE) or ())
                missing = [t for t in types if t not in overlaid and "*" not in overlaid]
                wrong = sorted(t for t, n in overlaid.items() if n <= 0 or n % replicas)
                if missing or wrong:
                    problems = [f"no NodeOverlay gives {', '.join(missing)} the {resource} it advertises"] if missing else []
                    problems += [f"{', '.join(wrong)}: capacity not a multiple of the {replicas} replicas"] if wrong else []
                    ctx.violation(
                        pool.res,
                        f"pool {pool.name!r} advertises each GPU {replicas} times (time-slicing) but {'; '.join(problems)}: "
                        "Karpenter simulates the instance type's physical GPUs, launches a node per shared pod, and only "
                        "consolidation removes the surplus. Add a NodeOverlay per advertised count (Crucible does for "
                        "`crucible:pools[].gpuSharing`).",
                    )
                elif not _overlay_gate_on(stack):
                    ctx.violation(
                        pool.res,
                        f"pool {pool.name!r} has NodeOverlays for its time-sliced {resource} but the Karpenter release leaves "
                        "the NodeOverlay feature gate off (settings.featureGates.nodeOverlay): Karpenter ignores them.",
                    )


AI_KARP_004 = stack_policy(
    rule_id="AI-KARP-004",
    slug="time-sliced-pools-simulated",
    description="A pool whose GPUs are time-sliced tells Karpenter what its nodes advertise (NodeOverlays per "
    "instance type, feature gate on), and no overlay claims accelerator capacity a pool's nodes do not advertise.",
    check=_simulated_as_advertised,
    anchor="Karpenter NodeOverlays (alpha); NVIDIA device plugin time-slicing",
)

POLICIES = [AI_KARP_001, AI_KARP_002, AI_KARP_003, AI_KARP_004]
