"""The teams section (platform layer): who shares the cluster, stated once.

Each team gets a namespace (its name), Kueue queues whose quotas are the team's share of each pool
(stacks/derive/quotas.py), RBAC for its groups and a Pod Identity role that reaches only its S3 prefixes.

Shares are percentages of a pool's capacity (cpu, memory, accelerators, EFA devices, huge pages at the pool's
limit). A pool no team names is split evenly across all teams; a pool some teams name goes to those teams
only (the others may still borrow it). Shares of one pool add up to at most 100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional

from stacks.spec.checks import k8s_name
from stacks.spec.schema import Context, all_of, did_you_mean, each, each_rule, in_range, setting, show, unique

if TYPE_CHECKING:  # pragma: no cover
    from stacks.spec.platform import PlatformSpec

_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]+/$")
_GROUP = re.compile(r"^[^\s*]{1,256}$")

# Namespaces Crucible, Kubernetes or the add-ons own: a team may not take them over.
RESERVED_NAMESPACES = (
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "kueue-system",
    "karpenter",
    "mpi-operator",
    "kubeflow-system",
    "kuberay-system",
)


def team_name(value: str) -> Optional[str]:
    if k8s_name(value) or len(value) > 40:
        return f"got {show(value)}; allowed: a DNS label of 1-40 lowercase letters, digits and '-' (it names the team's namespace)"
    if value in RESERVED_NAMESPACES or value.startswith("kube-"):
        return f"got {show(value)}; this namespace is reserved ({', '.join(RESERVED_NAMESPACES)}, kube-*)"
    return None


def group_name(value: str) -> Optional[str]:
    if not _GROUP.match(value):
        return f"got {show(value)}; allowed: a Kubernetes group name (no spaces or '*')"
    if value.startswith("system:"):
        return f"got {show(value)}; allowed: your own groups, not the built-in system: groups"
    return None


def hub_group_name(value: str) -> Optional[str]:
    if not _GROUP.match(value):
        return f"got {show(value)}; allowed: a JupyterHub group name (no spaces or '*'), e.g. acme-research:nlp"
    return None


def limit_value(value: Any) -> Optional[str]:
    """A borrowing/lending limit: true (no limit), false (none) or a percentage 0-100."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and 0 <= value <= 100:
        return None
    return f"got {show(value)}; allowed: true (no limit), false (none) or a percentage 0..100"


@dataclass(frozen=True)
class BorrowingSpec:
    """How a team's ClusterQueue shares idle quota with the other teams of the cohort."""

    borrowing_limit: Any = setting(
        "Idle quota of other teams this team may use on top of its share: true (up to the whole pool), false "
        "(none) or a percentage of the pool's capacity. The queue's share plus this never exceeds the pool.",
        default=True,
        check=limit_value,
    )
    lending_limit: Any = setting(
        "How much of its own unused share the team lends to others: true (all of it), false (none: its share "
        "is always free for it) or a percentage of its share.",
        default=True,
        check=limit_value,
    )


@dataclass(frozen=True)
class TeamSpec:
    name: str = setting("Team name: names its namespace, queue, IAM role (tag crucible.io/team) and default S3 prefix.", check=team_name)
    admin_groups: tuple[str, ...] = setting(
        "Kubernetes groups (from EKS access entries) bound to the built-in `admin` ClusterRole in the team namespace.",
        default=[],
        check=all_of(unique, each(group_name)),
    )
    member_groups: tuple[str, ...] = setting(
        "Kubernetes groups bound to the built-in `edit` ClusterRole in the team namespace.", default=[], check=all_of(unique, each(group_name))
    )
    notebook_groups: tuple[str, ...] = setting(
        "JupyterHub groups whose members get this team's notebook profiles (in its namespace and Kueue quota), as the "
        "hub's authenticator names them: github `<org>:<team slug>`, generic-oauth the values of oauth.claimGroupsKey. "
        "Default: adminGroups + memberGroups.",
        default=[],
        check=all_of(unique, each(hub_group_name)),
    )
    shares: dict[str, float] = setting(
        "Percent of each pool's capacity that is the team's nominal Kueue quota, by pool name (e.g. {train: 50}). "
        "Pools no team names are split evenly across all teams.",
        default={},
    )
    borrowing: BorrowingSpec = setting("Borrowing and lending of idle quota within the cohort (see `borrowing.*`).", default={})
    bucket_prefixes: tuple[str, ...] = setting(
        "Key prefixes the team's role reaches in every bucket of the stack; each under `<name>/`. Default: [`<name>/`].",
        default=[],
        check=unique,
    )
    pod_security: Optional[Literal["restricted", "baseline"]] = setting(
        "Pod Security Admission level enforced on the namespace. Default: baseline when the team has a share of a "
        "training pool (the EFA/NCCL training images and MPI's sshd run as root), restricted otherwise.",
        default=None,
    )
    priority_class: Optional[str] = setting(
        "The team's default WorkloadPriorityClass (one of `queues.priorityClasses[].name`): what its jobs' "
        "`kueue.x-k8s.io/priority-class` label says unless they pick another. Default: `queues.defaultPriorityClass`.",
        default=None,
    )
    volumes: int = setting(
        "Most PersistentVolumeClaims of the team's own in its namespace (ResourceQuota; the claims of its served models' S3 weights are added).",
        default=20,
        check=in_range(0, 10000),
    )
    storage_gib: int = setting(
        "Most GiB of volume storage the team requests in its namespace (ResourceQuota; the served models' S3 weight claims, 1200 GiB each, are added).",
        default=2000,
        check=in_range(0, 1000000),
    )

    @property
    def namespace(self) -> str:
        return self.name

    @property
    def hub_groups(self) -> tuple[str, ...]:
        """The JupyterHub groups whose members get the team's notebook profiles."""
        return self.notebook_groups or tuple(dict.fromkeys((*self.admin_groups, *self.member_groups)))

    @property
    def prefixes(self) -> tuple[str, ...]:
        return self.bucket_prefixes or (f"{self.name}/",)

    def check(self, ctx: Context, path: str) -> None:
        for pool, share in self.shares.items():
            if not 0 <= share <= 100:
                ctx.problem(f"{path}.shares.{pool}", f"got {show(share)}; allowed: a percentage 0..100 of the pool's capacity")
        for i, prefix in enumerate(self.bucket_prefixes):
            if not _PREFIX.match(prefix):
                ctx.problem(f"{path}.bucketPrefixes[{i}]", f"got {show(prefix)}; allowed: an S3 key prefix ending in '/', e.g. {self.name}/datasets/")
            elif not prefix.startswith(f"{self.name}/"):
                ctx.problem(
                    f"{path}.bucketPrefixes[{i}]",
                    f"got {show(prefix)}; allowed: a prefix under {self.name}/ (team roles reach only their team's prefix: policy SEC-IAM-003)",
                )


def team_priority_class(team: TeamSpec, spec: "PlatformSpec") -> str:
    """The class a team's jobs carry unless they pick another."""
    return team.priority_class or spec.queues.default_priority_class


def is_training_team(team: TeamSpec, spec: "PlatformSpec") -> bool:
    """A team trains when it has a share of a training pool (explicitly, or by the even split of an unnamed pool)."""
    from stacks.derive.quotas import team_percentages

    percent = team_percentages(spec.teams, spec.pools)
    return any(pool.workload == "training" and percent[pool.name].get(team.name, 0) > 0 for pool in spec.pools)


def pod_security_level(team: TeamSpec, spec: "PlatformSpec") -> str:
    if team.pod_security is not None:
        return team.pod_security
    return "baseline" if is_training_team(team, spec) else "restricted"


def check_teams(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """Cross-section rules: unique names, shares of pools this stack defines and at most 100% of each."""
    names = [t.name for t in spec.teams]
    pools = [p.name for p in spec.pools]
    used: set[str] = set()  # the platform's namespaces, from the sections that parsed (one pass: a bad section skips only its own)
    each_rule(
        lambda: used.add(spec.addons.jupyterhub.namespace),
        lambda: used.add(spec.addons.observability.namespace),
        lambda: used.add(spec.addons.argo.namespace),
        lambda: used.add(spec.storage.namespace),
    )
    totals: dict[str, float] = {}
    for i, team in enumerate(spec.teams):
        where = f"{path}teams[{i}]"
        if names.index(team.name) != i:
            ctx.problem(f"{where}.name", f"got {show(team.name)}; team names must be unique (also used by teams[{names.index(team.name)}])")
        if team.name in used:
            ctx.problem(f"{where}.name", f"got {show(team.name)}; this namespace is used by the platform ({', '.join(sorted(used))})")
        for pool, share in team.shares.items():
            if pool not in pools:
                ctx.problem(
                    f"{where}.shares.{pool}",
                    f"unknown pool {show(pool)}{did_you_mean(pool, pools)}; allowed: one of crucible:pools[].name ({', '.join(pools) or 'none defined'})",
                )
            else:
                totals[pool] = round(totals.get(pool, 0) + share, 9)
        if not team.admin_groups and not team.member_groups:
            ctx.problem(f"{where}.adminGroups", "name at least one group (adminGroups or memberGroups): a team nobody can use is a mistake")
        if team.pod_security == "baseline" and not is_training_team(team, spec):
            ctx.problem(
                f"{where}.podSecurity",
                "got 'baseline' for a team without a share of a training pool; allowed: restricted (baseline is for training "
                "namespaces, whose EFA/NCCL images and MPI sshd run as root: policy SEC-K8S-001)",
            )
    for pool, total in totals.items():
        if total > 100:
            running, crossing = 0.0, 0
            for i, t in enumerate(spec.teams):
                running += t.shares.get(pool, 0)
                if running > 100:
                    crossing = i
                    break
            who = ", ".join(f"{t.name} {t.shares[pool]:g}%" for t in spec.teams if pool in t.shares)
            ctx.problem(f"{path}teams[{crossing}].shares.{pool}", f"shares of pool {show(pool)} add up to {total:g}% ({who}); allowed: at most 100%")
