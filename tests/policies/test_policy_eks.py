"""SEC-EKS-001 ... SEC-EKS-008."""

from policy_builder import UNKNOWN, k8s, link, messages, res, verdicts

CLUSTER = "aws:eks/cluster:Cluster"


def cluster(name="eks", **overrides):
    inputs = {
        "version": "1.34",
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:111122223333:key/k"}},
        "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["subnet-1"]},
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
        "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    }
    inputs.update(overrides)
    return res(CLUSTER, name, inputs)


def admin(principal="arn:aws:iam::111122223333:role/PlatformAdmin", name="admin"):
    return res(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        name,
        {
            "clusterName": "eks",
            "principalArn": principal,
            "accessScope": {"type": "cluster"},
            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        },
    )


# SEC-EKS-001
def test_secrets_encryption_passes_with_a_key_even_when_its_arn_is_unknown_at_preview():
    c = cluster(encryptionConfig={"resources": ["secrets"], "provider": {"keyArn": UNKNOWN}})
    assert verdicts("sec-eks-001-secrets-encryption", [c]) == []


def test_secrets_encryption_fires_without_encryption_config_or_without_a_key():
    bare = cluster("bare", encryptionConfig=None)
    keyless = cluster("keyless", encryptionConfig={"resources": ["secrets"]})
    assert verdicts("sec-eks-001-secrets-encryption", [bare, keyless]) == [("bare", "mandatory"), ("keyless", "mandatory")]


# SEC-EKS-002
def test_private_endpoint_passes_in_prod_when_private_only():
    assert verdicts("sec-eks-002-private-endpoint", [cluster()]) == []


def test_private_endpoint_fires_in_prod_for_a_public_endpoint_even_when_cidr_restricted():
    c = cluster(vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]})
    assert verdicts("sec-eks-002-private-endpoint", [c]) == [("eks", "mandatory")]


def test_private_endpoint_fires_when_public_access_is_left_to_the_eks_default():
    c = cluster(vpcConfig={"endpointPrivateAccess": True})
    assert verdicts("sec-eks-002-private-endpoint", [c]) == [("eks", "mandatory")]


def test_dev_allows_a_cidr_restricted_public_endpoint():
    c = cluster(vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]})
    assert verdicts("sec-eks-002-private-endpoint", [c], env="dev") == []


def test_dev_refuses_a_public_endpoint_open_to_the_internet_or_without_cidrs():
    world = cluster("world", vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]})
    unset = cluster("unset", vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": True})
    assert verdicts("sec-eks-002-private-endpoint", [world, unset], env="dev") == [("unset", "mandatory"), ("world", "mandatory")]


def test_private_endpoint_fires_when_the_private_endpoint_is_off():
    c = cluster(vpcConfig={"endpointPrivateAccess": False, "endpointPublicAccess": False})
    assert verdicts("sec-eks-002-private-endpoint", [c]) == [("eks", "mandatory")]


# SEC-EKS-003
def test_prod_requires_all_five_log_types():
    c = cluster(enabledClusterLogTypes=["api", "audit", "authenticator"])
    assert verdicts("sec-eks-003-control-plane-logs", [c]) == [("eks", "mandatory")]
    assert verdicts("sec-eks-003-control-plane-logs", [cluster()]) == []


def test_dev_accepts_three_log_types_and_only_advises_below():
    three = cluster("three", enabledClusterLogTypes=["api", "audit", "authenticator"])
    none = cluster("none", enabledClusterLogTypes=[])
    assert verdicts("sec-eks-003-control-plane-logs", [three, none], env="dev") == [("none", "advisory")]


# SEC-EKS-004
def test_access_entries_pass_with_api_mode_no_creator_admin_and_a_platform_role():
    assert verdicts("sec-eks-004-access-entries", [cluster(), admin()]) == []


def test_access_entries_fire_for_config_map_mode_creator_admin_and_no_admin_role():
    c = cluster(accessConfig={"authenticationMode": "CONFIG_MAP"})
    assert verdicts("sec-eks-004-access-entries", [c]) == [("eks", "mandatory")] * 3


def test_cluster_admin_granted_to_a_user_fires():
    user = admin("arn:aws:iam::111122223333:user/alice", name="alice")
    assert verdicts("sec-eks-004-access-entries", [cluster(), admin(), user]) == [("alice", "mandatory")]


def test_admin_role_created_in_the_stack_passes_while_its_arn_is_unknown():
    role = res("aws:iam/role:Role", "platform-admin", {"assumeRolePolicy": "{}"})
    association = link(admin(UNKNOWN), "principalArn", role)
    assert verdicts("sec-eks-004-access-entries", [cluster(), role, association]) == []


def test_unknown_admin_principal_not_from_the_stack_is_reported_as_cannot_judge():
    assert verdicts("sec-eks-004-access-entries", [cluster(), admin(UNKNOWN)]) == [("", "advisory")]


def test_dev_allows_creator_admin_and_only_advises():
    c = cluster(accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True})
    assert verdicts("sec-eks-004-access-entries", [c], env="dev") == []
    assert verdicts("sec-eks-004-access-entries", [cluster(accessConfig={})], env="dev") == [("eks", "advisory")]


# SEC-EKS-005
def test_supported_version_advises_on_old_or_unpinned_versions():
    old = cluster("old", version="1.27")
    unpinned = cluster("unpinned", version=None)
    assert verdicts("sec-eks-005-supported-version", [old, unpinned, cluster()]) == [("old", "advisory"), ("unpinned", "advisory")]


def test_supported_version_list_is_configurable():
    assert verdicts("sec-eks-005-supported-version", [cluster()], config={"sec-eks-005-supported-version": {"allowedVersions": ["1.35"]}}) == [
        ("eks", "advisory")
    ]


# SEC-EKS-006
def cni(values='{"enableNetworkPolicy": "true"}'):
    return res("aws:eks/addon:Addon", "vpc-cni", {"addonName": "vpc-cni", "clusterName": "eks", "configurationValues": values})


NETPOL = k8s("networking.k8s.io/v1", "NetworkPolicy", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def test_network_policies_pass_when_the_cni_enforces_them():
    assert verdicts("sec-eks-006-network-policy-enforcement", [cluster(), cni(), NETPOL]) == []


def test_network_policies_fire_when_the_cni_does_not_enforce_them():
    assert verdicts("sec-eks-006-network-policy-enforcement", [cluster(), cni('{"env": {}}'), NETPOL]) == [("vpc-cni", "mandatory")]


def test_network_policies_fire_when_the_cluster_has_no_managed_cni():
    assert verdicts("sec-eks-006-network-policy-enforcement", [cluster(), NETPOL]) == [("eks", "mandatory")]


def test_network_policies_in_a_stack_without_the_cluster_are_judged_where_the_cluster_lives():
    assert verdicts("sec-eks-006-network-policy-enforcement", [NETPOL]) == []


# SEC-EKS-007
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def api_rule(cluster_res, name="api-from-runner", **inputs):
    """An ingress rule on the cluster security group (its id comes from the cluster: unknown at preview)."""
    rule = res(
        INGRESS_RULE,
        name,
        {"securityGroupId": UNKNOWN, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "referencedSecurityGroupId": "sg-0a1b2c3d4e5f60718", **inputs},
    )
    return link(rule, "securityGroupId", cluster_res)


def test_api_access_path_passes_with_a_443_rule_from_a_declared_network():
    c = cluster()
    vpn = api_rule(c, "api-from-vpn", referencedSecurityGroupId=None, cidrIpv4="10.100.0.0/16")
    assert verdicts("sec-eks-007-api-access-path", [c, api_rule(c)]) == []
    assert verdicts("sec-eks-007-api-access-path", [c, vpn]) == []


def test_api_access_path_fires_for_a_private_endpoint_nobody_outside_can_reach():
    c = cluster()
    other_port = api_rule(c, "ssh", fromPort=22, toPort=22)
    self_rule = link(api_rule(c, "self", referencedSecurityGroupId=UNKNOWN), "referencedSecurityGroupId", c)
    assert verdicts("sec-eks-007-api-access-path", [c]) == [("eks", "mandatory")]
    assert verdicts("sec-eks-007-api-access-path", [c, other_port, self_rule]) == [("eks", "mandatory")]
    assert "crucible:cluster.apiAccess" in messages("sec-eks-007-api-access-path", [c])[0]


def test_api_access_path_leaves_public_endpoints_to_sec_eks_002_and_only_advises_in_dev():
    public = cluster(vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]})
    assert verdicts("sec-eks-007-api-access-path", [public]) == []
    assert verdicts("sec-eks-007-api-access-path", [cluster()], env="dev") == [("eks", "advisory")]


# SEC-EKS-008
VPN = "10.100.0.0/16"


def vpc_with_cluster(*route_targets: dict, destination: str = VPN):
    """A VPC this stack builds: a private subnet, its route table (default route to the NAT gateway, plus one route to
    ``destination`` per target), and a private-only cluster admitting ``VPN`` on 443."""
    subnet = res("aws:ec2/subnet:Subnet", "private-a", {"cidrBlock": "10.30.0.0/18"})
    table = res("aws:ec2/routeTable:RouteTable", "private-a", {})
    association = link(
        link(res("aws:ec2/routeTableAssociation:RouteTableAssociation", "private-a", {"subnetId": UNKNOWN, "routeTableId": UNKNOWN}), "subnetId", subnet),
        "routeTableId",
        table,
    )
    nat = link(
        res("aws:ec2/route:Route", "private-a-nat", {"routeTableId": UNKNOWN, "destinationCidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"}),
        "routeTableId",
        table,
    )
    routes = [
        link(res("aws:ec2/route:Route", f"private-a-{i}", {"routeTableId": UNKNOWN, "destinationCidrBlock": destination, **target}), "routeTableId", table)
        for i, target in enumerate(route_targets)
    ]
    c = link(cluster(vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": [UNKNOWN]}), "vpcConfig", subnet)
    rule = api_rule(c, "api-from-vpn", referencedSecurityGroupId=None, cidrIpv4=VPN)
    return [subnet, table, association, nat, *routes, c, rule]


def test_api_return_route_passes_when_the_admitted_network_is_routed_to_a_transit_gateway():
    assert verdicts("sec-eks-008-api-return-route", vpc_with_cluster({"transitGatewayId": "tgw-0123456789abcdef0"})) == []
    assert verdicts("sec-eks-008-api-return-route", vpc_with_cluster({"gatewayId": "vgw-0123"}, destination="10.0.0.0/8")) == []  # a covering block


def test_api_return_route_fires_when_the_replies_would_go_to_the_nat_gateway():
    assert verdicts("sec-eks-008-api-return-route", vpc_with_cluster()) == [("eks", "mandatory")]
    # a route to the NAT gateway or an internet gateway does not bring the reply back either
    assert verdicts("sec-eks-008-api-return-route", vpc_with_cluster({"natGatewayId": "nat-1"}, {"gatewayId": "igw-1"})) == [("eks", "mandatory")]
    message = messages("sec-eks-008-api-return-route", vpc_with_cluster())[0]
    assert VPN in message and "private-a" in message and "crucible:network.transitGatewayId" in message


def test_api_return_route_leaves_a_vpc_of_another_stack_to_its_owner_and_advises_in_dev():
    c = cluster()  # its subnets are not resources of this stack (network.existing or a stack reference)
    assert verdicts("sec-eks-008-api-return-route", [c, api_rule(c, "api-from-vpn", referencedSecurityGroupId=None, cidrIpv4=VPN)]) == []
    assert verdicts("sec-eks-008-api-return-route", vpc_with_cluster(), env="dev") == [("eks", "advisory")]


def test_api_access_path_does_not_count_a_rule_from_ranges_no_client_is_in():
    c = cluster()
    loopback = api_rule(c, "loopback", referencedSecurityGroupId=None, cidrIpv4="127.0.0.1/32")
    company = api_rule(c, "company", referencedSecurityGroupId=None, cidrIpv4="192.168.0.0/16")
    assert verdicts("sec-eks-007-api-access-path", [c, loopback]) == [("eks", "mandatory")]
    assert verdicts("sec-eks-007-api-access-path", [c, loopback, company]) == []


def test_api_return_route_reads_inline_routes_and_the_vpc_main_table():
    # the route back may be an inline route of the subnet's table, or live on the main table a subnet without an
    # explicit association uses (VPC user guide: "a subnet not explicitly associated uses the main route table")
    from shapes_endpoints import unassociated

    tgw = {"transitGatewayId": "tgw-0123456789abcdef0"}
    inline = vpc_with_cluster()
    table = next(r for r in inline if r["type"] == "aws:ec2/routeTable:RouteTable")
    table["inputs"]["routes"] = [{"cidrBlock": VPN, **tgw}]
    assert verdicts("sec-eks-008-api-return-route", inline) == []
    assert verdicts("sec-eks-008-api-return-route", unassociated({"destinationCidrBlock": VPN, **tgw})) == []
    assert verdicts("sec-eks-008-api-return-route", unassociated({"cidrBlock": "10.0.0.0/8", **tgw}, main=True)) == []
