"""The cluster section: EKS control plane, access, add-ons and the system node group."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

from components import versions
from stacks.spec.checks import any_cidr, aws_id, iam_role_arn, log_retention_days, within
from stacks.spec.schema import ByEnv, Context, all_of, did_you_mean, each, in_range, non_empty, one_of, setting, show, unique

if TYPE_CHECKING:
    from stacks.spec.platform import PlatformSpec

SUPPORTED_KUBERNETES_VERSIONS = versions.KUBERNETES_VERSIONS  # components/versions.py
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
MANAGED_ADDONS = ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver")
# An EKS managed add-on version as `aws eks describe-addon-versions` lists it, e.g. v1.20.4-eksbuild.1.
_ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")
# Address blocks that are never the source of a request to a public endpoint: private (RFC 1918), shared (RFC 6598,
# carrier-grade NAT), loopback, link-local, "this network", benchmarking, documentation-free reserved and multicast.
# The public endpoint sees the public source address of a request (after NAT), so such a block in publicAccessCidrs
# admits nobody; clients in private networks reach the private endpoint instead (cluster.apiAccess).
NON_PUBLIC_BLOCKS = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
        "ff00::/8",
    )
)
WORLD = ("0.0.0.0/0", "::/0")
SELF_HOSTED_LABEL = "self-hosted"  # every self-hosted GitHub Actions runner carries it; no GitHub-hosted runner does
# A runs-on label: one name (a comma or space does not separate labels, it makes one label nobody has).
_RUNNER_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def runner_label(value: str) -> Optional[str]:
    if not _RUNNER_LABEL.match(value):
        return (
            f"got {show(value)}; allowed: one runner label per list item (letters, digits, '.', '_', '-'; e.g. "
            "[self-hosted, crucible-prod]): `runs-on` reads 'self-hosted,vpc' as one label no runner has"
        )
    return None


def addon_version(addon: str, version: str) -> Optional[str]:
    if not _ADDON_VERSION.match(version):
        return (
            f"got {show(version)}; allowed: a concrete add-on version v<major>.<minor>.<patch>-eksbuild.<n> "
            f"(e.g. v1.20.4-eksbuild.1, from `aws eks describe-addon-versions --addon-name {addon}`), never latest or empty"
        )
    return None


def public_source_cidr(value: str) -> Optional[str]:
    """A block a request to the public endpoint can come from: a public address range (or the whole internet, which
    is refused outside dev by check_cluster)."""
    message = any_cidr(value)
    if message:
        return message
    net = ipaddress.ip_network(value)
    if value in WORLD:
        return None
    for block in NON_PUBLIC_BLOCKS:
        if within(net, block):
            return (
                f"got {show(value)}: a non-public range (within {block}); the public endpoint is reached from public "
                "addresses only; allowed: public CIDR blocks (reach the private endpoint from private networks with "
                "cluster.apiAccess.sourceCidrs)"
            )
    return None


def connected_network_cidr(value: str) -> Optional[str]:
    message = any_cidr(value)
    if message:
        return message
    if ipaddress.ip_network(value).prefixlen == 0:
        return f"got {show(value)}; allowed: the CIDR block of a connected network (peered VPC, VPN, Direct Connect), never every address"
    return None


@dataclass(frozen=True)
class ApiAccessSpec:
    """How the deployer (`pulumi up`) and kubectl users reach the Kubernetes API: the networks admitted on 443 to the
    cluster security group (the private endpoint) and the deploy role's access entry."""

    source_security_group_ids: tuple[str, ...] = setting(
        "Security groups whose members reach the private endpoint: each gets an ingress rule on 443 to the EKS "
        "cluster security group. Only where the group can exist before this stack runs: with `network.existing` (a "
        "runner or SSM tunnel host in that VPC) or a network read from a stack reference; a group of a VPC this stack "
        "builds cannot exist yet, and EC2 refuses a group of another, unpeered VPC (InvalidGroup.NotFound).",
        default=[],
        check=all_of(each(aws_id("sg-")), unique),
    )
    source_cidrs: tuple[str, ...] = setting(
        "CIDR blocks of connected networks (your company network over a transit gateway, VPN or Direct Connect) where "
        "the deploy runner and kubectl users run: each gets an ingress rule on 443 to the EKS cluster security group. "
        "The replies need a route back: in a VPC this stack builds, set `network.transitGatewayId` (outside dev "
        "required) and each block is routed to it; with `network.existing` the VPC's owner routes them.",
        default=[],
        check=all_of(each(connected_network_cidr), unique),
    )
    deploy_role_arn: Optional[str] = setting(
        "IAM role that runs `pulumi up` (CI: the environment's variable AWS_ROLE_ARN, the bootstrap's "
        "crucible-deploy-<env>). Gets an access entry with AmazonEKSClusterAdminPolicy, cluster scope. Required outside "
        "dev unless bootstrapCreatorAdmin is true.",
        default=None,
        check=iam_role_arn,
    )
    preview_role_arn: Optional[str] = setting(
        "Read-only IAM role that runs pull-request previews and saved plans (the bootstrap's crucible-preview-<env>, "
        "GitHub environment preview-<env>'s AWS_ROLE_ARN). Gets an access entry with AmazonEKSViewPolicy, cluster "
        "scope: it reads the cluster's objects (not Secrets) and changes nothing; the Kubernetes provider's server-side preview needs `patch` and falls back to a client-side "
        "preview without it (pulumi-kubernetes #2419). Must differ from deployRoleArn and adminRoleArns (EKS allows "
        "one access entry per principal).",
        default=None,
        check=iam_role_arn,
    )
    runner_labels: tuple[str, ...] = setting(
        "The `runs-on` labels of the CI runner that deploys this stack (`crucible runner --labels`), one label per item. "
        "Default: [self-hosted, crucible-<stack>] — a self-hosted runner in a network admitted by sourceCidrs (or in "
        "the existing VPC); a stack on top of another stack's cluster uses that stack's labels. Name hosted labels "
        "(no self-hosted), e.g. a GitHub larger runner with a static IP range, only for a public endpoint whose "
        "publicAccessCidrs admit that range; a private-only endpoint needs a self-hosted runner.",
        default=[],
        check=all_of(each(runner_label), unique),
    )

    @property
    def declares_network(self) -> bool:
        return bool(self.source_security_group_ids or self.source_cidrs)


@dataclass(frozen=True)
class SystemNodeGroupSpec:
    """A small on-demand managed node group for controllers (Karpenter never runs on nodes it manages)."""

    instance_types: tuple[str, ...] = setting(
        "Instance types of the system nodes (on-demand).",
        default=["m7i.xlarge"],
        check=all_of(non_empty, unique),
    )
    min_size: int = setting("Minimum node count.", default=ByEnv(dev=2, prod=3), check=in_range(1, 20))
    desired_size: int = setting("Desired node count.", default=ByEnv(dev=2, prod=3), check=in_range(1, 20))
    max_size: int = setting("Maximum node count.", default=ByEnv(dev=3, prod=6), check=in_range(1, 50))
    disk_size_gib: int = setting("Root volume size (gp3, encrypted).", default=80, check=in_range(20, 2000))

    def check(self, ctx: Context, path: str) -> None:
        if not self.min_size <= self.desired_size <= self.max_size:
            ctx.problem(
                path,
                f"sizes must satisfy minSize <= desiredSize <= maxSize (got {self.min_size} <= {self.desired_size} <= {self.max_size})",
            )
        from components.catalog import load_catalog
        from stacks.spec.instances import close_matches

        catalog = load_catalog()
        arches: dict[str, list[str]] = {}
        for j, name in enumerate(self.instance_types):
            facts = catalog.get(name) if name in catalog else None
            if facts is not None:
                arches.setdefault(facts.kube_arch, []).append(name)
            if facts is None:
                ctx.problem(f"{path}.instanceTypes[{j}]", f"got {show(name)}: not in the instance catalog{close_matches(name, catalog)}")
            elif facts.is_accelerated:
                ctx.problem(f"{path}.instanceTypes[{j}]", f"got {show(name)}: an accelerated type; allowed: CPU types (system nodes run controllers)")
        if len(arches) > 1:
            # One managed node group runs one AMI type, and an AMI type is for one architecture.
            mix = "; ".join(f"{arch}: {', '.join(names)}" for arch, names in sorted(arches.items()))
            ctx.problem(
                f"{path}.instanceTypes",
                f"got a mix of architectures ({mix}); allowed: instance types of one architecture (one AMI type per node group)",
            )


@dataclass(frozen=True)
class ClusterSpec:
    name: Optional[str] = setting(
        "EKS cluster name. Default: crucible-<stack>.",
        default=None,
        check=lambda v: (
            None
            if 1 <= len(v) <= 100 and v[0].isalnum() and all(c.isalnum() or c in "-_" for c in v)
            else f"got {show(v)}; allowed: 1-100 letters, digits, '-' or '_', starting with a letter or digit"
        ),
    )
    version: str = setting(
        "Kubernetes version (pinned; upgrade by changing it).",
        default=versions.SOFTWARE["kubernetes"].version,
        check=one_of(*SUPPORTED_KUBERNETES_VERSIONS),
    )
    endpoint_public_access: bool = setting(
        "Expose the API server endpoint publicly (restricted by publicAccessCidrs). The private endpoint is always on.",
        default=ByEnv(dev=True, prod=False),
    )
    public_access_cidrs: tuple[str, ...] = setting(
        "CIDR blocks allowed to reach the public endpoint. Required when endpointPublicAccess is true. Public ranges "
        "only (no RFC 1918, 100.64.0.0/10 or other non-public blocks); never 0.0.0.0/0 outside dev.",
        default=[],
        check=all_of(each(public_source_cidr), unique),
    )
    api_access: ApiAccessSpec = setting(
        "Ways into the Kubernetes API for the deployer and kubectl users (see `apiAccess.*`). Outside dev a "
        "private-only endpoint needs sourceSecurityGroupIds or sourceCidrs.",
        default={},
    )
    log_types: tuple[str, ...] = setting(
        "Control-plane log types sent to CloudWatch. Allowed: " + ", ".join(LOG_TYPES) + ".",
        default=ByEnv(dev=["api", "audit", "authenticator"], prod=list(LOG_TYPES)),
        check=all_of(each(one_of(*LOG_TYPES)), unique),
    )
    log_retention_days: int = setting(
        "Retention of the control-plane log group in days.",
        default=ByEnv(dev=7, prod=365),
        check=log_retention_days,
    )
    admin_role_arns: tuple[str, ...] = setting(
        "IAM roles granted cluster admin through EKS access entries (AmazonEKSClusterAdminPolicy).",
        default=[],
        check=all_of(each(iam_role_arn), unique),
    )
    bootstrap_creator_admin: bool = setting(
        "Grant the identity that creates the cluster admin access (convenient in dev; off in prod). Create-only: EKS "
        "reads it when the cluster is created and changing it would replace the cluster, so later changes are ignored "
        "(ignore_changes) and `crucible diff` says so; grant access to a running cluster with adminRoleArns or "
        "apiAccess.deployRoleArn.",
        default=ByEnv(dev=True, prod=False),
    )
    authentication_mode: Literal["API", "API_AND_CONFIG_MAP"] = setting("EKS authentication mode (access entries).", default="API")
    kms_key_deletion_window_days: int = setting(
        "Waiting period before the cluster's KMS keys (secrets, node volumes, control-plane and flow logs) are deleted.",
        default=ByEnv(dev=7, prod=30),
        check=in_range(7, 30),
    )
    addon_versions: dict[str, str] = setting(
        "Pin EKS managed add-on versions, e.g. {vpc-cni: v1.20.4-eksbuild.1} (concrete v<semver>-eksbuild.<n> only). "
        "Unpinned add-ons get the default version for the cluster version.",
        default={},
    )
    create_service_linked_roles: bool = setting(
        "Create the service-linked roles a new account lacks (AWSServiceRoleForAutoScaling for the system node group, "
        "AWSServiceRoleForEC2Spot for Karpenter's spot capacity) as aws.iam.ServiceLinkedRole resources, retained on "
        "delete. Leave false where they exist (any Auto Scaling group or spot request made them): creating an existing "
        "one fails.",
        default=False,
    )
    system_node_group: SystemNodeGroupSpec = setting("The system node group (see `systemNodeGroup.*`).", default={})

    def check(self, ctx: Context, path: str) -> None:
        for key, version in self.addon_versions.items():
            if key not in MANAGED_ADDONS:
                ctx.problem(
                    f"{path}.addonVersions.{key}",
                    f"unknown add-on{did_you_mean(key, MANAGED_ADDONS)}; allowed: {', '.join(MANAGED_ADDONS)}",
                )
            elif message := addon_version(key, version):
                ctx.problem(f"{path}.addonVersions.{key}", message)


def check_cluster(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """Endpoint and access rules, for stacks that build the cluster (a split stack on top of another stack's cluster
    takes the cluster section's defaults but never uses them)."""
    c, env = spec.cluster, ctx.env
    where = f"{path}cluster"
    if c.endpoint_public_access and not c.public_access_cidrs:
        ctx.problem(
            f"{where}.publicAccessCidrs",
            "required when endpointPublicAccess is true: list the CIDR blocks allowed to reach the API (never the whole internet by default)",
        )
    if not c.endpoint_public_access and c.public_access_cidrs:
        ctx.problem(f"{where}.publicAccessCidrs", "set, but endpointPublicAccess is false: remove it or turn the public endpoint on")
    open_to = [cidr for cidr in c.public_access_cidrs if cidr in WORLD]
    if env != "dev" and c.endpoint_public_access and open_to:
        ctx.problem(
            f"{where}.publicAccessCidrs",
            f"got {show(open_to[0])}; a {env} API endpoint must not be open to the internet (allowed: named public CIDR blocks, in dev only)",
        )
    access = c.api_access
    if env != "dev" and not c.endpoint_public_access and not access.declares_network:
        ctx.problem(
            f"{where}.apiAccess",
            f"required in {env} with a private-only endpoint: declare where the deployer and kubectl users reach the API from — "
            "apiAccess.sourceSecurityGroupIds (a self-hosted runner or SSM tunnel host in the VPC) and/or apiAccess.sourceCidrs "
            "(a peered or VPN-connected network); without one `pulumi up` times out on the first Kubernetes resource",
        )
    if env != "dev" and not c.bootstrap_creator_admin and access.deploy_role_arn is None:
        ctx.problem(
            f"{where}.apiAccess.deployRoleArn",
            f"required in {env} when bootstrapCreatorAdmin is false: the IAM role that runs `pulumi up` needs an access entry "
            "(AmazonEKSClusterAdminPolicy) or every Kubernetes resource gets 401 Unauthorized",
        )
    preview = access.preview_role_arn
    if preview is not None and (preview == access.deploy_role_arn or preview in c.admin_role_arns):
        ctx.problem(
            f"{where}.apiAccess.previewRoleArn",
            f"got {show(preview)}, which is also {'deployRoleArn' if preview == access.deploy_role_arn else 'in adminRoleArns'}: "
            "the preview role must be its own read-only role (EKS allows one access entry per principal, and a role that "
            "deploys is no read-only identity); allowed: a role that is neither",
        )
    _check_role_partitions(spec, ctx, where)
    _check_return_path(spec, ctx, path)
    if not c.endpoint_public_access and access.runner_labels and SELF_HOSTED_LABEL not in access.runner_labels:
        ctx.problem(
            f"{where}.apiAccess.runnerLabels",
            f"got {show(list(access.runner_labels))}: GitHub-hosted runners, which cannot reach a private-only endpoint; "
            f"allowed: the labels of a self-hosted runner (with {SELF_HOSTED_LABEL!r}) in a network admitted by apiAccess",
        )
    if c.bootstrap_creator_admin and access.deploy_role_arn is not None:
        ctx.problem(
            f"{where}.apiAccess.deployRoleArn",
            "set together with bootstrapCreatorAdmin: true: the deploy role creates the cluster and already gets an access entry, "
            "and a second entry for the same principal fails (ResourceInUseException); set bootstrapCreatorAdmin: false or remove deployRoleArn",
        )


def _check_return_path(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """A declared way in must work on the first `pulumi up`: the source group must exist, and the endpoint's replies
    must have a route back to the source network."""
    access, network = spec.cluster.api_access, spec.network
    builds_vpc = spec.builds("network") and network.existing is None
    where = f"{path}cluster.apiAccess"
    if ctx.env == "dev" or not builds_vpc:
        return
    if access.source_security_group_ids:
        ctx.problem(
            f"{where}.sourceSecurityGroupIds",
            f"got {show(list(access.source_security_group_ids))}, but this stack builds its VPC in the same run: a runner's group "
            "in that VPC cannot exist before it, and EC2 refuses an ingress rule naming a group of another, unpeered VPC "
            "(InvalidGroup.NotFound); allowed: only with network.existing or a network from a stack reference — here "
            "admit the runner's network with sourceCidrs and network.transitGatewayId",
        )
    if access.source_cidrs and network.transit_gateway_id is None:
        ctx.problem(
            f"{where}.sourceCidrs",
            f"got {show(list(access.source_cidrs))}, but nothing routes the replies back: this stack builds its VPC, whose "
            "private route tables send every other address to the NAT gateway; allowed: with network.transitGatewayId "
            "(tgw-<hex>: Crucible attaches the VPC and routes each block to it), or network.existing whose owner routes them",
        )


def _check_role_partitions(spec: "PlatformSpec", ctx: Context, where: str) -> None:
    """Access entries name roles of the cluster's own partition: EKS refuses a principal ARN of another one (an
    `arn:aws:` role in a GovCloud or China cluster), and the failure comes only after the cluster is created."""
    from components.partitions import known_region, partition_of

    if not known_region(spec.region):
        return  # the region has its own problem
    partition = partition_of(spec.region).name
    roles = [(f"{where}.adminRoleArns[{i}]", arn) for i, arn in enumerate(spec.cluster.admin_role_arns)]
    if spec.cluster.api_access.deploy_role_arn is not None:
        roles.append((f"{where}.apiAccess.deployRoleArn", spec.cluster.api_access.deploy_role_arn))
    if spec.cluster.api_access.preview_role_arn is not None:
        roles.append((f"{where}.apiAccess.previewRoleArn", spec.cluster.api_access.preview_role_arn))
    for key, arn in roles:
        if arn.split(":")[1] != partition:
            ctx.problem(
                key,
                f"got {show(arn)}: a role of partition {arn.split(':')[1]!r}; region {spec.region} is in partition {partition!r} "
                f"(allowed: arn:{partition}:iam::<account>:role/<name>)",
            )
