"""The storage layer as the platform's add-ons see it, read in one place from `below.storage` (StorageOutputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from addons.storage_drivers import LustreVolumeArgs, S3VolumeArgs
from components.contracts import StorageOutputs


@dataclass(frozen=True)
class SharedStorage:
    lustre: Optional[LustreVolumeArgs] = None
    read_only_buckets: Sequence[S3VolumeArgs] = field(default_factory=tuple)
    storage_class: Optional[str] = None  # gp3, encrypted, Retain, WaitForFirstConsumer


def shared_storage(storage: Optional[StorageOutputs]) -> SharedStorage:
    """Nothing shared when no storage layer is below the platform."""
    if storage is None:
        return SharedStorage()
    lustre = storage.lustre
    return SharedStorage(
        lustre=LustreVolumeArgs(lustre.file_system_id, lustre.dns_name, lustre.mount_name, lustre.capacity_gib) if lustre is not None else None,
        read_only_buckets=tuple(S3VolumeArgs(name, storage.buckets[name].name) for name in storage.read_only_claims),
        storage_class=storage.storage_class_name,
    )
