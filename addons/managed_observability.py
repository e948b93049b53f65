"""The managed option (`addons.observability.managed`): an Amazon Managed Service for Prometheus workspace that the
in-cluster Prometheus remote-writes to (SigV4, credentials through EKS Pod Identity for its service account), and
optionally an Amazon Managed Grafana workspace reading it.

The in-cluster Prometheus keeps scraping and evaluating the alert rules (its short local retention stays the
source of truth for alerts); the workspace keeps the long history and is what Managed Grafana queries. The
dashboards of addons/dashboards.py query the data source variable `$datasource`, so they import unchanged into
Managed Grafana with the workspace as the Prometheus data source.

- Prometheus: role `<name>-prometheus` for `<monitoring namespace>/kube-prometheus-stack-prometheus` with
  AmazonPrometheusRemoteWriteAccess; the remote write URL is `https://aps-workspaces.<region>.<dnsSuffix>/workspaces/<id>/api/v1/remote_write`.
- Grafana: a workspace with AWS IAM Identity Center (AWS_SSO) sign-in, service-managed permissions and the
  Prometheus data source, whose role may query (AmazonPrometheusQueryAccess) this account's workspaces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.identity import PodIdentityRole
from components.partitions import partition_of

REMOTE_WRITE_POLICY = "AmazonPrometheusRemoteWriteAccess"
QUERY_POLICY = "AmazonPrometheusQueryAccess"


@dataclass(frozen=True)
class ManagedObservabilityArgs:
    cluster_name: pulumi.Input[str]
    stack_name: str  # names the workspaces (crucible-<stack>)
    region: str
    namespace: str  # the monitoring namespace (Prometheus's service account lives there)
    prometheus_service_account: str
    grafana: bool
    protect: bool = False  # the workspace holds the metric history (protected where stateful resources are)
    tags: Optional[dict] = None
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)


def remote_write(url: pulumi.Input[str], region: str) -> list:
    """kube-prometheus-stack `prometheus.prometheusSpec.remoteWrite` for the workspace (prometheus-operator
    RemoteWriteSpec: url and sigv4.region; the SDK's default credential chain finds the Pod Identity credentials)."""
    return [{"url": url, "sigv4": {"region": region}}]


class ManagedObservability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ManagedObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:ManagedObservability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = partition_of(args.region)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.workspace = aws.amp.Workspace(
            f"{name}-prometheus",
            alias=f"crucible-{args.stack_name}",
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        # The workspace's prometheusEndpoint is https://aps-workspaces.<region>.<dnsSuffix>/workspaces/<id>/ (AMP
        # user guide, "Ingest metrics"); built from the id, which is known as soon as the workspace exists.
        endpoint = partition.endpoint("aps-workspaces", args.region)
        self.remote_write_url = self.workspace.id.apply(lambda ws: f"https://{endpoint}/workspaces/{ws}/api/v1/remote_write")
        self.prometheus_role = PodIdentityRole(
            f"{name}-prometheus",
            cluster_name=args.cluster_name,
            account_id=identity.account_id,
            namespace=args.namespace,
            service_account=args.prometheus_service_account,
            managed_policy_arns=[partition.managed_policy_arn(REMOTE_WRITE_POLICY)],
            permissions_boundary=args.permissions_boundary,
            opts=child,
        )
        self.grafana = None
        if args.grafana:
            role = aws.iam.Role(
                f"{name}-grafana",
                description="Amazon Managed Grafana: query the account's Amazon Managed Prometheus workspaces",
                assume_role_policy=identity.account_id.apply(
                    lambda account: json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": partition.service_principal("grafana")},
                                    "Action": "sts:AssumeRole",
                                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                                }
                            ],
                        }
                    )
                ),
                tags=args.tags,
                permissions_boundary=args.permissions_boundary,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(f"{name}-grafana-query", role=role.name, policy_arn=partition.managed_policy_arn(QUERY_POLICY), opts=child)
            self.grafana = aws.grafana.Workspace(
                f"{name}-grafana",
                name=f"crucible-{args.stack_name}",
                account_access_type="CURRENT_ACCOUNT",
                authentication_providers=["AWS_SSO"],
                permission_type="SERVICE_MANAGED",
                data_sources=["PROMETHEUS"],
                role_arn=role.arn,
                tags=args.tags,
                opts=child,
            )
        self.register_outputs({"prometheusWorkspace": self.workspace.arn})
