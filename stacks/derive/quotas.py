"""Kueue objects derived from the pools and the teams. PURE: no Pulumi calls.

* one ResourceFlavor per pool: `nodeLabels` `karpenter.sh/nodepool: <pool>` (Karpenter labels every node it
  launches with its NodePool's name) and a toleration for the pool's NoSchedule accelerator taint;
* one Cohort holding every team's ClusterQueue, so idle quota is lent and reclaimed;
* one ClusterQueue per team whose nominal quota on each flavor is the team's share of that pool's capacity
  (stacks/derive/capacity.py `pool_capacity`): cpu, memory, accelerators and, on EFA pools, EFA devices (what
  an EFA pod requests), so admission never stalls on a resource no queue covers. Huge pages are covered by no
  queue: no node has any to offer (Karpenter models none), so Kueue leaves a workload asking for them
  inadmissible, saying so, instead of admitting pods that would stay Pending;
* a LocalQueue `default` in each team namespace pointing at the team's ClusterQueue.

Quotas are whole units (cores, GiB, devices, MiB). A team's quota is rounded down; what rounding leaves over
goes, one unit each, to the teams with the largest fractional remainders (ties: config order), so the quotas of
a pool add up to exactly the assigned share of its capacity and never above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping, Optional, Sequence

from components.accelerators import ACCELERATED, CPU, DEVICE_RESOURCES, accelerator
from components.kueue_objects import KUEUE_API
from components.labels import EFA_RESOURCE, NODEPOOL_LABEL, TENANT_LABEL
from stacks.derive.admission import TOPOLOGY_NAME, preemption
from stacks.derive.capacity import pool_capacity

API_VERSION = KUEUE_API
LOCAL_QUEUE = "default"  # the LocalQueue of every team namespace (jobs label kueue.x-k8s.io/queue-name: default)
COHORT = "teams"

# Covered resources, in the order every flavor lists them. Kind order of the flavors: cpu pools first, so a job
# without accelerators is admitted on a cpu pool before it could take room on an accelerator pool.
RESOURCE_ORDER = ("cpu", "memory", *DEVICE_RESOURCES, EFA_RESOURCE)
UNIT = {"memory": "Gi"}
KIND_ORDER = {a.kind: i for i, a in enumerate((CPU, *ACCELERATED))}  # cpu, gpu, neuron


def quantity(resource: str, amount: int) -> str:
    return f"{amount}{UNIT.get(resource, '')}"


@dataclass(frozen=True)
class PoolResources:
    """What a pool offers Kueue at its limit, in whole units (cores, GiB, devices, MiB)."""

    pool: str
    kind: str
    workload: str
    amounts: Mapping[str, int]
    taints: tuple[dict, ...] = ()

    def tolerations(self) -> list[dict]:
        return [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in self.taints]


def pool_resources(pool, capacity=None) -> PoolResources:
    cap = capacity or pool_capacity(pool)
    amounts = {"cpu": cap.vcpu, "memory": cap.memory_gib}
    if cap.accelerator_resource:
        # As the nodes advertise it: with time-slicing each GPU counts `replicas` times (pools[].gpuSharing).
        amounts[cap.accelerator_resource] = cap.shared_accelerators
    if cap.efa_interfaces:
        amounts[EFA_RESOURCE] = cap.max_nodes * cap.efa_interfaces
    taint = accelerator(pool.kind).taint
    taints = (taint,) if taint else ()  # components/node_pool.py pool_taints
    return PoolResources(pool=pool.name, kind=pool.kind, workload=pool.workload, amounts=amounts, taints=taints)


def team_percentages(teams: Sequence, pools: Sequence) -> dict[str, dict[str, Fraction]]:
    """pool -> team -> percent of the pool's capacity. A pool no team names is split evenly across all teams."""
    out: dict[str, dict[str, Fraction]] = {}
    for pool in pools:
        named = any(pool.name in t.shares for t in teams)
        if named:
            out[pool.name] = {t.name: Fraction(str(t.shares.get(pool.name, 0))) for t in teams}
        else:
            out[pool.name] = {t.name: Fraction(100, len(teams)) for t in teams} if teams else {}
    return out


def split(total: int, percents: Mapping[str, Fraction]) -> dict[str, int]:
    """Whole-unit quotas for ``percents`` of ``total``: rounded down, remainders handed to the largest fractions
    (ties in the mapping's order). The sum is floor(total * sum(percents) / 100), never more than ``total``."""
    exact = {name: Fraction(total) * p / 100 for name, p in percents.items()}
    out = {name: int(value) for name, value in exact.items()}  # floor: values are never negative
    assigned = min(total, int(Fraction(total) * sum(percents.values(), Fraction(0)) / 100))
    leftover = assigned - sum(out.values())
    order = sorted(exact, key=lambda name: (-(exact[name] - out[name]), list(percents).index(name)))
    for name in order[:leftover]:
        out[name] += 1
    return out


def _limit(setting: Any, base: int, cap: int) -> int:
    """A borrowing/lending limit: True -> ``cap``, False -> 0, percent -> of ``base`` (at most ``cap``)."""
    if setting is True:
        return cap
    if setting is False:
        return 0
    return min(cap, int(Fraction(str(setting)) * base / 100))


@dataclass(frozen=True)
class TeamPoolQuota:
    team: str
    pool: str
    percent: Fraction
    nominal: Mapping[str, int]
    borrowing: Mapping[str, int]  # always set: nominal + borrowing never exceeds the pool
    lending: Optional[Mapping[str, int]]  # None: lends all of its unused quota

    def to_json(self) -> dict:
        out = {
            "percent": float(round(self.percent, 4)),
            "nominal": {r: quantity(r, v) for r, v in self.nominal.items()},
            "borrowingLimit": {r: quantity(r, v) for r, v in self.borrowing.items()},
        }
        if self.lending is not None:
            out["lendingLimit"] = {r: quantity(r, v) for r, v in self.lending.items()}
        return out


@dataclass(frozen=True)
class QueuePlan:
    """Everything Kueue needs, as plain manifests (apiVersion kueue.x-k8s.io/v1beta2)."""

    pools: tuple[PoolResources, ...]
    covered: tuple[str, ...]
    quotas: Mapping[str, Mapping[str, TeamPoolQuota]]  # team -> pool -> quota
    teams: tuple[str, ...]
    flavors: list[dict] = field(default_factory=list)
    cohort: dict = field(default_factory=dict)
    cluster_queues: list[dict] = field(default_factory=list)
    local_queues: list[dict] = field(default_factory=list)

    def totals(self, pool: str) -> dict[str, int]:
        """Sum of the teams' nominal quotas on one pool."""
        out: dict[str, int] = {}
        for team in self.teams:
            for r, v in self.quotas[team][pool].nominal.items():
                out[r] = out.get(r, 0) + v
        return out


def resource_flavor(pool: PoolResources, topology: Optional[str] = None) -> dict:
    """The pool's flavor; with ``topology`` it references that Kueue Topology (topology-aware scheduling: the CRD
    requires at least one nodeLabel with it, the pool's label here).

    An accelerator pool's taint is the flavor's ``nodeTaints``, not tolerations it would add: Kueue then assigns the
    flavor only to pod sets that tolerate the taint themselves (0.19 flavorassigner.go: "untolerated taint" skips
    the flavor), i.e. that ask for the accelerator. With tolerations instead, a CPU-only pod set whose team has used
    up its cpu flavor fell through to the next flavor that fits, an accelerator pool, and Karpenter launched an
    accelerator node for it. CPU work now waits for (or borrows) cpu quota.

    A topology-aware flavor keeps tolerations: the CRD makes them immutable once `topologyName` is set (a flavor
    deployed with them could not be updated). Such a flavor refuses a pod set without a topology annotation only
    when the ClusterQueue also has flavors that are not topology-aware (tas_flavorassigner.go): with a cpu pool
    beside it, CPU-only work does not get there; in a stack whose every pool is topology-aware it can, and the
    plan's admitted check says so ("CPU-only pods assigned flavor ...")."""
    spec: dict = {"nodeLabels": {NODEPOOL_LABEL: pool.pool}}
    if pool.taints and topology is not None:
        spec["tolerations"] = pool.tolerations()
    elif pool.taints:
        spec["nodeTaints"] = [dict(t) for t in pool.taints]
    if topology is not None:
        spec["topologyName"] = topology
    return {"apiVersion": API_VERSION, "kind": "ResourceFlavor", "metadata": {"name": pool.pool}, "spec": spec}


def plan_queues(
    teams: Sequence, pools: Sequence, capacities: Optional[Mapping[str, Any]] = None, topology_pools: Sequence[str] = (), fair_sharing: bool = True
) -> QueuePlan:
    """The Kueue objects for validated teams (stacks.spec.teams.TeamSpec) over validated pools (PoolSpec).
    ``capacities`` (pool name -> PoolCapacity) may be given to avoid recomputing them; the flavors of
    ``topology_pools`` reference the Topology (stacks/derive/admission.py); ``fair_sharing`` is what Kueue's
    Configuration says (it decides the queues' borrowWithinCohort)."""
    resources = [pool_resources(p, (capacities or {}).get(p.name)) for p in pools]
    resources.sort(key=lambda r: KIND_ORDER.get(r.kind, 9))  # type: ignore[call-overload]  # r.kind is a pool kind; 9 orders an unknown one last  # stable: config order within a kind
    covered = tuple(r for r in RESOURCE_ORDER if any(r in p.amounts for p in resources))
    percents = team_percentages(teams, pools)
    quotas: dict[str, dict[str, TeamPoolQuota]] = {t.name: {} for t in teams}
    for pool in resources:
        shares = {r: split(pool.amounts.get(r, 0), percents[pool.pool]) for r in covered}
        for team in teams:
            nominal = {r: shares[r][team.name] for r in covered}
            borrowing = {r: _limit(team.borrowing.borrowing_limit, pool.amounts.get(r, 0), pool.amounts.get(r, 0) - nominal[r]) for r in covered}
            lending = None
            if team.borrowing.lending_limit is not True:
                lending = {r: _limit(team.borrowing.lending_limit, nominal[r], nominal[r]) for r in covered}
            quotas[team.name][pool.pool] = TeamPoolQuota(team.name, pool.pool, percents[pool.pool][team.name], nominal, borrowing, lending)
    plan = QueuePlan(pools=tuple(resources), covered=covered, quotas=quotas, teams=tuple(t.name for t in teams))
    plan.flavors.extend(resource_flavor(p, TOPOLOGY_NAME if p.pool in topology_pools else None) for p in resources)
    plan.cohort.update({"apiVersion": API_VERSION, "kind": "Cohort", "metadata": {"name": COHORT}, "spec": {}})
    for team in teams:
        plan.cluster_queues.append(cluster_queue(team.name, plan, preemption(team.borrowing.borrowing_limit, team.borrowing.lending_limit, fair_sharing)))
        plan.local_queues.append(local_queue(team.name))
    return plan


def cluster_queue(team: str, plan: QueuePlan, policy: Optional[dict] = None) -> dict:
    """The team's ClusterQueue; ``policy``: its `preemption` (stacks/derive/admission.py `preemption`, from the
    team's borrowing settings; default: a team that lends and borrows, under fair sharing)."""
    flavors = []
    for pool in plan.pools:
        q = plan.quotas[team][pool.pool]
        entries = []
        for r in plan.covered:
            entry = {"name": r, "nominalQuota": quantity(r, q.nominal[r]), "borrowingLimit": quantity(r, q.borrowing[r])}
            if q.lending is not None:
                entry["lendingLimit"] = quantity(r, q.lending[r])
            entries.append(entry)
        flavors.append({"name": pool.pool, "resources": entries})
    spec: dict = {
        "cohortName": COHORT,
        "namespaceSelector": {"matchLabels": {TENANT_LABEL: team}},
        "queueingStrategy": "BestEffortFIFO",
        # Inside a team higher priority preempts lower; lenders take their quota back from borrowers.
        "preemption": policy if policy is not None else preemption(True, True),
    }
    if flavors:
        spec["resourceGroups"] = [{"coveredResources": list(plan.covered), "flavors": flavors}]
    return {"apiVersion": API_VERSION, "kind": "ClusterQueue", "metadata": {"name": team, "labels": {TENANT_LABEL: team}}, "spec": spec}


def local_queue(team: str) -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "LocalQueue",
        "metadata": {"name": LOCAL_QUEUE, "namespace": team, "labels": {TENANT_LABEL: team}},
        "spec": {"clusterQueue": team},
    }


def team_max(plan: QueuePlan, team: str, resource: str) -> int:
    """Most of ``resource`` the team can be admitted across all pools (nominal + borrowing): its ResourceQuota."""
    return sum(q.nominal.get(resource, 0) + q.borrowing.get(resource, 0) for q in plan.quotas[team].values())
