"""One EC2 instance type's facts, as the instance catalog records them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.accelerators import Kind, accelerator

Architecture = Literal["x86_64", "arm64"]
PriceBasis = Literal["on-demand", "estimate"]

ARCHITECTURES: tuple[Architecture, ...] = ("x86_64", "arm64")
PRICE_BASES: tuple[PriceBasis, ...] = ("on-demand", "estimate")
# The kubernetes.io/arch value (what Karpenter requirements and AMI types speak) of each EC2 architecture.
KUBE_ARCH: dict[str, str] = {"x86_64": "amd64", "arm64": "arm64"}


@dataclass(frozen=True)
class InstanceType:
    """Facts about one EC2 instance type (see instance_types.yaml for field meanings)."""

    name: str
    family: str
    arch: Architecture
    kind: Kind  # gpu | neuron | cpu (components/accelerators.py; the data file's accelerator_kind, translated)
    accelerator: str | None
    accelerator_count: int
    accelerator_memory_gib: float
    neuron_cores: int | None
    vcpu: int
    memory_gib: float
    efa_interfaces: int
    network_gbps: float
    network_cards: int
    default_card_interfaces: int  # network interfaces of the default network card (the VPC CNI's pod addresses)
    ipv4_per_interface: int
    instance_store_gib: int
    instance_store_disks: int
    price_per_hour: float
    price_basis: PriceBasis = "on-demand"
    price_note: str | None = None

    @property
    def size(self) -> str:
        """The part of the name after the dot, e.g. '48xlarge'."""
        return self.name.split(".", 1)[1]

    @property
    def is_accelerated(self) -> bool:
        return self.kind != "cpu"

    @property
    def kube_arch(self) -> str:
        """The node's kubernetes.io/arch label: amd64 | arm64."""
        return KUBE_ARCH[self.arch]

    @property
    def supports_efa(self) -> bool:
        return self.efa_interfaces > 0

    @property
    def accelerator_resource(self) -> str | None:
        """The extended resource pods request for this type's accelerators, or None."""
        return accelerator(self.kind).resource

    @property
    def total_accelerator_memory_gib(self) -> float:
        return self.accelerator_count * self.accelerator_memory_gib

    @property
    def price_is_estimate(self) -> bool:
        return self.price_basis == "estimate"
