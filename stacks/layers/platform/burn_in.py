"""Burn-in before work (addons/burn_in.py): one DaemonSet per pool with burn-in (stacks/derive/placement.py burn_in),
split by device count when the pool's instance types differ in it."""

from __future__ import annotations

import pulumi

from addons.burn_in import BurnIn, BurnInArgs, BurnInPool
from components.accelerators import accelerator
from components.catalog import load_catalog
from stacks.derive.capacity import pool_capacity
from stacks.derive.placement import burn_in
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.spec import PlatformSpec


def burn_in_pools(spec: PlatformSpec) -> list[BurnInPool]:
    catalog = load_catalog()
    out = []
    for pool in spec.pools:
        b = burn_in(pool, spec)
        if b is None:
            continue
        capacity = pool_capacity(pool)
        kind = accelerator(pool.kind)
        by_count: dict[int, list[str]] = {}
        for name in capacity.instance_types:
            by_count.setdefault(catalog.get(name).accelerator_count, []).append(name)
        for count, types in sorted(by_count.items()):
            out.append(
                BurnInPool(
                    pool=pool.name,
                    instance_types=tuple(types),
                    all_types=len(by_count) == 1,
                    toleration=dict(kind.toleration or {}),
                    checks=b.checks,
                    accelerator_resource=kind.resource or "",
                    accelerators=count,
                    efa_interfaces=capacity.efa_interfaces,
                    dcgm_level=b.dcgm_level,
                    timeout_minutes=b.timeout_minutes,
                )
            )
    return out


def enabled(spec: PlatformSpec) -> bool:
    return any(burn_in(pool, spec) is not None for pool in spec.pools)


def build(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    pools = burn_in_pools(spec)
    BurnIn("burn-in", BurnInArgs(pools=pools), opts=opts)
    return AddonOutputs(
        export={p.name: {"pool": p.pool, "checks": list(p.checks), "dcgmLevel": p.dcgm_level, "timeoutMinutes": p.timeout_minutes} for p in pools}
    )


ENTRY = Entry(
    name="burn-in",
    components=("crucible:platform:BurnIn",),
    enabled=enabled,
    build=build,
    output="addons",
    key="burnIn",
    summary="burn-in of new accelerator nodes (DCGM, EFA, Neuron diagnostics) before work",
)
