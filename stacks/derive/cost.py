"""What a stack costs, per hour and per month, at minimum and at maximum scale. PURE: no Pulumi calls.

* **Fixed costs** (paid at minimum scale, whatever runs): the EKS control plane, the system node group at its
  desired size, the NAT gateways (per gateway-hour), the interface endpoints (per endpoint per AZ-hour: every
  endpoint has one interface in each private subnet, one per AZ), the provisioned FSx for Lustre file system (per
  GB-month by deployment type and throughput tier) and the reservations of `reserved` pools (On-Demand Capacity
  Reservations and ML Capacity Blocks are paid whether nodes run on them or not).
* **Pools at their limit** (maximum scale; pools scale to zero): the nodes beyond the reservation, priced by the
  pool's capacity types: on-demand at the catalog's list price, spot at the stated spot saving per family
  (components/catalog/spot.yaml, overridable with `cost.spotSavingsPercent`), a pool allowing both as the range
  all spot (cheapest type) … all on-demand (dearest type).
* **Usage-priced** items (S3, data transfer, load balancer LCUs, NAT data processing, …) have no $/h without usage:
  listed by name.
* **Showback**: each team's maximum $/h is its nominal Kueue quota's share of each pool (stacks/derive/quotas.py)
  times the pool's cost (reservation included); the fixed costs are split by each team's nominal share of the
  pools' spend at maximum (dearest). Capacity no team's nominal quota holds is shown as unassigned, so the rows add
  up to the stack's maximum.

Instance prices come from the instance catalog (components/catalog InstanceType); service prices and spot
savings from the data files beside it (stacks/derive/prices.py). All are list prices of the reference region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from components.accelerators import accelerator
from components.catalog import select
from stacks.derive.capacity import pool_capacity
from stacks.derive.prices import service_prices, spot_table

HOURS_PER_MONTH = service_prices().hours_per_month  # 730
EKS_CLUSTER_PER_HOUR = service_prices().eks_cluster_per_hour
NAT_GATEWAY_PER_HOUR = service_prices().nat_gateway_per_hour
INTERFACE_ENDPOINT_PER_AZ_HOUR = service_prices().interface_endpoint_per_az_hour
UNASSIGNED = "(unassigned)"

SPOT_SAFETY = {
    "serving": (True, "yes, with interruption handling: Karpenter's interruption queue cordons and drains a node on the 2-minute spot notice; run 2+ replicas"),
    "interactive": (
        True,
        "yes, with interruption handling: Karpenter's interruption queue drains the node on the 2-minute notice; a reclaimed notebook restarts",
    ),
    "training": (
        False,
        "only with checkpointing and requeue: a reclaimed node ends the step; Kueue requeues the job, which must resume from its last checkpoint",
    ),
}


@dataclass(frozen=True)
class CostItem:
    item: str
    per_hour_low: float
    per_hour_high: float
    basis: str = ""

    def to_json(self) -> dict:
        return {
            "item": self.item,
            "perHourLow": round(self.per_hour_low, 3),  # 3 places: NAT's $0.045, endpoints' $0.01 x AZs
            "perHourHigh": round(self.per_hour_high, 3),
            "perMonthLow": round(self.per_hour_low * HOURS_PER_MONTH, 2),
            "perMonthHigh": round(self.per_hour_high * HOURS_PER_MONTH, 2),
            "basis": self.basis,
        }


@dataclass(frozen=True)
class SpotAdvice:
    """What spot would save on a pool at its limit, against all on-demand, and whether its workload makes it safe."""

    savings_low: float  # $/h saved at the limit (the type saving least)
    savings_high: float  # $/h saved at the limit (the type saving most)
    percent: Optional[float]  # the family's stated saving; None: none published (spot not priced)
    safe: bool
    why: str
    allowed: bool  # the pool already allows spot

    def to_json(self) -> dict:
        return {
            "savesPerHourAtMax": {"low": round(self.savings_low, 2), "high": round(self.savings_high, 2)},
            "savingsPercent": self.percent,
            "safe": self.safe,
            "why": self.why,
            "allowed": self.allowed,
        }


@dataclass(frozen=True)
class PoolCost:
    pool: str
    workload: str
    kind: str
    capacity_types: tuple[str, ...]
    max_nodes: int
    per_hour_low: float  # the nodes beyond the reservation, at the limit: cheapest type, cheapest allowed capacity type
    per_hour_high: float  # dearest type, dearest allowed capacity type
    reserved_nodes: int
    reserved_type: Optional[str]
    reserved_per_hour: float  # FIXED: the reservation, paid whether used or not
    reserved_assumed: bool  # reservation size not stated (cost.reservedNodes): the pool's limit
    spot: SpotAdvice
    primary_resource: str  # what showback shares the pool by: its accelerator resource, else cpu
    # A fixed fleet (pools[].replicas): its nodes beyond the reservation run whatever the demand, so they are FIXED
    # too (and per_hour_low/high, the elastic part, is 0).
    replicas: Optional[int] = None
    static_per_hour_low: float = 0.0
    static_per_hour_high: float = 0.0

    @property
    def item(self) -> str:
        if self.replicas is not None:
            return f"pool {self.pool}, fixed fleet ({self.replicas} nodes, {'/'.join(self.capacity_types)})"
        return f"pool {self.pool} at max ({self.max_nodes} nodes, {'/'.join(self.capacity_types)})"

    @property
    def fixed(self) -> tuple[float, float]:
        """What the pool costs whatever runs: its reservation, and a fixed fleet's other nodes."""
        return self.reserved_per_hour + self.static_per_hour_low, self.reserved_per_hour + self.static_per_hour_high

    @property
    def at_max(self) -> tuple[float, float]:
        low, high = self.fixed
        return low + self.per_hour_low, high + self.per_hour_high

    def to_json(self) -> dict:
        low, high = self.at_max
        out = {
            "item": self.item,
            "pool": self.pool,
            "workload": self.workload,
            "capacityTypes": list(self.capacity_types),
            "maxNodes": self.max_nodes,
            "perHourLow": round(low, 3),
            "perHourHigh": round(high, 3),
            "perMonthLow": round(low * HOURS_PER_MONTH, 2),
            "perMonthHigh": round(high * HOURS_PER_MONTH, 2),
            "spot": self.spot.to_json(),
            "capacity": "fixed" if self.replicas is not None else "elastic",
        }
        if self.replicas is not None:
            out["fixedFleet"] = {
                "replicas": self.replicas,
                "perHourLow": round(self.fixed[0], 3),
                "perHourHigh": round(self.fixed[1], 3),
                "note": "a static NodePool runs its replicas whatever the demand: fixed, reservation included",
            }
        if self.reserved_nodes:
            out["reserved"] = {
                "nodes": self.reserved_nodes,
                "instanceType": self.reserved_type,
                "perHour": round(self.reserved_per_hour, 2),
                "sizeAssumed": self.reserved_assumed,
                "note": "fixed: paid whether nodes run on it or not; priced at the type's on-demand list price "
                "(ODCRs bill at it; ML Capacity Block prices are quoted at purchase and differ)",
            }
        return out


@dataclass(frozen=True)
class TeamCost:
    team: str
    share_percent: float  # of the pools' spend at maximum (dearest): the fixed-cost split
    pools_low: float
    pools_high: float
    fixed_share: float

    @property
    def at_max(self) -> tuple[float, float]:
        return self.pools_low + self.fixed_share, self.pools_high + self.fixed_share

    def to_json(self) -> dict:
        low, high = self.at_max
        return {
            "team": self.team,
            "sharePercent": round(self.share_percent, 2),
            "poolsPerHourAtMax": {"low": round(self.pools_low, 2), "high": round(self.pools_high, 2)},
            "fixedSharePerHour": round(self.fixed_share, 2),
            "perHourAtMax": {"low": round(low, 2), "high": round(high, 2)},
            "perMonthAtMax": {"low": round(low * HOURS_PER_MONTH, 2), "high": round(high * HOURS_PER_MONTH, 2)},
        }


SHOWBACK_RULE = (
    "each team: its nominal Kueue quota's share of each pool (accelerators; cpu on cpu pools) x the pool's cost at its "
    "limit, reservation included; fixed costs split by the teams' nominal shares of the pools' spend at maximum "
    "(dearest); capacity no nominal quota holds is 'unassigned'"
)


@dataclass(frozen=True)
class StackCost:
    baseline: tuple[CostItem, ...]  # fixed, always on (reservations are in the pools, counted here too)
    pools: tuple[PoolCost, ...]
    teams: tuple[TeamCost, ...] = ()
    usage_priced: tuple[str, ...] = field(default_factory=lambda: service_prices().usage_priced)

    @property
    def fixed(self) -> tuple[float, float]:
        low = sum(p.fixed[0] for p in self.pools)
        high = sum(p.fixed[1] for p in self.pools)
        return sum(i.per_hour_low for i in self.baseline) + low, sum(i.per_hour_high for i in self.baseline) + high

    @property
    def at_minimum(self) -> float:
        """$/h with every pool empty: the fixed costs (dearest system-node type)."""
        return self.fixed[1]

    @property
    def at_maximum(self) -> tuple[float, float]:
        low = self.at_minimum + sum(p.per_hour_low for p in self.pools)
        high = self.at_minimum + sum(p.per_hour_high for p in self.pools)
        return low, high

    def to_json(self) -> dict:
        low, high = self.at_maximum
        prices, spot = service_prices(), spot_table()
        out = {
            "currency": prices.currency,
            "hoursPerMonth": HOURS_PER_MONTH,
            "priceBasis": f"list prices, {prices.reference_region}, {prices.as_of} (instance catalog, components/catalog/service_prices.yaml)",
            "spotBasis": spot.describe(),
            "atMinimum": round(self.at_minimum, 3),
            "atMaximum": {"low": round(low, 3), "high": round(high, 3)},
            "perMonth": {
                "atMinimum": round(self.at_minimum * HOURS_PER_MONTH, 2),
                "atMaximum": {"low": round(low * HOURS_PER_MONTH, 2), "high": round(high * HOURS_PER_MONTH, 2)},
            },
            "baseline": [i.to_json() for i in self.baseline],
            "pools": [p.to_json() for p in self.pools],
            "usagePriced": list(self.usage_priced),
            "excludes": "usage-priced: " + ", ".join(self.usage_priced),
        }
        if self.teams:
            out["showback"] = {"rule": SHOWBACK_RULE, "teams": [t.to_json() for t in self.teams]}
        return out


# ---- pricing ----------------------------------------------------------------------------------------------


def spot_savings_percent(family: str, overrides=None) -> Optional[float]:
    """The stated spot saving of a family: the stack's override (cost.spotSavingsPercent), else spot.yaml's."""
    overrides = overrides or {}
    if family in overrides:
        return float(overrides[family])
    return spot_table().savings_percent.get(family)


def _nodes_for(facts, accelerators_left: Optional[int], nodes_left: Optional[int]) -> int:
    if nodes_left is not None:
        return nodes_left
    return math.ceil(accelerators_left / facts.accelerator_count) if facts.accelerator_count else 0


def pool_cost(pool, overrides=None, reserved_nodes: Optional[int] = None) -> PoolCost:
    """One pool at its limit: the reservation (fixed) and the rest by capacity type."""
    capacity = pool_capacity(pool)
    facts = select(pool.instance_types)
    facts = [f for f in facts if f is not None]
    allowed = tuple(t for t in ("reserved", "spot", "on-demand") if t in pool.capacity_types)
    reserved = 0
    reserved_type = None
    assumed = False
    if "reserved" in allowed:
        reserved_type = facts[0].name
        if reserved_nodes is None:
            assumed = True
            reserved = next(r.nodes for r in capacity.types if r.instance_type == reserved_type)
        else:
            reserved = reserved_nodes
    first = facts[0]
    if pool.replicas is not None and reserved_nodes is None:
        reserved = min(reserved, pool.replicas)  # a fixed fleet's reservation, unless stated: the fleet
    reserved_per_hour = reserved * first.price_per_hour if reserved else 0.0
    # What is left of the limit beyond the reservation (a fixed fleet: of its replicas).
    nodes_left = accelerators_left = None
    if pool.replicas is not None:
        nodes_left = max(pool.replicas - reserved, 0)
    elif pool.max_nodes is not None:
        nodes_left = max(pool.max_nodes - reserved, 0)
    else:
        accelerators_left = max(pool.max_accelerators - reserved * first.accelerator_count, 0)
    lows, highs, od_rows, spot_rows = [], [], [], []
    for f in facts:
        nodes = _nodes_for(f, accelerators_left, nodes_left)
        percent = spot_savings_percent(f.family, overrides)
        od = nodes * f.price_per_hour
        sp = od * (1 - percent / 100) if percent is not None else od
        od_rows.append(od)
        spot_rows.append(sp)
        prices = [p for t, p in (("spot", sp), ("on-demand", od)) if t in allowed]
        lows.append(min(prices) if prices else 0.0)
        highs.append(max(prices) if prices else 0.0)
    known = sorted({p for p in (spot_savings_percent(f.family, overrides) for f in facts) if p is not None})
    savings = [od - sp for od, sp in zip(od_rows, spot_rows)]
    # What spot saves at the limit against all on-demand (the nodes beyond the reservation), per type.
    safe, why = SPOT_SAFETY[pool.workload]
    advice = SpotAdvice(
        savings_low=min(savings) if savings else 0.0,
        savings_high=max(savings) if savings else 0.0,
        percent=min(known) if known else None,  # the least any type of the pool saves
        safe=safe,
        why=why,
        allowed="spot" in allowed,
    )
    static_low = static_high = 0.0
    per_hour_low, per_hour_high = min(lows), max(highs)
    if pool.replicas is not None:
        static_low, static_high, per_hour_low, per_hour_high = per_hour_low, per_hour_high, 0.0, 0.0
    return PoolCost(
        pool=pool.name,
        workload=pool.workload,
        kind=pool.kind,
        capacity_types=allowed,
        max_nodes=capacity.max_nodes,
        per_hour_low=per_hour_low,
        per_hour_high=per_hour_high,
        reserved_nodes=reserved,
        reserved_type=reserved_type,
        reserved_per_hour=reserved_per_hour,
        reserved_assumed=assumed,
        spot=advice,
        primary_resource=accelerator(pool.kind).resource or "cpu",
        replicas=pool.replicas,
        static_per_hour_low=static_low,
        static_per_hour_high=static_high,
    )


def fixed_costs(spec) -> list[CostItem]:
    prices = service_prices()
    out: list[CostItem] = []
    zones = len(spec.availability_zones)
    if spec.builds("network") and spec.network.existing is None:
        gateways = 1 if spec.network.nat_gateways == "single" else zones
        price = gateways * prices.nat_gateway_per_hour
        out.append(CostItem(f"NAT gateways ({gateways})", price, price, f"${prices.nat_gateway_per_hour}/gateway-hour"))
        endpoints = len(spec.network.interface_endpoints)
        if endpoints:
            price = endpoints * zones * prices.interface_endpoint_per_az_hour
            out.append(CostItem(f"interface endpoints ({endpoints} x {zones} AZs)", price, price, f"${prices.interface_endpoint_per_az_hour}/endpoint/AZ-hour"))
    if spec.builds("cluster"):
        out.append(CostItem("EKS control plane", prices.eks_cluster_per_hour, prices.eks_cluster_per_hour, f"${prices.eks_cluster_per_hour}/cluster-hour"))
        group = spec.cluster.system_node_group
        rates = [f.price_per_hour for f in select(group.instance_types)]
        if rates:
            out.append(
                CostItem(
                    f"system nodes ({group.desired_size} x {'/'.join(group.instance_types)})",
                    group.desired_size * min(rates),
                    group.desired_size * max(rates),
                    "on-demand list price, cheapest to dearest type",
                )
            )
    if spec.builds("storage") and spec.storage.lustre.enabled:
        lustre = spec.storage.lustre
        tier = lustre.throughput_per_tib()
        price = prices.lustre_per_hour(lustre.deployment_type, tier, lustre.storage_capacity_gib)
        rate = prices.lustre_per_gb_month[lustre.deployment_type][tier]
        out.append(
            CostItem(
                f"FSx for Lustre ({lustre.storage_capacity_gib:,} GiB {lustre.deployment_type} at {tier} MB/s/TiB)",
                price,
                price,
                f"${rate}/GB-month, provisioned capacity",
            )
        )
    return out


# ---- showback ---------------------------------------------------------------------------------------------


def showback(spec, pools: tuple[PoolCost, ...], fixed_high: float) -> tuple[TeamCost, ...]:
    """Per team: its nominal share of each pool's cost at the limit, plus its share of the fixed costs (by nominal
    share of the pools' spend at maximum). Rows, unassigned included, add up to the stack's maximum."""
    if not spec.teams:
        return ()
    from stacks.derive.quotas import plan_queues, pool_resources

    by_name = {p.name: p for p in spec.pools}
    priced = [p for p in pools if p.pool in by_name]
    queues = plan_queues(spec.teams, [by_name[p.pool] for p in priced])
    names = [t.name for t in spec.teams]
    low = {n: 0.0 for n in [*names, UNASSIGNED]}
    high = dict(low)
    for p in priced:
        total = pool_resources(by_name[p.pool]).amounts.get(p.primary_resource, 0)
        pool_low, pool_high = p.at_max
        held = Fraction(0)
        for team in names:
            nominal = queues.quotas[team][p.pool].nominal.get(p.primary_resource, 0)
            share = Fraction(nominal, total) if total else Fraction(0)
            held += share
            low[team] += float(share) * pool_low
            high[team] += float(share) * pool_high
        low[UNASSIGNED] += float(1 - held) * pool_low
        high[UNASSIGNED] += float(1 - held) * pool_high
    spend = sum(high.values())
    rows = []
    for team in [*names, UNASSIGNED]:
        split = high[team] / spend if spend else (1 / len(names) if team != UNASSIGNED else 0.0)
        if team == UNASSIGNED and not high[team]:
            continue
        rows.append(TeamCost(team, 100 * float(split), low[team], high[team], float(split) * fixed_high))
    return tuple(rows)


def stack_cost(spec) -> StackCost:  # spec: stacks.spec.PlatformSpec
    """The cost of what this stack itself builds (layers read from another stack are that stack's cost)."""
    baseline = fixed_costs(spec)
    pools: list[PoolCost] = []
    if spec.builds("compute"):
        overrides = spec.cost.spot_savings_percent
        for pool in spec.pools:
            pools.append(pool_cost(pool, overrides, spec.cost.reserved_nodes.get(pool.name)))
    fixed_high = sum(i.per_hour_high for i in baseline)
    return StackCost(tuple(baseline), tuple(pools), showback(spec, tuple(pools), fixed_high))


# ---- runtime showback prices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlavorPrice:
    """$ per hour of one unit of a Kueue resource on one ResourceFlavor (= pool): the pool's cost at its limit
    (dearest, reservation included) over its units at the limit, so a team using its whole nominal quota is charged
    what the plan's showback says."""

    flavor: str
    resource: str  # nvidia.com/gpu | aws.amazon.com/neuron | cpu (cpu pools: the node's memory comes with its cores)
    usd_per_unit_hour: float


def flavor_prices(spec) -> tuple[FlavorPrice, ...]:
    from stacks.derive.quotas import pool_resources

    out = []
    for pool in spec.pools:  # also where another stack builds the pools: the queues here admit onto them
        p = pool_cost(pool, spec.cost.spot_savings_percent, spec.cost.reserved_nodes.get(pool.name))
        units = pool_resources(pool).amounts.get(p.primary_resource, 0)
        if units:
            out.append(FlavorPrice(p.pool, p.primary_resource, p.at_max[1] / units))
    return tuple(out)
