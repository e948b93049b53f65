"""The addons section (platform layer): JupyterHub, observability, the optional Argo Workflows engine, the KubeRay
operator, the training operators, the AWS Load Balancer Controller, Kueue, LeaderWorkerSet and KEDA.

`crucible:addons` has one subsection per add-on, each with `enabled`, `version` (default: the pin of
components/versions.py) and its settings. An add-on turned off that the rest of the config needs is a problem naming
both keys (:func:`check_addon_needs`, :func:`stacks.spec.workloads.check_operators`). Secrets never live in this
section: the OAuth client secret, the Grafana admin password and the Argo SSO client secret are top-level Pulumi
secret config keys (`pulumi config set --secret crucible:<key> …`), declared on PlatformSpec with
:func:`secret_setting` (kept out of the spec's repr) and handed to resources as `pulumi.Output.secret`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional

from components import versions
from stacks.spec.checks import (
    absolute_path,
    acm_certificate_arn,
    any_cidr,
    email_address,
    https_url,
    image_ref,
    k8s_name,
    log_retention_days,
    semver,
    unique_ignoring_case,
)
from stacks.spec.schema import ByEnv, Context, all_of, each, each_rule, in_range, non_empty, setting, show, unique

if TYPE_CHECKING:  # pragma: no cover
    from stacks.spec.platform import PlatformSpec

# The defaults are the pins of components/versions.py (one table of every pinned version).
JUPYTERHUB_CHART_VERSION = versions.chart("jupyterhub").version
DCGM_EXPORTER_CHART_VERSION = versions.chart("dcgm-exporter").version
PROMETHEUS_STACK_CHART_VERSION = versions.chart("kube-prometheus-stack").version
ARGO_WORKFLOWS_CHART_VERSION = versions.chart("argo-workflows").version
KUBERAY_CHART_VERSION = versions.chart("kuberay-operator").version  # ../shared/upstream/crds/kuberay (SOURCES.md: v1.7.0)
MPI_OPERATOR_VERSION = versions.image("mpi-operator").tag
TRAINER_CHART_VERSION = versions.chart("kubeflow-trainer").version
LOAD_BALANCER_CONTROLLER_CHART_VERSION = versions.chart("aws-load-balancer-controller").version
KUEUE_CHART_VERSION = versions.chart("kueue").version
LWS_CHART_VERSION = versions.chart("lws").version
KEDA_CHART_VERSION = versions.chart("keda").version
# The image of the Neuron SDK's own monitor DaemonSet (aws-neuron-sdk src/k8/k8s-neuron-monitor-daemonset.yml):
# neuron-monitor piped into its Prometheus exporter, serving on port 8000.
NEURON_MONITOR_IMAGE = versions.image("neuron-monitor").ref

# Top-level secret config keys (Pulumi secrets; `secure:` values in Pulumi.<stack>.yaml).
OAUTH_CLIENT_SECRET_KEY = "jupyterhubOauthClientSecret"
GRAFANA_PASSWORD_KEY = "grafanaAdminPassword"
ARGO_SSO_SECRET_KEY = "argoSsoClientSecret"


def secret_setting(doc: str) -> Any:
    """An optional secret config key: like :func:`setting` with no default, but hidden from the spec's repr."""
    meta = {"doc": doc + " Pulumi secret (`pulumi config set --secret`).", "default": None, "check": None, "key": None, "secret": True}
    return dataclasses.field(kw_only=True, default=None, repr=False, metadata=meta)


# ---- JupyterHub ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthSpec:
    """The identity provider of the hub (authenticator `github` or `generic-oauth`)."""

    client_id: str = setting("OAuth client (application) id. The client secret is the secret config key crucible:jupyterhubOauthClientSecret.")
    callback_url: str = setting("OAuth callback URL registered with the provider: https://<hub host>/hub/oauth_callback.", check=https_url)
    allowed_organizations: tuple[str, ...] = setting(
        "github: GitHub organizations (or org:team) whose members may log in. Required for github.", default=[], check=unique
    )
    authorize_url: Optional[str] = setting(
        "generic-oauth: the provider's authorize endpoint (Cognito: https://<domain>/oauth2/authorize).", default=None, check=https_url
    )
    token_url: Optional[str] = setting("generic-oauth: the token endpoint (Cognito: https://<domain>/oauth2/token).", default=None, check=https_url)
    userdata_url: Optional[str] = setting("generic-oauth: the user-info endpoint (Cognito: https://<domain>/oauth2/userInfo).", default=None, check=https_url)
    scope: tuple[str, ...] = setting(
        "OAuth scopes requested. Default: [read:org] for github, [openid, email, profile] for generic-oauth.", default=[], check=unique
    )
    username_claim: str = setting("generic-oauth: the user-info claim that becomes the JupyterHub user name.", default="email")
    claim_groups_key: Optional[str] = setting("generic-oauth: the user-info claim holding the user's groups (Cognito: cognito:groups).", default=None)
    allowed_groups: tuple[str, ...] = setting("generic-oauth: groups whose members may log in (needs claimGroupsKey).", default=[], check=unique)
    allow_all: bool = setting("generic-oauth: let every user the provider authenticates log in (instead of allowedGroups).", default=False)


@dataclass(frozen=True)
class JupyterHubSpec:
    enabled: bool = setting(
        "Install JupyterHub (z2jh). Outside dev it needs a real authenticator (`authenticator`, `oauth` and the client secret).",
        default=False,
    )
    version: str = setting("z2jh chart version (https://hub.jupyter.org/helm-chart/, chart jupyterhub).", default=JUPYTERHUB_CHART_VERSION, check=semver)
    namespace: str = setting("Namespace of the hub and the user servers.", default="jupyterhub", check=k8s_name)
    authenticator: Optional[Literal["github", "generic-oauth", "dummy"]] = setting(
        "How users log in: github (GitHubOAuthenticator), generic-oauth (GenericOAuthenticator, e.g. Cognito) or dummy "
        "(any name, any password: dev only). Required outside dev.",
        default=ByEnv(dev="dummy", prod=None),
    )
    oauth: Optional[OAuthSpec] = setting("The OAuth provider (see `oauth.*`); required for github and generic-oauth.", default=None)
    exposure: Literal["private", "internal-lb", "public"] = setting(
        "Where the proxy is reachable: private (ClusterIP: port-forward or an ingress of your own), internal-lb (an internal "
        "NLB inside the VPC) or public (an internet-facing NLB terminating TLS: needs certificateArn).",
        default="private",
    )
    certificate_arn: Optional[str] = setting(
        "ACM certificate the load balancer terminates TLS with (required for exposure public).", default=None, check=acm_certificate_arn
    )
    source_ranges: tuple[str, ...] = setting(
        "CIDR blocks allowed to reach a load-balanced proxy (loadBalancerSourceRanges). Empty: the VPC / everyone the scheme allows.",
        default=[],
        check=all_of(each(any_cidr), unique),
    )
    accelerator_profiles: Literal["interactive", "all"] = setting(
        "Which accelerator pools get a notebook profile: those whose workload is interactive, or all GPU/Neuron pools.",
        default="interactive",
    )
    default_pool: Optional[str] = setting(
        "CPU pool of the default profile. Default: the first cpu pool with workload interactive, else the first cpu pool.", default=None
    )
    cpu: float = setting("CPU cores guaranteed to every notebook server.", default=1.0, check=in_range(0.1, 192))
    memory_gib: int = setting("Memory guaranteed to every notebook server, and its limit (GiB).", default=4, check=in_range(1, 2048))
    image: Optional[str] = setting("Notebook image of the CPU profile (name:tag). Default: the chart's singleuser image.", default=None, check=image_ref)
    gpu_image: Optional[str] = setting("Notebook image of GPU profiles (CUDA-enabled). Default: `image`.", default=None, check=image_ref)
    neuron_image: Optional[str] = setting("Notebook image of Neuron profiles (Neuron SDK). Default: `image`.", default=None, check=image_ref)
    user_volume_gib: int = setting(
        "Size of each user's home volume (gp3, Retain StorageClass of the storage layer).", default=ByEnv(dev=10, prod=50), check=in_range(1, 16384)
    )
    shared_mounts: bool = setting("Mount the shared Lustre file system (read-write) and the read-only S3 volumes in every notebook.", default=True)
    lustre_mount_path: str = setting("Where the shared Lustre file system appears in notebooks.", default="/fsx", check=absolute_path)
    datasets_mount_path: str = setting("Parent directory of the read-only S3 volumes in notebooks (<path>/<bucket>).", default="/datasets", check=absolute_path)
    cull_timeout_seconds: int = setting("Stop notebook servers idle this long.", default=ByEnv(dev=1800, prod=3600), check=in_range(300, 7 * 24 * 3600))
    cull_every_seconds: int = setting("How often the idle culler runs.", default=600, check=in_range(60, 3600))

    def check(self, ctx: Context, path: str) -> None:
        if not self.enabled:
            return
        if self.authenticator is None:
            ctx.problem(f"{path}.authenticator", f'required in {ctx.env} when JupyterHub is enabled; allowed: "github", "generic-oauth"')
        elif self.authenticator == "dummy" and ctx.env != "dev":
            ctx.problem(
                f"{path}.authenticator",
                f'got "dummy"; the dummy authenticator lets anyone in and is refused in {ctx.env}; allowed: "github", "generic-oauth"',
            )
        elif self.authenticator in ("github", "generic-oauth"):
            if self.oauth is None:
                ctx.problem(f"{path}.oauth", f"required for authenticator {show(self.authenticator)}: clientId, callbackUrl and the provider settings")
            elif self.authenticator == "github" and not self.oauth.allowed_organizations:
                ctx.problem(f"{path}.oauth.allowedOrganizations", "required for github: name the organizations whose members may log in")
            elif self.authenticator == "generic-oauth":
                for key in ("authorize_url", "token_url", "userdata_url"):
                    if getattr(self.oauth, key) is None:
                        ctx.problem(f"{path}.oauth.{_camel(key)}", "required for generic-oauth (Cognito: https://<domain>/oauth2/…)")
                if self.oauth.allowed_groups and not self.oauth.claim_groups_key:
                    ctx.problem(f"{path}.oauth.claimGroupsKey", "required with allowedGroups: the user-info claim that lists the user's groups")
                if not self.oauth.allowed_groups and not self.oauth.allow_all:
                    ctx.problem(f"{path}.oauth.allowedGroups", "say who may log in: list allowedGroups (with claimGroupsKey) or set allowAll: true")
        if self.exposure == "public" and self.certificate_arn is None:
            ctx.problem(
                f"{path}.certificateArn",
                'required with exposure "public": a public hub must terminate TLS (an ACM certificate ARN); or use exposure "private"/"internal-lb"',
            )
        if self.exposure == "private" and self.source_ranges:
            ctx.problem(f"{path}.sourceRanges", 'set, but exposure is "private" (no load balancer): remove it')


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# ---- observability ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogsSpec:
    enabled: bool = setting(
        "Ship container, node and data-plane logs to CloudWatch Logs (EKS add-on amazon-cloudwatch-observability, Fluent Bit; "
        "IAM through Pod Identity) into log groups /aws/containerinsights/<cluster>/* that Crucible creates KMS-encrypted.",
        default=ByEnv(dev=False, prod=True),
    )
    retention_days: int = setting(
        "Retention of the cluster's log groups (days; a value CloudWatch Logs accepts).", default=ByEnv(dev=14, prod=90), check=log_retention_days
    )


@dataclass(frozen=True)
class ManagedObservabilitySpec:
    enabled: bool = setting(
        "Remote-write Prometheus to an Amazon Managed Service for Prometheus workspace (SigV4, Pod Identity); the in-cluster "
        "Prometheus still scrapes and alerts.",
        default=False,
    )
    grafana: bool = setting("With `enabled`: an Amazon Managed Grafana workspace (IAM Identity Center sign-in) that queries the workspace.", default=True)


@dataclass(frozen=True)
class ObservabilitySpec:
    enabled: bool = setting(
        "Install Prometheus (kube-prometheus-stack) and the accelerator exporters (DCGM on GPU pools, neuron-monitor on Neuron pools).",
        default=ByEnv(dev=False, prod=True),
    )
    prometheus_stack_version: str = setting("kube-prometheus-stack chart version (prometheus-community).", default=PROMETHEUS_STACK_CHART_VERSION, check=semver)
    dcgm_exporter_version: str = setting("NVIDIA dcgm-exporter chart version.", default=DCGM_EXPORTER_CHART_VERSION, check=semver)
    neuron_monitor_image: str = setting(
        "Image of the neuron-monitor DaemonSet (neuron-monitor + Prometheus exporter).", default=NEURON_MONITOR_IMAGE, check=image_ref
    )
    namespace: str = setting("Namespace of Prometheus, Grafana and the exporters.", default="monitoring", check=k8s_name)
    retention_days: int = setting("Prometheus retention (days).", default=ByEnv(dev=7, prod=30), check=in_range(1, 3650))
    volume_gib: int = setting(
        "Prometheus persistent volume (gp3, the storage layer's StorageClass).", default=ByEnv(dev=50, prod=200), check=in_range(10, 16384)
    )
    scrape_interval_seconds: int = setting("Scrape interval of the accelerator exporters.", default=30, check=in_range(5, 300))
    grafana: bool = setting("Install Grafana; its admin password is the secret config key crucible:grafanaAdminPassword (required then).", default=False)
    alarm_emails: tuple[str, ...] = setting(
        "Email addresses subscribed to the SNS topics of Prometheus's alerts (Alertmanager: warning and critical, fired and "
        "resolved) and of the CloudWatch alarms (Lustre near full, on ALARM and on OK); each confirms from the message SNS "
        "sends. The topics are KMS-encrypted and only Alertmanager (the alerts) or this stack's alarms may publish; other "
        "subscribers (chat, paging) subscribe to them outside Crucible.",
        default=[],
        check=all_of(each(email_address), unique_ignoring_case),
    )
    logs: LogsSpec = setting("Logs off the nodes to CloudWatch Logs (see `logs.*`).", default={})
    managed: ManagedObservabilitySpec = setting("Amazon Managed Prometheus and Managed Grafana (see `managed.*`).", default={})


# ---- Argo Workflows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgoSsoSpec:
    issuer: str = setting("OIDC issuer URL.", check=https_url)
    client_id: str = setting("OIDC client id. The secret is the secret config key crucible:argoSsoClientSecret.")
    redirect_url: str = setting("Redirect URL registered with the provider: https://<argo host>/oauth2/callback.", check=https_url)


@dataclass(frozen=True)
class ArgoSpec:
    enabled: bool = setting("Install Argo Workflows (pipeline engine).", default=False)
    version: str = setting("argo-workflows chart version (argo-helm).", default=ARGO_WORKFLOWS_CHART_VERSION, check=semver)
    namespace: str = setting("Namespace of the controller and server.", default="argo", check=k8s_name)
    auth_modes: tuple[Literal["sso", "client"], ...] = setting(
        "Argo server auth modes: client (the caller's Kubernetes token) and/or sso. `server` (no auth) is never allowed.",
        default=["client"],
        check=all_of(non_empty, unique),
    )
    sso: Optional[ArgoSsoSpec] = setting("OIDC settings for auth mode sso (see `sso.*`).", default=None)

    def check(self, ctx: Context, path: str) -> None:
        if self.enabled and "sso" in self.auth_modes and self.sso is None:
            ctx.problem(f"{path}.sso", 'required with auth mode "sso": issuer, clientId and redirectUrl')


# ---- KubeRay -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KubeRaySpec:
    enabled: bool = setting(
        "Install the KubeRay operator (RayJob, RayCluster, RayService). The Ray examples and Kueue's ray.io/rayjob, "
        "ray.io/raycluster and ray.io/rayservice integrations need it; with it off, no Ray example is rendered.",
        default=True,
    )
    version: str = setting(
        "kuberay-operator chart version (https://ray-project.github.io/kuberay-helm/). Helm does not upgrade CRDs: apply "
        "the new release's ray.io CRDs server-side before raising it.",
        default=KUBERAY_CHART_VERSION,
        check=semver,
    )


# ---- the training operators, the load balancer controller, Kueue, LeaderWorkerSet, KEDA ----------------------
# Formerly training.mpiOperator, training.trainer and serving.loadBalancerController: those keys still load for one
# release, with a deprecation warning (stacks/spec/deprecated.py).


@dataclass(frozen=True)
class MpiOperatorSpec:
    """kubeflow/mpi-operator: MPIJob v2beta1. It publishes raw manifests only, so Crucible writes its objects."""

    enabled: bool = setting(
        "Install the MPI operator (MPIJob v2beta1; admitted by Kueue as kubeflow.org/mpijob). The health canary "
        "(training.healthCanary) runs MPIJobs and needs it.",
        default=True,
    )
    version: str = setting(
        "Not a chart version: the mpi-operator release, i.e. the tag of its controller image mpioperator/mpi-operator:<version> "
        "(upstream ships raw manifests, no chart; Crucible writes the CRD, RBAC and Deployment of that release).",
        default=MPI_OPERATOR_VERSION,
        check=semver,
    )


@dataclass(frozen=True)
class TrainerSpec:
    """Kubeflow Trainer v2 (TrainJob v1alpha1), from its Helm chart; never beside training-operator v1."""

    enabled: bool = setting("Install Kubeflow Trainer (TrainJob; admitted by Kueue as trainer.kubeflow.org/trainjob). training.runtimes need it.", default=True)
    version: str = setting("Chart version of oci://ghcr.io/kubeflow/charts/kubeflow-trainer.", default=TRAINER_CHART_VERSION, check=semver)
    install_job_set: bool = setting("Install JobSet as the chart's dependency (turn off when JobSet is already installed in the cluster).", default=True)
    runtime_image: str = setting(
        "Image of the ClusterTrainingRuntimes Crucible deploys with Trainer (`training.runtimes`): PyTorch with the EFA "
        "installer and aws-ofi-nccl, e.g. an AWS Deep Learning Container. A TrainJob that names no image of its own runs "
        "it; pin it.",
        default=versions.image("pytorch-training").ref,  # the same pin as training.examples.pytorchImage
        check=image_ref,
    )


@dataclass(frozen=True)
class LoadBalancerControllerSpec:
    enabled: bool = setting(
        "Install the AWS Load Balancer Controller (Ingress → ALB, Service → NLB). Every load balancer Crucible asks for "
        "needs it: serving.exposure public, serving.models[] exposure internal or public, addons.jupyterhub exposure "
        "internal-lb or public.",
        default=True,
    )
    version: str = setting("Chart version of eks-charts aws-load-balancer-controller.", default=LOAD_BALANCER_CONTROLLER_CHART_VERSION, check=semver)
    replicas: int = setting("Controller replicas (on the system node group).", default=2, check=in_range(1, 5))


@dataclass(frozen=True)
class KueueSpec:
    enabled: bool = setting(
        "Install Kueue when the stack has teams (crucible:teams): their ClusterQueues, LocalQueues and quotas are "
        "Kueue's, so with teams it cannot be off; without teams nothing is installed either way.",
        default=True,
    )
    version: str = setting(
        "Chart version of oci://registry.k8s.io/kueue/charts/kueue. Crucible writes the queues in API kueue.x-k8s.io/v1beta2 "
        "(the pinned release's): a release must serve it.",
        default=KUEUE_CHART_VERSION,
        check=semver,
    )


@dataclass(frozen=True)
class LeaderWorkerSetSpec:
    enabled: bool = setting(
        "Install the LeaderWorkerSet operator when a served model's replica spans nodes (serving.models[]: a LeaderWorkerSet "
        "group per replica); such a model cannot be served with it off. Without one nothing is installed either way.",
        default=True,
    )
    version: str = setting(
        "Chart version of oci://registry.k8s.io/lws/charts/lws. The controller image's tag is pinned apart "
        "(components/versions.py image lws): raise both together.",
        default=LWS_CHART_VERSION,
        check=semver,
    )


@dataclass(frozen=True)
class KedaSpec:
    enabled: bool = setting(
        "Install KEDA with served models when Prometheus is on (addons.observability): it scales serving.models[] on the "
        "server's metrics, so a model with maxReplicas above minReplicas needs it.",
        default=True,
    )
    version: str = setting("Chart version of kedacore/charts keda (https://kedacore.github.io/charts).", default=KEDA_CHART_VERSION, check=semver)


# ---- crucible verify -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifySpec:
    enabled: bool = setting(
        "Give `crucible verify` its place in the cluster: namespace crucible-verify (Pod Security restricted, its own "
        "Lustre claim), a ClusterQueue/LocalQueue crucible-verify in the teams' cohort with nominal quota 0 that only "
        "borrows idle capacity (two nodes of each EFA GPU pool for NCCL, one device of other accelerator pools; stated "
        "in the stack output addons.verify), never preempts and is preempted first, the WorkloadPriorityClass "
        "crucible-verify, and least-privilege RBAC for the Kubernetes group crucible:verify (map the CI role to it with "
        "an EKS access entry). Off: verify runs in a namespace of its own making and needs wider rights.",
        default=False,
    )


# ---- the section ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddonsSpec:
    jupyterhub: JupyterHubSpec = setting("JupyterHub (see `jupyterhub.*`).", default={})
    observability: ObservabilitySpec = setting("Prometheus, Grafana and accelerator metrics (see `observability.*`).", default={})
    argo: ArgoSpec = setting("Argo Workflows (see `argo.*`).", default={})
    kuberay: KubeRaySpec = setting("The KubeRay operator (see `kuberay.*`).", default={})
    verify: VerifySpec = setting("What `crucible verify` runs with in the cluster (see `verify.*`).", default={})
    mpi_operator: MpiOperatorSpec = setting("The MPI operator (see `mpiOperator.*`; formerly training.mpiOperator).", default={})
    trainer: TrainerSpec = setting("Kubeflow Trainer (see `trainer.*`; formerly training.trainer).", default={})
    load_balancer_controller: LoadBalancerControllerSpec = setting(
        "The AWS Load Balancer Controller (see `loadBalancerController.*`; formerly serving.loadBalancerController).", default={}
    )
    kueue: KueueSpec = setting("Kueue, the teams' queues and quotas (see `kueue.*`).", default={})
    leader_worker_set: LeaderWorkerSetSpec = setting("The LeaderWorkerSet operator of multi-node served models (see `leaderWorkerSet.*`).", default={})
    keda: KedaSpec = setting("KEDA, the autoscaler of served models (see `keda.*`).", default={})


def required_secrets(spec: "PlatformSpec") -> list[tuple[str, str]]:
    """(secret config key, what needs it) for every secret this stack's `pulumi up` reads. Whether they are set is
    the loader's business: under the engine a missing one stops the program, offline `crucible plan` lists it."""
    if not spec.builds("platform"):
        return []
    hub, obs, argo = spec.addons.jupyterhub, spec.addons.observability, spec.addons.argo
    needed = []
    if hub.enabled and hub.authenticator in ("github", "generic-oauth"):
        needed.append((OAUTH_CLIENT_SECRET_KEY, f"the JupyterHub authenticator {show(hub.authenticator)}"))
    if obs.enabled and obs.grafana:
        needed.append((GRAFANA_PASSWORD_KEY, "addons.observability.grafana"))
    if argo.enabled and "sso" in argo.auth_modes:
        needed.append((ARGO_SSO_SECRET_KEY, 'the Argo Workflows auth mode "sso"'))
    return needed


def check_addons(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """Cross-section rules: pools named by the add-ons exist, and an add-on turned off is not one something else of
    the stack needs (required secrets: :func:`required_secrets`)."""
    if not spec.builds("platform"):
        return
    each_rule(lambda: _check_hub(spec, ctx, path), lambda: check_addon_needs(spec, ctx, path))


def check_addon_needs(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """An add-on turned off (`addons.<name>.enabled: false`) that the stack's other settings cannot do without: each
    problem names the add-on's key and the setting that needs it. (The load balancer controller's and the MPI
    operator's users check it where they are declared: addons.jupyterhub.exposure, serving.exposure,
    serving.models[].exposure, training.runtimes, training.healthCanary.)"""
    each_rule(lambda: _needs_kueue(spec, ctx, path), lambda: _needs_lws(spec, ctx, path), lambda: _needs_keda(spec, ctx, path))


def _needs_kueue(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    # The teams' ClusterQueues, LocalQueues and ResourceFlavors are Kueue objects (stacks/layers/platform/tenancy.py).
    if spec.teams and not spec.addons.kueue.enabled:
        names = ", ".join(t.name for t in spec.teams)
        ctx.problem(
            f"{path}addons.kueue.enabled",
            f"got false, but crucible:teams is set ({names}): every team's queues and quotas are Kueue's (ClusterQueue, "
            "LocalQueue, ResourceFlavor); set addons.kueue.enabled: true or remove crucible:teams",
        )


def _served(spec: "PlatformSpec"):
    """(index, model, its replica shape) of every served model whose pool is a serving pool of this stack and whose
    replica can be laid out (the others are reported by serving.models' own rules)."""
    from stacks.derive.serving import ShapeError, replica_shape

    pools = {p.name: p for p in spec.pools}
    for i, m in enumerate(spec.serving.models):
        pool = pools.get(m.pool)
        if pool is None or pool.workload != "serving" or pool.kind == "cpu":
            continue
        try:
            yield i, m, replica_shape(m, pool)
        except ShapeError:
            continue


def _needs_lws(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    # A replica spanning nodes is a LeaderWorkerSet group (addons/serving.py VllmModel); its CRD is the operator's.
    if spec.addons.leader_worker_set.enabled or not spec.serving.models:
        return
    for i, m, shape in _served(spec):
        if shape.multi_node:
            ctx.problem(
                f"{path}addons.leaderWorkerSet.enabled",
                f"got false, but serving.models[{i}] ({show(m.name)}) has replicas spanning {shape.nodes} nodes, each a LeaderWorkerSet "
                f"group (tensorParallelSize {m.tensor_parallel_size} × pipelineParallelSize {m.pipeline_parallel_size}); set "
                "addons.leaderWorkerSet.enabled: true or fit the replica in one node",
            )


def _needs_keda(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    # A model whose replica count can change gets a KEDA ScaledObject (stacks/layers/platform/serving.py model_args).
    if spec.addons.keda.enabled:
        return
    for i, m in enumerate(spec.serving.models):
        if m.max_replicas > m.min_replicas:
            fixed = f"maxReplicas: {m.min_replicas}" if m.min_replicas else "minReplicas: 1, maxReplicas: 1"
            ctx.problem(
                f"{path}addons.keda.enabled",
                f"got false, but serving.models[{i}] ({show(m.name)}) autoscales (serving.models[{i}].minReplicas {m.min_replicas}, "
                f"maxReplicas {m.max_replicas}): its ScaledObject is KEDA's; set addons.keda.enabled: true or a fixed count ({fixed})",
            )


def _check_hub(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    hub = spec.addons.jupyterhub
    if hub.enabled:
        pools = {p.name: p for p in spec.pools}
        if hub.default_pool is not None:
            pool = pools.get(hub.default_pool)
            if pool is None:
                ctx.problem(
                    f"{path}addons.jupyterhub.defaultPool",
                    f"got {show(hub.default_pool)}; allowed: one of crucible:pools[].name ({', '.join(pools) or 'none defined'})",
                )
            elif pool.kind != "cpu":
                ctx.problem(f"{path}addons.jupyterhub.defaultPool", f"got {show(hub.default_pool)} (kind {pool.kind}); allowed: a cpu pool")
        elif not any(p.kind == "cpu" for p in spec.pools) and spec.builds("compute"):
            # The default (CPU) profile would have no node to run on: the system node group is tainted for platform
            # pods only (components/labels.py SYSTEM_TAINT), the accelerator pools for their devices' users.
            ctx.problem(
                f"{path}addons.jupyterhub.enabled",
                f"got true, but crucible:pools has no cpu pool ({', '.join(f'{p.name} ({p.kind})' for p in spec.pools) or 'none defined'}): "
                "the default CPU notebook profile needs one (the system nodes run platform pods only); add a pool with "
                "kind: cpu and workload: interactive, or set enabled: false",
            )
    if hub.enabled and hub.authenticator == "github" and hub.oauth is not None and hub.oauth.allowed_organizations:
        # GitHubOAuthenticator names a user's GitHub teams `<org>:<team slug>` (addons/jupyterhub.py): any other hub
        # group would match nobody, and a team's members would get no notebook profile.
        orgs = sorted({o.split(":", 1)[0] for o in hub.oauth.allowed_organizations})
        for i, team in enumerate(spec.teams):
            for j, group in enumerate(team.hub_groups):
                org = group.split(":", 1)[0] if ":" in group else None
                if org not in orgs:
                    key = f"{path}teams[{i}].notebookGroups" + (f"[{j}]" if team.notebook_groups else "")
                    ctx.problem(
                        key,
                        f"got {show(group)}{' (the default: adminGroups + memberGroups)' if not team.notebook_groups else ''}; with the github "
                        f"authenticator the hub's groups are GitHub teams, allowed: <org>:<team slug> with org one of {', '.join(orgs)}",
                    )
                    break
    if hub.enabled and spec.teams and hub.authenticator == "generic-oauth" and hub.oauth is not None and not hub.oauth.claim_groups_key:
        ctx.problem(
            f"{path}addons.jupyterhub.oauth.claimGroupsKey",
            "required with crucible:teams: each team's notebook profiles go to the members of its groups (teams[].notebookGroups), "
            "which the hub reads from this user-info claim (Cognito: cognito:groups)",
        )
    if hub.enabled and hub.exposure != "private" and not spec.addons.load_balancer_controller.enabled:
        ctx.problem(
            f"{path}addons.jupyterhub.exposure",
            f"got {show(hub.exposure)}, but addons.loadBalancerController.enabled is false: the hub's NLB is made by the "
            'AWS Load Balancer Controller; enable it or use exposure "private"',
        )
