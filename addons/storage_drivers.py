"""Storage in the cluster: the FSx for Lustre and Mountpoint for S3 CSI drivers (EKS managed add-ons with Pod
Identity), and the shared volumes: static Lustre and read-only S3 PersistentVolumes with their claims, and a gp3
StorageClass for user volumes.

Crucible creates the file system and its S3 links itself and mounts them statically: the FSx CSI driver cannot
create data repository associations for PERSISTENT_2 (aws-fsx-csi-driver#367), so its controller needs no
provisioning rights. Mountpoint for S3 supports only static provisioning anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.identity import PodIdentityRole
from components.labels import pod_security
from components.manifests import as_api

FSX_DRIVER = "fsx.csi.aws.com"
S3_DRIVER = "s3.csi.aws.com"
EBS_DRIVER = "ebs.csi.aws.com"
FSX_ADDON = "aws-fsx-csi-driver"
S3_ADDON = "aws-mountpoint-s3-csi-driver"
FSX_CONTROLLER_SA = "fsx-csi-controller-sa"
S3_DRIVER_SA = "s3-csi-driver-sa"  # driver-level credentials; EKS Pod Identity needs add-on v2 or later
S3_ADDON_CONFIGURATION = {"node": {"tolerateAllTaints": True}}  # its node agent must reach tainted GPU/Neuron nodes


def fsx_controller_policy() -> str:
    """Static provisioning only: the controller just describes file systems (an action without resource-level scope)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "DescribeFileSystems", "Effect": "Allow", "Action": ["fsx:DescribeFileSystems"], "Resource": "*"}],
        }
    )


def mountpoint_read_only_policy(bucket_arns: Sequence[str], kms_key_arn: str) -> str:
    """Mountpoint's read-only permissions (ListBucket on the buckets, GetObject on their objects), for the
    buckets mounted read-only and nothing else, plus Decrypt with the storage key (SSE-KMS)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListMountedBuckets", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": list(bucket_arns)},
                {"Sid": "ReadMountedObjects", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{arn}/*" for arn in bucket_arns]},
                {"Sid": "DecryptWithStorageKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": kms_key_arn},
            ],
        }
    )


@dataclass(frozen=True)
class StorageDriversArgs:
    cluster_name: pulumi.Input[str]
    account_id: pulumi.Input[str]
    read_only_bucket_arns: Sequence[pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    fsx: bool  # install the FSx CSI driver (a file system exists)
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)
    # what the add-ons wait for: the cluster and its node groups (their controllers are Deployments; REL-ORD-007)
    depends_on: tuple = ()


class StorageDrivers(pulumi.ComponentResource):
    """The FSx for Lustre and Mountpoint for S3 CSI drivers as EKS managed add-ons, each with its own Pod Identity role."""

    def __init__(self, name: str, args: StorageDriversArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:storage:StorageDrivers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.addons: dict[str, aws.eks.Addon] = {}
        if args.fsx:
            role = PodIdentityRole(
                f"{name}-fsx-csi",
                cluster_name=args.cluster_name,
                account_id=args.account_id,
                namespace="kube-system",
                service_account=FSX_CONTROLLER_SA,
                inline_policy=fsx_controller_policy(),
                associate=False,
                permissions_boundary=args.permissions_boundary,
                opts=child,
            )
            self.addons[FSX_ADDON] = self._addon(name, FSX_ADDON, role, FSX_CONTROLLER_SA, None, args)
        if args.read_only_bucket_arns:
            policy = pulumi.Output.all(pulumi.Output.all(*args.read_only_bucket_arns), args.kms_key_arn).apply(
                lambda v: mountpoint_read_only_policy(v[0], v[1])
            )
            role = PodIdentityRole(
                f"{name}-s3-csi",
                cluster_name=args.cluster_name,
                account_id=args.account_id,
                namespace="kube-system",
                service_account=S3_DRIVER_SA,
                inline_policy=policy,
                associate=False,
                permissions_boundary=args.permissions_boundary,
                opts=child,
            )
            self.addons[S3_ADDON] = self._addon(name, S3_ADDON, role, S3_DRIVER_SA, json.dumps(S3_ADDON_CONFIGURATION), args)
        self.register_outputs({"addons": sorted(self.addons)})

    def _addon(self, name: str, addon: str, role: PodIdentityRole, service_account: str, configuration: Optional[str], args) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=args.cluster_name,
            addon_name=addon,
            configuration_values=configuration,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            pod_identity_associations=[aws.eks.AddonPodIdentityAssociationArgs(role_arn=role.arn, service_account=service_account)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )


# ---- shared volumes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LustreVolumeArgs:
    file_system_id: pulumi.Input[str]
    dns_name: pulumi.Input[str]
    mount_name: pulumi.Input[str]
    capacity_gib: int


@dataclass(frozen=True)
class S3VolumeArgs:
    logical_name: str
    bucket_name: pulumi.Input[str]


@dataclass(frozen=True)
class SharedVolumesArgs:
    namespace: str
    region: str
    storage_class_name: str
    lustre: Optional[LustreVolumeArgs]
    read_only_buckets: Sequence[S3VolumeArgs]
    protect: bool
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)  # the CSI add-ons


LUSTRE_CLAIM = "lustre"  # the Lustre claim of the shared-data namespace and of every team namespace
# The shared-data namespace's PersistentVolume keeps the name it was first deployed with: renaming a protected
# Kubernetes object replaces it.
SHARED_LUSTRE_PV = "crucible-lustre"


def lustre_volume_name(namespace: str) -> str:
    """The static Lustre PersistentVolume bound to ``namespace``'s claim (a PV binds one claim: one per namespace)."""
    return f"{namespace}-lustre"


def s3_pv_name(logical: str) -> str:
    return f"crucible-s3-{logical}"


def s3_pvc_name(logical: str) -> str:
    return f"s3-{logical}"


def lustre_pv_spec(args: LustreVolumeArgs, namespace: str, claim: str) -> dict:
    """A static FSx for Lustre PersistentVolume (driver fsx.csi.aws.com, volumeHandle = file-system id), bound to one
    claim; the data outlives the claim (Retain)."""
    return {
        "capacity": {"storage": f"{args.capacity_gib}Gi"},
        "volumeMode": "Filesystem",
        "accessModes": ["ReadWriteMany"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "mountOptions": ["flock"],
        "claimRef": {"namespace": namespace, "name": claim},
        "csi": {
            "driver": FSX_DRIVER,
            "volumeHandle": args.file_system_id,
            "volumeAttributes": {"dnsname": args.dns_name, "mountname": args.mount_name},
        },
    }


# A Mountpoint for S3 volume's size: Kubernetes requires one, S3 ignores it. Its claims ask for the same amount, which
# the namespace's ResourceQuota counts (requests.storage).
S3_VOLUME_GIB = 1200
S3_VOLUME_SIZE = f"{S3_VOLUME_GIB}Gi"


def s3_pv_spec(args: S3VolumeArgs, namespace: str, claim: str, region: str) -> dict:
    """A static, read-only Mountpoint for S3 PersistentVolume (capacity is required by Kubernetes, ignored by S3)."""
    return {
        "capacity": {"storage": S3_VOLUME_SIZE},
        "accessModes": ["ReadOnlyMany"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "mountOptions": ["read-only", "allow-other", f"region {region}"],
        "claimRef": {"namespace": namespace, "name": claim},
        "csi": {
            "driver": S3_DRIVER,
            "volumeHandle": f"s3-{args.logical_name}",  # unique per PersistentVolume
            "readOnly": True,
            "volumeAttributes": {"bucketName": args.bucket_name},
        },
    }


class SharedVolumes(pulumi.ComponentResource):
    """The shared data namespace with the Lustre and read-only S3 claims, and the StorageClass for user volumes."""

    def __init__(self, name: str, args: SharedVolumesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:storage:SharedVolumes", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={"crucible.io/purpose": "shared-data", **pod_security("restricted")}),
            opts=stateful,
        )
        after = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect, depends_on=list(args.depends_on))
        self.claims: dict[str, str] = {}
        self.volumes: dict[str, str] = {}
        if args.lustre is not None:
            self._pair(
                name,
                "lustre",
                SHARED_LUSTRE_PV,
                LUSTRE_CLAIM,
                lustre_pv_spec(args.lustre, args.namespace, LUSTRE_CLAIM),
                "ReadWriteMany",
                f"{args.lustre.capacity_gib}Gi",
                after,
            )
        for bucket in args.read_only_buckets:
            pv, pvc = s3_pv_name(bucket.logical_name), s3_pvc_name(bucket.logical_name)
            self._pair(name, f"s3-{bucket.logical_name}", pv, pvc, s3_pv_spec(bucket, args.namespace, pvc, args.region), "ReadOnlyMany", S3_VOLUME_SIZE, after)
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-{args.storage_class_name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.storage_class_name),
            provisioner=EBS_DRIVER,
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            reclaim_policy="Retain",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"namespace": args.namespace, "claims": self.claims, "volumes": self.volumes})

    def _pair(self, name: str, label: str, pv_name: str, pvc_name: str, pv_spec: dict, mode: str, size: str, opts) -> None:
        static_claim(f"{name}-{label}", pv_name, pvc_name, self.namespace.metadata.name, pv_spec, mode, size, opts)
        self.claims[label] = pvc_name
        self.volumes[label] = pv_name


def static_claim(
    name: str, pv_name: str, claim: str, namespace: pulumi.Input[str], pv_spec: dict, mode: str, size: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.PersistentVolumeClaim:
    """A static PersistentVolume and the claim bound to it by name (no StorageClass: nothing is provisioned).

    The claim requests the volume's size when it is created and keeps that request when the file system grows
    (ignore_changes): Kubernetes refuses to resize a claim that has no StorageClass, pulumi-kubernetes would replace
    the claim on any spec change, and a protected claim cannot be replaced. It stays bound: the volume's capacity
    (updated in place) only grows, since a smaller Lustre file system is a new file system."""
    pv = k8s.core.v1.PersistentVolume(name, metadata=k8s.meta.v1.ObjectMetaArgs(name=pv_name), spec=as_api(pv_spec), opts=opts)
    return k8s.core.v1.PersistentVolumeClaim(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=claim, namespace=namespace),
        spec=as_api({"accessModes": [mode], "storageClassName": "", "volumeName": pv.metadata.name, "resources": {"requests": {"storage": size}}}),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["spec.resources.requests.storage"])),
    )
