"""Lustre sizing: throughput, throughput per accelerator, checkpoint write time. PURE: no Pulumi calls.

Units are FSx's own: a file system of C GiB counts as C/1000 TiB when FSx quotes throughput (1200 GiB is "1.2 TiB",
and 1.2 TiB x 250 MB/s/TiB = 300 MB/s); MB are decimal (1 GB = 1000 MB); a checkpoint of S GiB is
S x 1.073741824 GB. So a person can check every figure with a pocket calculator:

    2400 GiB at 250 MB/s/TiB  -> 2.4 x 250 = 600 MB/s = 0.6 GB/s
    32 accelerators           -> 600 / 32 = 18.75 MB/s per accelerator
    100 GiB checkpoint        -> 107.37 GB / 0.6 GB/s = 179 s

Writes run at the disk baseline: the per-unit throughput for persistent types, but 100 MB/s/TiB for SCRATCH_2
(whose 200 MB/s/TiB baseline is for reads; FSx for Lustre performance table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

GIB_IN_GB = 1.073741824
SCRATCH_2_WRITE_PER_TIB = 100  # MB/s/TiB disk write baseline of SCRATCH_2 (reads: 200)


@dataclass(frozen=True)
class LustreSizing:
    deployment_type: str
    capacity_gib: int
    throughput_per_tib: int  # MB/s/TiB (SCRATCH_2: the fixed baseline)
    throughput_mbps: float  # aggregate, MB/s
    write_mbps: float  # aggregate write baseline, MB/s (checkpoints)
    accelerators: Optional[int]  # training accelerators at the pools' maximum (None: not known)
    per_accelerator_mbps: Optional[float]
    checkpoint_gib: float
    checkpoint_seconds: float
    floor_mbps: float

    @property
    def throughput_gbps(self) -> float:
        return self.throughput_mbps / 1000

    @property
    def below_floor(self) -> bool:
        return self.per_accelerator_mbps is not None and self.per_accelerator_mbps < self.floor_mbps

    def warning(self) -> Optional[str]:
        if not self.below_floor or self.accelerators is None:  # below the floor means accelerators are known
            return None
        needed = self.floor_mbps * self.accelerators
        return (
            f"WARNING: {self.per_accelerator_mbps:,.2f} MB/s per accelerator is below the floor of {self.floor_mbps:g} MB/s "
            f"(storage.minThroughputPerAcceleratorMbps); {self.accelerators} accelerators need {needed:,.0f} MB/s: "
            f"raise storageCapacityGib or perUnitStorageThroughput"
        )

    def line(self) -> str:
        """One line a person can check by hand."""
        tib = self.capacity_gib / 1000
        text = (
            f"{self.deployment_type} {self.capacity_gib:,} GiB x {self.throughput_per_tib} MB/s/TiB = "
            f"{tib:g} x {self.throughput_per_tib} = {self.throughput_mbps:,.0f} MB/s ({self.throughput_gbps:g} GB/s)"
        )
        if self.per_accelerator_mbps is not None:
            text += f"; / {self.accelerators} accelerators = {self.per_accelerator_mbps:,.2f} MB/s each"
        write = "" if self.write_mbps == self.throughput_mbps else f" at {self.write_mbps:,.0f} MB/s write"
        text += f"; a {self.checkpoint_gib:g} GiB checkpoint ({self.checkpoint_gib * GIB_IN_GB:,.2f} GB){write} writes in {self.checkpoint_seconds:,.0f} s"
        return text

    def to_json(self) -> dict:
        return {
            "deploymentType": self.deployment_type,
            "capacityGib": self.capacity_gib,
            "throughputPerTibMbps": self.throughput_per_tib,
            "throughputMbps": round(self.throughput_mbps, 3),
            "throughputGbps": round(self.throughput_gbps, 6),
            "writeThroughputMbps": round(self.write_mbps, 3),
            "trainingAccelerators": self.accelerators,
            "throughputPerAcceleratorMbps": None if self.per_accelerator_mbps is None else round(self.per_accelerator_mbps, 3),
            "minThroughputPerAcceleratorMbps": self.floor_mbps,
            "belowFloor": self.below_floor,
            "checkpointGib": self.checkpoint_gib,
            "checkpointWriteSeconds": round(self.checkpoint_seconds, 1),
        }


def throughput_mbps(capacity_gib: int, per_tib: int) -> float:
    """Aggregate throughput in MB/s: FSx's TiB count (GiB / 1000) times MB/s per TiB."""
    return capacity_gib / 1000 * per_tib


def checkpoint_seconds(size_gib: float, mbps: float) -> float:
    """Seconds to write one checkpoint of ``size_gib`` at the file system's aggregate throughput."""
    if mbps <= 0:
        raise ValueError("throughput must be positive")
    return size_gib * GIB_IN_GB * 1000 / mbps


def lustre_sizing(
    deployment_type: str,
    capacity_gib: int,
    per_tib: int,
    accelerators: Optional[int],
    checkpoint_gib: float,
    floor_mbps: float,
) -> LustreSizing:
    mbps = throughput_mbps(capacity_gib, per_tib)
    write = throughput_mbps(capacity_gib, SCRATCH_2_WRITE_PER_TIB) if deployment_type == "SCRATCH_2" else mbps
    per_accelerator = mbps / accelerators if accelerators else None
    return LustreSizing(
        deployment_type=deployment_type,
        capacity_gib=capacity_gib,
        throughput_per_tib=per_tib,
        throughput_mbps=mbps,
        write_mbps=write,
        accelerators=accelerators or None,
        per_accelerator_mbps=per_accelerator,
        checkpoint_gib=checkpoint_gib,
        checkpoint_seconds=checkpoint_seconds(checkpoint_gib, write),
        floor_mbps=floor_mbps,
    )


def training_accelerators(spec, capacity_of=None) -> Optional[int]:
    """Accelerators of the training pools at their maximum (stacks.derive.capacity.pool_capacity, from the instance
    catalog); None when there are no training accelerator pools."""
    pools = [p for p in spec.pools if p.workload == "training" and p.kind != "cpu"]
    if not pools:
        return None
    if capacity_of is None:
        from stacks.derive.capacity import pool_capacity as capacity_of
    return sum(capacity_of(p).accelerators for p in pools)


def sizing_for(spec, capacity_of=None) -> Optional[LustreSizing]:
    """The sizing of the stack's file system, or None when it has none."""
    lustre = spec.storage.lustre
    if not spec.builds("storage") or not lustre.enabled:
        return None
    return lustre_sizing(
        lustre.deployment_type,
        lustre.storage_capacity_gib,
        lustre.throughput_per_tib(),
        training_accelerators(spec, capacity_of),
        spec.storage.checkpoint_size_gib,
        spec.storage.min_throughput_per_accelerator_mbps,
    )
