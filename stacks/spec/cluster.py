"""The cluster section: EKS control plane, access, add-ons and the system node group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from stacks.spec.checks import any_cidr, iam_role_arn, log_retention_days
from stacks.spec.schema import ByEnv, Context, all_of, did_you_mean, each, in_range, non_empty, one_of, setting, show, unique

SUPPORTED_KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
MANAGED_ADDONS = ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver")


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
        from stacks.derive.capacity import catalog_facts, catalog_names
        from stacks.spec.instances import close_matches

        arches: dict[str, list[str]] = {}
        for j, name in enumerate(self.instance_types):
            facts = catalog_facts(name)
            if facts is not None:
                arches.setdefault(facts.arch, []).append(name)
            if facts is None:
                ctx.problem(f"{path}.instanceTypes[{j}]", f"got {show(name)}: not in the instance catalog{close_matches(name, catalog_names())}")
            elif facts.accelerator_kind is not None:
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
        check=lambda v: None
        if 1 <= len(v) <= 100 and v[0].isalnum() and all(c.isalnum() or c in "-_" for c in v)
        else f"got {show(v)}; allowed: 1-100 letters, digits, '-' or '_', starting with a letter or digit",
    )
    version: str = setting(
        "Kubernetes version (pinned; upgrade by changing it).",
        default="1.34",
        check=one_of(*SUPPORTED_KUBERNETES_VERSIONS),
    )
    endpoint_public_access: bool = setting(
        "Expose the API server endpoint publicly (restricted by publicAccessCidrs). The private endpoint is always on.",
        default=ByEnv(dev=True, prod=False),
    )
    public_access_cidrs: tuple[str, ...] = setting(
        "CIDR blocks allowed to reach the public endpoint. Required when endpointPublicAccess is true.",
        default=[],
        check=all_of(each(any_cidr), unique),
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
        "Grant the identity that creates the cluster admin access (convenient in dev; off in prod).",
        default=ByEnv(dev=True, prod=False),
    )
    authentication_mode: Literal["API", "API_AND_CONFIG_MAP"] = setting(
        "EKS authentication mode (access entries).", default="API"
    )
    kms_key_deletion_window_days: int = setting(
        "Waiting period before the cluster's KMS keys (secrets, node volumes, control-plane and flow logs) are deleted.",
        default=ByEnv(dev=7, prod=30),
        check=in_range(7, 30),
    )
    addon_versions: dict[str, str] = setting(
        "Pin EKS managed add-on versions, e.g. {vpc-cni: v1.20.4-eksbuild.1}. Unpinned add-ons get the default version for the cluster version.",
        default={},
    )
    system_node_group: SystemNodeGroupSpec = setting(
        "The system node group (see `systemNodeGroup.*`).", default={}
    )

    def check(self, ctx: Context, path: str) -> None:
        if self.endpoint_public_access and not self.public_access_cidrs:
            ctx.problem(
                f"{path}.publicAccessCidrs",
                "required when endpointPublicAccess is true: list the CIDR blocks allowed to reach the API (never the whole internet by default)",
            )
        if not self.endpoint_public_access and self.public_access_cidrs:
            ctx.problem(
                f"{path}.publicAccessCidrs",
                "set, but endpointPublicAccess is false: remove it or turn the public endpoint on",
            )
        for key in self.addon_versions:
            if key not in MANAGED_ADDONS:
                ctx.problem(
                    f"{path}.addonVersions.{key}",
                    f"unknown add-on{did_you_mean(key, MANAGED_ADDONS)}; allowed: {', '.join(MANAGED_ADDONS)}",
                )
        if ctx.env == "prod" and "0.0.0.0/0" in self.public_access_cidrs:
            ctx.problem(f"{path}.publicAccessCidrs", "got \"0.0.0.0/0\"; a prod API endpoint must not be open to the internet")
