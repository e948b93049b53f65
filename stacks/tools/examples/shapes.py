"""The node shape an example workload is cut to: one pool, one instance type, its accelerators and EFA devices.

The numbers come from the instance catalog through stacks.derive.capacity, never from here. A pod that owns the
node asks for all its accelerators, every EFA device (Karpenter attaches them all) and the cpu and memory the
node can spare (:func:`spare`); never huge pages: Karpenter models none for any instance type, so a pod asking for
them never gets a node (components/labels.py; EFA pods set :data:`EFA_NO_HUGE_PAGES_ENV` instead). A pod that serves from one
accelerator takes that accelerator's share of them (:meth:`NodeShape.share`). Requests equal limits: the pods are
Guaranteed, and a team namespace's LimitRange default (a small memory limit) never applies to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from components.labels import (
    ACCELERATOR_RESOURCE,
    EFA_NO_HUGE_PAGES_ENV,
    EFA_RESOURCE,
    INSTANCE_TYPE_LABEL,
    NODEPOOL_LABEL,
    POOL_LABEL,
)
from stacks.derive.capacity import Lookup, catalog_facts, resolve

__all__ = ["EFA_NO_HUGE_PAGES_ENV", "Lookup", "NodeShape", "shape_of", "spare"]


def spare(vcpu: int, memory_gib: float) -> tuple[int, int]:
    """(cpu cores, GiB of memory) a pod that owns the node can request: all but 1/16 of the vCPUs (at least one)
    and 85% of the memory; the rest stays for the kubelet's reservation, the DaemonSets (CNI, device plugins,
    exporters, CSI node agents)."""
    return max(1, vcpu - max(1, vcpu // 16)), max(1, int(memory_gib * 0.85))


@dataclass(frozen=True)
class NodeShape:
    pool: str
    kind: str  # gpu | neuron | cpu
    instance_type: str
    accelerators: int
    efa_interfaces: int
    vcpu: int  # of the instance type (0: unknown)
    memory_gib: float

    @property
    def accelerator_resource(self) -> Optional[str]:
        return ACCELERATOR_RESOURCE.get(self.kind)

    def resources(self, efa: bool = True) -> dict[str, str]:
        """Limits (= requests) for one pod that owns the whole node: cpu and memory it can spare, all its
        accelerators and (``efa``) every EFA device; no huge pages (see the module docstring)."""
        out: dict[str, str] = {}
        if self.vcpu:  # 0: the node's size is unknown (a type outside the catalog): leave cpu and memory unset
            cpu, memory = spare(self.vcpu, self.memory_gib)
            out.update(cpu=str(cpu), memory=f"{memory}Gi")
        if self.accelerator_resource and self.accelerators:
            out[self.accelerator_resource] = str(self.accelerators)
        if efa and self.efa_interfaces:
            out[EFA_RESOURCE] = str(self.efa_interfaces)
        return out

    def share(self, accelerators: int = 1) -> dict[str, str]:
        """Limits (= requests) for a pod using ``accelerators`` of the node's accelerators: that fraction of the
        cpu and memory the node can spare (no EFA: serving replicas do not talk over it)."""
        out: dict[str, str] = {}
        if self.vcpu:  # 0: the node's size is unknown: leave cpu and memory unset
            cpu, memory = spare(self.vcpu, self.memory_gib)
            per = max(1, self.accelerators)
            out.update(cpu=str(max(1, cpu * accelerators // per)), memory=f"{max(1, memory * accelerators // per)}Gi")
        if self.accelerator_resource:
            out[self.accelerator_resource] = str(accelerators)
        return out

    def efa_env(self) -> list[dict]:
        """What a pod using the node's EFA devices sets: libfabric's EFA provider allocates its internal buffers
        from huge pages by default; the nodes have none (the pods request none), so it must not (the libfabric >= 1.18
        / aws-ofi-nccl >= 1.7 preset of aws-samples/awsome-distributed-training 1.architectures/efa-cheatsheet.md)."""
        if not self.efa_interfaces:
            return []
        key, value = EFA_NO_HUGE_PAGES_ENV
        return [{"name": key, "value": value}]

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


def shape_of(pool, lookup: Optional[Lookup] = None, roomiest: bool = False) -> NodeShape:  # pool: stacks.spec.pools.PoolSpec
    """The shape of the pool's first instance type (a family resolves to its first catalog type), or with
    ``roomiest`` the type with the most memory per accelerator (a served model's weights pass through host
    memory); the examples pin it with a nodeSelector."""
    lookup = lookup or catalog_facts
    types = [f for f in (lookup(name) for name in resolve(pool.instance_types, lookup=lookup)) if f is not None]
    facts = max(types, key=lambda f: f.memory_gib / max(1, f.accelerators)) if roomiest else types[0]
    return NodeShape(
        pool=pool.name,
        kind=pool.kind,
        instance_type=facts.name,
        accelerators=facts.accelerators,
        efa_interfaces=facts.efa_interfaces if pool.efa else 0,
        vcpu=facts.vcpu,
        memory_gib=facts.memory_gib,
    )
