"""The node shape an example workload is cut to: one pool, one instance type, its accelerators and EFA devices.

The numbers come from the instance catalog (components/catalog), never from here. A pod that uses EFA asks for
every EFA device of the node (Karpenter attaches them all), all the node's accelerators, and 2 MiB huge pages
for libfabric's buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from components.labels import POOL_LABEL

NODEPOOL_LABEL = "karpenter.sh/nodepool"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
HUGEPAGES_RESOURCE = "hugepages-2Mi"
# Pod-shape guidance for EFA pods (aws-ofi-nccl / EKS EFA docs: the p5 pod shape), not an instance fact.
EFA_HUGEPAGES = "5120Mi"

ACCELERATOR_RESOURCE = {"gpu": "nvidia.com/gpu", "neuron": "aws.amazon.com/neuron"}


@dataclass(frozen=True)
class InstanceFacts:
    """What the example renderers need to know about an instance type (read from the catalog)."""

    instance_type: str
    accelerators: int
    efa_interfaces: int


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


Lookup = Callable[[str], InstanceFacts]


def catalog_lookup(instance_type: str) -> InstanceFacts:
    """Facts for one instance type from the instance catalog (components/catalog)."""
    from components.catalog import load_catalog  # the single source of instance facts

    facts = load_catalog().get(instance_type)
    return InstanceFacts(
        instance_type=facts.name,
        accelerators=facts.accelerator_count,
        efa_interfaces=facts.efa_interfaces,
    )


def shape_of(pool, lookup: Lookup = None) -> NodeShape:  # pool: stacks.spec.pools.PoolSpec
    """The shape of the pool's first listed instance type (examples pin it with a nodeSelector)."""
    facts = (lookup or catalog_lookup)(pool.instance_types[0])
    return NodeShape(
        pool=pool.name,
        kind=pool.kind,
        instance_type=facts.instance_type,
        accelerators=facts.accelerators,
        efa_interfaces=facts.efa_interfaces if pool.efa else 0,
    )
