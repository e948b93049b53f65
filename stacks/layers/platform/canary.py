"""The fleet health canary (training.healthCanary): addons/health_canary.py on every gpu pool with EFA, admitted by
Kueue in the teams' cohort, measured against the instance catalog's network figure and the file system's planned
write throughput."""

from __future__ import annotations

import pulumi

from addons.health_canary import NAMESPACE, CanaryPool, HealthCanary, HealthCanaryArgs
from components.catalog import load_catalog
from stacks.derive.quotas import COHORT, pool_resources
from stacks.derive.storage_sizing import lustre_sizing, training_accelerators
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform.shared import shared_storage
from stacks.layers.platform.tenancy import queue_plan
from stacks.spec import PlatformSpec


def canary_enabled(spec: PlatformSpec) -> bool:
    """On, with Kueue (teams) and the MPI operator to run on, and a pool to measure (the spec refuses it otherwise)."""
    return spec.training.health_canary.enabled and bool(spec.teams) and spec.addons.mpi_operator.enabled and bool(canary_pools(spec))


def canary_pools(spec: PlatformSpec) -> tuple[CanaryPool, ...]:
    """Every gpu pool with EFA, measured on its first instance type (the catalog's figures for it)."""
    catalog = load_catalog()
    out = []
    for pool in spec.pools:
        if pool.kind != "gpu" or not pool.efa:
            continue
        facts = catalog.select(pool.instance_types)[0]
        out.append(
            CanaryPool(pool.name, facts.name, facts.accelerator_count, facts.efa_interfaces, facts.network_gbps, tuple(pool_resources(pool).tolerations()))
        )
    return tuple(out)


def expected_write_mbps(spec: PlatformSpec):
    lustre = spec.storage.lustre
    if not lustre.enabled:
        return None
    sizing = lustre_sizing(
        lustre.deployment_type,
        lustre.storage_capacity_gib,
        lustre.throughput_per_tib(),
        training_accelerators(spec),
        spec.storage.checkpoint_size_gib,
        spec.storage.min_throughput_per_accelerator_mbps,
    )
    return sizing.write_mbps


def build_canary(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    canary = spec.training.health_canary
    storage = shared_storage(below.storage)
    # Kueue whole (its CRDs, the cohort and the flavors the ClusterQueue names) and Monitoring (the ServiceMonitor CRD)
    depends = [r for r in (below.kueue, below.monitoring.release if below.monitoring is not None else None) if r is not None]
    pools = canary_pools(spec)
    plan = queue_plan(spec)
    component = HealthCanary(
        "health-canary",
        HealthCanaryArgs(
            system_pool=below.require_cluster().system_node_group_label,
            cohort=COHORT,
            covered=tuple(plan.covered),
            flavors=tuple(f["metadata"]["name"] for f in plan.flavors),
            protect=spec.protect,
            pools=pools,
            schedule=canary.schedule,
            min_ratio=canary.min_bus_bandwidth_ratio,
            nccl_image=spec.training.examples.mpi_image,
            driver_image=canary.driver_image,
            lustre=storage.lustre,
            lustre_write_mib=canary.lustre_write_mib,
            lustre_expected_mbps=expected_write_mbps(spec) if storage.lustre is not None else None,
            timeout_seconds=canary.timeout_minutes * 60,
            admit_seconds=canary.admit_minutes * 60,
            monitoring_namespace=spec.addons.observability.namespace if below.monitoring is not None else None,
            scrape_interval_seconds=spec.addons.observability.scrape_interval_seconds,
            depends_on=tuple(depends),
        ),
        opts=opts,
    )
    return AddonOutputs(
        export={"pools": [p.name for p in pools], "schedule": canary.schedule, "minBusBandwidthRatio": canary.min_bus_bandwidth_ratio},
        namespaces={NAMESPACE: component.namespace},  # verify's Role there (it reads the results) waits for it
    )


ENTRY = Entry(
    name="health-canary",
    components=("crucible:platform:HealthCanary",),
    enabled=canary_enabled,
    build=build_canary,
    output="workloads",
    key="healthCanary",
    after=("kueue", "monitoring", "mpi-operator"),
    summary="fleet health canary: a lowest-priority two-node NCCL all-reduce and Lustre write per EFA pool on idle capacity",
)
