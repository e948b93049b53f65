"""ServiceMonitors for the controllers installed before Prometheus: Karpenter (compute layer) and the AWS Load
Balancer Controller (platform layer, before the monitoring stack).

Their charts can create ServiceMonitors themselves, but only once the ServiceMonitor CRD exists, which
kube-prometheus-stack installs later (and, in a split deployment, in the platform stack, not the core one where
Karpenter lives). So these objects are the monitoring stack's: they wait for its release.

- Karpenter: the chart's Service `karpenter` (namespace karpenter; selector app.kubernetes.io/name and /instance
  = karpenter; port `http-metrics`, 8080: karpenter-1.14.1 templates/service.yaml).
- Load balancer controller: its chart creates the metrics Service only with its own ServiceMonitor, so a Service
  here selects the controller pods (app.kubernetes.io/name and /instance = aws-load-balancer-controller) on their
  container port `metrics-server` (8080; aws-load-balancer-controller-3.5.0 templates/deployment.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

KARPENTER_NAMESPACE = "karpenter"  # components/karpenter.py NAMESPACE
KARPENTER_RELEASE = "karpenter"  # the controller chart's release (its pin's name)
LBC_NAMESPACE = "kube-system"  # addons/load_balancer_controller.py NAMESPACE
LBC_RELEASE = "aws-load-balancer-controller"  # addons/load_balancer_controller.py RELEASE
LBC_METRICS_PORT = 8080


def _selector(app: str, release: str) -> dict:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release}


@dataclass(frozen=True)
class ScrapeTargetsArgs:
    monitoring: pulumi.Resource  # the kube-prometheus-stack release (the ServiceMonitor CRD)
    scrape_interval_seconds: int
    load_balancer_controller: bool = False


class ScrapeTargets(pulumi.ComponentResource):
    def __init__(self, name: str, args: ScrapeTargetsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:ScrapeTargets", name, None, opts)
        after = pulumi.ResourceOptions(parent=self, depends_on=[args.monitoring])
        interval = f"{args.scrape_interval_seconds}s"
        karpenter = _selector("karpenter", KARPENTER_RELEASE)
        self.karpenter = k8s.apiextensions.CustomResource(
            f"{name}-karpenter",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="karpenter", namespace=KARPENTER_NAMESPACE, labels=karpenter),
            spec={
                "selector": {"matchLabels": karpenter},
                "namespaceSelector": {"matchNames": [KARPENTER_NAMESPACE]},
                "endpoints": [{"port": "http-metrics", "path": "/metrics", "interval": interval}],
            },
            opts=after,
        )
        if args.load_balancer_controller:
            lbc = _selector("aws-load-balancer-controller", LBC_RELEASE)
            metrics_labels = {**lbc, "app.kubernetes.io/component": "metrics"}
            service = k8s.core.v1.Service(
                f"{name}-lbc-metrics",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="aws-load-balancer-controller-metrics", namespace=LBC_NAMESPACE, labels=metrics_labels),
                spec=k8s.core.v1.ServiceSpecArgs(
                    selector=lbc, ports=[k8s.core.v1.ServicePortArgs(name="metrics-server", port=LBC_METRICS_PORT, target_port="metrics-server")]
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.load_balancer_controller = k8s.apiextensions.CustomResource(
                f"{name}-lbc",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="aws-load-balancer-controller", namespace=LBC_NAMESPACE, labels=metrics_labels),
                spec={
                    "selector": {"matchLabels": metrics_labels},
                    "namespaceSelector": {"matchNames": [LBC_NAMESPACE]},
                    "endpoints": [{"port": "metrics-server", "path": "/metrics", "interval": interval}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.monitoring, service]),
            )
        self.register_outputs({})
