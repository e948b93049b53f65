"""JupyterHub (z2jh chart `jupyterhub`, https://hub.jupyter.org/helm-chart/) with profiles derived from the pools.

What the component creates:
- the hub namespace (stateful: protected with the stack, like tenant namespaces). Pod Security: `enforce:
  restricted`. The instance metadata service is blocked from notebooks by NetworkPolicy, not by the chart's
  `block-cloud-metadata` init container (`singleuser.cloudMetadata.blockWithIptables: false`): that container runs
  privileged as root with NET_ADMIN, which only a `privileged` namespace admits. The chart's singleuser
  NetworkPolicy keeps `egressAllowRules.cloudMetadataServer: false` (its `nonPrivateIPs` rule excepts
  169.254.169.254/32, z2jh templates/_helpers-netpol.tpl) and, in team namespaces, the notebook policies of
  addons.tenancy allow no egress to it. Every other pod of the namespace is already restricted-compliant (the
  chart's hub, proxy and user-scheduler securityContexts); notebook containers get KubeSpawner's
  `container_security_context` / `pod_security_context` (:data:`NOTEBOOK_CONTAINER_SECURITY`): non-root,
  no privilege escalation, all capabilities dropped, RuntimeDefault seccomp;
- with teams (:class:`TeamNotebooks`): no profile list for everyone. The hub's `profile_list` is a callable
  (hub.extraConfig, :data:`TEAM_PROFILES_CONFIG`) returning the profiles of the teams whose hub groups the user is
  in (JupyterHub groups, set by the authenticator with `manage_groups`); a user in no team's group is refused at
  spawn. Each team profile's `kubespawner_override` names the team's namespace (KubeSpawner 7 without
  `enable_user_namespaces` starts one pod reflector per namespace, so the hub needs only a Role there: addons.tenancy)
  and labels the pod with the team's LocalQueue (Kueue's pod integration admits it against the team's quota);
  notebooks reach the hub API at its cluster DNS name (`hub_connect_url`) and the hub's NetworkPolicy admits them;
- the namespace's own claims on the shared data (a PersistentVolume binds one claim and claims are namespaced):
  the FSx for Lustre file system read-write and the read-only Mountpoint for S3 buckets, with the PV specs of the
  storage layer (addons.storage_drivers);
- the Helm release. Values are built by :func:`jupyterhub_values` (pure, validated strictly against the chart's
  values.schema.yaml in tests): `hub.config` keyed by class names, profiles in `singleuser.profileList`, per-user
  home volumes on the storage layer's Retain StorageClass, idle culling, user-pod network policy (the chart's
  private-address block kept, egress opened to team Ray heads and the API server: :func:`notebook_egress`) and metadata
  blocking, the proxy on ClusterIP unless an internal NLB or (with TLS) a public NLB is configured, and the hub,
  proxy and user scheduler on the system node group.

The OAuth client secret never enters the chart values (they stay readable in plans and diffs): it is a
`pulumi.Output.secret` written into a Secret of the hub namespace, which the hub reads as `OAUTH_CLIENT_SECRET`
(OAuthenticator's default source of `client_secret`) through `hub.extraEnv`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from addons.storage_drivers import S3_VOLUME_SIZE, LustreVolumeArgs, S3VolumeArgs, lustre_pv_spec, lustre_volume_name, s3_pv_spec, static_claim
from addons.tenancy import RAY_PORTS
from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import TENANT_LABEL, pod_security

PIN = versions.chart("jupyterhub")
RELEASE = "jupyterhub"
# The value paths of the hub's own pods (hub, proxy, user scheduler): on the system node group.
SYSTEM_PODS = (("hub",), ("proxy", "chp"), ("scheduling", "userScheduler"))
AUTHENTICATOR_CLASS = {"github": "GitHubOAuthenticator", "generic-oauth": "GenericOAuthenticator", "dummy": "DummyAuthenticator"}
DEFAULT_SCOPES = {"github": ["read:org"], "generic-oauth": ["openid", "email", "profile"]}

LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
LB_TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
LB_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
LB_SSL_CERT = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
LB_SSL_PORTS = "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"


@dataclass(frozen=True)
class Profile:
    slug: str
    display_name: str
    description: str
    kind: str  # cpu | gpu | neuron
    pool: Optional[str]
    accelerator_resource: Optional[str]
    accelerators: int
    node_selector: dict = field(default_factory=dict)
    tolerations: tuple = ()
    image: Optional[str] = None
    default: bool = False
    # Team profiles: the namespace the pod runs in (the team's), its labels (the team's LocalQueue) and service account.
    team: Optional[str] = None
    namespace: Optional[str] = None
    labels: Mapping[str, str] = field(default_factory=dict)
    service_account: Optional[str] = None

    def kubespawner_override(self) -> dict:
        out: dict = {}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.labels:
            out["extra_labels"] = dict(self.labels)
        if self.service_account:
            out["service_account"] = self.service_account
        if self.node_selector:
            out["node_selector"] = dict(self.node_selector)
        if self.accelerator_resource:
            out["extra_resource_limits"] = {self.accelerator_resource: str(self.accelerators)}
        if self.tolerations:
            out["tolerations"] = [dict(t) for t in self.tolerations]
        if self.image:
            out["image"] = self.image
        return out

    def profile_list_entry(self) -> dict:
        entry: dict[str, Any] = {"display_name": self.display_name, "slug": self.slug, "description": self.description}
        if self.default:
            entry["default"] = True
        override = self.kubespawner_override()
        if override:
            entry["kubespawner_override"] = override
        return entry

    def to_json(self) -> dict:
        return {
            "slug": self.slug,
            "name": self.display_name,
            "kind": self.kind,
            "pool": self.pool,
            "accelerator": self.accelerator_resource,
            "accelerators": self.accelerators,
            "nodeSelector": dict(self.node_selector),
            "tolerations": [dict(t) for t in self.tolerations],
            "default": self.default,
            "team": self.team,
            "namespace": self.namespace,
        }


@dataclass(frozen=True)
class TeamNotebooks:
    """One team's notebooks: the hub groups whose members get its profiles, which run in its namespace."""

    team: str
    namespace: str
    groups: Sequence[str]
    profiles: Sequence[Profile]

    def to_values(self) -> dict:
        return {"name": self.team, "namespace": self.namespace, "groups": list(self.groups), "profiles": [p.profile_list_entry() for p in self.profiles]}


@dataclass(frozen=True)
class OAuthArgs:
    client_id: str
    callback_url: str
    allowed_organizations: Sequence[str] = ()
    authorize_url: Optional[str] = None
    token_url: Optional[str] = None
    userdata_url: Optional[str] = None
    scope: Sequence[str] = ()
    username_claim: str = "email"
    claim_groups_key: Optional[str] = None
    allowed_groups: Sequence[str] = ()
    allow_all: bool = False


@dataclass(frozen=True)
class JupyterHubArgs:
    namespace: str
    system_pool: str  # hub, proxy and user scheduler run on the system node group (crucible.io/pool=<this>)
    profiles: Sequence[Profile]
    authenticator: str  # github | generic-oauth | dummy
    oauth: Optional[OAuthArgs] = None
    client_secret: Optional[pulumi.Input[str]] = None  # a secret Output
    exposure: str = "private"  # private | internal-lb | public
    certificate_arn: Optional[str] = None
    source_ranges: Sequence[str] = ()
    cpu: float = 1.0
    memory_gib: int = 4
    image: Optional[str] = None
    user_storage_class: Optional[str] = None  # gp3, Retain (storage layer); None: the cluster default
    user_volume_gib: int = 10
    lustre: Optional[LustreVolumeArgs] = None
    lustre_mount_path: str = "/fsx"
    read_only_buckets: Sequence[S3VolumeArgs] = field(default_factory=tuple)
    datasets_mount_path: str = "/datasets"
    region: str = "us-east-1"
    # The VPC's CIDR: the EKS API server's private endpoint (its ENIs) and the interface VPC endpoints are there;
    # notebooks reach them on 443 only (None: no such egress rule).
    vpc_cidr: Optional[pulumi.Input[str]] = None
    cull_timeout_seconds: int = 3600
    cull_every_seconds: int = 600
    protect: bool = False
    # The AWS Load Balancer Controller release: with an NLB (exposure internal-lb or public) the release depends on
    # it, so on destroy the hub's Service goes while the controller can still delete the NLB and clear the
    # Service's finalizer (service.k8s.aws/resources); else the NLB, its security group and ENIs block the VPC.
    load_balancer_controller: Sequence[pulumi.Resource] = ()
    # With teams: every notebook runs in a team namespace, the profiles a user sees follow the hub groups of their
    # team(s); `profiles` is then unused. Empty: everyone the hub admits chooses among `profiles`, in the hub namespace.
    teams: Sequence[TeamNotebooks] = ()
    team_lustre_claim: Optional[str] = None  # the Lustre claim every team namespace has (addons.tenancy), if any
    version: str = field(default=PIN.version, kw_only=True)  # the z2jh chart version (default: the pin)


# The hub's claim on the shared file system (its name is kept: renaming a protected claim replaces it).
LUSTRE_CLAIM = "shared-lustre"


def dataset_claim(bucket: str) -> str:
    return f"dataset-{bucket}"


def _image(ref: str) -> dict:
    name, _, tag = ref.rpartition(":") if "@" not in ref else (ref, "", "")
    return {"name": name, "tag": tag} if name else {"name": ref, "tag": ""}


OAUTH_SECRET, OAUTH_SECRET_KEY, OAUTH_SECRET_ENV = "jupyterhub-oauth", "client-secret", "OAUTH_CLIENT_SECRET"


def authenticator_config(args: JupyterHubArgs) -> dict:
    """`hub.config`: keys are class names (JupyterHub, GitHubOAuthenticator, GenericOAuthenticator…)."""
    config: dict = {"JupyterHub": {"authenticator_class": args.authenticator}}
    if args.authenticator == "dummy" or args.oauth is None:
        return config
    o = args.oauth
    auth: dict = {
        "client_id": o.client_id,
        "oauth_callback_url": o.callback_url,
        "scope": list(o.scope) or DEFAULT_SCOPES[args.authenticator],
    }
    if args.authenticator == "github":
        auth["allowed_organizations"] = list(o.allowed_organizations)
        if args.teams:  # the user's GitHub teams become JupyterHub groups (<org>:<team>): TEAM_PROFILES_CONFIG
            auth.update(populate_teams_in_auth_state=True, manage_groups=True)
    else:
        auth.update(
            authorize_url=o.authorize_url,
            token_url=o.token_url,
            userdata_url=o.userdata_url,
            username_claim=o.username_claim,
            login_service="single sign-on",
        )
        if o.allowed_groups:
            auth.update(claim_groups_key=o.claim_groups_key, allowed_groups=list(o.allowed_groups), manage_groups=True)
        elif args.teams and o.claim_groups_key:  # the provider's groups become JupyterHub groups: the teams' profiles follow them
            auth.update(claim_groups_key=o.claim_groups_key, manage_groups=True)
        if o.allow_all:
            auth["allow_all"] = True
    config[AUTHENTICATOR_CLASS[args.authenticator]] = auth
    return config


def proxy_service(args: JupyterHubArgs) -> dict:
    """ClusterIP unless an NLB is asked for: internal (scheme internal) or public (internet-facing, TLS offloaded
    to the NLB with the ACM certificate, plain HTTP port closed). NLBs are provisioned by the AWS Load Balancer
    Controller (type external, IP targets)."""
    if args.exposure == "private":
        return {"type": "ClusterIP"}
    annotations = {LB_TYPE: "external", LB_TARGET_TYPE: "ip", LB_SCHEME: "internal" if args.exposure == "internal-lb" else "internet-facing"}
    service: dict = {"type": "LoadBalancer", "annotations": annotations}
    if args.exposure == "public":
        annotations.update({LB_SSL_CERT: args.certificate_arn or "", LB_SSL_PORTS: "https"})
        service["disableHttpPort"] = True
    if args.source_ranges:
        service["loadBalancerSourceRanges"] = list(args.source_ranges)
    return service


def shared_volumes(args: JupyterHubArgs) -> tuple[list[dict], list[dict]]:
    """(volumes, volume mounts) of every notebook: Lustre read-write, each dataset bucket read-only."""
    volumes: list[dict] = []
    mounts: list[dict] = []
    if args.lustre is not None:
        volumes.append({"name": "shared-lustre", "persistentVolumeClaim": {"claimName": LUSTRE_CLAIM}})
        mounts.append({"name": "shared-lustre", "mountPath": args.lustre_mount_path})
    for bucket in args.read_only_buckets:
        name = dataset_claim(bucket.logical_name)
        volumes.append({"name": name, "persistentVolumeClaim": {"claimName": name, "readOnly": True}})
        mounts.append({"name": name, "mountPath": f"{args.datasets_mount_path}/{bucket.logical_name}", "readOnly": True})
    return volumes, mounts


KUBERNETES_SERVICE_IPS = ("172.20.0.1/32", "10.100.0.1/32")  # `kubernetes.default` in EKS's default service CIDRs
# KubeRay labels every Ray head pod with this.
RAY_HEAD_SELECTOR = {"matchLabels": {"ray.io/node-type": "head"}}


def notebook_egress(args: JupyterHubArgs) -> list[dict]:
    """`singleuser.networkPolicy.egress`: what notebooks reach besides DNS and the internet (the chart's own rules).

    z2jh 4.4.0 refuses private addresses to user pods (`egressAllowRules.privateIPs: false`; its `nonPrivateIPs`
    rule excepts 10/8, 172.16/12, 192.168/16 and the metadata address), which is every pod and the API server's
    private endpoint. We keep that and open exactly the notebook flows: the Ray heads of team namespaces on the
    dashboard/job API and the Ray client ports (the team namespaces admit the hub namespace on those ports), and
    the VPC on 443 (the API server's endpoint ENIs; EKS's `kubernetes` Service is DNAT-ed to them). The metadata
    endpoint stays blocked: it is not in the VPC CIDR, and `cloudMetadataServer: false` keeps the chart's
    `nonPrivateIPs` rule excepting it (the NetworkPolicy way: no privileged iptables init container)."""
    rules = [
        {
            "to": [{"namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}, "podSelector": RAY_HEAD_SELECTOR}],
            "ports": [{"protocol": "TCP", "port": port} for port in RAY_PORTS],
        }
    ]
    # The API server: the `kubernetes` Service's ClusterIP (the first address of the service CIDR EKS picks when
    # none is configured: 172.20.0.0/16, or 10.100.0.0/16 when the VPC overlaps it) and, for implementations that
    # judge the connection after kube-proxy's DNAT, the endpoint ENIs in the VPC. Whether ipBlock rules see a
    # Service IP before or after the rewrite is implementation-defined (NetworkPolicy docs); the VPC CNI's
    # network policy agent filters at the pod's veth, before it.
    api: list[dict] = [{"ipBlock": {"cidr": cidr}} for cidr in KUBERNETES_SERVICE_IPS]
    if args.vpc_cidr is not None:
        api.append({"ipBlock": {"cidr": args.vpc_cidr}})
    rules.append({"to": api, "ports": [{"protocol": "TCP", "port": 443}]})
    return rules


HUB_SERVICE_ACCOUNT = "hub"  # z2jh: jupyterhub.hub-serviceaccount.fullname with fullnameOverride "" (the chart default)
HUB_PORT, NOTEBOOK_PORT = 8081, 8888  # the hub's API (hub_bind_url) and KubeSpawner's notebook port
# KubeSpawner's pod labels under z2jh (jupyterhub_config.py common_labels, KubeSpawner component_label).
NOTEBOOK_POD_SELECTOR = {"matchLabels": {"component": "singleuser-server"}}
HUB_POD_SELECTOR = {"matchLabels": {"component": "hub"}}
PROXY_POD_SELECTOR = {"matchLabels": {"component": "proxy"}}
# Pod Security `restricted` for the notebook container (KubeSpawner merges these over uid / allow_privilege_escalation,
# kubespawner/objects.py make_pod); the pod keeps the chart's fsGroup (fs_gid 100) and adds runAsNonRoot + seccomp.
NOTEBOOK_CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
NOTEBOOK_POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}

# hub.extraConfig: the profiles of a user's teams (z2jh executes it after hub.config, files/hub/jupyterhub_config.py).
# KubeSpawner 7 calls a callable profile_list with the spawner on every spawn (load_user_options); JupyterHub's
# `user.groups` are the groups the authenticator manages (manage_groups) or an admin set.
TEAM_PROFILES_CONFIG = """\
# Crucible: each user gets the notebook profiles of their team(s), chosen by JupyterHub group; the profiles run in
# the team's namespace and are admitted by the team's Kueue LocalQueue.
import copy

from tornado import web
from z2jh import get_config

crucible_teams = get_config("custom.crucible.teams", [])


def crucible_profile_list(spawner):
    groups = {group.name for group in spawner.user.groups}
    profiles = []
    for team in crucible_teams:
        if groups.intersection(team["groups"]):
            profiles.extend(copy.deepcopy(team["profiles"]))
    if not profiles:
        raise web.HTTPError(403, "You are in no team's notebook group, so you have no notebook profile; ask the platform team.")
    for i, profile in enumerate(profiles):
        profile["default"] = i == 0
    return profiles


c.KubeSpawner.profile_list = crucible_profile_list

if get_config("custom.crucible.githubTeamGroups", False):
    # GitHub teams (populate_teams_in_auth_state) as JupyterHub groups named <org>:<team slug>.
    c.GitHubOAuthenticator.auth_state_groups_key = lambda auth_state: [
        f"{team['organization']['login']}:{team['slug']}" for team in (auth_state or {}).get("teams", [])
    ]
"""


def hub_url(namespace: str) -> str:
    """The hub's API as pods of other namespaces reach it (the chart's default `http://hub:8081` resolves in its own
    namespace only)."""
    return f"http://hub.{namespace}.svc.cluster.local:{HUB_PORT}"


def profile_entries(values: Mapping) -> Iterator[tuple[Optional[str], dict]]:
    """(team, profileList entry) of every profile a JupyterHub release's values offer: the teams' (under
    `custom.crucible.teams`, each entry's kubespawner_override naming its namespace) or, without teams,
    `singleuser.profileList` (team None). Read by the plan (lands, reaches, the report)."""
    teams = ((values.get("custom") or {}).get("crucible") or {}).get("teams")
    if teams:
        for team in teams:
            for entry in team.get("profiles") or []:
                yield team.get("name"), entry
        return
    for entry in (values.get("singleuser") or {}).get("profileList") or []:
        yield None, entry


def uses_oauth(args: JupyterHubArgs) -> bool:
    return args.authenticator != "dummy" and args.oauth is not None


def team_volumes(args: JupyterHubArgs) -> tuple[list[dict], list[dict]]:
    """(volumes, volume mounts) of team notebooks: each team namespace's own Lustre claim (addons.tenancy) read-write.
    The hub namespace's dataset claims do not exist there (claims are namespaced); teams read S3 through their own
    role (the `workload` service account's Pod Identity, their prefixes only)."""
    if args.lustre is None or args.team_lustre_claim is None:
        return [], []
    return (
        [{"name": "shared-lustre", "persistentVolumeClaim": {"claimName": args.team_lustre_claim}}],
        [{"name": "shared-lustre", "mountPath": args.lustre_mount_path}],
    )


def hub_ingress_from_teams() -> list[dict]:
    """`hub.networkPolicy.ingress`: notebooks of the team namespaces call the hub API (8081). The chart admits only
    pods of its own namespace labelled hub.jupyter.org/network-access-hub."""
    return [
        {
            "from": [{"namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}, "podSelector": NOTEBOOK_POD_SELECTOR}],
            "ports": [{"protocol": "TCP", "port": HUB_PORT}],
        }
    ]


def egress_to_team_notebooks() -> list[dict]:
    """`hub.networkPolicy.egress` and `proxy.chp.networkPolicy.egress`: the hub (its health checks of the servers)
    and the proxy (user traffic) reach notebooks of the team namespaces on 8888; the chart's own rules name the
    notebooks of its namespace only."""
    return [
        {
            "to": [{"namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}, "podSelector": NOTEBOOK_POD_SELECTOR}],
            "ports": [{"protocol": "TCP", "port": NOTEBOOK_PORT}],
        }
    ]


def jupyterhub_values(args: JupyterHubArgs) -> dict:
    """The chart values (pure; no secret in them)."""
    volumes, mounts = team_volumes(args) if args.teams else shared_volumes(args)
    storage: dict = {"capacity": f"{args.user_volume_gib}Gi"}  # type: the chart's dynamic (one PVC per user)
    if args.user_storage_class:
        storage["dynamic"] = {"storageClass": args.user_storage_class}
    if volumes:
        storage["extraVolumes"] = volumes
        storage["extraVolumeMounts"] = mounts
    singleuser: dict = {
        "cpu": {"guarantee": args.cpu},
        # the limit too: the team namespaces' LimitRange would fill a missing one with its 2Gi default, below the
        # guarantee, and the API server refuses a request above its limit (addons/tenancy.py limit_range_spec)
        "memory": {"guarantee": f"{args.memory_gib}G", "limit": f"{args.memory_gib}G"},
        "storage": storage,
        # IMDS is blocked by NetworkPolicy (below; team namespaces: addons.tenancy), not by a privileged init container.
        "cloudMetadata": {"blockWithIptables": False},
        "networkPolicy": {
            "enabled": True,
            "egressAllowRules": {"cloudMetadataServer": False, "privateIPs": False},
            "egress": notebook_egress(args),
        },
    }
    if not args.teams:
        singleuser["profileList"] = [p.profile_list_entry() for p in args.profiles]
    if args.image:
        singleuser["image"] = _image(args.image)
    # The chart's own hub and proxy NetworkPolicies are on by its defaults (z2jh 4.4.0 values.yaml hub.networkPolicy
    # and proxy.chp.networkPolicy `enabled: true`; restating them changes no render); with teams they get the
    # rules for notebooks in the team namespaces below.
    proxy: dict = {"service": proxy_service(args)}
    if args.exposure == "public":
        proxy["https"] = {"enabled": True, "type": "offload"}
    config = authenticator_config(args)
    config["KubeSpawner"] = {"container_security_context": dict(NOTEBOOK_CONTAINER_SECURITY), "pod_security_context": dict(NOTEBOOK_POD_SECURITY)}
    hub: dict = {"config": config}
    if args.teams:
        config["JupyterHub"]["hub_connect_url"] = hub_url(args.namespace)
        hub["networkPolicy"] = {"ingress": hub_ingress_from_teams(), "egress": egress_to_team_notebooks()}
        proxy["chp"] = {"networkPolicy": {"egress": egress_to_team_notebooks()}}
        hub["extraConfig"] = {"crucible-teams": TEAM_PROFILES_CONFIG}
    if args.user_storage_class:  # EKS has no default StorageClass: the hub database volume needs one named
        hub["db"] = {"pvc": {"storageClassName": args.user_storage_class}}
    if uses_oauth(args):
        hub["extraEnv"] = {OAUTH_SECRET_ENV: {"valueFrom": {"secretKeyRef": {"name": OAUTH_SECRET, "key": OAUTH_SECRET_KEY}}}}
    own = {
        "hub": hub,
        "proxy": proxy,
        "singleuser": singleuser,
        # The pre-pullers would pull notebook images onto every node (GPU nodes included) at each upgrade.
        "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": False}},
        "cull": {"enabled": True, "timeout": args.cull_timeout_seconds, "every": args.cull_every_seconds},
    }
    if args.teams:
        custom: dict = {"teams": [t.to_values() for t in args.teams]}
        if args.authenticator == "github":
            custom["githubTeamGroups"] = True
        own["custom"] = {"crucible": custom}
    return merge_values(own, on_system_nodes_at(args.system_pool, *SYSTEM_PODS))


class JupyterHub(pulumi.ComponentResource):
    def __init__(self, name: str, args: JupyterHubArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:JupyterHub", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        labels = {"app.kubernetes.io/part-of": "jupyterhub", "crucible.io/purpose": "notebooks"}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={**labels, **pod_security("restricted")},
            ),
            opts=stateful,
        )
        claims: list[pulumi.Resource] = []  # what the release needs first: claims, the OAuth secret
        if args.lustre is not None:
            claims.append(
                static_claim(
                    f"{name}-lustre",
                    lustre_volume_name(args.namespace),
                    LUSTRE_CLAIM,
                    self.namespace.metadata.name,
                    lustre_pv_spec(args.lustre, args.namespace, LUSTRE_CLAIM),
                    "ReadWriteMany",
                    f"{args.lustre.capacity_gib}Gi",
                    stateful,
                )
            )
        for bucket in args.read_only_buckets:
            claim = dataset_claim(bucket.logical_name)
            handle = S3VolumeArgs(f"{args.namespace}-{bucket.logical_name}", bucket.bucket_name)  # volumeHandle unique per PV
            claims.append(
                static_claim(
                    f"{name}-{claim}",
                    f"{args.namespace}-{claim}",
                    claim,
                    self.namespace.metadata.name,
                    s3_pv_spec(handle, args.namespace, claim, args.region),
                    "ReadOnlyMany",
                    S3_VOLUME_SIZE,
                    stateful,
                )
            )
        if uses_oauth(args):
            if args.client_secret is None:
                raise ValueError(f"JupyterHubArgs: authenticator {args.authenticator} needs client_secret")
            claims.append(
                k8s.core.v1.Secret(
                    f"{name}-oauth",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=OAUTH_SECRET, namespace=self.namespace.metadata.name, labels=labels),
                    string_data={OAUTH_SECRET_KEY: pulumi.Output.secret(args.client_secret)},
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        chart = HelmChart.of(PIN, release=RELEASE, namespace=self.namespace.metadata.name, version=args.version)
        self.release = helm_release(self, name, chart, jupyterhub_values(args), timeout=900, depends_on=[*claims, *self._controller(args)])
        self.register_outputs({"namespace": args.namespace, "version": args.version, "profiles": [p.slug for p in args.profiles]})

    @staticmethod
    def _controller(args: JupyterHubArgs) -> list[pulumi.Resource]:
        """The controller the release waits for (and outlives on destroy): only when it asks for a load balancer."""
        if proxy_service(args)["type"] != "LoadBalancer":
            return []
        if not args.load_balancer_controller:
            raise ValueError(f"JupyterHub exposure {args.exposure!r} needs the AWS Load Balancer Controller (its NLB)")
        return list(args.load_balancer_controller)
