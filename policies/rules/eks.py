"""EKS control plane: secrets encryption, endpoint exposure, audit logs, access management, version,
network-policy enforcement and a network path to a private endpoint (SEC-EKS-001 ... SEC-EKS-007)."""

from __future__ import annotations

import ipaddress
import json

from pulumi_policy import EnforcementLevel

from policies.support.cidrs import reaches_internet
from policies.support.iam_documents import parse_document
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.security_groups import SEPARATE_RULES, SgRule, separate_rule
from policies.support.tokens import (
    EKS_ACCESS_POLICY_ASSOCIATION,
    EKS_ADDON,
    EKS_CLUSTER,
    IAM_ROLE,
    NETWORK_POLICY,
    SUBNET,
    one_of,
)
from policies.support.values import Unknown, as_dict, as_list, dig, flag, is_set, known, text

ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
SUPPORTED_VERSIONS = ["1.31", "1.32", "1.33", "1.34", "1.35"]
ADMIN_ACCESS_POLICIES = ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy")


# SEC-EKS-001 ---------------------------------------------------------------------------------------------------
def _secrets_encrypted(cluster: Res, ctx: Ctx) -> None:
    config = as_dict(cluster.get("encryptionConfig"))
    resources = [known(r) for r in as_list(config.get("resources"))]
    if "secrets" not in resources:
        ctx.violation(
            cluster,
            'Kubernetes secrets are not envelope-encrypted: set encryptionConfig.resources = ["secrets"] with '
            "encryptionConfig.provider.keyArn = <customer managed KMS key ARN> (it cannot be added to a cluster "
            "later without a migration; the cluster component always sets it).",
        )
    elif not is_set(dig(config, "provider", "keyArn")):
        ctx.violation(
            cluster,
            "secrets encryption names no KMS key: set encryptionConfig.provider.keyArn to a customer managed key.",
        )


SEC_EKS_001 = resource_policy(
    rule_id="SEC-EKS-001",
    slug="secrets-encryption",
    description="EKS clusters envelope-encrypt Kubernetes secrets with a customer managed KMS key, so a leaked etcd snapshot does not leak every secret.",
    applies_to=EKS_CLUSTER,
    checks=[_secrets_encrypted],
    anchor="CKV_AWS_58; CIS EKS 5.3.1",
)


# SEC-EKS-002 ---------------------------------------------------------------------------------------------------
def _endpoint(cluster: Res, ctx: Ctx) -> None:
    vpc = as_dict(cluster.get("vpcConfig"))
    private = flag(vpc.get("endpointPrivateAccess"))
    public = flag(vpc.get("endpointPublicAccess"))
    public = True if public is None else public  # the EKS API default is a public endpoint
    if private is not True:
        ctx.violation(
            cluster,
            "the private API endpoint is off (the EKS default); set vpcConfig.endpointPrivateAccess = true so "
            "nodes and in-VPC tooling reach the API without leaving the VPC.",
        )
    if not public:
        return
    if ctx.setting("requirePrivateEndpoint"):
        ctx.violation(
            cluster,
            "the API endpoint is public; this environment requires a private-only endpoint: set "
            "`crucible:cluster.endpointPublicAccess: false` (vpcConfig.endpointPublicAccess = false; the "
            "EKS default is public).",
        )
        return
    listed = [known(c) for c in as_list(vpc.get("publicAccessCidrs"))]
    # by coverage, not spelling: 0.0.0.0/1 + 128.0.0.0/1 is the internet too (policies/support/cidrs.py)
    open_to = (listed if reaches_internet(listed) else []) if listed else ["0.0.0.0/0 (the EKS default)"]
    if open_to:
        ctx.violation(
            cluster,
            f"the public API endpoint is open to {', '.join(open_to)}; restrict "
            "`crucible:cluster.publicAccessCidrs` to the CIDR blocks that must reach the API, or set "
            "`crucible:cluster.endpointPublicAccess: false`.",
        )


SEC_EKS_002 = resource_policy(
    rule_id="SEC-EKS-002",
    slug="private-endpoint",
    description="The EKS API endpoint is private (and the private endpoint is on); where a public endpoint is "
    "allowed it is restricted to named CIDR blocks, never the whole internet.",
    applies_to=EKS_CLUSTER,
    checks=[_endpoint],
    settings={
        "requirePrivateEndpoint": {
            "type": "boolean",
            "default": True,
            "description": "Refuse any public endpoint (prod); when false a CIDR-restricted public endpoint is allowed.",
        }
    },
    anchor="CKV_AWS_39, CKV_AWS_38; CIS EKS 5.4.1/5.4.2",
)


# SEC-EKS-003 ---------------------------------------------------------------------------------------------------
def _logs(cluster: Res, ctx: Ctx) -> None:
    enabled = {known(t) for t in as_list(cluster.get("enabledClusterLogTypes"))}
    missing = [t for t in ctx.setting("requiredLogTypes") if t not in enabled]
    if missing:
        ctx.violation(
            cluster,
            f"control-plane log types {', '.join(missing)} are not enabled; add them to `crucible:cluster.logTypes` (enabledClusterLogTypes).",
        )


SEC_EKS_003 = resource_policy(
    rule_id="SEC-EKS-003",
    slug="control-plane-logs",
    description="EKS control-plane logs (at least api, audit, authenticator; all five in production) go to "
    "CloudWatch, so API calls and authentication can be audited after an incident.",
    applies_to=EKS_CLUSTER,
    checks=[_logs],
    settings={
        "requiredLogTypes": {
            "type": "array",
            "items": {"type": "string", "enum": ALL_LOG_TYPES},
            "default": ["api", "audit", "authenticator"],
            "description": "Log types every cluster must enable.",
        }
    },
    anchor="CKV_AWS_37; CIS EKS 2.1.1",
)


# SEC-EKS-004 ---------------------------------------------------------------------------------------------------
def _is_admin_policy(association: Res) -> bool:
    arn = association.get("policyArn")
    return isinstance(arn, str) and arn.rsplit("/", 1)[-1] in ADMIN_ACCESS_POLICIES


def _not_a_platform_role(role: Res, ctx: Ctx) -> str | None:
    team = role.tags.get(ctx.setting("teamTagKey"))
    if isinstance(team, str) and team:
        return f"team {team!r}'s role (tag {ctx.setting('teamTagKey')})"
    try:
        statements = parse_document(role.get("assumeRolePolicy"))
    except ValueError:
        return None
    workloads = sorted({p for st in statements if st.allows for kind in ("Service", "Federated") for p in st.principals.get(kind, ())})
    if workloads:
        return f"a workload role assumed by {', '.join(workloads)}, not by people"
    return None


def _check_admin_principal(stack: Stack, association: Res, ctx: Ctx) -> None:
    principal = association.get("principalArn")
    linked = stack.linked(association, "principalArn", IAM_ROLE)
    if not linked and isinstance(principal, str) and ":role/" in principal:
        name = principal.rsplit("/", 1)[-1]
        linked = [r for r in stack.of(IAM_ROLE) if r.get("name") == name]
    if linked:
        # A role this stack creates is a platform role only when people assume it: not a team's role, not a role
        # that pods, nodes or another service assume ("any role of the stack" would let a tenant role in).
        for role in linked:
            why = _not_a_platform_role(role, ctx)
            if why:
                ctx.violation(
                    association,
                    f"cluster admin is granted to role {role.name!r}, {why}; grant admin only to the platform roles of `crucible:cluster.adminRoleArns`.",
                )
        return
    if isinstance(principal, Unknown):
        known(principal)
    principal = text(principal) or ""
    allowed = ctx.setting("adminPrincipalArns")
    if ":role/" not in principal:
        ctx.violation(
            association,
            f"cluster admin is granted to {principal or 'an empty principal'}, which is not an IAM role; grant "
            "admin only to named platform roles listed in `crucible:cluster.adminRoleArns`.",
        )
    elif allowed and principal not in allowed:
        ctx.violation(
            association,
            f"cluster admin is granted to {principal}, which is not one of the platform roles allowed by this "
            f"policy ({', '.join(allowed)}); remove it from `crucible:cluster.adminRoleArns` or add it to the "
            "policy's adminPrincipalArns.",
        )


def _access(stack: Stack, ctx: Ctx) -> None:
    creator_allowed = ctx.setting("allowCreatorAdmin")
    admins = [a for a in stack.of(EKS_ACCESS_POLICY_ASSOCIATION) if _is_admin_policy(a)]
    for cluster in stack.of(EKS_CLUSTER):
        with ctx.each():
            mode = cluster.get("accessConfig", "authenticationMode")
            if text(mode) not in ("API", "API_AND_CONFIG_MAP"):
                ctx.violation(
                    cluster,
                    f"authentication mode is {mode or 'CONFIG_MAP (the EKS default)'}; use access entries: set "
                    "`crucible:cluster.authenticationMode` to API (accessConfig.authenticationMode).",
                )
        if creator_allowed:
            continue
        with ctx.each():
            bootstrap = flag(cluster.get("accessConfig", "bootstrapClusterCreatorAdminPermissions"))
            if bootstrap is not False:
                ctx.violation(
                    cluster,
                    "the identity that creates the cluster keeps cluster-admin"
                    + (" (the EKS default)" if bootstrap is None else "")
                    + "; set `crucible:cluster.bootstrapCreatorAdmin: false` "
                    "(accessConfig.bootstrapClusterCreatorAdminPermissions = false) and grant admin through access "
                    "entries.",
                )
        with ctx.each():
            if not admins:
                ctx.violation(
                    cluster,
                    "no access entry grants cluster admin to a platform role, so nobody could administer the "
                    "cluster; list the roles in `crucible:cluster.adminRoleArns`.",
                )
    for association in admins:
        with ctx.each():
            _check_admin_principal(stack, association, ctx)


SEC_EKS_004 = stack_policy(
    rule_id="SEC-EKS-004",
    slug="access-entries",
    description="Cluster access goes through EKS access entries: API authentication mode, no implicit admin for "
    "the cluster creator, and cluster admin granted only to named platform IAM roles.",
    check=_access,
    settings={
        "allowCreatorAdmin": {
            "type": "boolean",
            "default": False,
            "description": "Allow the cluster creator's implicit admin (dev convenience).",
        },
        "teamTagKey": {
            "type": "string",
            "default": "crucible.io/team",
            "description": "IAM role tag whose value names the team a role belongs to (never a platform role).",
        },
        "adminPrincipalArns": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "If set, the only principal ARNs that may hold cluster admin (besides roles this stack creates).",
        },
    },
    anchor="EKS BPG security/iam: Cluster Access Manager; remove cluster-admin from the creator",
)


# SEC-EKS-005 ---------------------------------------------------------------------------------------------------
def _version(cluster: Res, ctx: Ctx) -> None:
    version = text(cluster.get("version"))
    allowed = ctx.setting("allowedVersions")
    if version is None:
        ctx.violation(
            cluster,
            f"the Kubernetes version is not pinned (EKS picks the newest); set `crucible:cluster.version` to one of {', '.join(allowed)}.",
        )
    elif version not in allowed:
        ctx.violation(
            cluster,
            f"Kubernetes {version} is not in the supported list ({', '.join(allowed)}); upgrade by changing "
            "`crucible:cluster.version` (one minor version at a time).",
        )


SEC_EKS_005 = resource_policy(
    rule_id="SEC-EKS-005",
    slug="supported-version",
    description="EKS clusters run a pinned Kubernetes version from the supported list, so upgrades are planned "
    "and clusters do not drift into extended-support pricing.",
    applies_to=EKS_CLUSTER,
    checks=[_version],
    level=EnforcementLevel.ADVISORY,
    settings={
        "allowedVersions": {
            "type": "array",
            "items": {"type": "string"},
            "default": SUPPORTED_VERSIONS,
            "description": "Kubernetes versions clusters may run.",
        }
    },
    anchor="CKV_AWS_339; EKS BPG reliability/controlplane",
)


# SEC-EKS-006 ---------------------------------------------------------------------------------------------------
def _network_policy_enforced(addon: Res) -> bool:
    raw = known(addon.get("configurationValues"))
    if not raw:
        return False
    try:
        values = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return False
    return isinstance(values, dict) and str(values.get("enableNetworkPolicy", "")).lower() == "true"


def _network_policy_enforcement(stack: Stack, ctx: Ctx) -> None:
    policies = stack.of(NETWORK_POLICY)
    cni = [a for a in stack.of(EKS_ADDON) if a.get("addonName") == "vpc-cni"]
    if not policies:
        return
    if not cni:
        clusters = stack.of(EKS_CLUSTER)
        if not clusters:
            return  # the cluster (and its CNI add-on) lives in another stack; that stack is judged there
        ctx.violation(
            clusters[0],
            f"{len(policies)} NetworkPolicies exist but the cluster has no managed vpc-cni add-on with "
            'enableNetworkPolicy, so they would be silently ignored; add aws.eks.Addon(addon_name="vpc-cni", '
            'configuration_values=\'{"enableNetworkPolicy": "true"}\').',
        )
        return
    for addon in cni:
        with ctx.each():
            if not _network_policy_enforced(addon):
                ctx.violation(
                    addon,
                    f"{len(policies)} NetworkPolicies exist but the VPC CNI does not enforce them; set "
                    'configurationValues {"enableNetworkPolicy": "true"} on the vpc-cni add-on.',
                )


SEC_EKS_006 = stack_policy(
    rule_id="SEC-EKS-006",
    slug="network-policy-enforcement",
    description="When the stack declares NetworkPolicies, the VPC CNI add-on enforces them "
    "(enableNetworkPolicy); otherwise they are accepted by the API and silently not enforced.",
    check=_network_policy_enforcement,
    anchor="EKS BPG security/network: VPC CNI network policy is not enabled by default",
)


# SEC-EKS-007 ---------------------------------------------------------------------------------------------------
def _client_range(cidr: object) -> bool:
    """Whether a source CIDR can hold a deployer or kubectl user: loopback, link-local, multicast, the unspecified
    address and reserved blocks never originate a connection to the endpoint's ENIs (RFC 6890 special-purpose
    ranges), so a rule admitting only those is no way in. A computed CIDR counts (the VPC or a connected network)."""
    if not isinstance(cidr, str):
        return True
    try:
        block = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
    first = block.network_address
    return not (first.is_loopback or first.is_link_local or first.is_multicast or first.is_reserved or (first.is_unspecified and block.prefixlen > 0))


def _admits_a_client(rule: SgRule) -> bool:
    return rule.other_group or any(_client_range(c) for c in rule.cidrs)


def _api_access_path(stack: Stack, ctx: Ctx) -> None:
    for cluster in stack.of(EKS_CLUSTER):
        with ctx.each():
            if flag(cluster.get("vpcConfig", "endpointPublicAccess")) is not False:
                continue  # a public endpoint (the EKS default when unset) is judged by SEC-EKS-002
            rules = [separate_rule(stack, r, cluster) for r in stack.referrers(cluster, SEPARATE_RULES, "securityGroupId")]
            admitted = [r for r in rules if r.direction == "ingress" and not r.self_ref and r.covers(443) and _admits_a_client(r)]
            if not admitted:
                ctx.violation(
                    cluster,
                    "the API endpoint is private only and no rule admits anyone outside the cluster security group on "
                    "443, so `pulumi up` (every Helm release and Kubernetes object) and kubectl cannot reach it; declare "
                    "the deployer's network in `crucible:cluster.apiAccess` (sourceCidrs: the company network, routed back "
                    "through `crucible:network.transitGatewayId` in a VPC Crucible builds; sourceSecurityGroupIds: a runner "
                    "or tunnel host in an existing VPC).",
                )


SEC_EKS_007 = stack_policy(
    rule_id="SEC-EKS-007",
    slug="api-access-path",
    description="A private-only EKS endpoint has a declared way in: an ingress rule on 443 to the cluster security "
    "group from the network the deployer and kubectl users come from (the group admits only itself by default).",
    check=_api_access_path,
    anchor="EKS user guide: cluster endpoint access control (private-only endpoints need a connected network and a 443 rule)",
)

# SEC-EKS-008 ---------------------------------------------------------------------------------------------------
ROUTE_TABLE_ASSOCIATION = one_of("aws:ec2/routeTableAssociation:RouteTableAssociation")
ROUTE_TABLE = one_of("aws:ec2/routeTable:RouteTable")
DEFAULT_ROUTE_TABLE = one_of("aws:ec2/defaultRouteTable:DefaultRouteTable")
MAIN_ROUTE_TABLE_ASSOCIATION = one_of("aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation")
ROUTE = one_of("aws:ec2/route:Route")
VPC_TOKEN = one_of("aws:ec2/vpc:Vpc")
# Route targets that carry traffic to a connected private network; a NAT or internet gateway never delivers a reply
# to a private address outside the VPC.
_CONNECTED_TARGETS = ("transitGatewayId", "vpcPeeringConnectionId", "coreNetworkArn")


def _carries_back(route: dict, network: "ipaddress.IPv4Network | ipaddress.IPv6Network") -> bool:
    """``route``: a Route resource's inputs or one inline route of a (Default)RouteTable (cidrBlock/ipv6CidrBlock)."""
    gateway = route.get("gatewayId")
    connected = any(is_set(route.get(k)) for k in _CONNECTED_TARGETS) or (isinstance(gateway, str) and gateway.startswith("vgw-"))
    destination = next(
        (route.get(k) for k in ("destinationCidrBlock", "destinationIpv6CidrBlock", "cidrBlock", "ipv6CidrBlock") if isinstance(route.get(k), str)), None
    )
    if not connected or not isinstance(destination, str):
        return False
    try:
        block = ipaddress.ip_network(destination, strict=False)
    except ValueError:
        return False
    return block.version == network.version and network.subnet_of(block)


def _routes_of(stack: Stack, table: Res) -> list[dict]:
    """A table's routes, however declared: separate Route resources and the table's inline ``routes``."""
    separate = [r.props for r in stack.referrers(table, ROUTE, "routeTableId")]
    return separate + [r for r in as_list(table.get("routes")) if isinstance(r, dict)]


def _main_table(stack: Stack, vpc: Res) -> tuple[str, list[dict]]:
    """The VPC's main route table, which every subnet without an explicit association uses: a table made main by a
    MainRouteTableAssociation, else the VPC's default table (its routes: a DefaultRouteTable's inline routes, Route
    resources on it or on the VPC's defaultRouteTableId). Nothing declared: the main table has only the local route."""
    for association in stack.referrers(vpc, MAIN_ROUTE_TABLE_ASSOCIATION, "vpcId"):
        for table in stack.linked(association, "routeTableId", ROUTE_TABLE):
            return table.name, _routes_of(stack, table)
    routes = [r.props for r in stack.referrers(vpc, ROUTE, "routeTableId")]
    for default in stack.referrers(vpc, DEFAULT_ROUTE_TABLE, "defaultRouteTableId"):
        routes += _routes_of(stack, default)
    return f"{vpc.name} (main route table)", routes


def _subnet_tables(stack: Stack, subnets: list[Res]) -> dict[str, list[dict]]:
    """The route table each subnet of this stack uses, by name: its explicit association, or its VPC's main table."""
    tables: dict[str, list[dict]] = {}
    for subnet in subnets:
        associated = [t for a in stack.referrers(subnet, ROUTE_TABLE_ASSOCIATION, "subnetId") for t in stack.linked(a, "routeTableId", ROUTE_TABLE)]
        for table in associated:
            tables[table.name] = _routes_of(stack, table)
        if not associated:
            for vpc in stack.linked(subnet, "vpcId", VPC_TOKEN):
                name, routes = _main_table(stack, vpc)
                tables[name] = routes
    return tables


def _api_return_route(stack: Stack, ctx: Ctx) -> None:
    for cluster in stack.of(EKS_CLUSTER):
        with ctx.each():
            if flag(cluster.get("vpcConfig", "endpointPublicAccess")) is not False:
                continue
            tables = _subnet_tables(stack, stack.linked(cluster, "vpcConfig", SUBNET))
            if not tables:
                continue  # the VPC is not this stack's (network.existing, a stack reference): its owner routes
            rules = [separate_rule(stack, r, cluster) for r in stack.referrers(cluster, SEPARATE_RULES, "securityGroupId")]
            for rule in rules:
                if rule.direction != "ingress" or rule.self_ref or not rule.covers(443):
                    continue
                for cidr in rule.cidrs:
                    if not isinstance(cidr, str) or rule.cidr_from_network or not _client_range(cidr):
                        continue  # the VPC's own CIDR (computed from the VPC) is routed locally
                    network = ipaddress.ip_network(cidr, strict=False)
                    unrouted = sorted(name for name, routes in tables.items() if not any(_carries_back(r, network) for r in routes))
                    if unrouted:
                        ctx.violation(
                            cluster,
                            f"443 is open to {cidr}, but the route tables of the cluster's subnets ({', '.join(unrouted)}) have "
                            "no route for it to a transit gateway, VPN gateway or peering connection: the endpoint's replies "
                            "take the default route to the NAT gateway and are lost, so `pulumi up` times out; set "
                            "`crucible:network.transitGatewayId` (Crucible then routes each apiAccess.sourceCidrs block to it).",
                        )


SEC_EKS_008 = stack_policy(
    rule_id="SEC-EKS-008",
    slug="api-return-route",
    description="Every connected network admitted on 443 to a private-only endpoint is routed back from the route "
    "tables of the cluster's subnets (to a transit gateway, VPN gateway or peering), or the API's replies are lost.",
    check=_api_return_route,
    anchor="Amazon VPC Transit Gateways guide: routes to the transit gateway in the VPC's route tables",
)

POLICIES = [SEC_EKS_001, SEC_EKS_002, SEC_EKS_003, SEC_EKS_004, SEC_EKS_005, SEC_EKS_006, SEC_EKS_007, SEC_EKS_008]
