"""The network layer: a VPC over 2-3 AZs with private and public subnets, NAT, endpoints and flow logs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.contracts import NetworkOutputs
from components.kms import customer_key, logs_use_key
from components.labels import ELB_ROLE_TAG, INTERNAL_ELB_ROLE_TAG, KARPENTER_DISCOVERY_TAG, cluster_tag
from components.network_transit import attach_transit_gateway
from components.partitions import partition_of


@dataclass(frozen=True)
class SubnetLayout:
    zone: str
    private_cidr: str
    public_cidr: str


@dataclass(frozen=True)
class NetworkArgs:
    cluster_name: str
    region: str
    vpc_cidr: str
    subnets: Sequence[SubnetLayout]
    nat_gateways: Literal["single", "perAz"]
    interface_endpoints: Sequence[str]
    flow_logs: bool
    flow_log_retention_days: int
    log_key_deletion_window_days: int  # the flow-log group's customer managed key
    protect: bool
    transit_gateway_id: Optional[str] = None  # attach the private subnets and route `connected_cidrs` to it
    connected_cidrs: Sequence[str] = ()  # company networks the API answers (cluster.apiAccess.sourceCidrs)
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)


class Network(pulumi.ComponentResource):
    """VPC, subnets (tagged for Karpenter and load balancers), NAT, S3 gateway and interface endpoints."""

    outputs: NetworkOutputs

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:network:Network", name, None, opts)
        self._region = args.region
        child = pulumi.ResourceOptions(parent=self)
        tags = {"Name": args.cluster_name}

        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags,
            opts=child,
        )
        # Own the default security group and leave it empty: nothing can use it by accident.
        aws.ec2.DefaultSecurityGroup(f"{name}-default", vpc_id=self.vpc.id, ingress=[], egress=[], tags=tags, opts=child)
        igw = aws.ec2.InternetGateway(name, vpc_id=self.vpc.id, tags=tags, opts=child)

        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=self.vpc.id, tags={**tags, "Name": f"{args.cluster_name}-public"}, opts=child)
        aws.ec2.Route(f"{name}-public-internet", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id, opts=child)

        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        private_route_tables: list[aws.ec2.RouteTable] = []
        nat_ids: list[pulumi.Output[str]] = []
        for i, layout in enumerate(args.subnets):
            public = aws.ec2.Subnet(
                f"{name}-public-{layout.zone}",
                vpc_id=self.vpc.id,
                cidr_block=layout.public_cidr,
                availability_zone=layout.zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{args.cluster_name}-public-{layout.zone}", ELB_ROLE_TAG: "1", cluster_tag(args.cluster_name): "shared"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{layout.zone}", subnet_id=public.id, route_table_id=public_rt.id, opts=child)
            self.public_subnets.append(public)

            if args.nat_gateways == "perAz" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{layout.zone}", domain="vpc", tags=tags, opts=child)
                nat = aws.ec2.NatGateway(
                    f"{name}-{layout.zone}",
                    allocation_id=eip.id,
                    subnet_id=public.id,
                    tags={**tags, "Name": f"{args.cluster_name}-nat-{layout.zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                nat_ids.append(nat.id)

            private = aws.ec2.Subnet(
                f"{name}-private-{layout.zone}",
                vpc_id=self.vpc.id,
                cidr_block=layout.private_cidr,
                availability_zone=layout.zone,
                map_public_ip_on_launch=False,
                tags={
                    **tags,
                    "Name": f"{args.cluster_name}-private-{layout.zone}",
                    INTERNAL_ELB_ROLE_TAG: "1",
                    KARPENTER_DISCOVERY_TAG: args.cluster_name,
                    cluster_tag(args.cluster_name): "shared",
                },
                opts=child,
            )
            route_table = aws.ec2.RouteTable(
                f"{name}-private-{layout.zone}", vpc_id=self.vpc.id, tags={**tags, "Name": f"{args.cluster_name}-private-{layout.zone}"}, opts=child
            )
            aws.ec2.Route(
                f"{name}-private-{layout.zone}-nat",
                route_table_id=route_table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_ids[-1],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{layout.zone}", subnet_id=private.id, route_table_id=route_table.id, opts=child)
            self.private_subnets.append(private)
            private_route_tables.append(route_table)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=self._endpoint_service("s3", "Gateway"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_route_tables],
            tags={**tags, "Name": f"{args.cluster_name}-s3"},
            opts=child,
        )
        if args.interface_endpoints:
            self._interface_endpoints(name, args, tags)
        if args.flow_logs:
            self._flow_logs(name, args, tags)
        # The attachment and return routes to connected networks (the Kubernetes provider waits for them).
        self.connected_path: list[pulumi.Resource] = []
        if args.transit_gateway_id:
            self.connected_path = attach_transit_gateway(
                self,
                name,
                transit_gateway_id=args.transit_gateway_id,
                vpc_id=self.vpc.id,
                subnet_ids=[s.id for s in self.private_subnets],
                route_table_ids=[(layout.zone, rt.id) for layout, rt in zip(args.subnets, private_route_tables)],
                destinations=args.connected_cidrs,
                tags=tags,
            )

        self.outputs = NetworkOutputs(
            vpc_id=self.vpc.id,
            vpc_cidr=self.vpc.cidr_block,
            zones=tuple(layout.zone for layout in args.subnets),
            private_subnet_ids=tuple(s.id for s in self.private_subnets),
            public_subnet_ids=tuple(s.id for s in self.public_subnets),
        )
        self.register_outputs(self.outputs.export())

    def _interface_endpoints(self, name: str, args: NetworkArgs, tags: dict) -> None:
        child = pulumi.ResourceOptions(parent=self)
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            description="HTTPS from inside the VPC to AWS interface endpoints",
            vpc_id=self.vpc.id,
            tags={**tags, "Name": f"{args.cluster_name}-endpoints"},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=args.vpc_cidr,
            description="HTTPS from the VPC",
            opts=child,
        )
        for service in args.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=self._endpoint_service(service, "Interface"),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[sg.id],
                tags={**tags, "Name": f"{args.cluster_name}-{service}"},
                opts=child,
            )

    def _endpoint_service(self, service: str, kind: str) -> pulumi.Output[str]:
        """The endpoint service name of ``service`` in this region, as EC2 lists it: com.amazonaws.<region>.<service>
        in most partitions, but cn.com.amazonaws.<region>.<service> for many interface services in China, and not for
        all. The lookup filters on both spellings: the data source's `service` argument would build
        com.amazonaws.<region>.<service> itself and find nothing for those China services (terraform-provider-aws
        vpc_endpoint_service_data_source.go; hashicorp/terraform-provider-aws#17640)."""
        names = partition_of(self._region).endpoint_service_names(service, self._region)
        found = aws.ec2.get_vpc_endpoint_service_output(
            service_type=kind,
            filters=[aws.ec2.GetVpcEndpointServiceFilterArgs(name="service-name", values=names)],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return found.service_name

    def _flow_logs(self, name: str, args: NetworkArgs, tags: dict) -> None:
        child = pulumi.ResourceOptions(parent=self)
        partition = partition_of(args.region)
        group_name = f"/crucible/{args.cluster_name}/vpc-flow-logs"
        # Encrypted with its own key, which admits CloudWatch Logs for this group only; the key (policy inline) is an
        # input of the group, so it is created, with its policy, first.
        key = customer_key(
            f"{name}-flow-logs",
            description=f"VPC flow logs of {args.cluster_name} (CloudWatch Logs {group_name})",
            alias=f"{args.cluster_name}-flow-logs",
            account_id=aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id,
            partition=partition,
            deletion_window_days=args.log_key_deletion_window_days,
            protect=args.protect,
            parent=self,
            tags=tags,
            extra_statements=logs_use_key(partition, args.region, group_name),
        )
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=group_name,
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=key.arn,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": partition_of(args.region).service_principal("vpc-flow-logs")}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )
