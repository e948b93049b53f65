"""The network layer: the VPC with its subnets, NAT, endpoints and flow logs — or an existing VPC, described."""

from __future__ import annotations

import pulumi

from components.contracts import NetworkOutputs
from components.network import Network, NetworkArgs, SubnetLayout
from stacks.derive.subnets import plan_subnets
from stacks.layers.base import Below, Built
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: Below) -> Built[NetworkOutputs]:
    existing = spec.network.existing
    if existing is not None:
        return Built(
            NetworkOutputs(
                vpc_id=existing.vpc_id,
                vpc_cidr=existing.vpc_cidr,
                zones=spec.availability_zones,
                private_subnet_ids=existing.private_subnet_ids,
                public_subnet_ids=existing.public_subnet_ids,
            )
        )
    layouts = [
        SubnetLayout(zone=p.zone, private_cidr=p.private_cidr, public_cidr=p.public_cidr) for p in plan_subnets(spec.network.vpc_cidr, spec.availability_zones)
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
            permissions_boundary=spec.permissions_boundary,
        ),
        opts=pulumi.ResourceOptions(providers=[below.aws_provider]),
    )
    return Built(network.outputs, network_path=tuple(network.connected_path), foundation=(network,))
