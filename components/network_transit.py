"""The network's way back to a connected company network: a transit gateway attachment of the private subnets and,
in every private route table, a route per connected block to the transit gateway.

Without the route the endpoint's replies to a deployer in e.g. 10.100.0.0/16 follow the private route tables'
default route to the NAT gateway and are lost; a security-group rule alone admits traffic that can never be answered.
What the network team does on its side (not in this stack): associate the attachment with a transit gateway route
table and propagate the VPC's CIDR to the route table the company network uses; a transit gateway of another account
is shared with AWS RAM and this attachment accepted there (unless auto-accept is on) before traffic flows.
"""

from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_aws as aws


def attach_transit_gateway(
    parent: pulumi.Resource,
    name: str,
    *,
    transit_gateway_id: str,
    vpc_id: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    route_table_ids: Sequence[tuple[str, pulumi.Input[str]]],
    destinations: Sequence[str],
    tags: dict,
) -> list[pulumi.Resource]:
    """Attach the VPC (one private subnet per zone: the attachment gets an interface in each zone it serves) and route
    each destination from every private route table (zone, id) to the transit gateway. Returns the attachment and the
    routes: whatever must reach a connected network depends on them.

    The default route table association and propagation are left to the transit gateway's own settings: they cannot
    be set on a transit gateway shared with RAM (pulumi-aws ec2transitgateway.VpcAttachment docs)."""
    child = pulumi.ResourceOptions(parent=parent)
    attachment = aws.ec2transitgateway.VpcAttachment(
        f"{name}-tgw",
        transit_gateway_id=transit_gateway_id,
        vpc_id=vpc_id,
        subnet_ids=list(subnet_ids),
        dns_support="enable",
        tags={**tags, "Name": f"{tags.get('Name', name)}-tgw"},
        opts=child,
    )
    path: list[pulumi.Resource] = [attachment]
    for zone, table_id in route_table_ids:
        for cidr in destinations:
            v6 = ":" in cidr
            path.append(
                aws.ec2.Route(
                    f"{name}-private-{zone}-tgw-{cidr.replace('/', '-').replace(':', '_')}",
                    route_table_id=table_id,
                    destination_cidr_block=None if v6 else cidr,
                    destination_ipv6_cidr_block=cidr if v6 else None,
                    transit_gateway_id=transit_gateway_id,
                    # EC2 refuses a route to a transit gateway the VPC is not attached to yet.
                    opts=pulumi.ResourceOptions(parent=parent, depends_on=[attachment]),
                )
            )
    return path
