"""The capacity `crucible verify` may borrow, and its ClusterQueue (addons/verify.py says why it is shaped so).

Per pool flavor, the most verify's workloads ask at once (stacks/tools/verify/checks):
- an EFA GPU pool: the NCCL MPIJob's two workers, each one whole node of the pool's first instance type (every GPU and
  EFA interface, the node's vCPUs and memory);
- any other accelerator or EFA pool: the devices probe, one accelerator (or one EFA interface) with no cpu or memory;
- a CPU pool: nothing (the queue checks go through the teams' own LocalQueues, the Lustre writers are not queued).
Nominal quota is 0 on every flavor: verify only borrows what the teams leave idle, up to these figures.
"""

from __future__ import annotations

from typing import Mapping

from components.accelerators import GPU
from components.catalog import load_catalog
from components.labels import EFA_RESOURCE
from stacks.derive.quotas import API_VERSION, COHORT, QueuePlan, quantity

NCCL_NODES = 2  # nccl-tests across two nodes: the EFA path between them


def verify_capacity(plan: QueuePlan, pools) -> dict[str, dict[str, int]]:
    """pool -> resource -> the most verify borrows on that pool's flavor (whole units, as the queue plan counts)."""
    by_name = {p.name: p for p in pools}
    catalog = load_catalog()
    out: dict[str, dict[str, int]] = {}
    for pool in plan.pools:
        need = {r: 0 for r in plan.covered}
        spec = by_name[pool.pool]
        facts = catalog.select(spec.instance_types)
        first = facts[0] if facts else None
        resource = first.accelerator_resource if first else None
        efa = EFA_RESOURCE in pool.amounts
        if first is not None and resource is not None and resource == GPU.resource and efa:
            need.update({"cpu": NCCL_NODES * first.vcpu, "memory": int(NCCL_NODES * first.memory_gib), resource: NCCL_NODES * first.accelerator_count})
            need[EFA_RESOURCE] = NCCL_NODES * first.efa_interfaces
        elif resource:
            need[resource] = 1
        elif efa:
            need[EFA_RESOURCE] = 1
        out[pool.pool] = {r: v for r, v in need.items() if r in plan.covered}
    return out


def verify_cluster_queue(name: str, namespace: str, plan: QueuePlan, capacity: Mapping[str, Mapping[str, int]]) -> dict:
    flavors = []
    for pool in plan.pools:
        entries = [
            {"name": r, "nominalQuota": quantity(r, 0), "borrowingLimit": quantity(r, capacity[pool.pool].get(r, 0)), "lendingLimit": quantity(r, 0)}
            for r in plan.covered
        ]
        flavors.append({"name": pool.pool, "resources": entries})
    spec: dict = {
        "cohortName": COHORT,
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "queueingStrategy": "BestEffortFIFO",
        # Never the preemptor; always the first preempted (fair-sharing weight 0 is an infinite share).
        "preemption": {"withinClusterQueue": "Never", "reclaimWithinCohort": "Never", "borrowWithinCohort": {"policy": "Never"}},
        "fairSharing": {"weight": "0"},
    }
    if flavors:
        spec["resourceGroups"] = [{"coveredResources": list(plan.covered), "flavors": flavors}]
    return {"apiVersion": API_VERSION, "kind": "ClusterQueue", "metadata": {"name": name}, "spec": spec}
