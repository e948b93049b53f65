"""The permissions boundary of every IAM role Crucible creates, as a pure function.

AWS's delegation pattern (IAM User Guide, "Permissions boundaries for IAM entities", "Delegating responsibility to
others using permissions boundaries"): the deploy roles may create roles, write their policies and set a boundary
only with ``iam:PermissionsBoundary`` = this policy's ARN, may never remove a role's boundary
(``iam:DeleteRolePermissionsBoundary``) and may never change this policy (``CreatePolicyVersion``, ``DeletePolicy``,
``DeletePolicyVersion``, ``SetDefaultPolicyVersion``). A role's effective permissions are the intersection of its
identity policies and its boundary, so no role a deploy role creates can do more than this document allows, however
its own policies are written.

What it allows is what the roles of components/ and addons/ need, and no IAM write but the instance-profile calls
of Karpenter's controller and the PassRole of Karpenter's node role to EC2:

- control plane: AmazonEKSClusterPolicy (autoscaling, ec2, elasticloadbalancing, kms:DescribeKey, the ELB
  service-linked role);
- node roles (system nodes, Karpenter nodes): AmazonEKSWorkerNodePolicy, AmazonEKS_CNI_Policy,
  AmazonEC2ContainerRegistryPullOnly, AmazonSSMManagedInstanceCore;
- Karpenter's controller (components/karpenter.py): fleet, launch templates, instances, instance profiles, pricing,
  SSM parameters, its interruption queue, the node volume key through EC2;
- Pod Identity roles (components/identity.py): the EBS CSI driver (AmazonEBSCSIDriverPolicy), the load balancer
  controller (upstream iam_policy.json), the FSx and Mountpoint S3 CSI drivers, the log shipper
  (CloudWatchAgentServerPolicy), Grafana's CloudWatch data source, Alertmanager's alerts topic, the teams' data roles, managed Prometheus
  (AmazonPrometheusRemoteWriteAccess) and Managed Grafana (AmazonPrometheusQueryAccess);
- VPC flow logs (components/network.py): its log group.

``MANAGED_POLICIES`` holds the actions of the AWS managed policies Crucible attaches, as the AWS Managed Policy
Reference lists them (default versions: AmazonEKSClusterPolicy v9, AmazonEKSWorkerNodePolicy v3,
AmazonEKS_CNI_Policy v5, AmazonEC2ContainerRegistryPullOnly v1, AmazonSSMManagedInstanceCore v2,
AmazonEBSCSIDriverPolicy v2, CloudWatchAgentServerPolicy v3, AmazonPrometheusRemoteWriteAccess v1,
AmazonPrometheusQueryAccess v1): the plan cannot read them, and tests/test_bootstrap.py proves every action of every
policy a shipped stack attaches to a role — managed or inline — is within the boundary.

Denied whatever a role's own policies say: the delivery identities (their IAM path), the state backend (bucket, its
access-log bucket, the state and secrets keys) and every IAM write beyond the two above.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Sequence

from components.partitions import Partition

PATH = "/crucible-boundary/"  # its own path: no deploy role may change anything under /crucible-bootstrap/ either
NAME = "crucible-platform-boundary"
# Karpenter's node role, auto-named from its logical name (components/karpenter.py: f"{name}-node", name "karpenter"):
# the only role a Crucible role may pass, and only to EC2 (the instances Karpenter launches).
PASSABLE_ROLE = "karpenter-node-*"

MANAGED_POLICIES: dict[str, tuple[str, ...]] = {
    "AmazonEKSClusterPolicy": (
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:UpdateAutoScalingGroup",
        "ec2:AttachVolume",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateRoute",
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:CreateVolume",
        "ec2:DeleteRoute",
        "ec2:DeleteSecurityGroup",
        "ec2:DeleteVolume",
        "ec2:DescribeInstances",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVolumes",
        "ec2:DescribeVolumesModifications",
        "ec2:DescribeVpcs",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeAvailabilityZones",
        "ec2:DetachVolume",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyVolume",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DescribeAccountAttributes",
        "ec2:DescribeAddresses",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeInstanceTopology",
        "ec2:DeleteNetworkInterface",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
        "elasticloadbalancing:AttachLoadBalancerToSubnets",
        "elasticloadbalancing:ConfigureHealthCheck",
        "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:CreateLoadBalancerListeners",
        "elasticloadbalancing:CreateLoadBalancerPolicy",
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:DeleteListener",
        "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:DeleteLoadBalancerListeners",
        "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeLoadBalancerPolicies",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DetachLoadBalancerFromSubnets",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:ModifyLoadBalancerAttributes",
        "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
        "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
        "kms:DescribeKey",
        "iam:CreateServiceLinkedRole",  # iam:AWSServiceName = elasticloadbalancing.amazonaws.com
    ),
    "AmazonEKSWorkerNodePolicy": (
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVolumes",
        "ec2:DescribeVolumesModifications",
        "ec2:DescribeVpcs",
        "eks:DescribeCluster",
        "eks-auth:AssumeRoleForPodIdentity",
    ),
    "AmazonEKS_CNI_Policy": (
        "ec2:AssignPrivateIpAddresses",
        "ec2:AttachNetworkInterface",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeInstances",
        "ec2:DescribeTags",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeSubnets",
        "ec2:DetachNetworkInterface",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:UnassignPrivateIpAddresses",
        "ec2:CreateTags",
    ),
    "AmazonEC2ContainerRegistryPullOnly": ("ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage"),
    "AmazonSSMManagedInstanceCore": (
        "ssm:DescribeAssociation",
        "ssm:GetDeployablePatchSnapshotForInstance",
        "ssm:GetDocument",
        "ssm:DescribeDocument",
        "ssm:GetManifest",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:ListAssociations",
        "ssm:ListInstanceAssociations",
        "ssm:PutInventory",
        "ssm:PutComplianceItems",
        "ssm:PutConfigurePackageResult",
        "ssm:UpdateAssociationStatus",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ec2messages:AcknowledgeMessage",
        "ec2messages:DeleteMessage",
        "ec2messages:FailMessage",
        "ec2messages:GetEndpoint",
        "ec2messages:GetMessages",
        "ec2messages:SendReply",
    ),
    "AmazonEBSCSIDriverPolicy": (
        "ec2:CreateSnapshot",
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:ModifyVolume",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
        "ec2:DescribeTags",
        "ec2:DescribeVolumes",
        "ec2:DescribeVolumesModifications",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:CreateVolume",
        "ec2:DeleteVolume",
        "ec2:DeleteSnapshot",
    ),
    "CloudWatchAgentServerPolicy": (
        "cloudwatch:PutMetricData",
        "ec2:DescribeVolumes",
        "ec2:DescribeTags",
        "logs:PutLogEvents",
        "logs:PutRetentionPolicy",
        "logs:DescribeLogStreams",
        "logs:DescribeLogGroups",
        "logs:CreateLogStream",
        "logs:CreateLogGroup",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "ssm:GetParameter",
    ),
    "AmazonPrometheusRemoteWriteAccess": ("aps:RemoteWrite",),
    "AmazonPrometheusQueryAccess": ("aps:GetLabels", "aps:GetMetricMetadata", "aps:GetSeries", "aps:QueryMetrics"),
}

# What the roles' own (inline) policies use beyond the managed ones: Karpenter's controller, the load balancer
# controller, the CSI drivers, Grafana's CloudWatch data source, Alertmanager, the teams' data roles, flow logs.
INLINE_ACTIONS: tuple[str, ...] = (
    # Karpenter (controller_policy_document): capacity, launch templates, pricing, interruption queue
    "ec2:CreateFleet",
    "ec2:CreateLaunchTemplate",
    "ec2:DeleteLaunchTemplate",
    "ec2:RunInstances",
    "ec2:TerminateInstances",
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeInstanceStatus",
    "pricing:GetProducts",
    "sqs:DeleteMessage",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:CreateGrant",
    # the load balancer controller (upstream iam_policy.json)
    "ec2:DescribeCoipPools",
    "ec2:DescribeIpamPools",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:GetCoipPoolUsage",
    "ec2:GetSecurityGroupsForVpc",
    "elasticloadbalancing:Describe*",
    "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:RemoveListenerCertificates",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:SetRulePriorities",
    "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups",
    "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:SetWebAcl",
    "elasticloadbalancing:ModifyCapacityReservation",
    "elasticloadbalancing:ModifyIpPools",
    "elasticloadbalancing:ModifyListenerAttributes",
    "acm:DescribeCertificate",
    "acm:ListCertificates",
    "cognito-idp:DescribeUserPoolClient",
    "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource",
    "waf-regional:AssociateWebACL",
    "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL",
    "wafv2:GetWebACLForResource",
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState",
    "shield:DescribeProtection",
    "shield:CreateProtection",
    "shield:DeleteProtection",
    "arc-zonal-shift:GetManagedResource",
    "iam:GetServerCertificate",
    "iam:ListServerCertificates",
    # FSx CSI, Mountpoint S3 CSI, the teams' prefixes
    "fsx:DescribeFileSystems",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    # Grafana's CloudWatch data source
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    # Alertmanager's receiver (addons/alert_notifications.py): its alerts topic (and its key, kms: above)
    "sns:Publish",
)
INSTANCE_PROFILE_ACTIONS = (
    "iam:CreateInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:GetInstanceProfile",
)
# The service-linked roles a Crucible role may have AWS create: the load balancers' (AmazonEKSClusterPolicy and the
# load balancer controller both ask for it).
SERVICE_LINKED = ("elasticloadbalancing",)
# Changing these is how a bounded role would lift its own bound (the AWS delegation example's denies).
BOUNDARY_CHANGES = ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion")


# IAM refuses a managed policy over 6,144 characters, whitespace not counted (IAM User Guide, "IAM and AWS STS
# quotas"; CreatePolicy: LimitExceeded), and a boundary is one managed policy: the actions above, listed one by one,
# come to ~7,800. The boundary is written with these patterns instead; an action one of them matches is left out.
# Each adds to what the listed actions allow only actions of access level List or Read (Describe*/List*), or, for
# the load balancers the controller owns, the trust-store calls (mTLS) of the same service: no permissions
# management, no IAM. tests/test_bootstrap.py proves both against parliament's IAM definition.
WILDCARDS: tuple[str, ...] = (
    "ec2:Describe*",
    "elasticloadbalancing:*",
    "ec2messages:*",
    "ssmmessages:*",
    "logs:Describe*",
    "s3:List*",
    "ssm:List*",
)


def arn(partition: Partition, account: str) -> str:
    return partition.arn("iam", account=account, resource=f"policy{PATH.rstrip('/')}/{NAME}")


def needed_actions() -> tuple[str, ...]:
    """Every action Crucible's roles use on any resource (IAM's own, scoped, come on top), sorted, de-duplicated."""
    actions = {a for actions in MANAGED_POLICIES.values() for a in actions if not a.startswith("iam:")}
    actions |= {a for a in INLINE_ACTIONS if not a.startswith("iam:")}
    return tuple(sorted(actions, key=str.lower))


def allowed_actions() -> tuple[str, ...]:
    """The boundary's Action list: the needed actions, those WILDCARDS match written as the wildcard."""
    covered = [w.lower() for w in WILDCARDS]
    kept = {a for a in needed_actions() if not any(fnmatchcase(a.lower(), w) for w in covered)}
    return tuple(sorted(kept | set(WILDCARDS), key=str.lower))


def statements(partition: Partition, account: str, delivery_path: str, protected_buckets: Sequence[str], protected_keys: Sequence[str]) -> list[dict]:
    """The boundary's statements: what Crucible's roles need (allowed), then what no bounded role may ever do."""
    iam = lambda resource: partition.arn("iam", account=account, resource=resource)  # noqa: E731
    buckets = [partition.arn("s3", resource=b) for b in protected_buckets]
    # listing takes Resource "*" (Service Authorization Reference); the load balancer controller reads server certificates
    iam_reads = ("iam:ListInstanceProfiles", "iam:GetServerCertificate", "iam:ListServerCertificates")
    return [
        {"Sid": "WhatCrucibleRolesDo", "Effect": "Allow", "Action": list(allowed_actions()), "Resource": "*"},
        {"Sid": "ControllersReadIam", "Effect": "Allow", "Action": list(iam_reads), "Resource": "*"},
        {"Sid": "KarpenterInstanceProfiles", "Effect": "Allow", "Action": list(INSTANCE_PROFILE_ACTIONS), "Resource": iam("instance-profile/*")},
        {
            "Sid": "PassKarpenterNodeRoleToEc2",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": iam(f"role/{PASSABLE_ROLE}"),
            "Condition": {"StringEquals": {"iam:PassedToService": partition.service_principal("ec2")}},
        },
        {
            "Sid": "LoadBalancerServiceLinkedRole",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": [partition.service_principal(s) for s in SERVICE_LINKED]}},
        },
        {
            "Sid": "NeverTheDeliveryIdentities",
            "Effect": "Deny",
            "Action": ["iam:*", "sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"],
            "Resource": [iam(f"role{delivery_path}*"), iam(f"policy{delivery_path}*"), iam(f"policy{PATH}*")],
        },
        {"Sid": "NeverTheStateBackend", "Effect": "Deny", "Action": "s3:*", "Resource": [r for b in buckets for r in (b, f"{b}/*")]},
        {"Sid": "NeverTheStateKeys", "Effect": "Deny", "Action": "kms:*", "Resource": list(protected_keys)},
    ]
