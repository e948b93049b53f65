"""The compute layer: Karpenter, one NodePool/EC2NodeClass per pool, and the device plugins the pools need."""

from __future__ import annotations

from addons.node_health import NodeMonitoringAgent
from addons.device_plugins import CONFIG_LABEL, DevicePluginArgs, EfaDevicePlugin, NeuronDevicePlugin, NvidiaDevicePlugin
from components.contracts import ComputeOutputs, KarpenterOutputs, PoolOutputs
from components.karpenter import Karpenter, KarpenterArgs
from components.node_pool import NodePool, NodePoolArgs
from stacks.derive.capacity import instance_store_raid0, pool_capacity, pool_zones, sharing_replicas
from stacks.derive.image_pull import pull_mode
from stacks.derive.placement import boot_labels, startup_taints
from stacks.layers.base import Below, Built, stack_tags
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: Below) -> Built[ComputeOutputs]:
    opts = below.opts()
    cluster, network = below.require_cluster(), below.require_network()
    karpenter = Karpenter(
        "karpenter",
        KarpenterArgs(
            cluster_name=cluster.name,
            cluster_endpoint=cluster.endpoint,
            region=spec.region,
            system_pool=cluster.system_node_group_label,
            node_volume_kms_key_arn=cluster.node_volume_kms_key_arn,
            static_capacity=any(p.static for p in spec.pools),
            node_overlay=any(pool_capacity(p).advertised_per_type() for p in spec.pools),
            depends_on=tuple(below.foundation),
            permissions_boundary=spec.permissions_boundary,
        ),
        opts=opts,
    )
    pools: dict[str, PoolOutputs] = {}
    for pool in spec.pools:
        capacity = pool_capacity(pool)
        zones = pool_zones(pool, spec.availability_zones)
        reservation = pool.capacity_reservation
        # A static NodePool takes only a node limit (CRD CEL rule); the spec requires maxNodes with replicas.
        limits = {"nodes": str(pool.max_nodes)} if pool.static else capacity.limits()
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
                limits=limits,
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
                labels={**pool.labels, **({CONFIG_LABEL: pool.name} if sharing_replicas(pool) > 1 else {})},  # the device plugin config it runs
                startup_taints=startup_taints(pool, spec),
                boot_labels=boot_labels(pool, spec),
                soci_parallel_pull=pull_mode(pool).parallel,
                weight=pool.weight,
                replicas=pool.replicas,
                tags=stack_tags(spec),
                karpenter=(karpenter.release,),
                advertised_accelerators=capacity.advertised_per_type(),
            ),
            opts=opts,
        )
        pools[pool.name] = PoolOutputs(
            limits=capacity.limits(), zones=tuple(zones), efa_interfaces_per_node=capacity.efa_interfaces, max_pods_per_node=capacity.max_pods
        )
    if spec.pools:
        # Node health conditions for Karpenter's node repair (components/karpenter.py REPAIR_POLICIES).
        NodeMonitoringAgent("node-monitoring-agent", cluster.name, opts=opts)
    if any(p.efa for p in spec.pools):
        EfaDevicePlugin("aws-efa-k8s-device-plugin", opts=opts)
    if any(p.kind == "gpu" and p.ami_family == "AL2023" for p in spec.pools):
        NvidiaDevicePlugin("nvidia-device-plugin", opts=opts, sharing={p.name: sharing_replicas(p) for p in spec.pools if sharing_replicas(p) > 1})
    if any(p.kind == "neuron" for p in spec.pools):
        NeuronDevicePlugin("neuron", DevicePluginArgs(system_pool=cluster.system_node_group_label), opts=opts)
    return Built(
        ComputeOutputs(
            karpenter=KarpenterOutputs(version=karpenter.release.version, interruption_queue=karpenter.queue.name, node_role=karpenter.node_role.name),
            pools=pools,
        )
    )
