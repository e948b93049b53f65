"""The queues section (platform layer): how Kueue orders, gang-admits and places the teams' work.

* `priorityClasses`: the WorkloadPriorityClasses Crucible ships. A job picks one with the label
  `kueue.x-k8s.io/priority-class: <name>`; a job without it has priority 0, below every class (values are >= 1).
  Each team has a default class (`teams[].priorityClass`, else `defaultPriorityClass`): the class its examples carry.
* `gangAdmission`: Kueue's waitForPodsReady (all-or-nothing admission of multi-pod jobs): the timeout is derived
  from the slowest accelerator pool's node start-up (stacks/derive/admission.py) unless stated here.
* `topologyAwarePools`: EFA training pools whose ResourceFlavor references the Kueue Topology over the EKS
  network-topology labels (topology-aware scheduling). Kueue's TAS counts the capacity of Nodes that exist: on a
  pool that scales from zero it admits nothing until nodes stand, so it is opt-in per pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from stacks.spec.checks import k8s_name
from stacks.spec.schema import Context, did_you_mean, in_range, setting, show, unique

if TYPE_CHECKING:  # pragma: no cover
    from stacks.spec.platform import PlatformSpec

# Kubernetes keeps priorities above one billion for the system (scheduling.HighestUserDefinablePriority); Kueue
# compares a WorkloadPriorityClass value with the pods' PriorityClass values, so the same range is kept.
MAX_PRIORITY = 1_000_000_000


def class_name(value: str) -> Optional[str]:
    if k8s_name(value) or len(value) > 63:
        return f"got {show(value)}; allowed: a DNS label of 1-63 lowercase letters, digits and '-' (it is a label value and an object name)"
    return None


@dataclass(frozen=True)
class PriorityClassSpec:
    """One WorkloadPriorityClass (kueue.x-k8s.io/v1beta2)."""

    name: str = setting("Class name: what a job's `kueue.x-k8s.io/priority-class` label says.", check=class_name)
    value: int = setting(
        "Priority: higher is admitted first and, within a team's ClusterQueue, preempts lower. 1..1000000000 (a job without a class has 0, below every class).",
        check=in_range(1, MAX_PRIORITY),
    )
    description: str = setting("What the class is for (the object's description).", default="")


DEFAULT_CLASSES = [
    {
        "name": "production-training",
        "value": 10000,
        "description": "Production (pre)training runs: admitted first, preempt experiments and batch work of the team.",
    },
    {"name": "experiments", "value": 1000, "description": "Experiments and fine-tuning: the default of a team."},
    {"name": "batch", "value": 100, "description": "Notebooks' batch work, sweeps and canaries: first to be preempted."},
]


@dataclass(frozen=True)
class GangAdmissionSpec:
    """Kueue waitForPodsReady: a job admitted whose pods are not all Ready in time releases its quota and is requeued."""

    timeout_minutes: Optional[int] = setting(
        "Minutes an admitted job's pods have to be all Ready before Kueue evicts it and releases its quota. Default: "
        "derived from the slowest accelerator pool's node start-up (EC2 launch, boot, device plugins, image pull; "
        "stacks/derive/admission.py) with a 50% margin, in whole 5 minutes.",
        default=None,
        check=in_range(1, 1440),
    )
    recovery_timeout_minutes: Optional[int] = setting(
        "Minutes a running job may have a pod not Ready (a pod failed, its replacement awaits a node) before it is "
        "evicted and requeued. Default: the timeout (a replacement node starts as slowly as the first).",
        default=None,
        check=in_range(1, 1440),
    )
    backoff_base_seconds: int = setting(
        "First requeue delay after an eviction for pods not Ready; each further requeue doubles it (Kueue: base * 2^(n-1) plus jitter).",
        default=60,
        check=in_range(1, 86400),
    )
    backoff_max_seconds: int = setting("Longest requeue delay.", default=3600, check=in_range(1, 86400))
    backoff_limit_count: int = setting(
        "Requeues before Kueue deactivates the job (Workload spec.active=false; the team re-activates or deletes it).",
        default=6,
        check=in_range(0, 1000),
    )

    def check(self, ctx: Context, path: str) -> None:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            ctx.problem(
                f"{path}.backoffMaxSeconds",
                f"got {self.backoff_max_seconds}; allowed: at least backoffBaseSeconds ({self.backoff_base_seconds})",
            )


@dataclass(frozen=True)
class QueuesSpec:
    priority_classes: tuple[PriorityClassSpec, ...] = setting(
        "WorkloadPriorityClasses Crucible creates (see `queues.priorityClasses[].*`). Default: production-training 10000, experiments 1000, batch 100.",
        default=DEFAULT_CLASSES,
    )
    default_priority_class: str = setting(
        "The class of a team that states none (`teams[].priorityClass`): one of `priorityClasses[].name`.", default="experiments"
    )
    gang_admission: GangAdmissionSpec = setting("All-or-nothing admission of multi-pod jobs (see `queues.gangAdmission.*`).", default={})
    topology_aware_pools: tuple[str, ...] = setting(
        "EFA training pools whose Kueue ResourceFlavor references the Topology `aws-network` (levels "
        "topology.k8s.aws/network-node-layer-1..3, kubernetes.io/hostname), so a job is placed within one network "
        "domain. Only for pools whose nodes stand (reserved or static capacity kept up): Kueue's topology-aware "
        "scheduling counts existing Nodes and never makes Karpenter launch one, so on an empty pool it admits nothing. "
        "Every job on such a pool must ask for a topology level (the examples do).",
        default=[],
        check=unique,
    )

    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.priority_classes)

    def check(self, ctx: Context, path: str) -> None:
        names = [c.name for c in self.priority_classes]
        values = [c.value for c in self.priority_classes]
        if not names:
            ctx.problem(f"{path}.priorityClasses", "got an empty list; allowed: at least one class (teams' jobs need one to carry)")
        for i, c in enumerate(self.priority_classes):
            if names.index(c.name) != i:
                ctx.problem(
                    f"{path}.priorityClasses[{i}].name", f"got {show(c.name)}; class names must be unique (also priorityClasses[{names.index(c.name)}])"
                )
            elif values.index(c.value) != i:
                ctx.problem(
                    f"{path}.priorityClasses[{i}].value",
                    f"got {c.value}, the value of {names[values.index(c.value)]!r} too; allowed: a distinct value per class "
                    "(equal priorities never preempt each other, so two names would be one class)",
                )
        if names and self.default_priority_class not in names:
            ctx.problem(
                f"{path}.defaultPriorityClass",
                f"unknown class {show(self.default_priority_class)}{did_you_mean(self.default_priority_class, names)}; allowed: one of {', '.join(names)}",
            )


def check_queues(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """Cross-section rules: teams' classes exist; topology-aware pools are EFA training pools of this stack."""
    names = spec.queues.class_names()
    for i, team in enumerate(spec.teams):
        if team.priority_class is not None and team.priority_class not in names:
            ctx.problem(
                f"{path}teams[{i}].priorityClass",
                f"unknown class {show(team.priority_class)}{did_you_mean(team.priority_class, names)}; allowed: one of crucible:queues.priorityClasses[].name ({', '.join(names)})",
            )
    pools = {p.name: p for p in spec.pools}
    for i, name in enumerate(spec.queues.topology_aware_pools):
        where = f"{path}queues.topologyAwarePools[{i}]"
        pool = pools.get(name)
        if pool is None:
            ctx.problem(
                where, f"unknown pool {show(name)}{did_you_mean(name, pools)}; allowed: one of crucible:pools[].name ({', '.join(pools) or 'none defined'})"
            )
        elif not (pool.efa and pool.workload == "training"):
            ctx.problem(
                where,
                f"got {show(name)}, a {pool.workload} pool{' without EFA' if not pool.efa else ''}; allowed: an EFA training pool "
                "(the EKS network-topology labels place multi-node jobs that talk over EFA)",
            )
        elif not spec.teams:
            ctx.problem(where, f"got {show(name)} in a stack without teams; allowed: none (Kueue is installed with the teams)")
