"""Alert rules as a PrometheusRule (monitoring.coreos.com/v1) from `observability_data/alerts.yaml`.

The rule file is a plain Prometheus rule file (`groups:`), so promtool checks and unit-tests it as it ships
(tests/test_observability_alerts.py, tests/data/promtool/). The Prometheus of kube-prometheus-stack selects every
PrometheusRule of the cluster (addons/observability.py sets `ruleSelectorNilUsesHelmValues: false`), so the rule
needs no release label; it waits for the release, which installs the PrometheusRule CRD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

RULES_FILE = Path(__file__).parent / "observability_data" / "alerts.yaml"
RULE_NAME = "crucible-alerts"


def rule_groups() -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe_load's constructors; libyaml parses when installed
    return yaml.load(RULES_FILE.read_text(), Loader=loader)["groups"]  # noqa: S506 - a safe loader


@dataclass(frozen=True)
class AlertRulesArgs:
    namespace: pulumi.Input[str]
    monitoring: pulumi.Resource  # the kube-prometheus-stack release (the PrometheusRule CRD)


class AlertRules(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlertRulesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:AlertRules", name, None, opts)
        self.rule = k8s.apiextensions.CustomResource(
            name,
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=RULE_NAME, namespace=args.namespace, labels={"app.kubernetes.io/part-of": "crucible"}),
            spec={"groups": rule_groups()},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.monitoring]),
        )
        self.register_outputs({"groups": [g["name"] for g in rule_groups()]})
