"""The network section: the VPC Crucible builds, or the one you bring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from stacks.spec.checks import PRIVATE_IPV4_RANGES, aws_id, ipv4_cidr, log_retention_days, private_cidr
from stacks.spec.schema import ByEnv, Context, all_of, did_you_mean, each, each_rule, setting, show, unique

INTERFACE_ENDPOINT_SERVICES = (
    "ecr.api",
    "ecr.dkr",
    "sts",
    "ec2",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "logs",
    "elasticloadbalancing",
    "autoscaling",
    "eks",
    "eks-auth",
    "sqs",
    "kms",
    "fsx",
)

PROD_INTERFACE_ENDPOINTS = ["ecr.api", "ecr.dkr", "sts", "ec2", "ssm", "logs", "eks-auth", "sqs"]


@dataclass(frozen=True)
class ExistingVpc:
    """Bring your own VPC: Crucible creates no VPC, subnets, gateways or endpoints."""

    vpc_id: str = setting("Id of the existing VPC.", check=aws_id("vpc-"))
    private_subnet_ids: tuple[str, ...] = setting(
        "Private subnet ids, one per availability zone, in the order of `crucible:availabilityZones`.",
        check=all_of(each(aws_id("subnet-")), unique),
    )
    public_subnet_ids: tuple[str, ...] = setting(
        "Public subnet ids (for internet-facing load balancers), same order; may be empty.",
        default=[],
        check=all_of(each(aws_id("subnet-")), unique),
    )
    vpc_cidr: str = setting("The VPC's CIDR block (used for security-group rules).", check=ipv4_cidr(8, 28))


@dataclass(frozen=True)
class NetworkSpec:
    vpc_cidr: str = setting(
        "VPC CIDR block. Private subnets get a quarter of it per AZ (large node counts), public subnets a /6 slice.",
        default="10.0.0.0/16",
        check=ipv4_cidr(16, 20),
    )
    nat_gateways: Literal["single", "perAz"] = setting(
        "NAT gateways: one per AZ (survives an AZ outage) or a single shared one (cheaper).",
        default=ByEnv(dev="single", prod="perAz"),
    )
    interface_endpoints: tuple[str, ...] = setting(
        "VPC interface endpoints to create (private API access without NAT). Allowed: "
        + ", ".join(INTERFACE_ENDPOINT_SERVICES)
        + ". An S3 gateway endpoint is always created.",
        default=ByEnv(dev=[], prod=PROD_INTERFACE_ENDPOINTS),
        check=all_of(unique),
    )
    flow_logs: bool = setting("VPC flow logs to CloudWatch Logs.", default=ByEnv(dev=False, prod=True))
    flow_log_retention_days: int = setting(
        "Retention of the flow-log group in days.",
        default=ByEnv(dev=7, prod=90),
        check=log_retention_days,
    )
    existing: Optional[ExistingVpc] = setting("Use an existing VPC instead of creating one (see the `existing.*` keys).", default=None)
    transit_gateway_id: Optional[str] = setting(
        "Transit gateway (tgw-<hex>) that connects the VPC Crucible builds to your company network: Crucible attaches "
        "the private subnets (one per zone) and, in every private route table, routes each "
        "`cluster.apiAccess.sourceCidrs` block to it (the API's replies to the deployer and kubectl users). The network "
        "team associates the attachment with a transit gateway route table and propagates the VPC CIDR; a transit "
        "gateway of another account is shared with RAM and the attachment accepted. Not with `existing` (the VPC's "
        "owner attaches and routes it).",
        default=None,
        check=aws_id("tgw-"),
    )
    allow_non_private_cidr: bool = setting(
        "Allow a VPC CIDR (`vpcCidr`, `existing.vpcCidr`) outside the private ranges ("
        + ", ".join(PRIVATE_IPV4_RANGES)
        + "). Off: a public range in a VPC shadows those internet addresses for every node and pod. Turn on only "
        "for address space your organisation owns (BYOIP) and routes on purpose; the policy pack still reports such a "
        "VPC (SEC-NET-004, advisory).",
        default=False,
    )

    def check(self, ctx: Context, path: str) -> None:
        each_rule(lambda: self._check_private(ctx, path), lambda: self._check_endpoints(ctx, path), lambda: self._check_transit(ctx, path))

    def _check_transit(self, ctx: Context, path: str) -> None:
        if self.transit_gateway_id is not None and self.existing is not None:
            ctx.problem(
                f"{path}.transitGatewayId",
                f"got {show(self.transit_gateway_id)} with {path}.existing: Crucible attaches and routes only a VPC it builds; "
                "allowed: remove it (the existing VPC's owner attaches it to the transit gateway and routes the connected networks)",
            )

    def _check_private(self, ctx: Context, path: str) -> None:
        if self.allow_non_private_cidr:
            return
        cidrs = [("vpcCidr", self.vpc_cidr)]
        if self.existing is not None:
            cidrs.append(("existing.vpcCidr", self.existing.vpc_cidr))
        for key, cidr in cidrs:
            if not private_cidr(cidr):
                ctx.problem(
                    f"{path}.{key}",
                    f"got {show(cidr)}, outside the private ranges; allowed: a block inside {', '.join(PRIVATE_IPV4_RANGES)}, "
                    f"or set {path}.allowNonPrivateCidr: true for address space you own and route on purpose",
                )

    def _check_endpoints(self, ctx: Context, path: str) -> None:
        for i, service in enumerate(self.interface_endpoints):
            if service not in INTERFACE_ENDPOINT_SERVICES:
                ctx.problem(
                    f"{path}.interfaceEndpoints[{i}]",
                    f"got {show(service)}; allowed: {', '.join(INTERFACE_ENDPOINT_SERVICES)}{did_you_mean(service, INTERFACE_ENDPOINT_SERVICES)}",
                )
