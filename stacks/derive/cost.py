"""What a stack costs per hour, at minimum and at maximum scale. PURE: no Pulumi calls.

At minimum scale every Karpenter pool is empty (pools scale to zero), so the stack costs its baseline: the EKS
control plane, the system node group at its desired size and the NAT gateways. At maximum scale every pool also
runs at its limit (`pool_capacity`), priced from the cheapest to the dearest instance type it allows. Instance
prices come from the instance catalog; the two service prices below are AWS list prices in the catalog's reference
region. Storage (S3, FSx), data transfer and load balancers are usage-priced and left out (the plan says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.catalog import select
from stacks.derive.capacity import pool_capacity

EKS_CLUSTER_PER_HOUR = 0.10  # standard-support Kubernetes version, per cluster
NAT_GATEWAY_PER_HOUR = 0.045  # per gateway, before data processing
EXCLUDED = "storage (S3, FSx), data transfer, load balancers and extended-support surcharges"


@dataclass(frozen=True)
class CostItem:
    item: str
    per_hour_low: float
    per_hour_high: float


@dataclass(frozen=True)
class StackCost:
    baseline: tuple[CostItem, ...]  # always on
    pools: tuple[CostItem, ...]  # each pool at its limit

    @property
    def at_minimum(self) -> float:
        return sum(i.per_hour_high for i in self.baseline)

    @property
    def at_maximum(self) -> tuple[float, float]:
        low = self.at_minimum + sum(i.per_hour_low for i in self.pools)
        high = self.at_minimum + sum(i.per_hour_high for i in self.pools)
        return low, high

    def to_json(self) -> dict:
        low, high = self.at_maximum
        item = lambda i: {"item": i.item, "perHourLow": round(i.per_hour_low, 2), "perHourHigh": round(i.per_hour_high, 2)}  # noqa: E731
        return {
            "currency": "USD",
            "atMinimum": round(self.at_minimum, 2),
            "atMaximum": {"low": round(low, 2), "high": round(high, 2)},
            "baseline": [item(i) for i in self.baseline],
            "pools": [item(i) for i in self.pools],
            "excludes": EXCLUDED,
        }


def stack_cost(spec) -> StackCost:  # spec: stacks.spec.PlatformSpec
    """The hourly cost of what this stack itself builds (layers read from another stack are that stack's cost)."""
    baseline: list[CostItem] = []
    if spec.builds("network") and spec.network.existing is None:
        gateways = 1 if spec.network.nat_gateways == "single" else len(spec.availability_zones)
        price = gateways * NAT_GATEWAY_PER_HOUR
        baseline.append(CostItem(f"NAT gateways ({gateways})", price, price))
    if spec.builds("cluster"):
        baseline.append(CostItem("EKS control plane", EKS_CLUSTER_PER_HOUR, EKS_CLUSTER_PER_HOUR))
        group = spec.cluster.system_node_group
        prices = [t.price_per_hour for t in select(group.instance_types)]
        if prices:
            baseline.append(
                CostItem(f"system nodes ({group.desired_size} x {'/'.join(group.instance_types)})", group.desired_size * min(prices), group.desired_size * max(prices))
            )
    pools: list[CostItem] = []
    if spec.builds("compute"):
        for pool in spec.pools:
            capacity = pool_capacity(pool)
            pools.append(CostItem(f"pool {pool.name} at max ({capacity.max_nodes} nodes)", capacity.per_hour_low, capacity.per_hour_high))
    return StackCost(tuple(baseline), tuple(pools))
