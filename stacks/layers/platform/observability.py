"""Monitoring (addons.observability: kube-prometheus-stack) and the accelerator metrics exporters it scrapes."""

from __future__ import annotations

import pulumi

from addons.alert_notifications import AlertNotifications, AlertNotificationsArgs
from addons.alerts import AlertRules, AlertRulesArgs
from addons.dashboards import Dashboards, DashboardsArgs, dashboards_for
from addons.grafana_cloudwatch import GrafanaCloudWatch, GrafanaCloudWatchArgs
from addons.logs import ClusterLogs, ClusterLogsArgs
from addons.lustre_alarms import LustreAlarms, LustreAlarmsArgs
from addons.managed_observability import ManagedObservability, ManagedObservabilityArgs, remote_write
from addons.observability import PROMETHEUS_SERVICE_ACCOUNT, DcgmExporter, ExporterArgs, Monitoring, MonitoringArgs, NeuronMonitor
from addons.scrape_targets import ScrapeTargets, ScrapeTargetsArgs
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform.notebooks import secret
from stacks.layers.platform.shared import shared_storage
from stacks.spec import PlatformSpec


def monitoring_enabled(spec: PlatformSpec) -> bool:
    return spec.addons.observability.enabled


def dcgm_enabled(spec: PlatformSpec) -> bool:
    return monitoring_enabled(spec) and any(p.kind == "gpu" for p in spec.pools)


def neuron_monitor_enabled(spec: PlatformSpec) -> bool:
    return monitoring_enabled(spec) and any(p.kind == "neuron" for p in spec.pools)


def dashboard_features(spec: PlatformSpec) -> list[str]:
    """Which dashboards the stack's pools call for (addons/dashboards.py `dashboards_for`)."""
    features = [k for k in ("gpu", "neuron") if any(p.kind == k for p in spec.pools)]
    features += ["efa"] * any(p.efa for p in spec.pools)
    features += ["serving"] * (spec.addons.kuberay.enabled or any(p.workload == "serving" for p in spec.pools))
    features += ["lustre"] * lustre_dashboard(spec)
    return features


def lustre_dashboard(spec: PlatformSpec) -> bool:
    """The Lustre dashboard reads CloudWatch through the in-cluster Grafana's CloudWatch data source: with Grafana on
    and a Lustre file system in the storage layer."""
    return spec.addons.observability.grafana and spec.storage.lustre.enabled


def dashboards_enabled(spec: PlatformSpec) -> bool:
    """The dashboards are ConfigMaps the in-cluster Grafana's sidecar loads: with no Grafana nothing reads them (a
    Managed Grafana workspace does not read ConfigMaps)."""
    return monitoring_enabled(spec) and spec.addons.observability.grafana


def managed_enabled(spec: PlatformSpec) -> bool:
    return monitoring_enabled(spec) and spec.addons.observability.managed.enabled


def logs_enabled(spec: PlatformSpec) -> bool:
    return monitoring_enabled(spec) and spec.addons.observability.logs.enabled


def lustre_alarms_enabled(spec: PlatformSpec) -> bool:
    """A Lustre file system this stack builds or reads from the storage layer below (the spec declares either)."""
    return monitoring_enabled(spec) and spec.storage.lustre.enabled


def build_managed(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    obs = spec.addons.observability
    managed = ManagedObservability(
        "managed-observability",
        ManagedObservabilityArgs(
            below.require_cluster().name,
            spec.stack.lower(),
            spec.region,
            obs.namespace,
            PROMETHEUS_SERVICE_ACCOUNT,
            obs.managed.grafana,
            protect=spec.protect,
            permissions_boundary=spec.permissions_boundary,
        ),
        opts=opts,
    )
    return AddonOutputs(managed_observability=managed)


def build_grafana_cloudwatch(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    access = GrafanaCloudWatch(
        "grafana-cloudwatch",
        GrafanaCloudWatchArgs(below.require_cluster().name, spec.addons.observability.namespace, permissions_boundary=spec.permissions_boundary),
        opts=opts,
    )
    return AddonOutputs(grafana_cloudwatch=access)


def build_alert_notifications(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    obs = spec.addons.observability
    notifications = AlertNotifications(
        "alert-notifications",
        AlertNotificationsArgs(
            below.require_cluster().name,
            spec.stack.lower(),
            spec.region,
            obs.namespace,
            emails=obs.alarm_emails,
            kms_key_deletion_window_days=spec.cluster.kms_key_deletion_window_days,
            protect=spec.protect,
            permissions_boundary=spec.permissions_boundary,
        ),
        opts=opts,
    )
    return AddonOutputs(export={"topicArn": notifications.topic.arn}, alert_notifications=notifications)


def build_logs(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    obs = spec.addons.observability
    ClusterLogs(
        "cluster-logs",
        ClusterLogsArgs(
            spec.cluster_name,
            spec.region,
            obs.logs.retention_days,
            spec.cluster.kms_key_deletion_window_days,
            spec.protect,
            depends_on=tuple(below.foundation),  # CreateAddon needs the cluster, its operator a node (REL-ORD-007)
            permissions_boundary=spec.permissions_boundary,
        ),
        opts=opts,
    )
    return AddonOutputs()


def build_lustre_alarms(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    lustre = shared_storage(below.storage).lustre
    if lustre is None:  # a platform stack on a storage stack whose own config has no Lustre
        return AddonOutputs()
    LustreAlarms(
        "lustre-alarms",
        LustreAlarmsArgs(
            lustre.file_system_id,
            lustre.capacity_gib,
            spec.stack.lower(),
            region=spec.region,
            kms_key_deletion_window_days=spec.cluster.kms_key_deletion_window_days,
            protect=spec.protect,
            emails=spec.addons.observability.alarm_emails,
        ),
        opts=opts,
    )
    return AddonOutputs()


def build_monitoring(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    """Prometheus (remote-writing to Amazon Managed Prometheus when `managed` is on) and what Prometheus and Grafana
    read: dashboards, alert rules, the controllers' scrape targets."""
    obs, cluster = spec.addons.observability, below.require_cluster()
    storage = shared_storage(below.storage)
    managed, cloudwatch, notifications = below.managed_observability, below.grafana_cloudwatch, below.alert_notifications
    # credentials are injected when a pod is created: the release (its Grafana and Alertmanager pods) waits for the
    # Pod Identity associations
    identities = [r.association for r in (cloudwatch.role if cloudwatch else None, notifications.role if notifications else None) if r and r.association]
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            version=obs.prometheus_stack_version,
            namespace=obs.namespace,
            system_pool=cluster.system_node_group_label,
            retention_days=obs.retention_days,
            volume_gib=obs.volume_gib,
            storage_class=storage.storage_class,
            grafana=obs.grafana,
            grafana_admin_password=secret(spec.grafana_admin_password),
            remote_write=remote_write(managed.remote_write_url, spec.region) if managed else None,
            cloudwatch_region=spec.region if cloudwatch else None,
            alertmanager_config=notifications.config if notifications else None,
            alertmanager_pod_annotations=notifications.pod_annotations if notifications else None,
            efa_counters=any(p.efa for p in spec.pools),
            depends_on=identities,
        ),
        opts=opts,
    )
    AlertRules("alerts", AlertRulesArgs(monitoring.namespace.metadata.name, monitoring.release), opts=opts)
    ScrapeTargets("scrape-targets", ScrapeTargetsArgs(monitoring.release, obs.scrape_interval_seconds, bool(below.controller())), opts=opts)
    exporters = [e.name for e in (DCGM_EXPORTER, NEURON_MONITOR) if e.enabled(spec)]
    return AddonOutputs(
        export={
            "namespace": obs.namespace,
            "prometheusStack": obs.prometheus_stack_version,
            "grafana": obs.grafana,
            "exporters": exporters,
            "dashboards": list(dashboards_for(dashboard_features(spec))) if dashboards_enabled(spec) else [],
        },
        monitoring=monitoring,  # ServiceMonitors of later add-ons (Kueue, KubeRay) wait for its CRDs
    )


def _monitoring(below: AddonsBelow) -> Monitoring:
    if below.monitoring is None:  # the entries' enabling rules include monitoring_enabled
        raise RuntimeError("an exporter was built before Monitoring (registry order)")
    return below.monitoring


def build_dashboards(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    Dashboards("dashboards", DashboardsArgs(_monitoring(below).namespace.metadata.name, dashboards_for(dashboard_features(spec))), opts=opts)
    return AddonOutputs()


def build_dcgm_exporter(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    obs, monitoring = spec.addons.observability, _monitoring(below)
    DcgmExporter(
        "dcgm-exporter",
        ExporterArgs(monitoring.namespace.metadata.name, obs.scrape_interval_seconds, monitoring.release, version=obs.dcgm_exporter_version),
        opts=opts,
    )
    return AddonOutputs()


def build_neuron_monitor(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    obs, monitoring = spec.addons.observability, _monitoring(below)
    NeuronMonitor(
        "neuron-monitor",
        ExporterArgs(monitoring.namespace.metadata.name, obs.scrape_interval_seconds, monitoring.release, image=obs.neuron_monitor_image),
        opts=opts,
    )
    return AddonOutputs()


MONITORING = Entry(
    name="monitoring",
    components=(
        "crucible:platform:Monitoring",
        "crucible:platform:AlertRules",
        "crucible:platform:ScrapeTargets",
    ),
    enabled=monitoring_enabled,
    build=build_monitoring,
    output="addons",
    key="observability",
    # Prometheus remote-writes to its workspace; Grafana and Alertmanager need their identities first
    after=("managed-observability", "grafana-cloudwatch", "alert-notifications"),
    summary="Prometheus, Alertmanager, Grafana (kube-prometheus-stack)",
)
DASHBOARDS = Entry(
    name="dashboards",
    components=("crucible:platform:Dashboards",),
    enabled=dashboards_enabled,
    build=build_dashboards,
    output="addons",
    key=None,  # listed in the observability export
    after=("monitoring",),
    summary="Grafana dashboards (GPU, Neuron, EFA, Kueue, Karpenter, serving, Lustre) for the in-cluster Grafana's sidecar",
)
DCGM_EXPORTER = Entry(
    name="dcgm-exporter",
    components=("crucible:platform:DcgmExporter",),
    enabled=dcgm_enabled,
    build=build_dcgm_exporter,
    output="addons",
    key=None,  # listed in the observability export
    after=("monitoring",),
    summary="NVIDIA GPU metrics, on the gpu pools",
)
NEURON_MONITOR = Entry(
    name="neuron-monitor",
    components=("crucible:platform:NeuronMonitor",),
    enabled=neuron_monitor_enabled,
    build=build_neuron_monitor,
    output="addons",
    key=None,
    after=("monitoring",),
    summary="Neuron device metrics, on the neuron pools",
)
MANAGED_OBSERVABILITY = Entry(
    name="managed-observability",
    components=("crucible:platform:ManagedObservability",),
    enabled=managed_enabled,
    build=build_managed,
    output="addons",
    key=None,
    summary="Amazon Managed Prometheus workspace (remote write) and, optionally, Managed Grafana",
)
GRAFANA_CLOUDWATCH = Entry(
    name="grafana-cloudwatch",
    components=("crucible:platform:GrafanaCloudWatch",),
    enabled=lambda spec: monitoring_enabled(spec) and lustre_dashboard(spec),
    build=build_grafana_cloudwatch,
    output="addons",
    key=None,
    summary="Grafana's CloudWatch data source identity (Pod Identity, read metrics): the Lustre dashboard",
)
ALERT_NOTIFICATIONS = Entry(
    name="alert-notifications",
    components=("crucible:platform:AlertNotifications",),
    enabled=monitoring_enabled,
    build=build_alert_notifications,
    output="addons",
    key="alertNotifications",
    summary="Alertmanager's receiver: warning and critical alerts to an encrypted SNS topic (alarmEmails subscribed)",
)
CLUSTER_LOGS = Entry(
    name="cluster-logs",
    components=("crucible:platform:ClusterLogs",),
    enabled=logs_enabled,
    build=build_logs,
    output="addons",
    key=None,
    summary="container and node logs to KMS-encrypted CloudWatch log groups (amazon-cloudwatch-observability)",
)
LUSTRE_ALARMS = Entry(
    name="lustre-alarms",
    components=("crucible:platform:LustreAlarms",),
    enabled=lustre_alarms_enabled,
    build=build_lustre_alarms,
    output="addons",
    key=None,
    after=("monitoring",),
    summary="a CloudWatch alarm when the Lustre file system nears full",
)
