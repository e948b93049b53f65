"""Grafana dashboards as code: one ConfigMap per dashboard JSON in `observability_data/dashboards/`, labelled for
kube-prometheus-stack's Grafana sidecar.

The pinned chart (88.5.3) runs Grafana's dashboard sidecar with `label: grafana_dashboard`, `labelValue: "1"` and
`searchNamespace: ALL` (values.yaml `grafana.sidecar.dashboards`); it provisions every ConfigMap so labelled. Each
panel queries the data source variable `$datasource` (the chart's Prometheus by default; the Amazon Managed
Prometheus workspace in Managed Grafana). tests/test_observability_metrics.py parses every query with a PromQL
parser and refuses a metric its exporter does not emit at the pinned version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

DASHBOARD_DIR = Path(__file__).parent / "observability_data" / "dashboards"
SIDECAR_LABEL = "grafana_dashboard"  # kube-prometheus-stack 88.5.3 values.yaml grafana.sidecar.dashboards.label
SIDECAR_LABEL_VALUE = "1"
# What each dashboard needs installed (None: always shipped with observability on).
NEEDS = {
    "crucible-gpu": "gpu",
    "crucible-neuron": "neuron",
    "crucible-efa": "efa",
    "crucible-kueue": None,
    "crucible-karpenter": None,
    "crucible-serving": "serving",
    "crucible-lustre": "lustre",  # CloudWatch metrics: needs Grafana's CloudWatch data source (addons/grafana_cloudwatch.py)
}


def dashboard_names() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in DASHBOARD_DIR.glob("*.json")))


def load(name: str) -> dict:
    return json.loads((DASHBOARD_DIR / f"{name}.json").read_text())


def dashboards_for(features: Sequence[str]) -> tuple[str, ...]:
    """The dashboards a cluster with these features (gpu, neuron, efa, serving, lustre) ships."""
    return tuple(name for name in dashboard_names() if NEEDS.get(name) is None or NEEDS[name] in features)


@dataclass(frozen=True)
class DashboardsArgs:
    namespace: pulumi.Input[str]  # the monitoring namespace
    names: Sequence[str] = field(default_factory=dashboard_names)


class Dashboards(pulumi.ComponentResource):
    def __init__(self, name: str, args: DashboardsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:Dashboards", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for dashboard in args.names:
            k8s.core.v1.ConfigMap(
                f"{name}-{dashboard}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"dashboard-{dashboard}",
                    namespace=args.namespace,
                    labels={SIDECAR_LABEL: SIDECAR_LABEL_VALUE, "app.kubernetes.io/part-of": "crucible"},
                ),
                data={f"{dashboard}.json": json.dumps(load(dashboard), sort_keys=True)},
                opts=child,
            )
        self.register_outputs({"dashboards": list(args.names)})
