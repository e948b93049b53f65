"""The network layer, as registered."""

from __future__ import annotations

import ipaddress

from helpers import plan
from stacks.derive.subnets import plan_subnets

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def test_subnets_do_not_overlap_and_private_ones_are_large():
    layout = plan_subnets("10.0.0.0/16", ("a", "b", "c"))
    nets = [ipaddress.ip_network(c) for p in layout for c in (p.private_cidr, p.public_cidr)]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert all(ipaddress.ip_network(p.private_cidr).num_addresses >= 16384 for p in layout)


def test_one_private_and_one_public_subnet_per_zone():
    run = plan("prod")
    subnets = run.of_type(SUBNET)
    zones = {"us-east-1a", "us-east-1b", "us-east-1c"}
    private = [s for s in subnets if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    public = [s for s in subnets if "kubernetes.io/role/elb" in s.inputs["tags"]]
    assert {s.inputs["availabilityZone"] for s in private} == zones
    assert {s.inputs["availabilityZone"] for s in public} == zones
    assert all(not s.inputs.get("mapPublicIpOnLaunch") for s in subnets)


def test_private_subnets_are_discoverable_by_karpenter():
    run = plan("dev", stack="lab")
    private = [s for s in run.of_type(SUBNET) if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    assert all(s.inputs["tags"]["karpenter.sh/discovery"] == "crucible-lab" for s in private)


def test_prod_has_a_nat_gateway_per_zone_and_dev_one():
    assert len(plan("prod").of_type(NAT)) == 3
    assert len(plan("dev").of_type(NAT)) == 1


def test_s3_gateway_endpoint_always_and_interface_endpoints_as_configured():
    dev = plan("dev", network={"interfaceEndpoints": ["sts", "ecr.api"]})
    services = sorted(e.inputs["serviceName"] for e in dev.of_type(ENDPOINT))
    assert services == ["com.amazonaws.us-west-2.ecr.api", "com.amazonaws.us-west-2.s3", "com.amazonaws.us-west-2.sts"]
    interface = [e for e in dev.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]
    assert all(e.inputs["privateDnsEnabled"] for e in interface)


def test_flow_logs_in_prod():
    run = plan("prod")
    (flow,) = run.of_type("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    assert not plan("dev").of_type("aws:ec2/flowLog:FlowLog")


def test_default_security_group_is_emptied():
    (sg,) = plan("dev").of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert sg.inputs.get("ingress", []) == [] and sg.inputs.get("egress", []) == []


def test_existing_vpc_creates_no_network_resources():
    run = plan(
        "dev",
        network={"existing": {"vpcId": "vpc-0abc", "privateSubnetIds": ["subnet-0a", "subnet-0b"], "vpcCidr": "10.9.0.0/16"}},
    )
    assert not run.of_type(VPC) and not run.of_type(SUBNET)
    cluster = run.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == ["subnet-0a", "subnet-0b"]


def test_every_network_resource_is_parented_to_the_network_component():
    run = plan("dev")
    component = run.one("crucible:network:Network")
    for r in run.of_type(VPC) + run.of_type(SUBNET) + run.of_type(NAT):
        assert r.parent == component.urn
