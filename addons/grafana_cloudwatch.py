"""Grafana reads CloudWatch: what the Lustre dashboard needs.

FSx for Lustre publishes its throughput, operations, capacity and client connections to CloudWatch (namespace
AWS/FSx, dimension FileSystemId: FSx for Lustre user guide, "Amazon FSx for Lustre metrics and dimensions"), not to
Prometheus, and the FSx CSI driver gives the kubelet no volume stats for the claims (addons/lustre_alarms.py). So the
in-cluster Grafana gets a CloudWatch data source (kube-prometheus-stack `grafana.additionalDataSources`, provisioned
into the chart's datasource ConfigMap) that signs its requests with the AWS SDK's default credential chain
(`authType: default`, Grafana's documented provisioning of the CloudWatch data source), and its service account
`kube-prometheus-stack-grafana` (the chart's name for release kube-prometheus-stack; tests/test_observability_lustre.py
reads it from the rendered chart) gets an EKS Pod Identity role: Pod Identity's webhook injects the container
credentials that chain reads.

The role may only read metrics: cloudwatch:GetMetricData (every panel query), ListMetrics (the file system variable's
dimension values) and GetMetricStatistics. CloudWatch's metric reads take no resource-level permissions (Service
Authorization Reference, Amazon CloudWatch: Resource types column empty for these actions), hence Resource "*".

The association must exist before Grafana's pod starts (the webhook injects credentials at pod creation only):
the kube-prometheus-stack release depends on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.identity import PodIdentityRole

DATA_SOURCE_UID = "cloudwatch"  # the Lustre dashboard's panels name it (addons/observability_data/dashboards/crucible-lustre.json)
GRAFANA_SERVICE_ACCOUNT = "kube-prometheus-stack-grafana"
READ_METRICS = ("cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics")


def data_source(region: str) -> dict:
    """One entry of `grafana.additionalDataSources`: CloudWatch in the stack's region, SDK default credentials."""
    return {
        "name": "CloudWatch",
        "type": "cloudwatch",
        "uid": DATA_SOURCE_UID,
        "access": "proxy",
        "editable": False,
        "jsonData": {"authType": "default", "defaultRegion": region},
    }


def read_metrics_policy() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "ReadMetrics", "Effect": "Allow", "Action": list(READ_METRICS), "Resource": "*"}]})


@dataclass(frozen=True)
class GrafanaCloudWatchArgs:
    cluster_name: pulumi.Input[str]
    namespace: str  # the monitoring namespace (Grafana's service account lives there)
    service_account: str = GRAFANA_SERVICE_ACCOUNT
    tags: Optional[dict] = None
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)


class GrafanaCloudWatch(pulumi.ComponentResource):
    def __init__(self, name: str, args: GrafanaCloudWatchArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:GrafanaCloudWatch", name, None, opts)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.role = PodIdentityRole(
            f"{name}-grafana",
            cluster_name=args.cluster_name,
            account_id=identity.account_id,
            namespace=args.namespace,
            service_account=args.service_account,
            inline_policy=read_metrics_policy(),
            tags=args.tags,
            permissions_boundary=args.permissions_boundary,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"roleArn": self.role.arn})
