"""Pool capacity: what a pool can run at its limit, from the instance catalog. PURE: no Pulumi calls.

`pool_capacity(pool)` is the one place that turns a pool as stated in config (instance types or families,
maxNodes or maxAccelerators, EFA on/off, capacity types) into figures: the resolved instance types, the node
count at the limit, vCPU / memory / accelerators / accelerator memory at the limit (these become the
NodePool's `spec.limits`; Kueue quotas derive from them), EFA interfaces per node configured against the
instance maximum, network Gbps per node, and the $/h range at the limit.

Every instance fact is read from the catalog (components/catalog: its `InstanceType`, resolved by
`Catalog.select`); nothing here knows a GPU count or a price. Each function takes the catalog to read (default: the
packaged one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional

from components.accelerators import accelerator
from components.catalog import Catalog, InstanceType, load_catalog


@dataclass(frozen=True)
class TypeAtMax:
    """One instance type of the pool, with the pool at its limit on that type alone."""

    instance_type: str
    nodes: int
    vcpu: int
    memory_gib: float
    accelerators: int
    accelerator_memory_gib: float
    efa_max: int
    network_gbps: float
    max_pods: int  # pods one node of this type can take (max_pods)
    per_hour_low: float  # cheapest allowed capacity type (spot when allowed and priced)
    per_hour_high: float  # on-demand


@dataclass(frozen=True)
class PoolCapacity:
    pool: str
    kind: str  # gpu | neuron | cpu
    accelerator_resource: Optional[str]  # nvidia.com/gpu | aws.amazon.com/neuron | None
    instance_types: tuple[str, ...]  # families resolved, in catalog order
    arch: tuple[str, ...]
    max_nodes: int  # most nodes at the limit (the smallest type, when maxAccelerators bounds the pool)
    vcpu: int  # at the limit, whichever type the pool runs: NodePool limits.cpu
    memory_gib: int  # NodePool limits.memory (Gi)
    accelerators: int  # NodePool limits.<accelerator resource>
    accelerator_memory_gib: float  # accelerator memory at the limit (largest per type)
    efa_interfaces: int  # EFA interfaces attached per node (0 unless the pool has efa: true)
    efa_max: int  # the instance maximum per node (equal across an EFA pool's types)
    network_gbps: float  # per node (largest type)
    max_pods: int  # kubelet maxPods of the pool's EC2NodeClass: the smallest of its types' max_pods
    per_hour_low: float  # $/h at the limit, cheapest type and capacity type
    per_hour_high: float  # $/h at the limit, dearest type on demand
    types: tuple[TypeAtMax, ...]
    # GPU time-slicing (pools[].gpuSharing): each GPU is advertised this many times by the device plugin. Karpenter
    # counts a registered node's advertised capacity against the NodePool limits (sigs.k8s.io/karpenter v1.14.1
    # state/cluster.go, scheduler.go: Node.Status.Capacity), and with the pool's NodeOverlays it simulates the
    # instance types that way too: the limits, like the Kueue quotas, are in the advertised unit (shared_accelerators).
    replicas: int = 1

    @property
    def shared_accelerators(self) -> int:
        """The accelerator resource at the limit as the nodes advertise it: physical x time-slicing replicas."""
        return self.accelerators * self.replicas

    def accelerators_per_node(self) -> dict[str, tuple[int, int]]:
        """instance type -> (physical accelerators, advertised = physical x replicas) per node."""
        return {
            t.instance_type: (t.accelerators // t.nodes if t.nodes else 0, (t.accelerators // t.nodes if t.nodes else 0) * self.replicas) for t in self.types
        }

    @property
    def efa_share(self) -> float:
        return self.efa_interfaces / self.efa_max if self.efa_max else 0.0

    def limits(self) -> dict[str, str]:
        """The NodePool `spec.limits` (Kubernetes quantities): accelerators as the nodes advertise them. A time-sliced
        pool also caps its nodes (Karpenter counts each node as 1 `nodes`, state/statenode.go Capacity): should a
        node not run the sharing config and advertise only its physical GPUs, the GPU limit alone would let the pool
        grow to `replicas` times its physical GPUs."""
        out = {"cpu": str(self.vcpu), "memory": f"{self.memory_gib}Gi"}
        if self.accelerator_resource:
            out[self.accelerator_resource] = str(self.shared_accelerators)
        if self.replicas > 1:
            out["nodes"] = str(self.max_nodes)
        return out

    def advertised_per_type(self) -> dict[str, int]:
        """instance type -> the accelerator resource one node advertises, for the pools whose nodes advertise more
        than the instance type's devices (time-slicing; empty otherwise): what the pool's NodeOverlays tell Karpenter."""
        if self.replicas <= 1 or not self.accelerator_resource:
            return {}
        return {t: advertised for t, (physical, advertised) in self.accelerators_per_node().items() if physical}

    def efa_summary(self) -> str:
        if not self.efa_max:
            return "no EFA"
        return f"{self.efa_interfaces}/{self.efa_max} EFA, {self.network_gbps:g} Gbps, {round(100 * self.efa_share)}%"

    def to_json(self) -> dict:
        return {
            "pool": self.pool,
            "kind": self.kind,
            "instanceTypes": list(self.instance_types),
            "maxNodes": self.max_nodes,
            "limits": self.limits(),
            "vcpuAtMax": self.vcpu,
            "memoryGibAtMax": self.memory_gib,
            "acceleratorResource": self.accelerator_resource,
            "acceleratorsAtMax": self.accelerators,
            "acceleratorMemoryGibAtMax": self.accelerator_memory_gib,
            "efaInterfacesPerNode": self.efa_interfaces,
            "efaInterfacesMaxPerNode": self.efa_max,
            "efaShare": round(self.efa_share, 4),
            "networkGbpsPerNode": self.network_gbps,
            "maxPodsPerNode": self.max_pods,
            "gpuSharingReplicas": self.replicas,
            "sharedAcceleratorsAtMax": self.shared_accelerators,
            "perHourAtMax": {"low": round(self.per_hour_low, 2), "high": round(self.per_hour_high, 2), "currency": "USD"},
            "types": [
                {
                    "instanceType": t.instance_type,
                    "nodes": t.nodes,
                    "vcpu": t.vcpu,
                    "memoryGib": t.memory_gib,
                    "accelerators": t.accelerators,
                    "acceleratorMemoryGib": t.accelerator_memory_gib,
                    "efaMaxPerNode": t.efa_max,
                    "networkGbpsPerNode": t.network_gbps,
                    "maxPods": t.max_pods,
                    "perHourLow": round(t.per_hour_low, 2),
                    "perHourHigh": round(t.per_hour_high, 2),
                }
                for t in self.types
            ],
        }


# EKS managed node group AMI types (AL2023) by kubernetes.io/arch: CreateNodegroup refuses an AMI type whose
# architecture is not the instance types'.
SYSTEM_AMI_TYPE = {"amd64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


def system_ami_type(instance_types: Iterable[str], catalog: Optional[Catalog] = None) -> str:
    """The AL2023 AMI type of a managed node group running ``instance_types`` (one architecture; the spec refuses a
    mix), from the catalog's architecture."""
    arches = {t.kube_arch for t in (catalog or load_catalog()).select(instance_types)}
    if len(arches) != 1:
        raise ValueError(f"instance types {list(instance_types)} do not share one known architecture: {sorted(arches)}")
    return SYSTEM_AMI_TYPE[arches.pop()]


# ---- pod density -----------------------------------------------------------------------------------

# The VPC CNI assigns /28 IPv4 prefixes (16 addresses) to interface slots instead of single addresses; the cluster
# layer configures the vpc-cni add-on with it (ENABLE_PREFIX_DELEGATION) and every EC2NodeClass's maxPods follows it.
PREFIX_DELEGATION = True
IPS_PER_PREFIX = 16
# The EKS AMI's max-pods calculator (amazon-eks-ami max-pods-calculator.sh): whatever the addresses allow, at most
# 110 pods on instances with 30 vCPUs or fewer and 250 above.
MAX_PODS_LOW_CPU, MAX_PODS_HIGH_CPU, HIGH_CPU_ABOVE = 110, 250, 30


def max_pods(facts: InstanceType, *, efa: bool = False, prefix_delegation: bool = PREFIX_DELEGATION) -> int:
    """Pods one node can take: the interfaces of the default network card (the only card the VPC CNI uses) times
    the addresses each gives pods (its primary address excluded; 16 per slot with prefix delegation), plus the two
    host-network pods (aws-node, kube-proxy), capped by vCPU as the EKS max-pods calculator does.

    On an EFA node, card 0 also carries an EFA-only interface (efa_network_interfaces), which takes an interface
    slot and no addresses: one interface fewer for pods."""
    interfaces = facts.default_card_interfaces - (1 if efa else 0)
    per_interface = (facts.ipv4_per_interface - 1) * (IPS_PER_PREFIX if prefix_delegation else 1)
    addresses = max(interfaces, 0) * per_interface + 2
    ceiling = MAX_PODS_HIGH_CPU if facts.vcpu > HIGH_CPU_ABOVE else MAX_PODS_LOW_CPU
    return min(addresses, ceiling)


# ---- capacity -----------------------------------------------------------------------------------------


def pool_capacity(pool, catalog: Optional[Catalog] = None) -> PoolCapacity:
    """The capacity of a validated pool (stacks.spec.pools.PoolSpec) at its limit."""
    facts = (catalog or load_catalog()).select(pool.instance_types)
    if not facts:
        raise ValueError(f"pool {pool.name!r}: no instance type of {list(pool.instance_types)} is in the catalog")
    rows = []
    for f in facts:
        if pool.max_nodes is not None:
            nodes = pool.max_nodes
        else:
            per_node = f.accelerator_count if pool.kind != "cpu" else 0
            nodes = math.ceil(pool.max_accelerators / per_node) if per_node else 0
        # The catalog records on-demand prices only: spot is never assumed cheaper, so both ends are on-demand.
        high = low = nodes * f.price_per_hour
        rows.append(
            TypeAtMax(
                instance_type=f.name,
                nodes=nodes,
                vcpu=nodes * f.vcpu,
                memory_gib=nodes * f.memory_gib,
                accelerators=nodes * f.accelerator_count,
                accelerator_memory_gib=nodes * f.accelerator_count * f.accelerator_memory_gib,
                efa_max=f.efa_interfaces,
                network_gbps=f.network_gbps,
                max_pods=max_pods(f, efa=pool.efa),
                per_hour_low=low,
                per_hour_high=high,
            )
        )
    accelerators = max(r.accelerators for r in rows)
    if pool.max_accelerators is not None:
        accelerators = pool.max_accelerators
    efa_max = max(f.efa_interfaces for f in facts)
    return PoolCapacity(
        pool=pool.name,
        kind=pool.kind,
        accelerator_resource=accelerator(pool.kind).resource,
        instance_types=tuple(f.name for f in facts),
        arch=tuple(sorted({f.kube_arch for f in facts})),
        max_nodes=max(r.nodes for r in rows),
        vcpu=max(r.vcpu for r in rows),
        memory_gib=math.ceil(max(r.memory_gib for r in rows)),
        accelerators=accelerators,
        accelerator_memory_gib=max(r.accelerator_memory_gib for r in rows),
        efa_interfaces=efa_max if pool.efa else 0,
        efa_max=efa_max,
        network_gbps=max(f.network_gbps for f in facts),
        max_pods=min(r.max_pods for r in rows),  # one kubelet maxPods per EC2NodeClass: every type must hold it
        per_hour_low=min(r.per_hour_low for r in rows),
        per_hour_high=max(r.per_hour_high for r in rows),
        types=tuple(rows),
        replicas=sharing_replicas(pool),
    )


def sharing_replicas(pool) -> int:
    """How many pods share one GPU of the pool (1: no sharing). Only time-slicing is accepted by the spec."""
    sharing = getattr(pool, "gpu_sharing", None)
    return sharing.replicas if sharing is not None and sharing.mode == "time-slicing" else 1


def pool_zones(pool, availability_zones) -> list[str]:
    """The pool's zones: as configured; else an EFA pool takes the first zone (EFA and cluster placement groups
    do not cross zones) and any other pool all of them."""
    if pool.zones:
        return list(pool.zones)
    return [availability_zones[0]] if pool.efa else list(availability_zones)


def instance_store_raid0(pool, catalog: Optional[Catalog] = None) -> bool:
    """RAID0 over local NVMe: as configured, else on when every instance type of the pool has instance store —
    unless an AL2023 pool has a data volume, which then holds containers and kubelet instead."""
    if pool.instance_store_raid0 is not None:
        return pool.instance_store_raid0
    if pool.ami_family == "AL2023" and pool.data_volume_gib:
        return False
    types = (catalog or load_catalog()).select(pool.instance_types)
    return bool(types) and all(t.instance_store_gib > 0 for t in types)
