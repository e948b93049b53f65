"""Observability: Prometheus (kube-prometheus-stack) with optional Grafana, GPU metrics and Neuron metrics.

- `crucible:platform:Monitoring`: the monitoring namespace and the kube-prometheus-stack release (prometheus-community,
  pinned). Prometheus keeps `retention` on a persistent volume of the storage layer's gp3 StorageClass and selects
  every ServiceMonitor/PodMonitor in the cluster (not only the chart's own), so the accelerator exporters below are
  scraped. Controllers run on the system node group; node-exporter runs on every node, tolerating the accelerator
  taints
  (all of them: a node-exporter that does not run on a tainted node leaves it unmonitored). Grafana (optional) reads its admin password from a Secret filled from the Pulumi secret config.
- `crucible:platform:DcgmExporter`: NVIDIA dcgm-exporter (chart, pinned) on GPU nodes only (crucible.io/accelerator
  =nvidia), tolerating `nvidia.com/gpu`, with the chart's ServiceMonitor and Crucible's counters
  (observability_data/dcgm-counters.csv: error and profiling fields added to the defaults).

Dashboards (addons/dashboards.py), alert rules (addons/alerts.py) and the ServiceMonitors of the controllers
installed before Prometheus (addons/scrape_targets.py) are their own components.
- `crucible:platform:NeuronMonitor`: the Neuron SDK's neuron-monitor DaemonSet (neuron-monitor piped into its
  Prometheus exporter on port 8000, as in aws-neuron-sdk src/k8/k8s-neuron-monitor-daemonset.yml; the Neuron Helm
  chart does not package it) on Neuron nodes, tolerating `aws.amazon.com/neuron`, with a Service and ServiceMonitor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from addons.grafana_cloudwatch import data_source as cloudwatch_data_source
from components import accelerators, versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import ACCELERATOR_LABEL, pod_security
from components.manifests import as_api

PROMETHEUS_STACK = versions.chart("kube-prometheus-stack")
DCGM_COUNTERS = Path(__file__).parent / "observability_data" / "dcgm-counters.csv"
EFA_COUNTERS = Path(__file__).parent / "observability_data" / "efa-counters.sh"
EFA_COUNTERS_DIR = "/run/efa-counters"  # the sidecar writes, node-exporter's textfile collector reads (an emptyDir)
EFA_COUNTERS_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}
# Each read of a counter file queries the device (the driver keeps the answer 10 ms, `lifespan`): a p5's 32 devices are
# asked a few hundred times a round, so a round every 30 s, the interval at which the chart's ServiceMonitor scrapes.
EFA_COUNTERS_INTERVAL = 30
DCGM = versions.chart("dcgm-exporter")
NEURON_MONITOR = versions.image("neuron-monitor")
# The value paths of kube-prometheus-stack's own pods on the system node group (node-exporter runs on every node;
# Grafana's place is set only when it is installed).
PROMETHEUS_STACK_SYSTEM_PODS = (
    ("prometheus", "prometheusSpec"),
    ("alertmanager", "alertmanagerSpec"),
    ("prometheusOperator",),
    ("prometheusOperator", "admissionWebhooks", "patch"),
    ("kube-state-metrics",),
)
GPU_TOLERATION = accelerators.GPU.toleration
NEURON_TOLERATION = accelerators.NEURON.toleration
NEURON_MONITOR_PORT = 8000
GRAFANA_SECRET = "grafana-admin"
# The service account Prometheus scrapes with: the chart's `<release>-prometheus` for release kube-prometheus-stack
# (tests/test_helm_render.py reads it from the rendered Prometheus). Exporters behind authorization bind it.
PROMETHEUS_SERVICE_ACCOUNT = "kube-prometheus-stack-prometheus"


@dataclass(frozen=True)
class MonitoringArgs:
    namespace: str
    system_pool: str
    retention_days: int
    volume_gib: int
    storage_class: Optional[str]  # gp3 (storage layer); None: the cluster default
    grafana: bool
    grafana_admin_password: Optional[pulumi.Input[str]] = None  # a secret Output
    version: str = field(default=PROMETHEUS_STACK.version, kw_only=True)  # kube-prometheus-stack chart version (default: the pin)
    remote_write: Optional[list] = field(default=None, kw_only=True)  # prometheusSpec.remoteWrite (the managed option)
    # Grafana's CloudWatch data source in this region (the Lustre dashboard; addons/grafana_cloudwatch.py), and what
    # the release waits for (its Pod Identity association: credentials are injected when the pod is created).
    cloudwatch_region: Optional[str] = field(default=None, kw_only=True)
    # Alertmanager's receivers and route (addons/alert_notifications.py); None: the chart's, which drop every alert
    alertmanager_config: Optional[dict] = field(default=None, kw_only=True)
    alertmanager_pod_annotations: Optional[dict] = field(default=None, kw_only=True)  # on its pod: a change rolls it
    # EFA's hardware counters through node-exporter's textfile collector (efa_counters_values): the stack has EFA pools
    efa_counters: bool = field(default=False, kw_only=True)
    depends_on: Sequence[pulumi.Resource] = field(default=(), kw_only=True)


def prometheus_stack_values(args: MonitoringArgs) -> dict:
    claim_spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{args.volume_gib}Gi"}}}
    if args.storage_class:
        claim_spec["storageClassName"] = args.storage_class
    grafana: dict = {"enabled": args.grafana}
    if args.grafana:
        grafana["admin"] = {"existingSecret": GRAFANA_SECRET}  # keys admin-user / admin-password: the chart's defaults
        if args.cloudwatch_region:
            grafana["additionalDataSources"] = [cloudwatch_data_source(args.cloudwatch_region)]
    own = {
        "prometheus": {
            "prometheusSpec": {
                "retention": f"{args.retention_days}d",
                "storageSpec": {"volumeClaimTemplate": {"spec": claim_spec}},
                # Scrape every ServiceMonitor/PodMonitor (the exporters' own), not only those labelled for this release.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                # Evaluate every PrometheusRule (Crucible's alerts, addons/alerts.py), not only the chart's own.
                "ruleSelectorNilUsesHelmValues": False,
                **({"remoteWrite": args.remote_write} if args.remote_write else {}),
            }
        },
        # Every node, whatever its taints (accelerators, startup agents, the system nodes' CriticalAddonsOnly,
        # maintenance): the chart's default tolerates only NoSchedule taints; a list of the accelerator taints alone
        # would replace it and leave every other tainted node unmonitored.
        "prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}], **(efa_counters_values() if args.efa_counters else {})},
        "grafana": grafana,
    }
    if args.alertmanager_config is not None:
        own["alertmanager"] = {"config": args.alertmanager_config}
    if args.alertmanager_pod_annotations:
        own.setdefault("alertmanager", {})["alertmanagerSpec"] = {"podMetadata": {"annotations": dict(args.alertmanager_pod_annotations)}}
    system_pods = PROMETHEUS_STACK_SYSTEM_PODS + ((("grafana",),) if args.grafana else ())
    return merge_values(own, on_system_nodes_at(args.system_pool, *system_pods))


def efa_counters_values(interval_seconds: int = EFA_COUNTERS_INTERVAL) -> dict:
    """prometheus-node-exporter values: a sidecar (the chart's `sidecars`; busybox, as node-exporter's image is
    distroless and has no shell) that turns each EFA device's hw_counters into node_efa_<name>_total
    (observability_data/efa-counters.sh: EFA has no InfiniBand port counters, so the InfiniBand collector shows no EFA
    traffic or errors), written to an emptyDir the textfile collector reads. The sidecar reads the host's /sys,
    read-only."""
    return {
        "extraArgs": [f"--collector.textfile.directory={EFA_COUNTERS_DIR}"],
        "sidecars": [
            {
                "name": "efa-counters",
                "image": versions.image("busybox").ref,
                "command": ["/bin/sh", "-c", EFA_COUNTERS.read_text()],
                "env": [
                    {"name": "SYS", "value": "/host/efa-sys"},
                    {"name": "OUT", "value": EFA_COUNTERS_DIR},
                    {"name": "INTERVAL", "value": str(interval_seconds)},
                ],
                "resources": {kind: dict(amounts) for kind, amounts in EFA_COUNTERS_RESOURCES.items()},
            }
        ],
        "sidecarVolumeMount": [{"name": "efa-counters", "mountPath": EFA_COUNTERS_DIR, "readOnly": False}],
        "sidecarHostVolumeMounts": [{"name": "efa-sys", "hostPath": "/sys", "mountPath": "/host/efa-sys", "readOnly": True}],
    }


def dcgm_counters() -> str:
    """Crucible's DCGM counters (observability_data/dcgm-counters.csv): the exporter's defaults plus the ECC,
    NVLink-error, throttling and profiling fields that say whether a GPU is failing or a training job starves it."""
    return DCGM_COUNTERS.read_text()


def dcgm_values(scrape_interval_seconds: int) -> dict:
    return {
        "nodeSelector": {ACCELERATOR_LABEL: accelerators.GPU.label_value},
        "tolerations": [GPU_TOLERATION],
        "serviceMonitor": {"interval": f"{scrape_interval_seconds}s"},  # the chart's ServiceMonitor is on by default
        # The chart's ConfigMap exporter-metrics-config-map takes the whole list (not additive); the exporter
        # reads it from the file the chart mounts (arguments -f /etc/dcgm-exporter/default-counters.csv).
        "customMetrics": dcgm_counters(),
    }


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # node-exporter (hostNetwork, hostPID) and the accelerator exporters (device access) are privileged.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={"crucible.io/purpose": "observability", **pod_security("privileged")},  # node exporter: host network and PID
            ),
            opts=child,
        )
        depends: list[pulumi.Resource] = list(args.depends_on)
        if args.grafana:
            if args.grafana_admin_password is None:
                raise ValueError("MonitoringArgs: grafana needs grafana_admin_password")
            depends.append(
                k8s.core.v1.Secret(
                    f"{name}-grafana-admin",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_SECRET, namespace=self.namespace.metadata.name),
                    string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(args.grafana_admin_password)},
                    opts=child,
                )
            )
        chart = HelmChart.of(PROMETHEUS_STACK, namespace=self.namespace.metadata.name, version=args.version)
        self.release = helm_release(self, name, chart, prometheus_stack_values(args), timeout=900, depends_on=depends)
        self.register_outputs({"namespace": args.namespace, "version": args.version, "grafana": args.grafana})


@dataclass(frozen=True)
class ExporterArgs:
    namespace: pulumi.Input[str]
    scrape_interval_seconds: int
    monitoring: pulumi.Resource  # the kube-prometheus-stack release (it installs the ServiceMonitor CRD)
    version: str = DCGM.version  # dcgm-exporter chart version
    image: str = NEURON_MONITOR.ref  # neuron-monitor image


class DcgmExporter(pulumi.ComponentResource):
    def __init__(self, name: str, args: ExporterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:DcgmExporter", name, None, opts)
        chart = HelmChart.of(DCGM, namespace=args.namespace, version=args.version)
        self.release = helm_release(self, name, chart, dcgm_values(args.scrape_interval_seconds), depends_on=[args.monitoring])
        self.register_outputs({"version": args.version})


def neuron_monitor_pod_spec(image: str) -> dict:
    return {
        "nodeSelector": {ACCELERATOR_LABEL: accelerators.NEURON.label_value},
        "tolerations": [NEURON_TOLERATION],
        "containers": [
            {
                "name": "neuron-monitor",
                "image": image,
                "command": ["/opt/bin/entrypoint.sh"],
                "args": ["--port", str(NEURON_MONITOR_PORT)],
                "ports": [{"name": "metrics", "containerPort": NEURON_MONITOR_PORT}],
                "env": [{"name": "GOMEMLIMIT", "value": "160MiB"}],
                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                "securityContext": {"privileged": True},  # reads the Neuron devices and driver counters
            }
        ],
    }


class NeuronMonitor(pulumi.ComponentResource):
    def __init__(self, name: str, args: ExporterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:NeuronMonitor", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "neuron-monitor"}
        meta = k8s.meta.v1.ObjectMetaArgs(name="neuron-monitor", namespace=args.namespace, labels=labels)
        self.daemon_set = k8s.apps.v1.DaemonSet(
            name,
            metadata=meta,
            spec=as_api(
                {
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": neuron_monitor_pod_spec(args.image)},
                }
            ),
            opts=child,
        )
        self.service = k8s.core.v1.Service(
            name,
            metadata=meta,
            spec=as_api({"selector": labels, "ports": [{"name": "metrics", "port": NEURON_MONITOR_PORT, "targetPort": "metrics"}]}),
            opts=child,
        )
        self.service_monitor = k8s.apiextensions.CustomResource(
            name,
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=meta,
            spec={
                "selector": {"matchLabels": labels},
                "endpoints": [{"port": "metrics", "interval": f"{args.scrape_interval_seconds}s"}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.monitoring]),
        )
        self.register_outputs({"image": args.image})
