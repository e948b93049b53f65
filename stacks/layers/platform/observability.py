"""Monitoring (addons.observability: kube-prometheus-stack) and the accelerator metrics exporters it scrapes."""

from __future__ import annotations

import pulumi

from addons.observability import DcgmExporter, ExporterArgs, Monitoring, MonitoringArgs, NeuronMonitor
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


def build_monitoring(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    obs = spec.addons.observability
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            version=obs.prometheus_stack_version,
            namespace=obs.namespace,
            system_pool=below.require_cluster().system_node_group_label,
            retention_days=obs.retention_days,
            volume_gib=obs.volume_gib,
            storage_class=shared_storage(below.storage).storage_class,
            grafana=obs.grafana,
            grafana_admin_password=secret(spec.grafana_admin_password),
        ),
        opts=opts,
    )
    exporters = [e.name for e in (DCGM_EXPORTER, NEURON_MONITOR) if e.enabled(spec)]
    return AddonOutputs(
        export={"namespace": obs.namespace, "prometheusStack": obs.prometheus_stack_version, "grafana": obs.grafana, "exporters": exporters},
        monitoring=monitoring,  # ServiceMonitors of later add-ons (Kueue, KubeRay) wait for its CRDs
    )


def _monitoring(below: AddonsBelow) -> Monitoring:
    if below.monitoring is None:  # the entries' enabling rules include monitoring_enabled
        raise RuntimeError("an exporter was built before Monitoring (registry order)")
    return below.monitoring


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
    components=("crucible:platform:Monitoring",),
    enabled=monitoring_enabled,
    build=build_monitoring,
    output="addons",
    key="observability",
    summary="Prometheus, Alertmanager, Grafana (kube-prometheus-stack)",
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
