"""The cost section: what the plan's prices may not know about this stack (spot savings, reservation sizes).

Prices themselves are data (components/catalog/instance_types.yaml, spot.yaml, service_prices.yaml); this section
only lets a stack state its own figures where the data file's are estimates or unknowable from config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from stacks.spec.schema import Context, did_you_mean, setting, show

if TYPE_CHECKING:  # pragma: no cover
    from stacks.spec.platform import PlatformSpec

SPOT_SAVINGS_MAX = 95  # no Spot Instance Advisor band promises more than 90% off on-demand


def _families() -> list[str]:
    from components.catalog import load_catalog

    return sorted({n.split(".", 1)[0] for n in load_catalog().names()})


def _percent_map(value: Any) -> list[tuple[Optional[str], str]]:
    out = []
    families = _families()
    for family, percent in value.items():
        if family not in families:
            out.append((family, f"got {show(family)}; allowed: an instance family of the catalog ({', '.join(families)}){did_you_mean(family, families)}"))
        if not 0 <= percent <= SPOT_SAVINGS_MAX:
            out.append((family, f"got {show(percent)}; allowed: 0 to {SPOT_SAVINGS_MAX} (percent saved on spot against the on-demand price)"))
    return out


def _count_map(value: Any) -> list[tuple[Optional[str], str]]:
    return [(pool, f"got {show(n)}; allowed: 1 or more nodes") for pool, n in value.items() if n < 1]


@dataclass(frozen=True)
class CostSpec:
    spot_savings_percent: dict[str, float] = setting(
        "Spot savings (percent off on-demand) by instance family, for this stack's region and month: overrides the "
        "estimate in components/catalog/spot.yaml (EC2 Spot Instance Advisor bands, us-east-1). A spot-capable pool "
        "is priced from all spot (this saving) to all on-demand. Example: {g6e: 62, p5: 30}.",
        default={},
        check=_percent_map,
    )
    reserved_nodes: dict[str, int] = setting(
        "Size of the reservation (On-Demand Capacity Reservations or ML Capacity Blocks) of each pool with capacity "
        "type `reserved`, in instances of the pool's first instance type. The plan counts it as a FIXED cost, paid "
        "whether nodes run or not. Default: the pool's limit (every node reserved).",
        default={},
        check=_count_map,
    )


def check_cost(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """Reservation sizes name reserved pools of this stack and stay within the pool's limit."""
    cost = spec.cost
    pools = {p.name: p for p in spec.pools}
    reserved = [name for name, p in pools.items() if "reserved" in p.capacity_types]
    for name, nodes in cost.reserved_nodes.items():
        pool = pools.get(name)
        if pool is None or "reserved" not in pool.capacity_types:
            ctx.problem(
                f"{path}cost.reservedNodes.{name}",
                f"got {show(name)}; allowed: a pool of this stack with capacity type 'reserved' ({', '.join(reserved) or 'none'})",
            )
        elif pool.max_nodes is not None and nodes > pool.max_nodes:
            ctx.problem(
                f"{path}cost.reservedNodes.{name}",
                f"got {nodes}; allowed: at most the pool's maxNodes ({pool.max_nodes}): Karpenter launches no more nodes than that",
            )
    # A fixed fleet on a reservation: the reservation's size against the fleet (pools[].replicas).
    for i, pool in enumerate(spec.pools):
        if pool.replicas is None or "reserved" not in pool.capacity_types or pool.name not in cost.reserved_nodes:
            continue
        size = cost.reserved_nodes[pool.name]
        only_reserved = tuple(pool.capacity_types) == ("reserved",)
        if only_reserved and pool.replicas > size:
            ctx.problem(
                f"{path}pools[{i}].replicas",
                f"got {pool.replicas} with capacity types ['reserved'] and a reservation of {size} (cost.reservedNodes.{pool.name}); allowed: at most "
                f"{size}: the nodes beyond the reservation can never launch (add 'on-demand' to capacityTypes to run them outside it)",
            )
        elif pool.replicas < size:
            ctx.problem(
                f"{path}pools[{i}].replicas",
                f"got {pool.replicas} with a reservation of {size} (cost.reservedNodes.{pool.name}); allowed: at least {size}: a fixed fleet smaller "
                f"than its reservation leaves {size - pool.replicas} reserved instance(s) paid for and idle",
            )
