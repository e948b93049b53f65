"""A node's allocatable for an instance type, computed the way Karpenter computes it. PURE: no Pulumi calls.

Karpenter decides whether a pod fits a NodePool from each instance type's *capacity minus overhead*
(karpenter-provider-aws pkg/providers/instancetype/types.go, `NewInstanceType`, `computeCapacity`):

- cpu: the type's vCPUs.
- memory: the type's memory in MiB (64 MiB less on Graviton, the CMA reservation) minus the VM overhead,
  ceil(memory * vmMemoryOverheadPercent) MiB (Karpenter's default `vmMemoryOverheadPercent` 0.075, used until it
  has seen a node of the type).
- ephemeral-storage: the instance-store total (GB) with `instanceStorePolicy: RAID0`, else the EC2NodeClass's
  `rootVolume` block device, else the AMI family's default (20Gi on AL2023 and Bottlerocket's data volume).
- pods: the EC2NodeClass's `kubelet.maxPods`, else the ENI-limited count (interfaces of the default network card
  minus its EFA-only interfaces, times (IPv4 addresses per interface - 1), plus 2).
- extended resources from the instance catalog (components/catalog): `nvidia.com/gpu` (NVIDIA GPUs),
  `aws.amazon.com/neuron` (Neuron devices) and `aws.amazon.com/neuroncore`, `vpc.amazonaws.com/efa` (the
  EC2NodeClass's EFA-only interfaces when it declares `networkInterfaces`, else the type's EFA maximum).
- huge pages: none. Karpenter models no huge pages for any instance type; only a NodeOverlay (alpha, feature gate
  `nodeOverlay`) adds them, and only a node configured to reserve them actually has them (``huge_pages``).

Overhead (`kubeReservedResources`, `systemReservedResources`, `evictionThreshold`):

- kube-reserved cpu by core count: 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% above four.
- kube-reserved memory by pods: 11 MiB per pod + 255 MiB. For AL2023 (`UsesENILimitedMemoryOverhead`) Karpenter
  counts the ENI-limited pods whatever maxPods says; for Bottlerocket it counts the node's pods. The kubelet itself
  reserves by the node's maxPods on both (nodeadm and Bottlerocket compute 11 * maxPods + 255): with maxPods above
  the ENI-limited count an AL2023 node has less memory than Karpenter predicts. :func:`node_allocatable` takes the
  smaller of the two views, so a pod that fits there fits both Karpenter's simulation and the real node.
- kube-reserved ephemeral-storage 1Gi; system-reserved: what the EC2NodeClass's kubelet sets (none by default).
- eviction threshold: memory.available 100Mi, nodefs.available 10% (or the kubelet's evictionHard).

Quantities are integers: cpu in millicores, memory, ephemeral-storage and huge pages in bytes, the rest counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from components.accelerators import GPU, NEURON
from components.labels import EFA_RESOURCE as LABELS_EFA_RESOURCE
from components.quantity import value_of

# Karpenter's default VM_MEMORY_OVERHEAD_PERCENT (pkg/operator/options/options.go).
VM_MEMORY_OVERHEAD_PERCENT = 0.075
GRAVITON_CMA_MIB = 64
DEFAULT_EVICTION_MEMORY = 100 * 2**20
DEFAULT_EVICTION_NODEFS_PERCENT = 10
KUBE_RESERVED_EPHEMERAL = 2**30
# amifamily.DefaultEBS / the AL2023 and Bottlerocket default block device mappings: 20Gi.
DEFAULT_VOLUME_BYTES = 20 * 2**30
# kube-reserved cpu: (start, end, fraction) in millicores (Karpenter's kubeReservedResources, after Bottlerocket).
_CPU_RANGES = ((0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005), (4000, 1 << 31, 0.0025))

GPU_RESOURCE = GPU.resource
NEURON_RESOURCE = NEURON.resource
(NEURONCORE_RESOURCE,) = NEURON.extra_resources
EFA_RESOURCE = LABELS_EFA_RESOURCE  # re-exported: the lands check reads every resource name from here
HUGEPAGES_PREFIX = "hugepages-"


def parse_quantity(value, resource: str = "") -> int:
    """A Kubernetes quantity as an integer: millicores for cpu, else the value rounded up (bytes, counts); its exact
    value from components/quantity.py (one reading of quantities for the program, the pack and the plan checks)."""
    exact = value_of(value)
    if exact is None:
        raise ValueError(f"not a quantity: {value!r}")
    return math.ceil(exact * 1000) if resource == "cpu" else math.ceil(exact)


def format_quantity(value: int, resource: str) -> str:
    """An integer quantity back in the units people read: cpu in cores or millicores, bytes in Mi/Gi."""
    if resource == "cpu":
        return f"{value // 1000}" if value % 1000 == 0 else f"{value}m"
    if resource in ("memory", "ephemeral-storage") or resource.startswith(HUGEPAGES_PREFIX):
        if value == 0:
            return "0"
        if value % 2**30 == 0:
            return f"{value // 2**30}Gi"
        if value % 2**20 == 0:
            return f"{value // 2**20}Mi"
        return f"{value / 2**30:.2f}Gi"
    return str(value)


@dataclass(frozen=True)
class NodeConfig:
    """What the EC2NodeClass (and the node's own configuration) says about the nodes of a pool."""

    ami_family: str = "AL2023"  # AL2023 | Bottlerocket
    max_pods: Optional[int] = None  # kubelet.maxPods (None: ENI-limited)
    network_interfaces: Optional[Sequence[Mapping]] = None  # spec.networkInterfaces (None: not declared)
    root_volume_bytes: Optional[int] = None  # the rootVolume block device's volumeSize
    instance_store_raid0: bool = False
    kube_reserved: Mapping[str, str] = field(default_factory=dict)
    system_reserved: Mapping[str, str] = field(default_factory=dict)
    eviction_hard: Mapping[str, str] = field(default_factory=dict)
    huge_pages: Mapping[str, int] = field(default_factory=dict)  # {"hugepages-2Mi": bytes} the node reserves
    vm_memory_overhead_percent: float = VM_MEMORY_OVERHEAD_PERCENT


@dataclass(frozen=True)
class NodeResources:
    capacity: dict[str, int]
    kube_reserved: dict[str, int]
    system_reserved: dict[str, int]
    eviction: dict[str, int]

    @property
    def allocatable(self) -> dict[str, int]:
        out = dict(self.capacity)
        for overhead in (self.kube_reserved, self.system_reserved, self.eviction):
            for name, value in overhead.items():
                out[name] = out.get(name, 0) - value
        return {name: max(value, 0) for name, value in out.items()}


def eni_limited_pods(it, network_interfaces: Optional[Sequence[Mapping]] = None, reserved_enis: int = 0) -> int:
    """Karpenter's ENILimitedPods: the default card's interfaces (less EFA-only ones on card 0 and reserved ENIs)
    times (IPv4 addresses per interface - 1), plus 2; 0 when no interface is left."""
    efa_only = sum(1 for n in network_interfaces or () if int(n.get("networkCardIndex", 0)) == 0 and n.get("interfaceType") == "efa-only")
    usable = max(it.default_card_interfaces - reserved_enis - efa_only, 0)
    return usable * (it.ipv4_per_interface - 1) + 2 if usable else 0


def _memory_capacity(it, overhead_percent: float) -> int:
    mib = round(it.memory_gib * 1024)
    if it.arch == "arm64":
        mib -= GRAVITON_CMA_MIB
    return (mib - math.ceil(mib * 2**20 * overhead_percent / 2**20)) * 2**20


def _kube_reserved_cpu(cpu_millis: int) -> int:
    reserved = 0
    for start, end, fraction in _CPU_RANGES:
        if cpu_millis >= start:
            span = min(cpu_millis, end) - start
            reserved += int(span * fraction)
    return reserved


def _quantities(values: Mapping[str, str]) -> dict[str, int]:
    return {name: parse_quantity(value, name) for name, value in (values or {}).items()}


def _eviction(signal: str, capacity: int) -> int:
    if signal.endswith("%"):
        return math.ceil(capacity * float(signal[:-1]) / 100)
    return parse_quantity(signal)


def node_resources(it, config: NodeConfig = NodeConfig(), *, view: str = "karpenter") -> NodeResources:
    """Capacity and overhead of one node of instance type ``it`` (components.catalog.InstanceType).

    ``view`` "karpenter": as Karpenter's scheduling simulation counts it; "kubelet": kube-reserved memory by the
    node's own pod limit, as the kubelet of the launched node reserves it."""
    if view not in ("karpenter", "kubelet"):
        raise ValueError(f"view must be 'karpenter' or 'kubelet', got {view!r}")
    eni_pods = eni_limited_pods(it, config.network_interfaces)
    pods = config.max_pods if config.max_pods is not None else eni_pods
    if config.instance_store_raid0 and it.instance_store_gib:
        storage = it.instance_store_gib * 10**9  # the instance-store total, which AWS gives in GB
    elif config.root_volume_bytes:
        storage = config.root_volume_bytes
    else:
        storage = DEFAULT_VOLUME_BYTES
    memory = _memory_capacity(it, config.vm_memory_overhead_percent)
    capacity = {
        "cpu": it.vcpu * 1000,
        "memory": memory,
        "ephemeral-storage": storage,
        "pods": pods,
        GPU_RESOURCE: it.accelerator_count if it.kind == GPU.kind else 0,
        NEURON_RESOURCE: it.accelerator_count if it.kind == NEURON.kind else 0,
        NEURONCORE_RESOURCE: (it.neuron_cores or 0) if it.kind == NEURON.kind else 0,
        EFA_RESOURCE: (
            sum(1 for n in config.network_interfaces if n.get("interfaceType") == "efa-only") if config.network_interfaces is not None else it.efa_interfaces
        ),
    }
    for name, size in (config.huge_pages or {}).items():
        # Pre-allocated huge pages leave the memory the kubelet reports.
        capacity[name] = size
        capacity["memory"] -= size
    eni_limited_overhead = config.ami_family.lower() == "al2023" and view == "karpenter"
    reserve_pods = eni_pods if eni_limited_overhead else pods
    kube = {"cpu": _kube_reserved_cpu(it.vcpu * 1000), "memory": (11 * reserve_pods + 255) * 2**20, "ephemeral-storage": KUBE_RESERVED_EPHEMERAL}
    kube.update(_quantities(config.kube_reserved))
    eviction = {"memory": DEFAULT_EVICTION_MEMORY, "ephemeral-storage": math.ceil(storage * DEFAULT_EVICTION_NODEFS_PERCENT / 100)}
    if "memory.available" in (config.eviction_hard or {}):
        eviction["memory"] = _eviction(config.eviction_hard["memory.available"], capacity["memory"])
    if "nodefs.available" in (config.eviction_hard or {}):
        eviction["ephemeral-storage"] = _eviction(config.eviction_hard["nodefs.available"], storage)
    return NodeResources(capacity=capacity, kube_reserved=kube, system_reserved=_quantities(config.system_reserved), eviction=eviction)


def karpenter_allocatable(it, config: NodeConfig = NodeConfig()) -> dict[str, int]:
    """Capacity minus overhead as Karpenter's scheduler simulation sees one node of ``it``."""
    return node_resources(it, config, view="karpenter").allocatable


def node_allocatable(it, config: NodeConfig = NodeConfig()) -> dict[str, int]:
    """What a pod can count on: per resource the smaller of Karpenter's view (else Karpenter launches no node for
    it) and the launched node's kubelet (else it stays Pending on the node Karpenter launched)."""
    karpenter = karpenter_allocatable(it, config)
    kubelet = node_resources(it, config, view="kubelet").allocatable
    return {name: min(value, kubelet.get(name, value)) for name, value in karpenter.items()}
