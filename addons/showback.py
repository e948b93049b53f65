"""Runtime showback: a PrometheusRule that prices what Kueue has admitted, per team (ClusterQueue) and pool (flavor).

Kueue (with `metrics.enableClusterQueueResources`, set in addons/kueue.py) reports, per ClusterQueue, flavor and
resource, the quota its admitted workloads use and its nominal quota (kubernetes-sigs/kueue v0.19.2,
pkg/metrics/metrics.go: gauges `kueue_cluster_queue_resource_usage` and `kueue_cluster_queue_nominal_quota`, labels
cohort, cluster_queue, flavor, resource, replica_role). The rules multiply them by each flavor's price per unit-hour
(given by the caller: list prices of the reference region) and record:

* `cluster_queue_flavor:crucible_showback_usd_per_hour:sum`: what each team's admitted workloads cost now, per pool;
* `cluster_queue_flavor:crucible_idle_quota_usd_per_hour:sum`: what its unused nominal quota costs (the quota it
  holds and does not use, lent to the cohort or idle);
* `cluster_queue:crucible_showback_usd_per_hour:sum`: the team's total $/h;
* `cluster_queue:crucible_showback_usd:sum_1d`: the team's cost over the last day (the hourly rate averaged over
  a day, times 24), for a cost-per-team-per-day panel.

Only the Kueue replica that acts reports usage; `replica_role!="follower"` keeps a follower's stale copy out.
The rule carries the label `release: <the kube-prometheus-stack release>`: the chart's Prometheus selects rules by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

API_VERSION = "monitoring.coreos.com/v1"
KIND = "PrometheusRule"
USAGE_METRIC = "kueue_cluster_queue_resource_usage"
QUOTA_METRIC = "kueue_cluster_queue_nominal_quota"
BY_FLAVOR = "cluster_queue_flavor:crucible_showback_usd_per_hour:sum"
IDLE_BY_FLAVOR = "cluster_queue_flavor:crucible_idle_quota_usd_per_hour:sum"
BY_TEAM = "cluster_queue:crucible_showback_usd_per_hour:sum"
BY_TEAM_DAY = "cluster_queue:crucible_showback_usd:sum_1d"
RECORDED = (BY_FLAVOR, IDLE_BY_FLAVOR, BY_TEAM, BY_TEAM_DAY)
RULE_NAME = "crucible-showback"


@dataclass(frozen=True)
class Price:
    flavor: str  # the Kueue ResourceFlavor (Crucible names one per pool)
    resource: str  # the Kueue resource priced on it
    usd_per_unit_hour: float


@dataclass(frozen=True)
class ShowbackArgs:
    namespace: pulumi.Input[str]  # the monitoring namespace
    release: pulumi.Input[str]  # the kube-prometheus-stack release name (its Prometheus's ruleSelector)
    prices: Sequence[Price]
    interval_seconds: int = 60
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)  # the release that installs the CRD


def _selector(metric: str, price: Price) -> str:
    return f'{metric}{{flavor="{price.flavor}", resource="{price.resource}", replica_role!="follower"}}'


def _by(metric: str, price: Price) -> str:
    return f"sum by (cluster_queue, flavor) ({_selector(metric, price)})"


def rule_groups(prices: Sequence[Price], interval_seconds: int = 60) -> list[dict]:
    """The PrometheusRule's `spec.groups` (pure)."""
    per_flavor = []
    for p in prices:
        rate = f"{p.usd_per_unit_hour:.6g}"
        labels = {"crucible_resource": p.resource}
        per_flavor.append({"record": BY_FLAVOR, "expr": f"{_by(USAGE_METRIC, p)} * {rate}", "labels": labels})
        unused = f"{_by(QUOTA_METRIC, p)} - ({_by(USAGE_METRIC, p)} or {_by(QUOTA_METRIC, p)} * 0)"
        per_flavor.append({"record": IDLE_BY_FLAVOR, "expr": f"clamp_min({unused}, 0) * {rate}", "labels": labels})
    per_team = [
        {"record": BY_TEAM, "expr": f"sum by (cluster_queue) ({BY_FLAVOR})"},
        {"record": BY_TEAM_DAY, "expr": f"avg_over_time({BY_TEAM}[1d]) * 24"},
    ]
    return [
        {"name": "crucible-showback.flavors", "interval": f"{interval_seconds}s", "rules": per_flavor},
        {"name": "crucible-showback.teams", "interval": f"{interval_seconds}s", "rules": per_team},
    ]


class Showback(pulumi.ComponentResource):
    """The showback recording rules (one PrometheusRule in the monitoring namespace)."""

    def __init__(self, name: str, args: ShowbackArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:Showback", name, None, opts)
        self.rule = k8s.apiextensions.CustomResource(
            f"{name}-rule",
            api_version=API_VERSION,
            kind=KIND,
            metadata={"name": RULE_NAME, "namespace": args.namespace, "labels": {"release": args.release, "app.kubernetes.io/part-of": "crucible"}},
            spec={"groups": rule_groups(args.prices, args.interval_seconds)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"rule": RULE_NAME, "records": list(RECORDED)})
