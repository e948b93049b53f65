"""What each layer hands the layers above it.

A layer built in this stack fills these from its component's outputs; a layer built in another stack fills
them from that stack's exports (stacks/references.py). Upper layers depend only on these shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi


@dataclass(frozen=True)
class NetworkOutputs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    zones: tuple[str, ...]
    private_subnet_ids: tuple[pulumi.Input[str], ...]  # one per zone, in zone order
    public_subnet_ids: tuple[pulumi.Input[str], ...]

    def private_subnet_in(self, zone: str) -> pulumi.Input[str]:
        return self.private_subnet_ids[self.zones.index(zone)]

    def export(self) -> dict:
        return {
            "vpcId": self.vpc_id,
            "vpcCidr": self.vpc_cidr,
            "zones": list(self.zones),
            "privateSubnetIds": list(self.private_subnet_ids),
            "publicSubnetIds": list(self.public_subnet_ids),
        }


@dataclass(frozen=True)
class ClusterOutputs:
    name: pulumi.Input[str]
    endpoint: pulumi.Input[str]
    certificate_authority: pulumi.Input[str]
    version: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]  # Kubernetes secrets
    node_volume_kms_key_arn: pulumi.Input[str]  # node EBS volumes (system nodes and Karpenter pools)
    system_node_group_label: str  # nodes of the system node group carry crucible.io/pool=<this>
    kubeconfig: pulumi.Input[str]  # secret; exported on its own so the rest of the cluster outputs stay readable

    def export(self) -> dict:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "certificateAuthority": self.certificate_authority,
            "version": self.version,
            "oidcIssuer": self.oidc_issuer,
            "clusterSecurityGroupId": self.cluster_security_group_id,
            "kmsKeyArn": self.kms_key_arn,
            "nodeVolumeKmsKeyArn": self.node_volume_kms_key_arn,
            "systemNodeGroupLabel": self.system_node_group_label,
        }


@dataclass(frozen=True)
class BucketOutputs:
    name: pulumi.Input[str]  # physical bucket name
    arn: pulumi.Input[str]


@dataclass(frozen=True)
class LustreOutputs:
    """What a namespace needs to mount the shared file system with its own static PersistentVolume + claim
    (a PersistentVolume binds exactly one claim, and claims are namespaced): driver `fsx.csi.aws.com`,
    `volumeHandle: <file_system_id>`, `volumeAttributes: {dnsname, mountname}`, ReadWriteMany, Retain,
    storageClassName "". Pods of training namespaces then mount it like the shared `<namespace>/<pvc_name>` claim."""

    file_system_id: pulumi.Input[str]
    dns_name: pulumi.Input[str]
    mount_name: pulumi.Input[str]
    capacity_gib: int
    zone: str
    security_group_id: pulumi.Input[str]
    pv_name: str  # the shared PersistentVolume (cluster-scoped)
    pvc_name: str  # its claim, in StorageOutputs.namespace

    def volume_attributes(self) -> dict:
        return {"dnsname": self.dns_name, "mountname": self.mount_name}


@dataclass(frozen=True)
class StorageOutputs:
    namespace: str  # the shared data namespace holding the claims below
    kms_key_arn: pulumi.Input[str]
    buckets: dict  # logical name (datasets, checkpoints, artifacts) -> BucketOutputs
    lustre: Optional[LustreOutputs]
    read_only_claims: dict  # logical bucket name -> PVC of its read-only Mountpoint volume (in `namespace`)
    read_only_volumes: dict  # logical bucket name -> its PersistentVolume
    storage_class_name: str  # gp3, encrypted, Retain, WaitForFirstConsumer: for user volumes
    lustre_startup_taint: dict  # Karpenter startupTaint for pools that mount Lustre (see stacks/derive/placement.py)

    def export(self) -> dict:
        out = {
            "namespace": self.namespace,
            "kmsKeyArn": self.kms_key_arn,
            "buckets": {k: {"name": b.name, "arn": b.arn} for k, b in self.buckets.items()},
            "readOnlyClaims": dict(self.read_only_claims),
            "readOnlyVolumes": dict(self.read_only_volumes),
            "storageClassName": self.storage_class_name,
            "lustreStartupTaint": dict(self.lustre_startup_taint),
        }
        if self.lustre is not None:
            out["lustre"] = {
                "fileSystemId": self.lustre.file_system_id,
                "dnsName": self.lustre.dns_name,
                "mountName": self.lustre.mount_name,
                "capacityGib": self.lustre.capacity_gib,
                "zone": self.lustre.zone,
                "securityGroupId": self.lustre.security_group_id,
                "pvName": self.lustre.pv_name,
                "pvcName": self.lustre.pvc_name,
            }
        return out
