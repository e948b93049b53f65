"""Notebooks, observability and pipelines of the platform layer, wired from the spec.

One entry point, called from the platform layer: :func:`notebook_and_observability_addons` creates the top-level
components `crucible:platform:JupyterHub`, `crucible:platform:Monitoring`, `crucible:platform:DcgmExporter`,
`crucible:platform:NeuronMonitor`, `crucible:platform:ArgoWorkflows` and `crucible:platform:KubeRayOperator` as
`crucible:addons` toggles them, and returns what the stack exports about them.

What these add-ons need from the storage layer (the Lustre file system, the read-only dataset buckets, the Retain
gp3 StorageClass) is read in ONE place, :func:`shared_storage`, from `built.storage` (StorageOutputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi

from addons.argo import ArgoSsoArgs, ArgoWorkflows, ArgoWorkflowsArgs
from addons.kuberay import KubeRayOperator, KubeRayOperatorArgs
from addons.jupyterhub import JupyterHub, JupyterHubArgs, OAuthArgs
from addons.alerts import AlertRules, AlertRulesArgs
from addons.dashboards import Dashboards, DashboardsArgs, dashboards_for
from addons.logs import ClusterLogs, ClusterLogsArgs
from addons.lustre_alarms import LustreAlarms, LustreAlarmsArgs
from addons.managed_observability import ManagedObservability, ManagedObservabilityArgs, remote_write
from addons.observability import PROMETHEUS_SERVICE_ACCOUNT, DcgmExporter, ExporterArgs, Monitoring, MonitoringArgs, NeuronMonitor
from addons.scrape_targets import ScrapeTargets, ScrapeTargetsArgs
from addons.storage_drivers import LustreVolumeArgs, S3VolumeArgs
from stacks.derive.profiles import notebook_profiles
from stacks.spec import PlatformSpec


@dataclass(frozen=True)
class SharedStorage:
    """The storage layer as the notebook and observability add-ons see it."""

    lustre: Optional[LustreVolumeArgs] = None
    read_only_buckets: Sequence[S3VolumeArgs] = field(default_factory=tuple)
    storage_class: Optional[str] = None  # gp3, encrypted, Retain, WaitForFirstConsumer


def shared_storage(built: Any) -> SharedStorage:
    """The adapter to StorageOutputs (absent when no storage is available to the stack: nothing shared)."""
    storage = getattr(built, "storage", None)
    if storage is None:
        return SharedStorage()
    lustre = storage.lustre
    return SharedStorage(
        lustre=LustreVolumeArgs(lustre.file_system_id, lustre.dns_name, lustre.mount_name, lustre.capacity_gib) if lustre is not None else None,
        read_only_buckets=tuple(S3VolumeArgs(name, storage.buckets[name].name) for name in storage.read_only_claims),
        storage_class=storage.storage_class_name,
    )


def _secret(value: Optional[str]) -> Optional[pulumi.Output]:
    return pulumi.Output.secret(value) if value else None


def _controller(built: Any) -> tuple:
    """The load balancer controller release when this stack installs it (the platform layer builds it first)."""
    release = getattr(built, "load_balancer_controller", None)
    return (release,) if release is not None else ()


def notebook_and_observability_addons(spec: PlatformSpec, built: Any, providers: Sequence[pulumi.ProviderResource]) -> dict:
    """Create JupyterHub, the monitoring stack, Argo Workflows and the KubeRay operator as configured; ``built`` gives
    cluster and storage."""
    opts = pulumi.ResourceOptions(providers=list(providers))
    system_pool = built.cluster.system_node_group_label
    storage = shared_storage(built)
    hub, obs, argo, kuberay = spec.addons.jupyterhub, spec.addons.observability, spec.addons.argo, spec.addons.kuberay
    exports: dict[str, Any] = {}
    monitoring: Optional[Monitoring] = None
    if hub.enabled:
        profiles = notebook_profiles(
            spec.pools,
            which=hub.accelerator_profiles,
            default_pool=hub.default_pool,
            image=hub.image,
            gpu_image=hub.gpu_image,
            neuron_image=hub.neuron_image,
        )
        o = hub.oauth
        JupyterHub(
            "jupyterhub",
            JupyterHubArgs(
                version=hub.version,
                namespace=hub.namespace,
                system_pool=system_pool,
                profiles=profiles,
                authenticator=hub.authenticator,
                oauth=OAuthArgs(
                    client_id=o.client_id,
                    callback_url=o.callback_url,
                    allowed_organizations=o.allowed_organizations,
                    authorize_url=o.authorize_url,
                    token_url=o.token_url,
                    userdata_url=o.userdata_url,
                    scope=o.scope,
                    username_claim=o.username_claim,
                    claim_groups_key=o.claim_groups_key,
                    allowed_groups=o.allowed_groups,
                    allow_all=o.allow_all,
                )
                if o is not None and hub.authenticator != "dummy"
                else None,
                client_secret=_secret(spec.jupyterhub_oauth_client_secret) if hub.authenticator != "dummy" else None,
                exposure=hub.exposure,
                certificate_arn=hub.certificate_arn,
                source_ranges=hub.source_ranges,
                cpu=hub.cpu,
                memory_gib=hub.memory_gib,
                image=hub.image,
                user_storage_class=storage.storage_class,
                user_volume_gib=hub.user_volume_gib,
                lustre=storage.lustre if hub.shared_mounts else None,
                lustre_mount_path=hub.lustre_mount_path,
                read_only_buckets=storage.read_only_buckets if hub.shared_mounts else (),
                datasets_mount_path=hub.datasets_mount_path,
                region=spec.region,
                vpc_cidr=built.network.vpc_cidr,
                cull_timeout_seconds=hub.cull_timeout_seconds,
                cull_every_seconds=hub.cull_every_seconds,
                protect=spec.protect,
                load_balancer_controller=_controller(built),
            ),
            opts=opts,
        )
        exports["jupyterhub"] = {
            "namespace": hub.namespace,
            "version": hub.version,
            "authenticator": hub.authenticator,
            "exposure": hub.exposure,
            "profiles": [p.to_json() for p in profiles],
        }
    if obs.enabled:
        managed = None
        if obs.managed.enabled:
            managed = ManagedObservability(
                "managed-observability",
                ManagedObservabilityArgs(
                    built.cluster.name, spec.stack.lower(), spec.region, obs.namespace, PROMETHEUS_SERVICE_ACCOUNT, obs.managed.grafana, protect=spec.protect
                ),
                opts=opts,
            )
        if obs.logs.enabled:
            ClusterLogs(
                "cluster-logs",
                ClusterLogsArgs(spec.cluster_name, spec.region, obs.logs.retention_days, spec.cluster.kms_key_deletion_window_days, spec.protect),
                opts=opts,
            )
        monitoring = Monitoring(
            "monitoring",
            MonitoringArgs(
                version=obs.prometheus_stack_version,
                namespace=obs.namespace,
                system_pool=system_pool,
                retention_days=obs.retention_days,
                volume_gib=obs.volume_gib,
                storage_class=storage.storage_class,
                grafana=obs.grafana,
                grafana_admin_password=_secret(spec.grafana_admin_password),
                remote_write=remote_write(managed.remote_write_url, spec.region) if managed else None,
            ),
            opts=opts,
        )
        built.monitoring = monitoring  # Kueue's ServiceMonitor (platform_tenancy) waits for its CRD
        exporters = []
        if any(p.kind == "gpu" for p in spec.pools):
            DcgmExporter(
                "dcgm-exporter",
                ExporterArgs(monitoring.namespace.metadata.name, obs.scrape_interval_seconds, monitoring.release, version=obs.dcgm_exporter_version),
                opts=opts,
            )
            exporters.append("dcgm-exporter")
        if any(p.kind == "neuron" for p in spec.pools):
            NeuronMonitor(
                "neuron-monitor",
                ExporterArgs(monitoring.namespace.metadata.name, obs.scrape_interval_seconds, monitoring.release, image=obs.neuron_monitor_image),
                opts=opts,
            )
            exporters.append("neuron-monitor")
        features = [k for k in ("gpu", "neuron") if any(p.kind == k for p in spec.pools)]
        features += ["efa"] * any(p.efa for p in spec.pools) + ["serving"] * (kuberay.enabled or any(p.workload == "serving" for p in spec.pools))
        dashboards = dashboards_for(features)
        Dashboards("dashboards", DashboardsArgs(monitoring.namespace.metadata.name, dashboards), opts=opts)
        if storage.lustre is not None:
            LustreAlarms("lustre-alarms", LustreAlarmsArgs(storage.lustre.file_system_id, storage.lustre.capacity_gib, spec.stack.lower()), opts=opts)
        AlertRules("alerts", AlertRulesArgs(monitoring.namespace.metadata.name, monitoring.release), opts=opts)
        ScrapeTargets("scrape-targets", ScrapeTargetsArgs(monitoring.release, obs.scrape_interval_seconds, bool(_controller(built))), opts=opts)
        exports["observability"] = {"namespace": obs.namespace, "prometheusStack": obs.prometheus_stack_version, "grafana": obs.grafana, "exporters": exporters, "dashboards": list(dashboards)}
    if argo.enabled:
        ArgoWorkflows(
            "argo-workflows",
            ArgoWorkflowsArgs(
                version=argo.version,
                namespace=argo.namespace,
                system_pool=system_pool,
                auth_modes=argo.auth_modes,
                sso=ArgoSsoArgs(argo.sso.issuer, argo.sso.client_id, argo.sso.redirect_url) if argo.sso is not None else None,
                sso_client_secret=_secret(spec.argo_sso_client_secret),
            ),
            opts=opts,
        )
        exports["argo"] = {"namespace": argo.namespace, "version": argo.version, "authModes": list(argo.auth_modes)}
    if kuberay.enabled:
        operator = KubeRayOperator(
            "kuberay-operator",
            KubeRayOperatorArgs(
                version=kuberay.version,
                system_pool=system_pool,
                service_monitor=monitoring is not None,
                depends_on=(monitoring.release,) if monitoring is not None else (),
            ),
            opts=opts,
        )
        exports["kuberay"] = {"namespace": operator.namespace.metadata.name, "version": kuberay.version}
    return exports
