"""Where the Lustre file system goes, and which nodes wait for its CSI node agent. PURE: no Pulumi calls.

FSx for Lustre lives in one subnet, so one availability zone; EFA traffic and cluster placement groups do not cross
zones, and cross-zone Lustre traffic is slower and billed. So the file system goes where the training nodes are.
"""

from __future__ import annotations

from components.labels import FSX_CSI_STARTUP_TAINT
from stacks.derive.capacity import pool_zones  # a pool's zones: as configured, else EFA: the first, others: all


def derived_lustre_zone(spec) -> str:
    """The zone dev derives for the file system when `storage.lustre.zone` is unset: the first zone of the first EFA
    pool, else of the first training pool, else the first availability zone.

    Only dev may rely on it: FSx places a file system in one subnet, `subnetIds` forces replacement, so a reordered
    `availabilityZones` or `pools` list would move (replace) the file system. Outside dev the zone is stated and
    this only suggests the value that keeps today's file system in place."""
    pools = list(spec.pools)
    for wanted in (lambda p: p.efa, lambda p: p.workload == "training"):
        for pool in pools:
            if wanted(pool):
                return pool_zones(pool, spec.availability_zones)[0]
    return spec.availability_zones[0]


def lustre_zone(spec) -> str:
    """The zone of the file system: `storage.lustre.zone` (required outside dev), else (dev) the derived one."""
    return spec.storage.lustre.zone or derived_lustre_zone(spec)


LUSTRE_WORKLOADS = ("training", "interactive")


def mounts_lustre(pool, spec) -> bool:
    """Pools whose pods mount the shared file system: training and interactive pools, when Lustre is on."""
    return spec.builds("storage") and spec.storage.lustre.enabled and pool.workload in LUSTRE_WORKLOADS


def startup_taints(pool, spec) -> list[dict]:
    """Karpenter `spec.template.spec.startupTaints` for a pool: the FSx CSI node agent's taint on pools that mount
    Lustre. The driver removes `fsx.csi.aws.com/agent-not-ready` once its node pod is ready, so no pod lands on a
    node that cannot mount the file system yet."""
    return [dict(FSX_CSI_STARTUP_TAINT)] if mounts_lustre(pool, spec) else []
