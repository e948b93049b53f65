"""Where the Lustre file system goes, and which nodes wait for its CSI node agent. PURE: no Pulumi calls.

FSx for Lustre lives in one subnet, so one availability zone; EFA traffic and cluster placement groups do not cross
zones, and cross-zone Lustre traffic is slower and billed. So the file system goes where the training nodes are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from components.labels import BURN_IN_LABEL, BURN_IN_STARTUP_TAINT, FSX_CSI_STARTUP_TAINT
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


@dataclass(frozen=True)
class BurnIn:
    """What burn-in runs on a new node of one pool (addons/burn_in.py)."""

    pool: str
    kind: str  # gpu | neuron
    checks: tuple[str, ...]  # dcgm (gpu), neuron (neuron), efa (EFA pools)
    dcgm_level: Optional[int]  # gpu pools
    timeout_minutes: int  # per check


def burn_in(pool, spec) -> Optional[BurnIn]:
    """The pool's burn-in, or None: `burnIn.enabled` when stated, else on for gpu and neuron pools outside dev."""
    from stacks.spec.pools import BURN_IN_LEVEL_MINUTES

    if pool.kind == "cpu":
        return None
    enabled = pool.burn_in.enabled if pool.burn_in.enabled is not None else spec.environment != "dev"
    if not enabled:
        return None
    # Default level: 2 (medium, a few minutes) on training pools; 1 (quick) where nodes come and go with demand.
    level = (pool.burn_in.level or (2 if pool.workload == "training" else 1)) if pool.kind == "gpu" else None
    checks: tuple[str, ...] = ("dcgm",) if pool.kind == "gpu" else ("neuron",)
    if pool.efa:
        checks += ("efa",)
    timeout = pool.burn_in.timeout_minutes or (BURN_IN_LEVEL_MINUTES[level] if level else 10)
    return BurnIn(pool=pool.name, kind=pool.kind, checks=checks, dcgm_level=level, timeout_minutes=timeout)


def startup_taints(pool, spec) -> list[dict]:
    """Karpenter `spec.template.spec.startupTaints` for a pool: the FSx CSI node agent's taint on pools that mount
    Lustre (the driver removes `fsx.csi.aws.com/agent-not-ready` once its node pod is ready, so no pod lands on a
    node that cannot mount the file system yet), and the burn-in taint on pools with burn-in (only a passed burn-in
    removes it). Karpenter expects startup taints to go: pods need not tolerate them to be provisioned for."""
    taints = [dict(FSX_CSI_STARTUP_TAINT)] if mounts_lustre(pool, spec) else []
    if burn_in(pool, spec) is not None:
        taints.append(dict(BURN_IN_STARTUP_TAINT))
    return taints


def boot_labels(pool, spec) -> dict[str, str]:
    """Labels a new node of the pool registers with (kubelet --node-labels, from user data) that the NodePool template
    does not carry: `crucible.io/burn-in=pending` on pools with burn-in. The burn-in DaemonSet selects it, so it runs
    on new nodes only; and Karpenter, which knows only the template's labels, leaves burn-in's device requests out of
    the DaemonSet overhead it subtracts when it sizes a node for pending pods (sigs.k8s.io/karpenter
    pkg/controllers/provisioning/scheduling/scheduler.go isDaemonPodCompatible: a required label the template does not
    define is not compatible) — burn-in's pod has left the node before any workload may land."""
    return {BURN_IN_LABEL: "pending"} if burn_in(pool, spec) is not None else {}
