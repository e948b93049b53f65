"""What each layer hands the layers above it: one typed contract per layer, both ways.

A layer built in this stack fills its contract from its components' outputs and `export()`s it as stack outputs
(`stack_outputs()`: the output names in `OUTPUTS`); a layer built in another stack is read back from that stack's
outputs with `from_reference(ref)` (ref: a :class:`Reference`, stacks/layers/reference.py). Export and read-back sit
side by side so they cannot drift apart; tests/test_layer_contracts.py round-trips each one. Upper layers depend only
on these shapes. Nothing here imports `stacks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Optional, Protocol

import pulumi

from components.labels import SYSTEM_POOL


class ContractError(ValueError):
    """A referenced stack's output does not have the shape of the layer's contract."""


class Reference(Protocol):
    """The outputs of the stack a layer was built in."""

    def output(self, name: str) -> pulumi.Output:
        """The stack output as an Output (secretness kept): for values resources take as inputs."""
        ...

    def value(self, name: str) -> Any:
        """The stack output's plain value: for what decides which resources exist (which buckets, which pools)."""
        ...


class LayerContract(Protocol):
    """What every layer's outputs are: exported as stack outputs, read back from a reference."""

    OUTPUTS: ClassVar[tuple[str, ...]]  # the stack outputs it exports
    REQUIRED: ClassVar[tuple[str, ...]]  # those a referenced stack must have

    def stack_outputs(self) -> dict[str, Any]: ...

    @classmethod
    def from_reference(cls, ref: Reference) -> "LayerContract": ...


def _mapping(ref: Reference, name: str) -> Mapping[str, Any]:
    value = ref.value(name)
    if not isinstance(value, Mapping):
        raise ContractError(f"stack output {name!r} is not a mapping (got {type(value).__name__})")
    return value


def _keys(value: Mapping[str, Any], where: str, *keys: str) -> None:
    missing = [k for k in keys if k not in value]
    if missing:
        raise ContractError(f"stack output {where} lacks {', '.join(repr(k) for k in missing)}")


@dataclass(frozen=True)
class NetworkOutputs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    zones: tuple[str, ...]
    private_subnet_ids: tuple[pulumi.Input[str], ...]  # one per zone, in zone order
    public_subnet_ids: tuple[pulumi.Input[str], ...]

    def private_subnet_in(self, zone: str) -> pulumi.Input[str]:
        return self.private_subnet_ids[self.zones.index(zone)]

    OUTPUTS: ClassVar[tuple[str, ...]] = ("network",)
    REQUIRED: ClassVar[tuple[str, ...]] = OUTPUTS  # what a stack above needs from a referenced stack

    def stack_outputs(self) -> dict[str, Any]:
        return {"network": self.export()}

    @classmethod
    def from_reference(cls, ref: Reference) -> "NetworkOutputs":
        """Subnet ids and the VPC as Outputs of the reference; the zones as plain values (they decide placement)."""
        plain = _mapping(ref, "network")
        _keys(plain, "'network'", "vpcId", "vpcCidr", "zones", "privateSubnetIds", "publicSubnetIds")
        zones = tuple(plain["zones"])
        network = ref.output("network")

        def private_subnet(i: int) -> pulumi.Output[str]:
            return network.apply(lambda n: n["privateSubnetIds"][i])

        def public_subnet(i: int) -> pulumi.Output[str]:
            return network.apply(lambda n: n["publicSubnetIds"][i] if n["publicSubnetIds"] else "")

        return cls(
            vpc_id=network.apply(lambda n: n["vpcId"]),
            vpc_cidr=network.apply(lambda n: n["vpcCidr"]),
            zones=zones,
            private_subnet_ids=tuple(private_subnet(i) for i in range(len(zones))),
            public_subnet_ids=tuple(public_subnet(i) for i in range(len(zones))),
        )

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

    OUTPUTS: ClassVar[tuple[str, ...]] = ("cluster", "kubeconfig")
    REQUIRED: ClassVar[tuple[str, ...]] = OUTPUTS  # what a stack above needs from a referenced stack

    def stack_outputs(self) -> dict[str, Any]:
        return {"cluster": self.export(), "kubeconfig": self.kubeconfig}

    @classmethod
    def from_reference(cls, ref: Reference) -> "ClusterOutputs":
        plain = _mapping(ref, "cluster")
        _keys(
            plain,
            "'cluster'",
            "name",
            "endpoint",
            "certificateAuthority",
            "version",
            "oidcIssuer",
            "clusterSecurityGroupId",
            "kmsKeyArn",
            "nodeVolumeKmsKeyArn",
        )
        cluster = ref.output("cluster")

        def field_(key: str) -> pulumi.Output:
            return cluster.apply(lambda c: c[key])

        return cls(
            name=field_("name"),
            endpoint=field_("endpoint"),
            certificate_authority=field_("certificateAuthority"),
            version=field_("version"),
            oidc_issuer=field_("oidcIssuer"),
            cluster_security_group_id=field_("clusterSecurityGroupId"),
            kms_key_arn=field_("kmsKeyArn"),
            node_volume_kms_key_arn=field_("nodeVolumeKmsKeyArn"),
            system_node_group_label=str(plain.get("systemNodeGroupLabel") or SYSTEM_POOL),
            kubeconfig=pulumi.Output.secret(ref.output("kubeconfig")),
        )

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

    OUTPUTS: ClassVar[tuple[str, ...]] = ("storage",)
    REQUIRED: ClassVar[tuple[str, ...]] = OUTPUTS  # what a stack above needs from a referenced stack

    def stack_outputs(self) -> dict[str, Any]:
        return {"storage": self.export()}

    @classmethod
    def from_reference(cls, ref: Reference) -> "StorageOutputs":
        """Read back whole, as plain values: buckets, Lustre, shared claims (the platform mounts what storage built)."""
        storage = _mapping(ref, "storage")
        _keys(storage, "'storage'", "namespace", "kmsKeyArn", "buckets", "readOnlyClaims", "readOnlyVolumes", "storageClassName", "lustreStartupTaint")
        lustre = storage.get("lustre")
        return cls(
            namespace=storage["namespace"],
            kms_key_arn=storage["kmsKeyArn"],
            buckets={name: BucketOutputs(name=b["name"], arn=b["arn"]) for name, b in storage["buckets"].items()},
            lustre=LustreOutputs(
                file_system_id=lustre["fileSystemId"],
                dns_name=lustre["dnsName"],
                mount_name=lustre["mountName"],
                capacity_gib=lustre["capacityGib"],
                zone=lustre["zone"],
                security_group_id=lustre["securityGroupId"],
                pv_name=lustre["pvName"],
                pvc_name=lustre["pvcName"],
            )
            if lustre
            else None,
            read_only_claims=dict(storage["readOnlyClaims"]),
            read_only_volumes=dict(storage["readOnlyVolumes"]),
            storage_class_name=storage["storageClassName"],
            lustre_startup_taint=dict(storage["lustreStartupTaint"]),
        )

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


@dataclass(frozen=True)
class PoolOutputs:
    """One Karpenter pool as the compute layer built it."""

    limits: Mapping[str, Any]  # NodePool spec.limits (cpu, memory, accelerators)
    zones: tuple[str, ...]
    efa_interfaces_per_node: int
    max_pods_per_node: int

    def export(self) -> dict:
        return {
            "limits": dict(self.limits),
            "zones": list(self.zones),
            "efaInterfacesPerNode": self.efa_interfaces_per_node,
            "maxPodsPerNode": self.max_pods_per_node,
        }

    @classmethod
    def from_export(cls, pool: Mapping[str, Any], where: str) -> "PoolOutputs":
        _keys(pool, where, "limits", "zones", "efaInterfacesPerNode", "maxPodsPerNode")
        return cls(
            limits=dict(pool["limits"]),
            zones=tuple(pool["zones"]),
            efa_interfaces_per_node=pool["efaInterfacesPerNode"],
            max_pods_per_node=pool["maxPodsPerNode"],
        )


@dataclass(frozen=True)
class KarpenterOutputs:
    version: pulumi.Input[Optional[str]]  # the chart version installed
    interruption_queue: pulumi.Input[str]  # SQS queue of spot interruption and rebalance events
    node_role: pulumi.Input[str]  # IAM role name of the nodes Karpenter launches

    def export(self) -> dict:
        return {"version": self.version, "interruptionQueue": self.interruption_queue, "nodeRole": self.node_role}


@dataclass(frozen=True)
class ComputeOutputs:
    """Karpenter and its pools (name -> PoolOutputs, in config order)."""

    karpenter: KarpenterOutputs
    pools: Mapping[str, PoolOutputs] = field(default_factory=dict)

    OUTPUTS: ClassVar[tuple[str, ...]] = ("compute",)
    REQUIRED: ClassVar[tuple[str, ...]] = OUTPUTS  # what a stack above needs from a referenced stack

    def export(self) -> dict:
        return {"karpenter": self.karpenter.export(), "pools": {name: p.export() for name, p in self.pools.items()}}

    def stack_outputs(self) -> dict[str, Any]:
        return {"compute": self.export()}

    @classmethod
    def from_reference(cls, ref: Reference) -> "ComputeOutputs":
        compute = _mapping(ref, "compute")
        _keys(compute, "'compute'", "karpenter", "pools")
        karpenter = compute["karpenter"]
        _keys(karpenter, "'compute.karpenter'", "version", "interruptionQueue", "nodeRole")
        return cls(
            karpenter=KarpenterOutputs(karpenter["version"], karpenter["interruptionQueue"], karpenter["nodeRole"]),
            pools={name: PoolOutputs.from_export(p, f"'compute.pools.{name}'") for name, p in compute["pools"].items()},
        )


@dataclass(frozen=True)
class PlatformOutputs:
    """What the platform layer exports: the training and serving add-ons (`workloads`), the notebook, observability
    and pipeline add-ons (`addons`) and, when teams are set, Kueue and the teams (`tenancy`). Each a mapping of
    add-on export key -> what it exports (stacks/layers/platform/registry.py)."""

    workloads: Mapping[str, Any]
    addons: Mapping[str, Any]
    tenancy: Optional[Mapping[str, Any]] = None

    OUTPUTS: ClassVar[tuple[str, ...]] = ("workloads", "addons", "tenancy")
    REQUIRED: ClassVar[tuple[str, ...]] = ("workloads", "addons")  # tenancy only with teams

    def stack_outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"workloads": dict(self.workloads), "addons": dict(self.addons)}
        if self.tenancy is not None:
            out["tenancy"] = dict(self.tenancy)
        return out

    def export(self) -> dict:
        return self.stack_outputs()

    @classmethod
    def from_reference(cls, ref: Reference) -> "PlatformOutputs":
        workloads, addons = _mapping(ref, "workloads"), _mapping(ref, "addons")
        try:
            tenancy = ref.value("tenancy")
        except KeyError:
            tenancy = None
        return cls(workloads=dict(workloads), addons=dict(addons), tenancy=dict(tenancy) if tenancy is not None else None)
