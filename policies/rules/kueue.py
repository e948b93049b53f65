"""Kueue on Karpenter: quotas that the pools can actually provide, flavors that land on their pools, and
preemption only where jobs checkpoint (AI-KUEUE-001 ... AI-KUEUE-003).

Kueue quota is accounting only: a ClusterQueue that promises more GPUs than the NodePool's ``spec.limits`` allow
admits jobs whose pods then pend forever. A ResourceFlavor's ``nodeLabels`` become the pods' node selector and its
``tolerations`` are added to them: a label the pool's nodes do not carry, or a missing toleration for the pool's
taint, makes every admitted pod unschedulable.

Contract with the program: a ResourceFlavor names its pool with ``nodeLabels`` ``karpenter.sh/nodepool: <NodePool
metadata.name>`` (or ``crucible.io/pool: <pool>``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Optional

from pulumi_policy import EnforcementLevel

from components.accelerators import DEVICE_RESOURCES
from policies.support.karpenter import NODEPOOL_LABEL, POOL_LABEL, NodePool, node_pools
from policies.support.kubernetes import in_namespace, is_tenant
from policies.support.quantity import parse_quantity
from policies.support.rule import Ctx, Res, Stack, stack_policy
from policies.support.tokens import CLUSTER_QUEUE, KUEUE_VERSIONS, LOCAL_QUEUE, NAMESPACE, RESOURCE_FLAVOR, custom_resource
from policies.support.values import as_dict, as_list, dig, known, text

CAPACITY_RESOURCES = ("cpu", "memory", *DEVICE_RESOURCES)
COHORT = custom_resource("kueue.x-k8s.io", "Cohort", (*KUEUE_VERSIONS, "v1alpha1"))


def flavor_pool(flavor: Res, pools: list[NodePool]) -> tuple[Optional[str], Optional[NodePool]]:
    """(the pool name the flavor selects, that pool if the stack defines it)."""
    labels = as_dict(flavor.get("spec", "nodeLabels"))
    for key in (NODEPOOL_LABEL, POOL_LABEL):
        wanted = labels.get(key)
        if isinstance(wanted, str):
            for pool in pools:
                if (key == NODEPOOL_LABEL and pool.k8s_name == wanted) or (key == POOL_LABEL and pool.name == wanted):
                    return wanted, pool
            return wanted, None
    return None, None


def _quotas(queue: Res, flavor_name: str) -> dict[str, tuple[Decimal, Decimal]]:
    """resource -> (nominalQuota, borrowingLimit) of ``flavor_name`` in a ClusterQueue."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for group in as_list(queue.get("spec", "resourceGroups")):
        for flavor in as_list(dig(group, "flavors")):
            if not isinstance(flavor, dict) or known(flavor.get("name")) != flavor_name:
                continue
            for resource in as_list(flavor.get("resources")):
                if not isinstance(resource, dict):
                    continue
                nominal = parse_quantity(known(resource.get("nominalQuota"))) or Decimal(0)
                borrowing = parse_quantity(known(resource.get("borrowingLimit"))) or Decimal(0)
                out[str(known(resource.get("name")))] = (nominal, borrowing)
    return out


# AI-KUEUE-001 --------------------------------------------------------------------------------------------------
def _fits(stack: Stack, ctx: Ctx) -> None:
    pools = node_pools(stack)
    queues = stack.of(CLUSTER_QUEUE)
    for flavor in stack.of(RESOURCE_FLAVOR):
        with ctx.each():
            name, pool = flavor_pool(flavor, pools)
            if pool is None or flavor.k8s_name is None:
                continue  # AI-KUEUE-002 reports flavors without a pool
            # In the unit the nodes advertise (GPU time-slicing included: AI-KARP-004 holds the pool's limits and
            # overlays to it), as Kueue counts the quotas.
            limits = dict(pool.limits())
            totals: dict[str, Decimal] = {}
            for queue in queues:
                for resource, (nominal, borrowing) in _quotas(queue, flavor.k8s_name).items():
                    limit = parse_quantity(known(limits.get(resource))) if resource in limits else None
                    if resource not in CAPACITY_RESOURCES or limit is None:
                        continue
                    totals[resource] = totals.get(resource, Decimal(0)) + nominal
                    if nominal + borrowing > limit:
                        ctx.violation(
                            queue,
                            f"may admit {nominal + borrowing:g} {resource} on flavor {flavor.k8s_name!r} (nominalQuota "
                            f"{nominal:g} + borrowingLimit {borrowing:g}) but pool {pool.name!r} is limited to "
                            f"{limit:g}; admitted pods would pend forever. Lower the quota or raise "
                            "`crucible:pools[].maxNodes`/`maxAccelerators`.",
                        )
            # Quota can also be promised a level up the hierarchy: a Cohort's own resourceGroups (hierarchical
            # cohorts, Kueue >= 0.11) are lent to its ClusterQueues like theirs are.
            promised_by = {resource: ["ClusterQueues"] for resource in totals}
            for cohort in stack.of(COHORT):
                for resource, (nominal, _borrowing) in _quotas(cohort, flavor.k8s_name).items():
                    if resource in CAPACITY_RESOURCES and resource in limits:
                        totals[resource] = totals.get(resource, Decimal(0)) + nominal
                        promised_by.setdefault(resource, [])
                        if "Cohorts" not in promised_by[resource]:
                            promised_by[resource].append("Cohorts")
            for resource, total in sorted(totals.items()):
                limit = parse_quantity(known(limits[resource]))
                if limit is not None and total > limit:
                    ctx.violation(
                        flavor,
                        f"{' and '.join(promised_by.get(resource, ['ClusterQueues']))} promise {total:g} {resource} in total "
                        f"on this flavor but pool {pool.name!r} is limited to {limit:g}; derive the quotas from the pool's "
                        "limits (`crucible:teams[].shares`).",
                    )


AI_KUEUE_001 = stack_policy(
    rule_id="AI-KUEUE-001",
    slug="quota-fits-pool-limits",
    description="Kueue quotas fit the capacity behind them: for each ResourceFlavor, the ClusterQueues' "
    "nominalQuota (and any one queue's nominal + borrowing) stays within its NodePool's spec.limits.",
    check=_fits,
    anchor="Kueue ClusterQueue/ResourceFlavor docs; Karpenter spec.limits",
)


# AI-KUEUE-002 --------------------------------------------------------------------------------------------------
def _tolerates(tolerations: list, taint: dict) -> bool:
    for t in tolerations:
        if not isinstance(t, dict):
            continue
        key, operator, effect = known(t.get("key")), known(t.get("operator")) or "Equal", known(t.get("effect"))
        if effect and effect != taint.get("effect"):
            continue
        if key is None and operator == "Exists":
            return True
        if key == taint.get("key") and (operator == "Exists" or known(t.get("value")) == taint.get("value")):
            return True
    return False


def _label_problems(labels: dict, pool: NodePool) -> list[str]:
    node_labels = {**pool.template_labels, NODEPOOL_LABEL: pool.k8s_name}
    problems = []
    for key, value in labels.items():
        value = known(value)
        allowed = pool.selected(key)
        if allowed is not None:
            if value not in allowed:
                problems.append(f"{key}={value} (the pool allows {', '.join(sorted(allowed))})")
        elif node_labels.get(key) != value:
            problems.append(f"{key}={value} (the pool's nodes do not carry it)")
    return problems


def _flavors_match(stack: Stack, ctx: Ctx) -> None:
    pools = node_pools(stack)
    if not pools:
        return  # the pools live in another stack; the flavors are judged where both are visible
    for flavor in stack.of(RESOURCE_FLAVOR):
        with ctx.each():
            name, pool = flavor_pool(flavor, pools)
            if name is None:
                ctx.violation(
                    flavor,
                    f"spec.nodeLabels names no pool; select one with {NODEPOOL_LABEL}: <NodePool name> so admitted "
                    "pods land on the nodes the quota stands for.",
                )
                continue
            if pool is None:
                ctx.violation(flavor, f"selects pool {name!r}, which this stack does not define; its pods would never schedule.")
                continue
            problems = _label_problems(as_dict(flavor.get("spec", "nodeLabels")), pool)
            if problems:
                ctx.violation(flavor, f"nodeLabels {'; '.join(problems)}: pods admitted on this flavor cannot schedule on pool {pool.name!r}.")
            tolerations = as_list(flavor.get("spec", "tolerations"))
            # A taint the flavor states as nodeTaints is one Kueue admits only the pods that tolerate it onto
            # (flavorassigner.go: untolerated taint -> the flavor is skipped): those pods schedule there too.
            stated = [t for t in as_list(flavor.get("spec", "nodeTaints")) if isinstance(t, dict)]
            for taint in pool.taints():
                taint = {k: known(v) for k, v in taint.items()}
                declared = any(known(t.get("key")) == taint.get("key") and known(t.get("effect")) == taint.get("effect") for t in stated)
                if taint.get("effect") in ("NoSchedule", "NoExecute") and not declared and not _tolerates(tolerations, taint):
                    ctx.violation(
                        flavor,
                        f"neither tolerates nor states pool {pool.name!r}'s taint {taint.get('key')}:{taint.get('effect')}; "
                        f"add it to spec.nodeTaints (Kueue then admits only pods that tolerate it) or "
                        f"{{key: {taint.get('key')}, operator: Exists, effect: {taint.get('effect')}}} to spec.tolerations.",
                    )


AI_KUEUE_002 = stack_policy(
    rule_id="AI-KUEUE-002",
    slug="flavor-matches-pool",
    description="Each Kueue ResourceFlavor selects an existing NodePool (karpenter.sh/nodepool), asks only for "
    "labels that pool's nodes carry, and tolerates the pool's taints or states them as nodeTaints.",
    check=_flavors_match,
    anchor="Kueue ResourceFlavor docs",
)


# AI-KUEUE-003 --------------------------------------------------------------------------------------------------
def _preempts(queue: Res) -> bool:
    preemption = as_dict(queue.get("spec", "preemption"))
    return any(text(preemption.get(k)) not in (None, "Never") for k in ("withinClusterQueue", "reclaimWithinCohort"))


def _admitted_namespaces(stack: Stack, queue: Res) -> list[Res]:
    """Namespaces of the stack the queue's namespaceSelector admits (absent or empty: all of them)."""
    match = as_dict(dig(queue.props, "spec", "namespaceSelector", "matchLabels"))
    return [ns for ns in stack.of(NAMESPACE) if all(ns.labels.get(k) == known(v) for k, v in match.items())]


def _has_local_queue(stack: Stack, ns: Res, queue: Res) -> bool:
    return any(in_namespace(lq, ns) and lq.get("spec", "clusterQueue") == queue.k8s_name for lq in stack.of(LOCAL_QUEUE))


def _checkpoint_contract(stack: Stack, ctx: Ctx) -> None:
    key, value = ctx.setting("checkpointLabelKey"), ctx.setting("checkpointLabelValue")
    for queue in stack.of(CLUSTER_QUEUE):
        with ctx.each():
            if not _preempts(queue):
                continue
            for ns in _admitted_namespaces(stack, queue):
                if not _has_local_queue(stack, ns, queue):
                    if is_tenant(ns):
                        ctx.violation(ns, f"tenant namespace admitted by ClusterQueue {queue.name!r} has no LocalQueue for it; add one.")
                    continue  # without a LocalQueue nothing from here is admitted, so nothing is preempted
                if ns.labels.get(key) != value:
                    ctx.violation(
                        ns,
                        f"ClusterQueue {queue.name!r} preempts workloads, but this namespace does not declare that its "
                        f"jobs checkpoint (label {key}: {value}); preempted jobs would lose their progress.",
                    )


AI_KUEUE_003 = stack_policy(
    rule_id="AI-KUEUE-003",
    slug="preemption-checkpoint-contract",
    description="ClusterQueues preempt only workloads of namespaces that declare a checkpointing contract, and "
    "each tenant namespace they admit has its LocalQueue.",
    check=_checkpoint_contract,
    level=EnforcementLevel.ADVISORY,
    settings={
        "checkpointLabelKey": {"type": "string", "default": "crucible.io/checkpointing", "description": "Namespace label declaring that jobs checkpoint."},
        "checkpointLabelValue": {"type": "string", "default": "enabled", "description": "Its value."},
    },
    anchor="Kueue preemption docs; EKS BPG aiml_compute: checkpointing, low-priority preemption",
)

POLICIES = [AI_KUEUE_001, AI_KUEUE_002, AI_KUEUE_003]
