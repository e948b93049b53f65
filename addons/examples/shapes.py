"""The node shape an example workload is cut to: one pool, one instance type, its accelerators and EFA devices.

The numbers come from the instance catalog through stacks.derive.capacity, never from here. A pod that uses EFA
asks for every EFA device of the node (Karpenter attaches them all), all the node's accelerators, and 2 MiB huge
pages for libfabric's buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from components.labels import (
    ACCELERATOR_RESOURCE,
    EFA_HUGEPAGES_MIB,
    EFA_RESOURCE,
    HUGEPAGES_RESOURCE,
    INSTANCE_TYPE_LABEL,
    NODEPOOL_LABEL,
    POOL_LABEL,
)
from stacks.derive.capacity import Lookup, catalog_facts, resolve

EFA_HUGEPAGES = f"{EFA_HUGEPAGES_MIB}Mi"


@dataclass(frozen=True)
class NodeShape:
    pool: str
    kind: str  # gpu | neuron | cpu
    instance_type: str
    accelerators: int
    efa_interfaces: int

    @property
    def accelerator_resource(self) -> Optional[str]:
        return ACCELERATOR_RESOURCE.get(self.kind)

    def resources(self, efa: bool = True) -> dict[str, str]:
        """Limits (= requests) for one pod that owns the whole node's accelerators (and EFA devices)."""
        out: dict[str, str] = {}
        if self.accelerator_resource and self.accelerators:
            out[self.accelerator_resource] = str(self.accelerators)
        if efa and self.efa_interfaces:
            out[EFA_RESOURCE] = str(self.efa_interfaces)
            out[HUGEPAGES_RESOURCE] = EFA_HUGEPAGES
        return out

    def node_selector(self) -> dict[str, str]:
        # The pool (Karpenter's own label, as Kueue's ResourceFlavors use) and the exact type: the EFA count
        # requested must be the count of the node the pod lands on.
        return {NODEPOOL_LABEL: self.pool, INSTANCE_TYPE_LABEL: self.instance_type}

    def tolerations(self) -> list[dict]:
        if not self.accelerator_resource:
            return []
        return [{"key": self.accelerator_resource, "operator": "Exists", "effect": "NoSchedule"}]

    def pod_labels(self) -> dict[str, str]:
        return {POOL_LABEL: self.pool}


def shape_of(pool, lookup: Optional[Lookup] = None) -> NodeShape:  # pool: stacks.spec.pools.PoolSpec
    """The shape of the pool's first instance type (a family resolves to its first catalog type); the examples
    pin it with a nodeSelector."""
    lookup = lookup or catalog_facts
    facts = lookup(resolve(pool.instance_types, lookup=lookup)[0])
    return NodeShape(
        pool=pool.name,
        kind=pool.kind,
        instance_type=facts.name,
        accelerators=facts.accelerators,
        efa_interfaces=facts.efa_interfaces if pool.efa else 0,
    )
