"""The storage layer: the storage KMS key, the S3 buckets, the Lustre file system in the training zone linked to them,
the CSI drivers and the shared volumes."""

from __future__ import annotations

import pulumi

from addons.storage_drivers import LUSTRE_CLAIM, LustreVolumeArgs, S3VolumeArgs, SharedVolumes, SharedVolumesArgs, StorageDrivers, StorageDriversArgs
from components.contracts import BucketOutputs, LustreOutputs, StorageOutputs
from components.labels import FSX_CSI_STARTUP_TAINT
from components.storage import BucketArgs, Buckets, EncryptionKey, Lustre, LustreArgs, RepositoryLink
from stacks.derive.placement import lustre_zone
from stacks.layers.base import Below, Built
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: Below) -> Built[StorageOutputs]:
    """The storage KMS key, the S3 buckets, the Lustre file system in the training zone linked to them, the CSI
    drivers and the shared volumes."""
    storage, lustre = spec.storage, spec.storage.lustre
    network, cluster = below.require_network(), below.require_cluster()
    aws_only = pulumi.ResourceOptions(providers=[below.aws_provider])
    key = EncryptionKey(
        "storage-key",
        alias=f"{spec.cluster_name}-storage",
        region=spec.region,
        deletion_window_days=storage.kms_key_deletion_window_days,
        protect=spec.protect,
        opts=aws_only,
    )
    # Default names carry the caller's account id (an invoke: known at preview as well as at update).
    account_id = pulumi.Output.from_input(key.account_id)

    def physical_name(logical: str) -> pulumi.Output[str]:
        return account_id.apply(lambda a: storage.physical_bucket_name(logical, spec.stack.lower(), spec.region, a))

    buckets = Buckets(
        "buckets",
        buckets=[
            BucketArgs(
                logical_name=b.name,
                physical_name=physical_name(b.name),
                namespace=storage.bucket_namespace(spec.region),
                noncurrent_version_days=b.noncurrent_version_days,
                abort_incomplete_upload_days=b.abort_incomplete_upload_days,
            )
            for b in storage.buckets
        ],
        kms_key_arn=key.arn,
        protect=spec.protect,
        opts=aws_only,
    )
    file_system = None
    zone = None
    if lustre.enabled:
        zone = lustre_zone(spec)
        persistent2 = lustre.deployment_type == "PERSISTENT_2"
        file_system = Lustre(
            "lustre",
            LustreArgs(
                name=f"{spec.cluster_name}-lustre",
                deployment_type=lustre.deployment_type,
                storage_capacity_gib=lustre.storage_capacity_gib,
                per_unit_storage_throughput=None if lustre.scratch else lustre.throughput_per_tib(),
                efa=lustre.efa,
                metadata_mode=lustre.metadata_mode if persistent2 else None,
                metadata_iops=lustre.metadata_iops,
                backup_retention_days=lustre.backup_days(spec.environment),
                zone=zone,
                subnet_id=network.private_subnet_in(zone),
                vpc_id=network.vpc_id,
                client_security_group_ids=[cluster.cluster_security_group_id],
                kms_key_arn=key.arn,
                account_id=key.account_id,
                links=[RepositoryLink(r.path, r.bucket, r.prefix, r.import_events, r.export_events) for r in lustre.repositories],
                bucket_names=buckets.names,
                bucket_versioned=buckets.versioned,
                protect=spec.protect,
                region=spec.region,
            ),
            opts=aws_only,
        )
    read_only = [b.name for b in storage.buckets if b.read_only_volume]
    opts = pulumi.ResourceOptions(providers=[below.aws_provider, below.require_k8s_provider()])
    drivers = StorageDrivers(
        "storage-drivers",
        StorageDriversArgs(
            cluster_name=cluster.name,
            account_id=key.account_id,
            read_only_bucket_arns=[buckets.arns[n] for n in read_only],
            kms_key_arn=key.arn,
            fsx=file_system is not None,
            permissions_boundary=spec.permissions_boundary,
            depends_on=tuple(below.foundation),
        ),
        opts=opts,
    )
    volumes = SharedVolumes(
        "shared-volumes",
        SharedVolumesArgs(
            namespace=storage.namespace,
            region=spec.region,
            storage_class_name=storage.storage_class_name,
            lustre=LustreVolumeArgs(file_system.id, file_system.dns_name, file_system.mount_name, lustre.storage_capacity_gib)
            if file_system is not None
            else None,
            read_only_buckets=[S3VolumeArgs(n, buckets.names[n]) for n in read_only],
            protect=spec.protect,
            depends_on=tuple(drivers.addons.values()),
        ),
        opts=opts,
    )
    return Built(
        StorageOutputs(
            namespace=storage.namespace,
            kms_key_arn=key.arn,
            buckets={n: BucketOutputs(name=buckets.names[n], arn=buckets.arns[n]) for n in buckets.names},
            lustre=LustreOutputs(
                file_system_id=file_system.id,
                dns_name=file_system.dns_name,
                mount_name=file_system.mount_name,
                capacity_gib=lustre.storage_capacity_gib,
                zone=zone,
                security_group_id=file_system.security_group.id,
                pv_name=volumes.volumes["lustre"],
                pvc_name=LUSTRE_CLAIM,
            )
            if file_system is not None and zone is not None
            else None,
            read_only_claims={n: volumes.claims[f"s3-{n}"] for n in read_only},
            read_only_volumes={n: volumes.volumes[f"s3-{n}"] for n in read_only},
            storage_class_name=storage.storage_class_name,
            lustre_startup_taint=dict(FSX_CSI_STARTUP_TAINT),
        )
    )
