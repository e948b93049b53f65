"""Layer wiring: turn the spec (and derived facts) into component args, layer by layer.

Each layer takes the outputs of the layers below it — built here, or read from `stackReference`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from addons.device_plugins import DevicePluginArgs, EfaDevicePlugin, NeuronDevicePlugin, NvidiaDevicePlugin
from components.cluster import ApiAccessArgs, Cluster, ClusterArgs, SystemNodeGroupArgs
from components.karpenter import Karpenter, KarpenterArgs
from components.node_pool import NodePool, NodePoolArgs
from addons.storage_drivers import LUSTRE_CLAIM, LustreVolumeArgs, S3VolumeArgs, SharedVolumes, SharedVolumesArgs, StorageDrivers, StorageDriversArgs
from components.contracts import BucketOutputs, ClusterOutputs, LustreOutputs, NetworkOutputs, StorageOutputs
from components.labels import FSX_CSI_STARTUP_TAINT
from components.storage import BucketArgs, Buckets, EncryptionKey, Lustre, LustreArgs, RepositoryLink
from components.network import Network, NetworkArgs, SubnetLayout
from stacks import references
from stacks.derive.capacity import PREFIX_DELEGATION, instance_store_raid0, pool_capacity, pool_zones, system_ami_type
from stacks.derive.placement import lustre_zone, startup_taints
from stacks.derive.subnets import plan_subnets
from stacks.platform_addons import notebook_and_observability_addons
from stacks.platform_tenancy import tenancy_and_queues
from stacks.platform_workloads import training_and_serving_addons
from stacks.spec import PlatformSpec


@dataclass
class Built:
    """The layers available to the stack, and what it exports."""

    network: Optional[NetworkOutputs] = None
    cluster: Optional[ClusterOutputs] = None
    k8s_provider: Optional[k8s.Provider] = None
    storage: Optional[StorageOutputs] = None
    below_compute: list = field(default_factory=list)  # components built here that Karpenter must outlive
    load_balancer_controller: Optional[Any] = None  # its release: Services/Ingresses it reconciles depend on it
    monitoring: Optional[Any] = None  # the Monitoring component: ServiceMonitors of later releases wait for it
    exports: dict[str, Any] = field(default_factory=dict)


def stack_tags(spec: PlatformSpec) -> dict[str, str]:
    """The tags of every AWS resource of the stack: the provider's default tags, and the EC2NodeClass tags of what
    Karpenter launches (default tags do not reach those)."""
    return {"crucible:stack": spec.stack, "crucible:environment": spec.environment, **dict(spec.tags)}


def aws_provider(spec: PlatformSpec) -> aws.Provider:
    return aws.Provider("aws", region=spec.region, default_tags=aws.ProviderDefaultTagsArgs(tags=stack_tags(spec)))


def network_layer(spec: PlatformSpec, provider: aws.Provider) -> tuple[NetworkOutputs, Optional[Network]]:
    existing = spec.network.existing
    if existing is not None:
        return (
            NetworkOutputs(
                vpc_id=existing.vpc_id,
                vpc_cidr=existing.vpc_cidr,
                zones=spec.availability_zones,
                private_subnet_ids=existing.private_subnet_ids,
                public_subnet_ids=existing.public_subnet_ids,
            ),
            None,
        )
    layouts = [
        SubnetLayout(zone=p.zone, private_cidr=p.private_cidr, public_cidr=p.public_cidr)
        for p in plan_subnets(spec.network.vpc_cidr, spec.availability_zones)
    ]
    network = Network(
        "network",
        NetworkArgs(
            cluster_name=spec.cluster_name,
            region=spec.region,
            vpc_cidr=spec.network.vpc_cidr,
            subnets=layouts,
            nat_gateways=spec.network.nat_gateways,
            interface_endpoints=spec.network.interface_endpoints,
            flow_logs=spec.network.flow_logs,
            flow_log_retention_days=spec.network.flow_log_retention_days,
            log_key_deletion_window_days=spec.cluster.kms_key_deletion_window_days,
            protect=spec.protect,
            transit_gateway_id=spec.network.transit_gateway_id,
            connected_cidrs=spec.cluster.api_access.source_cidrs,
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )
    return network.outputs, network


def cluster_layer(spec: PlatformSpec, network: NetworkOutputs, provider: aws.Provider, network_path: Sequence[pulumi.Resource] = ()) -> Cluster:
    c = spec.cluster
    group = c.system_node_group
    return Cluster(
        "cluster",
        ClusterArgs(
            cluster_name=spec.cluster_name,
            region=spec.region,
            version=c.version,
            network=network,
            endpoint_public_access=c.endpoint_public_access,
            public_access_cidrs=c.public_access_cidrs,
            log_types=c.log_types,
            log_retention_days=c.log_retention_days,
            authentication_mode=c.authentication_mode,
            bootstrap_creator_admin=c.bootstrap_creator_admin,
            admin_role_arns=c.admin_role_arns,
            kms_key_deletion_window_days=c.kms_key_deletion_window_days,
            addon_versions=dict(c.addon_versions),
            prefix_delegation=PREFIX_DELEGATION,
            system_node_group=SystemNodeGroupArgs(
                instance_types=group.instance_types,
                ami_type=system_ami_type(group.instance_types),
                min_size=group.min_size,
                desired_size=group.desired_size,
                max_size=group.max_size,
                disk_size_gib=group.disk_size_gib,
            ),
            protect=spec.protect,
            api_access=ApiAccessArgs(
                source_security_group_ids=c.api_access.source_security_group_ids,
                source_cidrs=c.api_access.source_cidrs,
                deploy_role_arn=c.api_access.deploy_role_arn,
            ),
            create_service_linked_roles=c.create_service_linked_roles,
            network_path=tuple(network_path),
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )


def compute_layer(spec: PlatformSpec, built: Built, provider: aws.Provider) -> dict:
    """Karpenter, one NodePool/EC2NodeClass per pool, and the device plugins the pools need."""
    opts = pulumi.ResourceOptions(providers=[provider, built.k8s_provider])
    cluster, network = built.cluster, built.network
    karpenter = Karpenter(
        "karpenter",
        KarpenterArgs(
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            region=spec.region,
            system_pool=cluster.system_node_group_label,
            node_volume_kms_key_arn=cluster.node_volume_kms_key_arn,
            depends_on=tuple(built.below_compute),
        ),
        opts=opts,
    )
    pools: dict[str, Any] = {}
    for pool in spec.pools:
        capacity = pool_capacity(pool)
        zones = pool_zones(pool, spec.availability_zones)
        reservation = pool.capacity_reservation
        NodePool(
            f"pool-{pool.name}",
            NodePoolArgs(
                name=pool.name,
                kind=pool.kind,
                workload=pool.workload,
                instance_types=capacity.instance_types,
                arch=capacity.arch,
                capacity_types=pool.capacity_types,
                zones=zones,
                subnet_ids=[network.private_subnet_in(zone) for zone in zones],
                limits=capacity.limits(),
                efa_interfaces=capacity.efa_interfaces,
                max_pods=capacity.max_pods,
                ami_family=pool.ami_family,
                ami_alias=pool.ami_alias,
                root_volume_gib=pool.root_volume_gib,
                data_volume_gib=pool.data_volume_gib,
                instance_store_raid0=instance_store_raid0(pool),
                imds_hop_limit=pool.imds_hop_limit,
                node_role_name=karpenter.node_role.name,
                volume_kms_key_arn=cluster.node_volume_kms_key_arn,
                cluster_name=cluster.name,
                cluster_security_group_id=cluster.cluster_security_group_id,
                vpc_id=network.vpc_id,
                reservation_ids=reservation.ids if reservation else (),
                reservation_tags=dict(reservation.tags) if reservation else {},
                labels=dict(pool.labels),
                startup_taints=startup_taints(pool, spec),
                weight=pool.weight,
                tags=stack_tags(spec),
                karpenter=(karpenter.release,),
            ),
            opts=opts,
        )
        pools[pool.name] = {
            "limits": capacity.limits(),
            "zones": zones,
            "efaInterfacesPerNode": capacity.efa_interfaces,
            "maxPodsPerNode": capacity.max_pods,
        }
    if any(p.efa for p in spec.pools):
        EfaDevicePlugin("aws-efa-k8s-device-plugin", opts=opts)
    if any(p.kind == "gpu" and p.ami_family == "AL2023" for p in spec.pools):
        NvidiaDevicePlugin("nvidia-device-plugin", opts=opts)
    if any(p.kind == "neuron" for p in spec.pools):
        NeuronDevicePlugin("neuron", DevicePluginArgs(system_pool=cluster.system_node_group_label), opts=opts)
    return {
        "karpenter": {"version": karpenter.release.version, "interruptionQueue": karpenter.queue.name, "nodeRole": karpenter.node_role.name},
        "pools": pools,
    }


def storage_layer(spec: PlatformSpec, built: Built, provider: aws.Provider) -> StorageOutputs:
    """The storage KMS key, the S3 buckets, the Lustre file system in the training zone linked to them, the CSI
    drivers and the shared volumes."""
    storage, lustre = spec.storage, spec.storage.lustre
    aws_only = pulumi.ResourceOptions(providers=[provider])
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
    buckets = Buckets(
        "buckets",
        buckets=[
            BucketArgs(
                logical_name=b.name,
                physical_name=account_id.apply(lambda a, n=b.name: storage.physical_bucket_name(n, spec.stack.lower(), spec.region, a)),
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
                subnet_id=built.network.private_subnet_in(zone),
                vpc_id=built.network.vpc_id,
                client_security_group_ids=[built.cluster.cluster_security_group_id],
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
    opts = pulumi.ResourceOptions(providers=[provider, built.k8s_provider])
    drivers = StorageDrivers(
        "storage-drivers",
        StorageDriversArgs(
            cluster_name=built.cluster.name,
            account_id=key.account_id,
            read_only_bucket_arns=[buckets.arns[n] for n in read_only],
            kms_key_arn=key.arn,
            fsx=file_system is not None,
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
    return StorageOutputs(
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
        if file_system is not None
        else None,
        read_only_claims={n: volumes.claims[f"s3-{n}"] for n in read_only},
        read_only_volumes={n: volumes.volumes[f"s3-{n}"] for n in read_only},
        storage_class_name=storage.storage_class_name,
        lustre_startup_taint=dict(FSX_CSI_STARTUP_TAINT),
    )


def build(spec: PlatformSpec) -> Built:
    """Build every layer the spec asks for; return what upper layers and the exports need."""
    provider = aws_provider(spec)
    built = Built()
    ref = pulumi.StackReference(spec.stack_reference) if spec.stack_reference else None
    below = references.read_below(ref, spec) if ref is not None else {}  # every layer under this stack's first, checked

    network_path: list = []  # the transit gateway attachment and routes the deployer's path needs
    if spec.builds("network"):
        built.network, network = network_layer(spec, provider)
        if network is not None:
            built.below_compute.append(network)
            network_path = network.connected_path
        built.exports["network"] = built.network.export()
    else:
        built.network = references.network_from(ref, spec.availability_zones)
        built.exports["network"] = below["network"]  # re-exported: a stack above this one reads every layer below

    if spec.builds("cluster"):
        cluster = cluster_layer(spec, built.network, provider, network_path)
        built.cluster = cluster.outputs
        built.k8s_provider = cluster.provider
        built.below_compute.append(cluster)
        built.exports["cluster"] = built.cluster.export()
        built.exports["kubeconfig"] = built.cluster.kubeconfig
    elif any(spec.builds(layer) for layer in ("compute", "storage", "platform")):
        built.cluster = references.cluster_from(ref)
        built.k8s_provider = k8s.Provider("cluster-k8s", kubeconfig=built.cluster.kubeconfig, enable_server_side_apply=True)
        built.exports["cluster"] = below["cluster"]
        built.exports["kubeconfig"] = built.cluster.kubeconfig

    if spec.builds("compute"):
        built.exports["compute"] = compute_layer(spec, built, provider)
    elif "compute" in references.layers_below(spec):
        built.exports["compute"] = below["compute"]

    if spec.builds("storage"):
        built.storage = storage_layer(spec, built, provider)
        built.exports["storage"] = built.storage.export()
    elif "storage" in references.layers_below(spec):
        built.storage = references.storage_from(below["storage"])  # the platform mounts what the storage stack built
        built.exports["storage"] = below["storage"]

    if spec.builds("platform"):
        built.exports["workloads"] = training_and_serving_addons(spec, built, [provider, built.k8s_provider])
        built.exports["addons"] = notebook_and_observability_addons(spec, built, [provider, built.k8s_provider])
        if spec.teams:
            built.exports["tenancy"] = tenancy_and_queues(spec, built, [provider, built.k8s_provider])
    return built
