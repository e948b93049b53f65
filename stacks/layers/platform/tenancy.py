"""Team tenancy (teams[]): Kueue with the flavors, cohort and cluster queues derived from the pools and teams
(stacks/derive/quotas.py), and one `crucible:platform:Team` per team (namespace, quota, network policies, RBAC,
LocalQueue, data identity) behind the tenant guards. Nothing is installed when no team is configured."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from addons.kueue import Kueue, KueueArgs
from addons.observability import PROMETHEUS_SERVICE_ACCOUNT
from addons.kuberay import NAMESPACE as KUBERAY_NAMESPACE
from addons.placement_guard import PlacementGuard
from addons.toleration_guard import TolerationGuard
from addons.storage_drivers import LUSTRE_CLAIM, S3_VOLUME_GIB
from addons.jupyterhub import HUB_PORT, HUB_SERVICE_ACCOUNT, NOTEBOOK_PORT
from addons.serving import APP as SERVING_APP, APP_LABEL as SERVING_APP_LABEL, MODEL_LABEL, PORT as SERVING_PORT
from addons.tenancy import KUBERAY_OPERATOR_PORTS, SERVICE_ACCOUNT, ExposedApp, NotebookAccess, Team, TeamArgs, TenantGuard
from components.accelerators import DEVICE_RESOURCES
from components.labels import EFA_RESOURCE, HUGEPAGES_RESOURCE
from stacks.derive.admission import gang_admission, priority_classes, toleration_checked_kinds, topology, topology_aware_pools
from stacks.derive.examples import APP_PORT, PROMPT_APP, app_labels, prompt_app_behind_load_balancer
from stacks.derive.quotas import LOCAL_QUEUE, QueuePlan, plan_queues, quantity, team_max
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform.shared import shared_storage
from stacks.spec import PlatformSpec
from stacks.spec.teams import is_training_team, pod_security_level

ACCELERATORS = DEVICE_RESOURCES
EXTENDED = (EFA_RESOURCE,)


def platform_claims_gib(spec: PlatformSpec, team: str) -> list[int]:
    """GiB of each claim the platform itself makes in the team namespace beyond the team's `lustre` token claim:
    the served models' S3 weight volumes (addons/serving.py), whose claims ask for the volume's nominal size."""
    from stacks.layers.platform.serving import team_of

    return [S3_VOLUME_GIB for m in spec.serving.models if m.weights == "s3" and team_of(spec, m) == team]


def team_quota(plan: QueuePlan, team, platform_claims: Sequence[int] = ()) -> dict[str, str]:
    """ResourceQuota spec.hard: at most what Kueue can admit for the team across pools; volumes from config, plus
    the claims the platform makes there (``platform_claims``, GiB each): the quota admission counts every claim,
    static ones included, and would refuse the one that goes over (REL-K8S-005), so the team's budget stays its own.

    Huge pages are always 0: no node offers any (Karpenter models none: components/labels.py), so the API server
    refuses a pod asking for them at once ("exceeded quota") instead of letting it wait Pending for ever."""
    hard = {"requests.cpu": quantity("cpu", team_max(plan, team.name, "cpu")), "requests.memory": quantity("memory", team_max(plan, team.name, "memory"))}
    for resource in ACCELERATORS:  # always stated, 0 when the stack has no such pool (a tenant gets none)
        hard[f"requests.{resource}"] = quantity(resource, team_max(plan, team.name, resource))
    for resource in EXTENDED:
        if resource in plan.covered:
            hard[f"requests.{resource}"] = quantity(resource, team_max(plan, team.name, resource))
    hard[f"requests.{HUGEPAGES_RESOURCE}"] = "0"
    hard["persistentvolumeclaims"] = str(team.volumes + len(platform_claims))
    hard["requests.storage"] = f"{team.storage_gib + sum(platform_claims)}Gi"
    return hard


def platform_namespaces(spec: PlatformSpec) -> dict[str, tuple[int, ...]]:
    """Namespaces whose pods reach team pods: Prometheus (any port) and the KubeRay operator (each head's dashboard
    API: job and Serve status; and its Serve proxy's health). Not the hub's: with teams, notebooks run in the team
    namespaces and reach their own team's Ray clusters there; the hub and proxy reach only the notebooks
    (:func:`notebook_access`)."""
    out: dict[str, tuple[int, ...]] = {}
    if spec.addons.kuberay.enabled:
        out[KUBERAY_NAMESPACE] = KUBERAY_OPERATOR_PORTS
    if spec.addons.observability.enabled:
        out[spec.addons.observability.namespace] = ()
    return out


def notebook_access(spec: PlatformSpec) -> Optional[NotebookAccess]:
    """The hub whose notebooks run in the team namespaces (stacks/layers/platform/notebooks.py), if enabled."""
    hub = spec.addons.jupyterhub
    if not hub.enabled:
        return None
    return NotebookAccess(hub_namespace=hub.namespace, hub_service_account=HUB_SERVICE_ACCOUNT, notebook_port=NOTEBOOK_PORT, hub_port=HUB_PORT)


def exposed_apps(spec: PlatformSpec) -> tuple[ExposedApp, ...]:
    """What the platform hands teams behind a load balancer with IP targets: the example prompt app and its ALB
    (`crucible examples`, stacks/tools/examples), when the stack renders it with its Ingress."""
    apps = [ExposedApp(PROMPT_APP, app_labels(PROMPT_APP), APP_PORT)] if prompt_app_behind_load_balancer(spec) else []
    # serving.models behind an internal NLB or a public ALB (IP targets: the load balancer sends from the VPC).
    apps += [
        ExposedApp(f"model-{m.name}", {SERVING_APP_LABEL: SERVING_APP, MODEL_LABEL: m.name}, SERVING_PORT)
        for m in spec.serving.models
        if m.exposure != "cluster"
    ]
    return tuple(apps)


def queue_plan(spec: PlatformSpec) -> QueuePlan:
    return plan_queues(spec.teams, spec.pools, topology_pools=topology_aware_pools(spec))


def build_kueue(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    plan = queue_plan(spec)
    monitoring = below.monitoring  # observability on: Prometheus scrapes Kueue's metrics
    kueue = Kueue(
        "kueue",
        KueueArgs(
            system_pool=below.require_cluster().system_node_group_label,
            flavors=plan.flavors,
            cohort=plan.cohort,
            cluster_queues=plan.cluster_queues,
            prometheus=(PROMETHEUS_SERVICE_ACCOUNT, spec.addons.observability.namespace) if monitoring is not None else None,
            depends_on=(monitoring.release,) if monitoring is not None else (),
            wait_for_pods_ready=gang_admission(spec).config(),
            priority_classes=priority_classes(spec),
            topology=topology() if topology_aware_pools(spec) else None,
            version=spec.addons.kueue.version,
        ),
        opts=opts,
    )
    return AddonOutputs(export={"version": spec.addons.kueue.version, "cohort": plan.cohort["metadata"]["name"]}, kueue=kueue)


def build_teams(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    if below.kueue is None:
        raise RuntimeError("the teams were built before Kueue (registry order)")
    kueue, plan, cluster, storage = below.kueue, queue_plan(spec), below.require_cluster(), below.storage
    bucket_arns = {name: b.arn for name, b in storage.buckets.items()} if storage is not None else {}
    groups = [g for team in spec.teams for g in (*team.admin_groups, *team.member_groups)]
    if groups:
        TenantGuard("tenant-guard", groups, [team.namespace for team in spec.teams], opts=opts)
    PlacementGuard("tenant-placement", opts=opts)  # tenant pods never tolerate the system nodes' taint
    checked = toleration_checked_kinds(spec)
    if checked:  # and accelerator jobs state their pool's toleration, where Kueue would admit them only then
        TolerationGuard("tenant-tolerations", checked, opts=opts)
    exports: dict = {}
    namespaces: dict = {}
    quotas: dict = {}
    for team, local_queue in zip(spec.teams, plan.local_queues):
        level = pod_security_level(team, spec)
        t = Team(
            f"team-{team.name}",
            TeamArgs(
                name=team.name,
                pod_security=level,
                training=is_training_team(team, spec),
                admin_groups=team.admin_groups,
                member_groups=team.member_groups,
                quota=team_quota(plan, team, platform_claims_gib(spec, team.name)),
                cluster_name=cluster.name,
                region=spec.region,
                bucket_arns=bucket_arns,
                prefixes=team.prefixes,
                kms_key_arn=storage.kms_key_arn if storage is not None else None,
                vpc_cidr=below.require_network().vpc_cidr,
                lustre=shared_storage(storage).lustre,
                platform_namespaces=platform_namespaces(spec),
                exposed_apps=exposed_apps(spec),
                local_queue=local_queue,
                kueue=(kueue.release, kueue.cluster_queues[team.name]),
                protect=spec.protect,
                load_balancer_controller=below.controller(),
                notebooks=notebook_access(spec),
                permissions_boundary=spec.permissions_boundary,
            ),
            opts=opts,
        )
        exports[team.name] = {
            "namespace": team.namespace,
            "podSecurity": level,
            "localQueue": LOCAL_QUEUE,
            "clusterQueue": team.name,
            "serviceAccount": SERVICE_ACCOUNT,
            "roleArn": t.identity.arn if t.identity is not None else None,
            "prefixes": list(team.prefixes),
            "lustreClaim": LUSTRE_CLAIM if t.lustre_claim is not None else None,
            "quotas": {pool: q.to_json() for pool, q in plan.quotas[team.name].items()},
        }
        namespaces[team.namespace] = t.namespace
        quotas[team.namespace] = t.quota
    return AddonOutputs(export=exports, namespaces=namespaces, quotas=quotas)


KUEUE = Entry(
    name="kueue",
    components=("crucible:platform:Kueue",),
    enabled=lambda spec: bool(spec.teams) and spec.addons.kueue.enabled,
    build=build_kueue,
    output="tenancy",
    key="kueue",
    after=("monitoring",),
    summary="queues: one ClusterQueue per team in a cohort, a flavor per pool",
)
TEAMS = Entry(
    name="teams",
    components=("crucible:platform:TenantGuard", "crucible:platform:PlacementGuard", "crucible:platform:TolerationGuard", "crucible:platform:Team"),
    enabled=lambda spec: bool(spec.teams),
    build=build_teams,
    output="tenancy",
    key="teams",
    after=("kueue", "aws-load-balancer-controller"),
    summary="a namespace per team: quota, network policies, RBAC, LocalQueue, data identity",
)
