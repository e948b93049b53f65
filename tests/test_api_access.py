"""The deploy path into the cluster: who reaches the Kubernetes API, from where, with which identity (issue 12, A1),
and the cluster settings that must be refused before any resource (issue 12, E: the cluster items)."""

from __future__ import annotations

import functools

import pytest

from helpers import plan, stack_config
from stacks.spec import ConfigError, load_spec
from stacks.spec.cluster import ClusterSpec

CLUSTER = "aws:eks/cluster:Cluster"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
ATTACHMENT = "aws:ec2transitgateway/vpcAttachment:VpcAttachment"
ROUTE = "aws:ec2/route:Route"
RUNNER_SG = "sg-0a1b2c3d4e5f60718"  # a runner's group in an existing VPC
DEPLOY_ROLE = "arn:aws:iam::111122223333:role/crucible-deploy"
VPN = "10.100.0.0/16"  # helpers.BASE["prod"]: the company network, over the transit gateway
TGW = "tgw-0123456789abcdef0"  # helpers.BASE["prod"]
EXISTING = {
    "existing": {
        "vpcId": "vpc-0a1b2c3d4e5f60718",
        "privateSubnetIds": ["subnet-0a1", "subnet-0b2", "subnet-0c3"],
        "vpcCidr": "10.9.0.0/16",
    }
}
# A runner in an existing VPC, admitted by its security group (no transit gateway: Crucible routes no VPC it did not build).
IN_EXISTING_VPC = dict(network=EXISTING, drop=("network.transitGatewayId",), cluster={"apiAccess": {"sourceSecurityGroupIds": [RUNNER_SG], "sourceCidrs": []}})


def problems(env: str = "dev", **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_spec(stack_config(env, **overrides), "test")
    return {p.path: p.message for p in caught.value.problems}


def loads(env: str = "dev", **overrides) -> None:
    load_spec(stack_config(env, **overrides), "test")


@functools.lru_cache(maxsize=None)
def prod_with_vpn():
    return plan("prod")  # BASE: the company network over the transit gateway


@functools.lru_cache(maxsize=None)
def prod_in_existing_vpc():
    return plan("prod", **IN_EXISTING_VPC)


def api_rules(run):
    group = run.one(CLUSTER).outputs["vpcConfig"]["clusterSecurityGroupId"]
    # the API's port only: the cluster security group also admits the Lustre servers (988, 1018-1023)
    return [r for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == group and r.inputs.get("fromPort") == 443]


# ---- the access model in the spec --------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_private_endpoint_without_a_declared_network_is_refused_outside_dev(env):
    found = problems("prod", environment=env, cluster={"apiAccess": {"sourceCidrs": []}})
    assert "crucible:cluster.apiAccess" in found
    assert "sourceSecurityGroupIds" in found["crucible:cluster.apiAccess"] and "sourceCidrs" in found["crucible:cluster.apiAccess"]


def test_dev_may_keep_a_private_endpoint_without_a_declared_network():
    loads("dev", cluster={"endpointPublicAccess": False, "publicAccessCidrs": []})


def test_either_a_security_group_or_a_connected_network_declares_the_path():
    loads("prod", cluster={"apiAccess": {"sourceSecurityGroupIds": [], "sourceCidrs": [VPN]}})
    loads("prod", **IN_EXISTING_VPC)


# ---- a way in that works on the first `pulumi up` (issue 12, A1 follow-up) ----------------------------------------


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_runner_group_is_refused_where_the_stack_builds_its_vpc(env):
    # The group of a runner "in the VPC" cannot exist before the VPC this run creates; a group of another, unpeered
    # VPC is refused by EC2 (InvalidGroup.NotFound).
    found = problems("prod", environment=env, cluster={"apiAccess": {"sourceSecurityGroupIds": [RUNNER_SG]}})
    message = found["crucible:cluster.apiAccess.sourceSecurityGroupIds"]
    assert RUNNER_SG in message and "InvalidGroup.NotFound" in message and "network.existing" in message


def test_a_runner_group_is_accepted_on_a_network_read_from_a_stack_reference():
    spec = load_spec(
        stack_config(
            "prod",
            layers=["cluster", "compute", "storage", "platform"],
            stackReference="acme/crucible/prod-network",
            cluster={"apiAccess": {"sourceSecurityGroupIds": [RUNNER_SG], "sourceCidrs": []}},
        ),
        "prod-cluster",
    )
    assert spec.cluster.api_access.source_security_group_ids == (RUNNER_SG,)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_connected_network_needs_a_transit_gateway_where_the_stack_builds_its_vpc(env):
    # Without a route the API's replies to 10.100.0.0/16 take the private route tables' default route to the NAT gateway.
    found = problems("prod", environment=env, drop=("network.transitGatewayId",))
    message = found["crucible:cluster.apiAccess.sourceCidrs"]
    assert VPN in message and "network.transitGatewayId" in message and "NAT" in message


def test_a_connected_network_with_an_existing_vpc_is_routed_by_its_owner():
    loads("prod", network=EXISTING, drop=("network.transitGatewayId",))


def test_dev_may_declare_a_connected_network_without_a_transit_gateway():
    loads("dev", cluster={"endpointPublicAccess": False, "publicAccessCidrs": [], "apiAccess": {"sourceCidrs": [VPN]}})


def test_a_transit_gateway_with_an_existing_vpc_is_refused():
    found = problems("prod", network=EXISTING)
    assert "existing VPC's owner" in found["crucible:network.transitGatewayId"]


def test_a_transit_gateway_in_a_stack_that_reads_its_network_is_refused():
    # the network section (its transit gateway included) belongs to the stack that builds the VPC
    found = problems(
        "prod", layers=["cluster", "compute", "storage", "platform"], stackReference="acme/crucible/prod-network", network={"transitGatewayId": TGW}
    )
    assert "does not build the network layer" in found["crucible:network"]


@pytest.mark.parametrize("value", ["tgw_0123", "tgw-", "vpc-0123456789abcdef0", "tgw-XYZ"])
def test_a_bad_transit_gateway_id_is_refused(value):
    assert "tgw-<hex>" in problems("prod", network={"transitGatewayId": value})["crucible:network.transitGatewayId"]


def test_a_group_and_an_unrouted_network_are_reported_in_one_pass():
    found = problems("prod", drop=("network.transitGatewayId",), cluster={"apiAccess": {"sourceSecurityGroupIds": [RUNNER_SG]}})
    assert {"crucible:cluster.apiAccess.sourceSecurityGroupIds", "crucible:cluster.apiAccess.sourceCidrs"} <= set(found)


def test_the_vpc_is_attached_to_the_transit_gateway_on_its_private_subnets():
    run = prod_with_vpn()
    attachment = run.one(ATTACHMENT)
    assert attachment.inputs["transitGatewayId"] == TGW
    private = {s.urn for s in run.of_type("aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in s.inputs["tags"]}
    assert len(private) == 3 and set(attachment.property_dependencies["subnetIds"]) == private  # one subnet per zone
    assert attachment.property_dependencies["vpcId"] == [run.one("aws:ec2/vpc:Vpc").urn]
    assert attachment.parent == run.one("crucible:network:Network").urn


def test_every_private_route_table_routes_the_connected_network_to_the_transit_gateway():
    run = prod_with_vpn()
    attachment = run.one(ATTACHMENT)
    private_tables = {t.urn for t in run.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name}
    routes = [r for r in run.of_type(ROUTE) if r.inputs.get("transitGatewayId")]
    assert len(private_tables) == 3
    assert sorted((r.property_dependencies["routeTableId"][0], r.inputs["destinationCidrBlock"]) for r in routes) == sorted(
        (table, VPN) for table in private_tables
    )
    assert all(r.inputs["transitGatewayId"] == TGW and attachment.urn in r.dependencies for r in routes)  # attached first


def test_without_a_transit_gateway_nothing_is_attached():
    run = plan("dev")
    assert run.of_type(ATTACHMENT) == [] and not [r for r in run.of_type(ROUTE) if r.inputs.get("transitGatewayId")]


def test_the_kubernetes_provider_waits_for_the_attachment_and_the_return_routes():
    run = prod_with_vpn()
    provider = run.one("pulumi:providers:kubernetes", "cluster-k8s")
    path = {run.one(ATTACHMENT).urn} | {r.urn for r in run.of_type(ROUTE) if r.inputs.get("transitGatewayId")}
    assert len(path) == 4 and path <= set(provider.dependencies)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_deploy_role_is_required_outside_dev_without_creator_admin(env):
    found = problems("prod", environment=env, cluster={"apiAccess": {"deployRoleArn": None}})
    assert "401" in found["crucible:cluster.apiAccess.deployRoleArn"]


def test_a_deploy_role_beside_creator_admin_is_refused():
    # The creator's bootstrap entry and an explicit entry for the same principal collide (pulumi/pulumi-eks#2373).
    found = problems("dev", cluster={"apiAccess": {"deployRoleArn": DEPLOY_ROLE}})
    assert "bootstrapCreatorAdmin" in found["crucible:cluster.apiAccess.deployRoleArn"]


@pytest.mark.parametrize(
    "access, key, words",
    [
        ({"sourceSecurityGroupIds": ["sg_123"]}, "crucible:cluster.apiAccess.sourceSecurityGroupIds", "sg-<hex>"),
        ({"sourceCidrs": ["0.0.0.0/0"]}, "crucible:cluster.apiAccess.sourceCidrs", "never every address"),
        ({"sourceCidrs": ["10.100.0.0/33"]}, "crucible:cluster.apiAccess.sourceCidrs", "not a valid CIDR"),
        ({"deployRoleArn": "arn:aws:iam::111122223333:user/deployer"}, "crucible:cluster.apiAccess.deployRoleArn", "IAM role ARN"),
    ],
)
def test_bad_access_values_are_refused_with_their_key(access, key, words):
    found = problems("prod", cluster={"apiAccess": access})
    assert words in found[key]


# ---- what the access model registers ------------------------------------------------------------------------------


@pytest.mark.parametrize("run_of, source", [(prod_with_vpn, VPN), (prod_in_existing_vpc, RUNNER_SG)], ids=["network", "group"])
def test_each_declared_network_gets_https_to_the_cluster_security_group(run_of, source):
    rules = {(r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4")): r.inputs for r in api_rules(run_of())}
    assert set(rules) == {source}
    for rule in rules.values():
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)


@pytest.mark.parametrize("run_of", [prod_with_vpn, prod_in_existing_vpc], ids=["network", "group"])
def test_the_kubernetes_provider_waits_for_the_network_path_and_the_access_entries(run_of):
    run = run_of()
    provider = run.one("pulumi:providers:kubernetes", "cluster-k8s")
    needed = {r.urn for r in api_rules(run)} | {a.urn for a in run.of_type(ASSOCIATION)}
    assert api_rules(run) and needed <= set(provider.dependencies)


def test_the_deploy_role_gets_a_cluster_admin_access_entry():
    run = prod_with_vpn()
    (entry,) = [e for e in run.of_type(ENTRY) if e.inputs["principalArn"] == DEPLOY_ROLE]
    assert entry.inputs["type"] == "STANDARD"
    (association,) = [a for a in run.of_type(ASSOCIATION) if a.inputs["principalArn"] == DEPLOY_ROLE]
    assert association.inputs["policyArn"] == ADMIN_POLICY and association.inputs["accessScope"] == {"type": "cluster"}


def test_a_deploy_role_that_is_also_an_admin_has_one_entry():
    run = plan("prod", cluster={"adminRoleArns": [DEPLOY_ROLE]})
    assert [e.inputs["principalArn"] for e in run.of_type(ENTRY) if e.inputs["type"] == "STANDARD"] == [DEPLOY_ROLE]


def test_dev_with_a_public_endpoint_adds_no_ingress_to_the_cluster_group():
    assert api_rules(plan("dev")) == []


# ---- create-only: bootstrapCreatorAdmin (issue 12, C9) ------------------------------------------------------------


def test_creator_admin_is_create_only_and_later_changes_are_ignored():
    # A change of bootstrapClusterCreatorAdminPermissions "forces replacement" of the cluster
    # (hashicorp/terraform-provider-aws#35824, pulumi/pulumi-aws#3997).
    cluster = prod_with_vpn().one(CLUSTER)
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in cluster.ignore_changes
    doc = next(f.metadata["doc"] for f in ClusterSpec.__dataclass_fields__.values() if f.name == "bootstrap_creator_admin")
    assert "Create-only" in doc and "replace the cluster" in doc


# ---- service-linked roles of a new account (issue 12, A3) ----------------------------------------------------------


def test_service_linked_roles_are_created_only_on_request_and_retained():
    assert plan("dev").of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole") == []
    run = plan("dev", cluster={"createServiceLinkedRoles": True})
    roles = run.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert sorted(r.inputs["awsServiceName"] for r in roles) == ["autoscaling.amazonaws.com", "spot.amazonaws.com"]
    assert all(r.retain_on_delete for r in roles)
    key = run.one("aws:kms/key:Key", "cluster-node-volumes")  # its policy names the Auto Scaling role
    assert {r.urn for r in roles} <= set(key.dependencies)


# ---- cluster configs refused before any resource (issue 12, E) -----------------------------------------------------


def test_a_dev_split_stack_without_the_cluster_layer_can_be_configured():
    spec = load_spec(stack_config("dev", layers=["compute", "storage", "platform"], stackReference="dev-core", drop=("cluster",)), "dev-platform")
    assert not spec.builds("cluster")


def test_a_dev_split_stack_plans_on_top_of_its_core():
    core = plan("dev", stack="dev-core", layers=["network", "cluster"])
    config = stack_config("dev", layers=["compute", "storage", "platform"], stackReference="dev-core", drop=("cluster",))
    from stacks.tools.harness import run_program
    from stacks.program import main

    run = run_program(main, stack="dev-platform", config=config, region="us-west-2", stack_outputs={"dev-core": core.raw_outputs})
    assert run.of_type("aws:fsx/lustreFileSystem:LustreFileSystem")


@pytest.mark.parametrize("cidr", ["10.1.0.0/16", "172.16.4.0/24", "192.168.1.0/24", "100.64.0.0/10", "100.100.0.0/16", "127.0.0.1/32", "169.254.0.0/16"])
def test_public_access_cidrs_must_be_public_ranges(cidr):
    found = problems("dev", cluster={"publicAccessCidrs": [cidr]})
    assert "non-public range" in found["crucible:cluster.publicAccessCidrs"]
    assert cidr in found["crucible:cluster.publicAccessCidrs"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_public_endpoint_open_to_the_internet_is_refused_outside_dev(env):
    found = problems("prod", environment=env, cluster={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]})
    assert "must not be open to the internet" in found["crucible:cluster.publicAccessCidrs"]


@pytest.mark.parametrize("version", ["latest", "", "1.20.4", "v1.20", "v1.20.4", "v1.20.4-eksbuild", "v1.20.4-eksbuild.x"])
def test_addon_versions_must_be_concrete(version):
    found = problems("dev", cluster={"addonVersions": {"vpc-cni": version}})
    assert "v<major>.<minor>.<patch>-eksbuild.<n>" in found["crucible:cluster.addonVersions.vpc-cni"]


def test_a_concrete_addon_version_is_accepted():
    loads("dev", cluster={"addonVersions": {"vpc-cni": "v1.20.4-eksbuild.1", "coredns": "v1.12.1-eksbuild.2"}})


# ---- the read-only preview role ----------------------------------------------------------------------------------

PREVIEW_ROLE = "arn:aws:iam::111122223333:role/crucible-preview"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


@functools.lru_cache(maxsize=None)
def prod_with_preview_role():
    return plan("prod", cluster={"apiAccess": {"previewRoleArn": PREVIEW_ROLE}})


def test_the_preview_role_gets_an_access_entry_with_the_view_policy_at_cluster_scope():
    run = prod_with_preview_role()
    (association,) = [a for a in run.of_type(ASSOCIATION) if a.inputs["principalArn"] == PREVIEW_ROLE]
    assert association.inputs["policyArn"] == VIEW_POLICY
    assert association.inputs["accessScope"] == {"type": "cluster"}
    assert [e.inputs["type"] for e in run.of_type(ENTRY) if e.inputs["principalArn"] == PREVIEW_ROLE] == ["STANDARD"]


def test_the_preview_role_never_gets_the_admin_policy():
    run = prod_with_preview_role()
    assert not [a for a in run.of_type(ASSOCIATION) if a.inputs["principalArn"] == PREVIEW_ROLE and a.inputs["policyArn"] == ADMIN_POLICY]


def test_no_preview_entry_without_a_preview_role():
    assert not [a for a in prod_with_vpn().of_type(ASSOCIATION) if a.inputs["policyArn"] == VIEW_POLICY]


@pytest.mark.parametrize(
    "cluster, why",
    [
        ({"apiAccess": {"previewRoleArn": DEPLOY_ROLE}}, "also deployRoleArn"),
        ({"apiAccess": {"previewRoleArn": "arn:aws:iam::111122223333:role/PlatformAdmin"}}, "also in adminRoleArns"),
        ({"apiAccess": {"previewRoleArn": "arn:aws-cn:iam::111122223333:role/crucible-preview"}}, "partition"),
        ({"apiAccess": {"previewRoleArn": "arn:aws:iam::111122223333:user/previewer"}}, "IAM role ARN"),
    ],
)
def test_a_preview_role_that_is_not_its_own_read_only_role_of_the_partition_is_refused(cluster, why):
    assert why in problems("prod", cluster=cluster)["crucible:cluster.apiAccess.previewRoleArn"]
