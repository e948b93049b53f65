"""Logs off the nodes: container, node (host) and data-plane logs to CloudWatch Logs through the EKS managed add-on
`amazon-cloudwatch-observability` (its Fluent Bit DaemonSet), with the log groups Crucible creates first: each
encrypted with the logs' customer managed key and kept for the environment's retention.

Why the managed add-on and not the aws-for-fluent-bit chart: the chart is not vendored here (no render, no schema to
check its values against), and its Fluent Bit image and config are ours to keep compatible with each EKS release;
the managed add-on is versioned, tested and upgraded by EKS for the cluster's Kubernetes version, and takes its IAM
role through the add-on's own Pod Identity association (service account `cloudwatch-agent` in
`amazon-cloudwatch`). Its Fluent Bit writes to `/aws/containerinsights/<cluster>/{application,dataplane,host}` and
the agent to `.../performance`; as the groups exist, nothing is auto-created without a key or retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.identity import PodIdentityRole
from components.kms import LOGS_KEY_USE, customer_key
from components.partitions import partition_of

ADDON = "amazon-cloudwatch-observability"
NAMESPACE = "amazon-cloudwatch"
SERVICE_ACCOUNT = "cloudwatch-agent"
POLICY = "CloudWatchAgentServerPolicy"  # the AWS managed policy the add-on's documentation attaches
LOG_STREAMS = ("application", "dataplane", "host", "performance")


def log_group_names(cluster_name: str) -> dict[str, str]:
    return {kind: f"/aws/containerinsights/{cluster_name}/{kind}" for kind in LOG_STREAMS}


@dataclass(frozen=True)
class ClusterLogsArgs:
    cluster_name: str  # the EKS cluster's name (known: the spec's)
    region: str
    retention_days: int
    kms_key_deletion_window_days: int
    protect: bool
    addon_version: Optional[str] = None  # None: EKS's default for the cluster version
    depends_on: tuple = ()
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)


class ClusterLogs(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterLogsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:ClusterLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = partition_of(args.region)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        prefix = f"/aws/containerinsights/{args.cluster_name}/*"

        def logs_use(account_id: str) -> list[dict]:
            return [
                {
                    "Sid": "CloudWatchLogsUsesKeyForTheClusterLogGroups",
                    "Effect": "Allow",
                    "Principal": {"Service": partition.regional_service_principal("logs", args.region)},
                    "Action": LOGS_KEY_USE,
                    "Resource": "*",
                    "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": partition.arn("logs", args.region, account_id, f"log-group:{prefix}")}},
                }
            ]

        self.key = customer_key(
            f"{name}-key",
            description=f"CloudWatch Logs of cluster {args.cluster_name} (containers, nodes, data plane)",
            alias=f"crucible/{args.cluster_name}/container-logs",
            account_id=identity.account_id,
            partition=partition,
            deletion_window_days=args.kms_key_deletion_window_days,
            protect=args.protect,
            parent=self,
            extra_statements=logs_use,
        )
        self.groups = {
            kind: aws.cloudwatch.LogGroup(
                f"{name}-{kind}",
                name=group,
                retention_in_days=args.retention_days,
                kms_key_id=self.key.arn,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
            )
            for kind, group in log_group_names(args.cluster_name).items()
        }
        self.role = PodIdentityRole(
            f"{name}-role",
            cluster_name=args.cluster_name,
            account_id=identity.account_id,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            managed_policy_arns=[partition.managed_policy_arn(POLICY)],
            associate=False,  # the add-on's own pod_identity_associations
            permissions_boundary=args.permissions_boundary,
            opts=child,
        )
        self.addon = aws.eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster_name,
            addon_name=ADDON,
            addon_version=args.addon_version,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            pod_identity_associations=[aws.eks.AddonPodIdentityAssociationArgs(role_arn=self.role.role.arn, service_account=SERVICE_ACCOUNT)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.groups.values(), self.role, *args.depends_on]),
        )
        self.register_outputs({"logGroups": list(log_group_names(args.cluster_name).values())})
