"""Pool capacity: what a pool can run at its limit, from the instance catalog. PURE: no Pulumi calls.

`pool_capacity(pool)` is the one place that turns a pool as stated in config (instance types or families,
maxNodes or maxAccelerators, EFA on/off, capacity types) into figures: the resolved instance types, the node
count at the limit, vCPU / memory / accelerators / accelerator memory at the limit (these become the
NodePool's `spec.limits`; Kueue quotas derive from them), EFA interfaces per node configured against the
instance maximum, network Gbps per node, and the $/h range at the limit.

Every instance fact is read from the catalog (components/catalog) through :func:`catalog_facts`; nothing here
knows a GPU count or a price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from components.labels import ACCELERATOR_RESOURCE

ACCELERATOR_LABEL_VALUE = {"gpu": "nvidia", "neuron": "neuron"}


@dataclass(frozen=True)
class InstanceFacts:
    """What capacity needs to know about one instance type (a view of a catalog entry)."""

    name: str
    family: str
    arch: str  # amd64 | arm64
    vcpu: int
    memory_gib: float
    accelerator_kind: Optional[str]  # gpu (NVIDIA) | neuron | None; other makers (e.g. Gaudi) are "other"
    accelerators: int
    accelerator_memory_gib: float  # per accelerator
    efa_interfaces: int  # the instance maximum (0: no EFA)
    network_gbps: float
    default_card_interfaces: int  # network interfaces of the default network card (the VPC CNI uses only it)
    ipv4_per_interface: int
    instance_store_gib: float
    on_demand_per_hour: float  # USD, reference region
    spot_per_hour: Optional[float]  # USD estimate, when the catalog has one


Lookup = Callable[[str], Optional[InstanceFacts]]


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

    @property
    def efa_share(self) -> float:
        return self.efa_interfaces / self.efa_max if self.efa_max else 0.0

    def limits(self) -> dict[str, str]:
        """The NodePool `spec.limits` (Kubernetes quantities)."""
        out = {"cpu": str(self.vcpu), "memory": f"{self.memory_gib}Gi"}
        if self.accelerator_resource:
            out[self.accelerator_resource] = str(self.accelerators)
        return out

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


# ---- the catalog view --------------------------------------------------------------------------------


# Karpenter's kubernetes.io/arch values and the pool kinds, for the catalog's architecture and accelerator kind.
_KUBE_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
_POOL_KIND = {"nvidia": "gpu", "neuron": "neuron", "none": None}


def catalog_facts(name: str) -> Optional[InstanceFacts]:
    """Facts for one instance type from components/catalog, or None when the catalog does not know it."""
    from components.catalog import load_catalog

    catalog = load_catalog()
    if name not in catalog:
        return None
    return _facts_from(catalog.get(name))


def catalog_names() -> list[str]:
    from components.catalog import load_catalog

    return load_catalog().names()


def _facts_from(entry) -> InstanceFacts:  # entry: components.catalog.InstanceType
    return InstanceFacts(
        name=entry.name,
        family=entry.family,
        arch=_KUBE_ARCH[entry.arch],
        vcpu=entry.vcpu,
        memory_gib=entry.memory_gib,
        accelerator_kind=_POOL_KIND[entry.accelerator_kind],
        accelerators=entry.accelerator_count,
        accelerator_memory_gib=entry.accelerator_memory_gib,
        efa_interfaces=entry.efa_interfaces,
        network_gbps=entry.network_gbps,
        default_card_interfaces=entry.default_card_interfaces,
        ipv4_per_interface=entry.ipv4_per_interface,
        instance_store_gib=entry.instance_store_gib,
        on_demand_per_hour=entry.price_per_hour,
        spot_per_hour=None,  # the catalog records on-demand prices only; spot is never assumed cheaper
    )


# EKS managed node group AMI types (AL2023) by kubernetes.io/arch: CreateNodegroup refuses an AMI type whose
# architecture is not the instance types'.
SYSTEM_AMI_TYPE = {"amd64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


def system_ami_type(instance_types: Iterable[str], lookup: Optional[Lookup] = None) -> str:
    """The AL2023 AMI type of a managed node group running ``instance_types`` (one architecture; the spec refuses a
    mix), from the catalog's architecture."""
    lookup = lookup or catalog_facts
    arches = {f.arch for f in (lookup(n) for n in instance_types) if f is not None}
    if len(arches) != 1:
        raise ValueError(f"instance types {list(instance_types)} do not share one known architecture: {sorted(arches)}")
    return SYSTEM_AMI_TYPE[arches.pop()]


def resolve(entries: Iterable[str], names: Optional[list[str]] = None, lookup: Optional[Lookup] = None) -> list[str]:
    """Instance types for config entries that are types (p5.48xlarge) or families (g6e), in order, deduplicated.
    Unknown entries are skipped here (validation reports them)."""
    lookup = lookup or catalog_facts
    names = catalog_names() if names is None else names
    out: list[str] = []
    for entry in entries:
        if "." in entry:
            found = [entry] if lookup(entry) is not None else []
        else:
            found = [n for n in names if n.split(".", 1)[0] == entry]
        out.extend(n for n in found if n not in out)
    return out


# ---- pod density -----------------------------------------------------------------------------------

# The VPC CNI assigns /28 IPv4 prefixes (16 addresses) to interface slots instead of single addresses; the cluster
# layer configures the vpc-cni add-on with it (ENABLE_PREFIX_DELEGATION) and every EC2NodeClass's maxPods follows it.
PREFIX_DELEGATION = True
IPS_PER_PREFIX = 16
# The EKS AMI's max-pods calculator (amazon-eks-ami max-pods-calculator.sh): whatever the addresses allow, at most
# 110 pods on instances with 30 vCPUs or fewer and 250 above.
MAX_PODS_LOW_CPU, MAX_PODS_HIGH_CPU, HIGH_CPU_ABOVE = 110, 250, 30


def max_pods(facts: InstanceFacts, *, efa: bool = False, prefix_delegation: bool = PREFIX_DELEGATION) -> int:
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


def pool_capacity(pool, lookup: Optional[Lookup] = None, names: Optional[list[str]] = None) -> PoolCapacity:
    """The capacity of a validated pool (stacks.spec.pools.PoolSpec) at its limit."""
    lookup = lookup or catalog_facts
    types = [lookup(n) for n in resolve(pool.instance_types, names=names, lookup=lookup)]
    facts = [f for f in types if f is not None]
    if not facts:
        raise ValueError(f"pool {pool.name!r}: no instance type of {list(pool.instance_types)} is in the catalog")
    spot = "spot" in pool.capacity_types
    rows = []
    for f in facts:
        if pool.max_nodes is not None:
            nodes = pool.max_nodes
        else:
            per_node = f.accelerators if pool.kind != "cpu" else 0
            nodes = math.ceil(pool.max_accelerators / per_node) if per_node else 0
        high = nodes * f.on_demand_per_hour
        low = nodes * (f.spot_per_hour if spot and f.spot_per_hour is not None else f.on_demand_per_hour)
        rows.append(
            TypeAtMax(
                instance_type=f.name,
                nodes=nodes,
                vcpu=nodes * f.vcpu,
                memory_gib=nodes * f.memory_gib,
                accelerators=nodes * f.accelerators,
                accelerator_memory_gib=nodes * f.accelerators * f.accelerator_memory_gib,
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
        accelerator_resource=ACCELERATOR_RESOURCE.get(pool.kind),
        instance_types=tuple(f.name for f in facts),
        arch=tuple(sorted({f.arch for f in facts})),
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
    )


def efa_network_interfaces(count: int) -> list[dict]:
    """EC2NodeClass `networkInterfaces` attaching ``count`` EFA devices, one per network card, as AWS
    recommends for multi-card instances: card 0 keeps the primary ENA interface (device 0) and takes an
    EFA-only interface on device 1; every further card gets an EFA-only interface on device 0."""
    if count <= 0:
        return []
    out = [
        {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"},
        {"networkCardIndex": 0, "deviceIndex": 1, "interfaceType": "efa-only"},
    ]
    out += [{"networkCardIndex": card, "deviceIndex": 0, "interfaceType": "efa-only"} for card in range(1, count)]
    return out


def pool_zones(pool, availability_zones) -> list[str]:
    """The pool's zones: as configured; else an EFA pool takes the first zone (EFA and cluster placement groups
    do not cross zones) and any other pool all of them."""
    if pool.zones:
        return list(pool.zones)
    return [availability_zones[0]] if pool.efa else list(availability_zones)


def instance_store_raid0(pool, lookup: Optional[Lookup] = None, names: Optional[list[str]] = None) -> bool:
    """RAID0 over local NVMe: as configured, else on when every instance type of the pool has instance store —
    unless an AL2023 pool has a data volume, which then holds containers and kubelet instead."""
    if pool.instance_store_raid0 is not None:
        return pool.instance_store_raid0
    if pool.ami_family == "AL2023" and pool.data_volume_gib:
        return False
    lookup = lookup or catalog_facts
    facts = [lookup(n) for n in resolve(pool.instance_types, names=names, lookup=lookup)]
    return bool(facts) and all(f is not None and f.instance_store_gib > 0 for f in facts)
