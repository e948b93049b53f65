"""Carve the VPC CIDR into per-AZ private and public subnets.

Private subnets (nodes and pods, VPC CNI gives every pod a VPC address) get a quarter of the VPC each —
a /18 of a /16 holds 16,382 addresses. Public subnets (NAT gateways and internet-facing load balancers)
are small: /22 slices of the last quarter.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class SubnetPlan:
    zone: str
    private_cidr: str
    public_cidr: str


def plan_subnets(vpc_cidr: str, zones: tuple[str, ...]) -> list[SubnetPlan]:
    if not 1 <= len(zones) <= 3:
        raise ValueError(f"plan_subnets supports 1 to 3 zones, got {len(zones)}")
    vpc = ipaddress.IPv4Network(vpc_cidr)  # a VPC's primary CIDR block is IPv4
    quarters = list(vpc.subnets(prefixlen_diff=2))
    public_slices = list(quarters[3].subnets(prefixlen_diff=4))
    return [SubnetPlan(zone=zone, private_cidr=str(quarters[i]), public_cidr=str(public_slices[i])) for i, zone in enumerate(zones)]
