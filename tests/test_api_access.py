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
RUNNER_SG = "sg-0a1b2c3d4e5f60718"  # helpers.BASE["prod"]
DEPLOY_ROLE = "arn:aws:iam::111122223333:role/crucible-deploy"
VPN = "10.100.0.0/16"


def problems(env: str = "dev", **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_spec(stack_config(env, **overrides), "test")
    return {p.path: p.message for p in caught.value.problems}


def loads(env: str = "dev", **overrides) -> None:
    load_spec(stack_config(env, **overrides), "test")


@functools.lru_cache(maxsize=None)
def prod_with_vpn():
    return plan("prod", cluster={"apiAccess": {"sourceCidrs": [VPN]}})


def api_rules(run):
    group = run.one(CLUSTER).outputs["vpcConfig"]["clusterSecurityGroupId"]
    # the API's port only: the cluster security group also admits the Lustre servers (988, 1018-1023)
    return [r for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == group and r.inputs.get("fromPort") == 443]


# ---- the access model in the spec --------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_private_endpoint_without_a_declared_network_is_refused_outside_dev(env):
    found = problems("prod", environment=env, cluster={"apiAccess": {"sourceSecurityGroupIds": []}})
    assert "crucible:cluster.apiAccess" in found
    assert "sourceSecurityGroupIds" in found["crucible:cluster.apiAccess"] and "sourceCidrs" in found["crucible:cluster.apiAccess"]


def test_dev_may_keep_a_private_endpoint_without_a_declared_network():
    loads("dev", cluster={"endpointPublicAccess": False, "publicAccessCidrs": []})


def test_either_a_security_group_or_a_connected_network_declares_the_path():
    loads("prod", cluster={"apiAccess": {"sourceSecurityGroupIds": [], "sourceCidrs": [VPN]}})
    loads("prod", cluster={"apiAccess": {"sourceSecurityGroupIds": [RUNNER_SG]}})


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


def test_each_declared_network_gets_https_to_the_cluster_security_group():
    rules = {(r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4")): r.inputs for r in api_rules(prod_with_vpn())}
    assert set(rules) == {RUNNER_SG, VPN}
    for rule in rules.values():
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)


def test_the_kubernetes_provider_waits_for_the_network_path_and_the_access_entries():
    run = prod_with_vpn()
    provider = run.one("pulumi:providers:kubernetes", "cluster-k8s")
    needed = {r.urn for r in api_rules(run)} | {a.urn for a in run.of_type(ASSOCIATION)}
    assert needed <= set(provider.dependencies)


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
    from stacks.harness import run_program
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
