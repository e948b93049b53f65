"""PlatformSpec: the whole validated stack config, one frozen object."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Optional

from stacks.spec.addons import ARGO_SSO_SECRET_KEY, GRAFANA_PASSWORD_KEY, OAUTH_CLIENT_SECRET_KEY, AddonsSpec, check_addons, secret_setting
from stacks.spec.cluster import ClusterSpec, check_cluster
from stacks.spec.cost import CostSpec, check_cost
from stacks.spec.network import NetworkSpec
from stacks.spec.pools import PoolSpec
from stacks.spec.queues import QueuesSpec, check_queues
from stacks.spec.storage import StorageSpec, check_physical_names
from stacks.spec.teams import TeamSpec, check_teams
from components.partitions import all_regions
from components import versions
from stacks.spec.checks import AWS_TAGS_PER_RESOURCE, iam_policy_arn, tag_problems
from stacks.spec.schema import ByEnv, Context, Problem, all_of, did_you_mean, each_rule, setting, show, unique
from stacks.spec.workloads import ServingSpec, TrainingSpec, check_workloads

LAYERS = ("network", "cluster", "compute", "storage", "platform")

# The layers that read each config section; a section set in a stack that builds none of them is a mistake, and the
# loader validates a section only where a layer of the stack reads it. `pools` is the compute layer's, and what the
# storage layer (the Lustre zone of the training pools) and the platform layer (queues, quotas, notebook profiles,
# exporters) need from below: a stack that builds them on a compute layer of another stack carries a copy of that
# stack's pools, checked against what its compute layer exports (stacks/layers/reference.py pool_problems).
SECTION_LAYERS: dict[str, tuple[str, ...]] = {
    "network": ("network",),
    "cluster": ("cluster",),
    "pools": ("compute", "storage", "platform"),
    "storage": ("storage",),
    "training": ("platform",),
    "serving": ("platform",),
    "addons": ("platform",),
    "teams": ("platform",),
    "queues": ("platform",),
    OAUTH_CLIENT_SECRET_KEY: ("platform",),
    GRAFANA_PASSWORD_KEY: ("platform",),
    ARGO_SSO_SECRET_KEY: ("platform",),
}

_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_STACK_REF = re.compile(r"^([\w.-]+/){0,2}[\w.-]+$")


def region_name(value: str) -> Optional[str]:
    """A region one of the AWS partitions holds (components/partitions.py, the one table of them)."""
    from components.partitions import PARTITIONS, known_region

    if known_region(value):
        return None
    listed = "; ".join(f"{p.name}: {', '.join(p.regions)}" for p in PARTITIONS)
    shape = "" if _REGION.match(value) else " (not a region name)"
    return f"got {show(value)}{shape}; no AWS partition has this region{did_you_mean(value, all_regions())}; allowed: an AWS region name ({listed})"


# Tags Crucible itself puts on AWS resources: the provider's default tags, and at most this many of a resource's own
# (subnets carry the most: Name, karpenter.sh/discovery, kubernetes.io/cluster/<name>, kubernetes.io/role/*-elb;
# instances Karpenter launches carry crucible.io/pool and Karpenter's Name, karpenter.sh/nodepool, karpenter.sh/nodeclaim,
# karpenter.k8s.aws/ec2nodeclass, kubernetes.io/cluster/<name>, eks:eks-cluster-name).
# tests/test_spec_refused_configs.py checks that no registered resource carries more of its own.
CRUCIBLE_DEFAULT_TAGS = ("crucible:stack", "crucible:environment")
CRUCIBLE_RESOURCE_TAGS_MAX = 8
USER_TAGS_MAX = AWS_TAGS_PER_RESOURCE - len(CRUCIBLE_DEFAULT_TAGS) - CRUCIBLE_RESOURCE_TAGS_MAX
# Keys the user may not set: Crucible's own namespace, the discovery tags Karpenter and the load balancer controller
# select subnets and security groups by (a default tag lands on every resource), and the tags Karpenter puts on what it
# launches (the EC2NodeClass CRD refuses eks:eks-cluster-name, kubernetes.io/cluster/*, karpenter.sh/nodepool,
# karpenter.sh/nodeclaim and karpenter.k8s.aws/ec2nodeclass in spec.tags).
RESERVED_TAG_PREFIXES = ("crucible:", "karpenter.sh/", "karpenter.k8s.aws/", "kubernetes.io/", "eks:")


def aws_tags(tags) -> list[tuple[Optional[str], str]]:
    """The problems of the `tags` setting, one per tag (AWS's rules, and the room Crucible's own tags need)."""
    out = []
    for key, message in tag_problems(tags, RESERVED_TAG_PREFIXES, USER_TAGS_MAX):
        if key is None:
            message += (
                f" (AWS allows {AWS_TAGS_PER_RESOURCE} per resource; Crucible adds {', '.join(CRUCIBLE_DEFAULT_TAGS)} "
                f"to every resource and up to {CRUCIBLE_RESOURCE_TAGS_MAX} of its own)"
            )
        out.append((key, message))
    return out


def stack_reference(value: str) -> Optional[str]:
    if not _STACK_REF.match(value):
        return f"got {show(value)}; allowed: <stack>, <project>/<stack> or <org>/<project>/<stack>"
    return None


def az_count(values: tuple[str, ...]) -> Optional[str]:
    if not 2 <= len(values) <= 3:
        return f"got {len(values)} zones; allowed: 2 or 3 availability zones"
    return None


@dataclass(frozen=True)
class PlatformSpec:
    environment: Literal["dev", "staging", "prod"] = setting("Environment: selects the defaults (prod: safe; dev: cheap) and the policy enforcement levels.")
    region: str = setting("AWS region of every resource.", check=region_name)
    availability_zones: tuple[str, ...] = setting(
        "Availability zones to span (2 or 3), e.g. [us-east-1a, us-east-1b, us-east-1c].",
        check=all_of(az_count, unique),
    )
    protect: bool = setting(
        "Protect stateful resources (KMS keys, cluster, buckets, file systems, user volumes) from deletion "
        "and replacement, and retain them if removed from the program.",
        default=ByEnv(dev=False, prod=True),
    )
    tags: dict[str, str] = setting(
        "Tags added to every AWS resource (provider default tags). AWS rules: keys 1-128 and values 0-256 characters "
        "(letters, numbers, spaces and + - = . _ : / @), no `aws:` prefix; at most 40 here (AWS allows 50 per resource; "
        "Crucible adds crucible:stack, crucible:environment and up to 8 of its own). Keys starting with crucible:, "
        "karpenter.sh/, karpenter.k8s.aws/, kubernetes.io/ or eks: are reserved. Also put on what Karpenter launches "
        "(EC2NodeClass tags).",
        default={},
        check=aws_tags,
    )
    layers: tuple[str, ...] = setting(
        "Layers this stack builds, in order: " + ", ".join(LAYERS) + ". Layers below the first come from `stackReference`.",
        default=list(LAYERS),
        check=unique,
    )
    stack_reference: Optional[str] = setting(
        "Stack whose outputs provide the layers this stack does not build (e.g. acme/crucible/prod-core).",
        default=None,
        check=stack_reference,
    )
    permissions_boundary: Optional[str] = setting(
        "Permissions boundary of every IAM role the stack creates (control plane, node roles, Karpenter's controller, "
        "Pod Identity roles, flow logs, managed observability): the ARN of a customer managed policy of the stack's "
        "partition, the bootstrap's output permissionsBoundaryArn (arn:<partition>:iam::<account>:policy/crucible-boundary/"
        "crucible-platform-boundary). The bootstrap's deploy roles create and change roles only with it, and policy "
        "SEC-IAM-004 requires it in staging and prod. Setting it on existing roles updates them in place.",
        default=None,
        check=iam_policy_arn,
    )
    network: NetworkSpec = setting("The network layer (see `network.*`).", default={})
    cluster: ClusterSpec = setting("The cluster layer (see `cluster.*`).", default={})
    pools: tuple[PoolSpec, ...] = setting(
        "Karpenter node pools of the compute layer (see `pools[].*`). A stack that builds storage or platform on the "
        "compute layer of its stackReference sets the same pools as that stack (the platform plans queues, quotas and "
        "notebook profiles from them); the plan refuses pools whose names, zones or limits differ from what that "
        "compute layer built.",
        default=[],
    )
    storage: StorageSpec = setting("The storage layer: S3 buckets, FSx for Lustre, volumes (see `storage.*`).", default={})
    training: TrainingSpec = setting(
        "Training runtimes, example jobs, the health canary and auto-resume of the platform layer (see `training.*`; the operators are addons.mpiOperator and addons.trainer).",
        default={},
    )
    serving: ServingSpec = setting(
        "Exposure, served models and example serving workloads of the platform layer (see `serving.*`; the controller is addons.loadBalancerController).",
        default={},
    )
    teams: tuple[TeamSpec, ...] = setting(
        "Teams sharing the cluster: namespace, Kueue queues with their share of each pool, RBAC, a Pod Identity role "
        "limited to their S3 prefixes (see `teams[].*`). Kueue is installed when at least one team is set.",
        default=[],
    )
    queues: QueuesSpec = setting("Kueue's priority classes, gang admission and topology-aware placement for the teams' jobs (see `queues.*`).", default={})
    addons: AddonsSpec = setting("Every add-on of the platform layer, each with `enabled` and `version` (see `addons.*`).", default={})
    cost: CostSpec = setting("What the plan's cost section cannot read from the catalogs: spot savings, reservation sizes (see `cost.*`).", default={})
    jupyterhub_oauth_client_secret: Optional[str] = secret_setting("JupyterHub OAuth client secret (authenticators github, generic-oauth).")
    grafana_admin_password: Optional[str] = secret_setting("Grafana admin password (addons.observability.grafana).")
    argo_sso_client_secret: Optional[str] = secret_setting("Argo Workflows SSO client secret (addons.argo auth mode sso).")

    stack: str = field(default="", metadata={"internal": True})
    # What the loader found worth saying that is not an error (a deprecated key): `crucible plan` prints them, `pulumi
    # up` logs them. Not part of the spec's value: a config with an old key equals the one with the new key.
    warnings: tuple[Problem, ...] = field(default=(), compare=False, repr=False, metadata={"internal": True})

    @property
    def cluster_name(self) -> str:
        return self.cluster.name or f"crucible-{self.stack}"

    def builds(self, layer: str) -> bool:
        return layer in self.layers

    def check(self, ctx: Context, path: str) -> None:
        """Cross-section rules, each independent: one that needs a section that failed is skipped, not the rest."""
        each_rule(
            lambda: self._check_zones(ctx, path),
            lambda: self._check_layers(ctx, path),
            lambda: self._check_admins(ctx, path),
            lambda: self._check_boundary_partition(ctx, path),
            lambda: check_cluster(self, ctx, path) if self.builds("cluster") else None,
            lambda: self._check_pools(ctx, path),
            lambda: check_workloads(self, ctx, path),
            lambda: check_addons(self, ctx, path),
            lambda: check_teams(self, ctx, path),
            lambda: check_queues(self, ctx, path),
            lambda: check_cost(self, ctx, path),
            lambda: self._check_lustre_zone(ctx, path),
            lambda: self._check_training_zones(ctx, path),
            lambda: self._check_existing_subnets(ctx, path),
            lambda: self._check_physical_names(ctx, path),
        )

    def _check_physical_names(self, ctx: Context, path: str) -> None:
        if ctx.stack and self.builds("storage"):  # physical bucket names depend on the stack name
            check_physical_names(self.storage, ctx.stack, self.region, ctx, f"{path}storage")

    def _check_zones(self, ctx: Context, path: str) -> None:
        for i, zone in enumerate(self.availability_zones):
            if not (zone.startswith(self.region) and len(zone) == len(self.region) + 1 and zone[-1].isalpha()):
                ctx.problem(
                    f"{path}availabilityZones[{i}]",
                    f"got {show(zone)}; allowed: a zone of region {self.region} such as {self.region}a",
                )

    def _check_layers(self, ctx: Context, path: str) -> None:
        unknown = [layer for layer in self.layers if layer not in LAYERS]
        if unknown:
            ctx.problem(
                f"{path}layers",
                f"got {show(unknown[0])}{did_you_mean(unknown[0], LAYERS)}; allowed: {', '.join(LAYERS)}",
            )
            return
        if not self.layers:
            ctx.problem(f"{path}layers", "must name at least one layer")
            return
        first = LAYERS.index(self.layers[0])
        expected = list(LAYERS[first : first + len(self.layers)])
        if list(self.layers) != expected:
            ctx.problem(
                f"{path}layers",
                f"got {show(list(self.layers))}; layers must be consecutive and in order, e.g. {show(expected)}",
            )
        if first > 0 and not self.stack_reference:
            ctx.problem(
                f"{path}stackReference",
                f"required: this stack does not build {', '.join(LAYERS[:first])}; name the stack that does",
            )
        if first == 0 and self.stack_reference:
            ctx.problem(f"{path}stackReference", "set, but this stack builds every layer from the network up: remove it")

    def _check_boundary_partition(self, ctx: Context, path: str) -> None:
        """IAM refuses a boundary of another partition (an arn:aws: policy on a GovCloud or China role), and only when the
        first role is created."""
        from components.partitions import known_region, partition_of

        arn = self.permissions_boundary
        if arn is None or not known_region(self.region) or iam_policy_arn(arn):
            return
        partition = partition_of(self.region).name
        if arn.split(":")[1] != partition:
            ctx.problem(
                f"{path}permissionsBoundary",
                f"got {show(arn)}: a policy of partition {arn.split(':')[1]!r}; region {self.region} is in partition {partition!r} "
                f"(allowed: arn:{partition}:iam::<account>:policy/...)",
            )

    def _check_admins(self, ctx: Context, path: str) -> None:
        if self.builds("cluster") and self.environment == "prod" and not self.cluster.bootstrap_creator_admin and not self.cluster.admin_role_arns:
            ctx.problem(
                f"{path}cluster.adminRoleArns",
                "required in prod when bootstrapCreatorAdmin is false: name at least one IAM role that administers the cluster",
            )

    def _check_pools(self, ctx: Context, path: str) -> None:
        names = [pool.name for pool in self.pools]
        for i, pool in enumerate(self.pools):
            if names.index(pool.name) != i:
                ctx.problem(f"{path}pools[{i}].name", f"got {show(pool.name)}; pool names must be unique (also used by pools[{names.index(pool.name)}])")
            self._check_bottlerocket_release(ctx, f"{path}pools[{i}].amiVersion", pool)
            for j, zone in enumerate(pool.zones):
                if zone not in self.availability_zones:
                    ctx.problem(
                        f"{path}pools[{i}].zones[{j}]",
                        f"got {show(zone)}; allowed: one of crucible:availabilityZones ({', '.join(self.availability_zones)})",
                    )

    def _check_bottlerocket_release(self, ctx: Context, path: str, pool) -> None:
        """A pinned Bottlerocket release must have the cluster's Kubernetes variant (components/versions.py)."""
        first = versions.BOTTLEROCKET_FIRST_RELEASE.get(self.cluster.version)
        if pool.ami_family != "Bottlerocket" or pool.ami_version in (None, "latest") or first is None:
            return
        release = pool.ami_version.lstrip("v")
        try:
            older = tuple(int(p) for p in release.split(".")) < tuple(int(p) for p in first.split("."))
        except ValueError:
            return  # not a release number: the pool's own check says so
        if older:
            ctx.problem(
                path,
                f"got {show(pool.ami_version)}; allowed: Bottlerocket {first} or later on Kubernetes {self.cluster.version} (crucible:cluster.version): "
                f"the first release with the aws-k8s-{self.cluster.version} variants; Karpenter finds no image for an older one and the pool never gets a node",
            )

    def _check_lustre_zone(self, ctx: Context, path: str) -> None:
        zone = self.storage.lustre.zone
        if zone is not None and zone not in self.availability_zones:
            ctx.problem(f"{path}storage.lustre.zone", f"got {show(zone)}; allowed: one of crucible:availabilityZones ({', '.join(self.availability_zones)})")
        if zone is None and self.environment != "dev" and self.builds("storage") and self.storage.lustre.enabled:
            self._require_lustre_zone(ctx, path)

    def _check_existing_subnets(self, ctx: Context, path: str) -> None:
        if self.network.existing is not None and len(self.network.existing.private_subnet_ids) != len(self.availability_zones):
            ctx.problem(
                f"{path}network.existing.privateSubnetIds",
                f"got {len(self.network.existing.private_subnet_ids)} subnets; need one per availability zone ({len(self.availability_zones)})",
            )

    def _require_lustre_zone(self, ctx: Context, path: str) -> None:
        """Outside dev the file system's zone is stated: FSx places it in one subnet and a changed `subnetIds`
        replaces it, so it must not follow the order of `availabilityZones` or `pools`."""
        from stacks.derive.placement import derived_lustre_zone

        hint = ""
        if self.availability_zones:
            derived = derived_lustre_zone(self)
            hint = f"; to keep a deployed file system where it is, state the zone it was derived in: storage.lustre.zone: {derived}"
        ctx.problem(
            f"{path}storage.lustre.zone",
            f"required in {self.environment}: the file system lives in one zone and moving it replaces it (its data with it), "
            f"so it must not follow the order of availabilityZones or pools; allowed: one of crucible:availabilityZones "
            f"({', '.join(self.availability_zones)}), the zone of the EFA/training pools{hint}",
        )

    def _check_training_zones(self, ctx: Context, path: str) -> None:
        """One Lustre file system lives in one zone: every training pool that reads it must run in that zone."""
        if ctx.problems or not (self.builds("compute") and self.builds("storage") and self.storage.lustre.enabled):
            return  # zones and pools must be valid first
        from stacks.derive.capacity import pool_zones
        from stacks.derive.placement import lustre_zone

        zone = lustre_zone(self)
        source = "storage.lustre.zone" if self.storage.lustre.zone else "derived in dev: the first EFA/training pool's zone"
        for i, pool in enumerate(self.pools):
            zones = pool_zones(pool, self.availability_zones)
            if pool.workload == "training" and zone not in zones:
                ctx.problem(
                    f"{path}pools[{i}].zones",
                    f"got {show(list(zones))}, but the Lustre file system is in {zone} ({source}); "
                    f"allowed: training pools in {zone}, or a stack per training zone",
                )
