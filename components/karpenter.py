"""Karpenter: the controller (Helm, Pod Identity), its node role and interruption handling.

- Node role with the four node policies and an EKS access entry of type EC2_LINUX (nodes join with it).
- Controller role through EKS Pod Identity (service account karpenter/karpenter), with the controller policy of
  the upstream getting-started CloudFormation template (v1.14), scoped to this cluster.
- Interruption queue: SQS, SSE, 300 s retention, a policy that lets EventBridge send and denies non-TLS access;
  EventBridge rules for Spot interruption warnings, rebalance recommendations, instance state changes, AWS Health
  scheduled events and capacity-reservation interruption warnings (ML Capacity Blocks ending).
- The CRD chart and the controller chart, pinned; the controller runs on the system node group and never on a
  node it manages.

Destroy order: pools (NodePool / EC2NodeClass) depend on `release`, so `pulumi destroy` deletes them first —
Karpenter drains and terminates their nodes while it still runs — then the controller, then (the release
depends on the cluster and network) the cluster and network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.identity import PodIdentityRole, aws_managed_policy, service_trust_policy
from components.partitions import partition_of

CONTROLLER_CHART = versions.chart("karpenter")
CRD_CHART = versions.chart("karpenter-crd")  # the same version as the controller's: KarpenterArgs.version sets both
KARPENTER_VERSION = CONTROLLER_CHART.version
NAMESPACE = "karpenter"
SERVICE_ACCOUNT = "karpenter"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
# EventBridge rules feeding the interruption queue: (name, source, detail-type).
INTERRUPTION_EVENTS = (
    ("scheduled-change", "aws.health", "AWS Health Event"),
    ("spot-interruption", "aws.ec2", "EC2 Spot Instance Interruption Warning"),
    ("rebalance", "aws.ec2", "EC2 Instance Rebalance Recommendation"),
    ("instance-state-change", "aws.ec2", "EC2 Instance State-change Notification"),
    ("capacity-reservation-interruption", "aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
)


@dataclass(frozen=True)
class KarpenterArgs:
    cluster_name: pulumi.Input[str]
    cluster_endpoint: pulumi.Input[str]
    region: str
    system_pool: str  # the system node group's crucible.io/pool label value
    node_volume_kms_key_arn: pulumi.Input[str]  # the key the pools' EC2NodeClasses encrypt volumes with
    version: str = KARPENTER_VERSION
    replicas: int = 2
    # Node repair (alpha gate, off in the chart): Karpenter replaces a node whose Ready / node monitoring agent conditions
    # stay unhealthy past the provider's toleration (see REPAIR_POLICIES). Static capacity (alpha): NodePools with
    # `spec.replicas`; on only when a pool is a fixed fleet.
    node_repair: bool = True
    static_capacity: bool = False
    node_overlay: bool = False  # the NodeOverlay gate (alpha): a pool's overlays tell Karpenter what its nodes advertise
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)  # the cluster and network below
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)


class Karpenter(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    node_role: aws.iam.Role
    queue: aws.sqs.Queue

    def __init__(self, name: str, args: KarpenterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:compute:Karpenter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        account_id = identity.account_id
        tags = {"crucible:component": "karpenter"}
        partition = partition_of(args.region)

        # Nodes Karpenter launches assume this role; the access entry lets them join the cluster.
        self.node_role = aws.iam.Role(
            f"{name}-node",
            assume_role_policy=service_trust_policy(partition.service_principal("ec2")),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=self.node_role.name, policy_arn=aws_managed_policy(policy, partition), opts=child)
            for policy in NODE_POLICIES
        ]
        self.access_entry = aws.eks.AccessEntry(f"{name}-node", cluster_name=args.cluster_name, principal_arn=self.node_role.arn, type="EC2_LINUX", opts=child)

        # Interruption handling.
        self.queue = aws.sqs.Queue(
            f"{name}-interruption",
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(f"{name}-interruption", queue_url=self.queue.url, policy=self.queue.arn.apply(_queue_policy), opts=child)
        self.rules = []
        for rule_name, source, detail_type in INTERRUPTION_EVENTS:
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                description=f"Karpenter interruption handling: {detail_type}",
                event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
                tags=tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(f"{name}-{rule_name}", rule=rule.name, target_id="KarpenterInterruptionQueueTarget", arn=self.queue.arn, opts=child)
            self.rules.append(rule)

        # The controller's identity.
        controller_policy = pulumi.Output.all(args.cluster_name, account_id, self.node_role.arn, self.queue.arn, args.node_volume_kms_key_arn).apply(
            lambda a: controller_policy_document(
                cluster_name=a[0], region=args.region, account_id=a[1], node_role_arn=a[2], queue_arn=a[3], volume_key_arn=a[4]
            )
        )
        self.controller_role = PodIdentityRole(
            f"{name}-controller",
            cluster_name=args.cluster_name,
            account_id=account_id,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            inline_policy=controller_policy,
            permissions_boundary=args.permissions_boundary,
            opts=child,
        )

        crds = helm_release(
            self, f"{name}-crd", HelmChart.of(CRD_CHART, namespace=NAMESPACE, version=args.version), create_namespace=True, depends_on=args.depends_on
        )
        self.values = pulumi.Output.all(args.cluster_name, args.cluster_endpoint, self.queue.name).apply(
            lambda a: controller_values(
                cluster_name=a[0],
                endpoint=a[1],
                queue_name=a[2],
                region=args.region,
                system_pool=args.system_pool,
                replicas=args.replicas,
                node_repair=args.node_repair,
                static_capacity=args.static_capacity,
                node_overlay=args.node_overlay,
            )
        )
        self.release = helm_release(
            self,
            name,
            HelmChart.of(CONTROLLER_CHART, namespace=NAMESPACE, version=args.version),
            self.values,
            create_namespace=True,
            skip_crds=True,  # the karpenter-crd release owns (and upgrades) the CRDs
            depends_on=[crds, self.access_entry, *node_policies, queue_policy, *self.rules, self.controller_role, *args.depends_on],
        )
        self.node_role_name = self.node_role.name
        self.register_outputs(
            {"nodeRole": self.node_role.name, "interruptionQueue": self.queue.name, "version": args.version, "controllerRoleArn": self.controller_role.arn}
        )


def controller_values(
    *,
    cluster_name: str,
    endpoint: str,
    queue_name: str,
    region: str,
    system_pool: str,
    replicas: int,
    node_repair: bool = True,
    static_capacity: bool = False,
    node_overlay: bool = False,
) -> dict:
    """Values of the karpenter chart: cluster, region, interruption queue, feature gates, and a place on the system
    node group. The chart turns `settings.featureGates` into the controller's FEATURE_GATES environment variable
    (templates/deployment.yaml); the gates not set here keep the chart's defaults.

    The region is given as AWS_REGION: Karpenter asks IMDS only when the AWS SDK's config has none
    (pkg/operator/operator.go NewOperator) and exits when IMDS does not answer, which it never does for a pod on
    the system nodes (IMDSv2 with a hop limit of 1); Pod Identity sets only the credential variables."""
    # On the system node group, tolerating its taint (also the chart's default toleration).
    return merge_values(
        on_system_nodes_at(system_pool, ()),
        {
            "settings": {
                "clusterName": cluster_name,
                "clusterEndpoint": endpoint,
                "interruptionQueue": queue_name,
                # staticCapacity and nodeOverlay only when on: false is the chart's default
                "featureGates": {
                    "nodeRepair": node_repair,
                    **({"staticCapacity": True} if static_capacity else {}),
                    **({"nodeOverlay": True} if node_overlay else {}),
                },
            },
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
            "replicas": replicas,
            # Never on a node Karpenter manages: it would be drained by its own consolidation.
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}]}]
                    }
                },
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname"}]},
            },
            "controller": {
                "env": [{"name": "AWS_REGION", "value": region}],
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
            },
        },
    )


# Karpenter's node repair policies for AWS at the pinned version (karpenter-provider-aws v1.14.1,
# pkg/cloudprovider/cloudprovider.go RepairPolicies; website docs/concepts/disruption.md "Node Auto Repair"):
# (condition, status, toleration). A node in that state longer than the toleration is force-terminated (no drain,
# no grace period, disruption budgets do not apply) and its NodeClaim replaced, unless more than 20% of its
# NodePool's nodes are unhealthy. The kubelet sets Ready; the EKS node monitoring agent sets the others
# (AcceleratedHardwareReady from its NVIDIA monitor on GPU nodes and its Neuron monitor on Neuron nodes).
REPAIR_POLICIES = (
    ("Ready", "False", "30m", "kubelet", ("gpu", "neuron", "cpu")),
    ("Ready", "Unknown", "30m", "kubelet", ("gpu", "neuron", "cpu")),
    ("AcceleratedHardwareReady", "False", "10m", "node monitoring agent (NVIDIA: XID/DCGM; Neuron: device errors)", ("gpu", "neuron")),
    ("StorageReady", "False", "30m", "node monitoring agent", ("gpu", "neuron", "cpu")),
    ("NetworkingReady", "False", "30m", "node monitoring agent", ("gpu", "neuron", "cpu")),
    ("KernelReady", "False", "30m", "node monitoring agent", ("gpu", "neuron", "cpu")),
    ("ContainerRuntimeReady", "False", "30m", "node monitoring agent", ("gpu", "neuron", "cpu")),
)


def repair_policies(kind: str) -> list[dict]:
    """The repair policies that apply to a pool of ``kind`` (gpu | neuron | cpu), as the plan states them."""
    return [
        {"condition": condition, "status": status, "tolerationDuration": duration, "setBy": by}
        for condition, status, duration, by, kinds in REPAIR_POLICIES
        if kind in kinds
    ]


def _queue_policy(queue_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "EC2InterruptionPolicy",
            "Statement": [
                {
                    "Sid": "EventBridgeSends",
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},  # in every partition (Karpenter CFN)
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                },
                {
                    "Sid": "DenyHTTP",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def controller_policy_document(*, cluster_name: str, region: str, account_id: str, node_role_arn: str, queue_arn: str, volume_key_arn: str) -> str:
    """The Karpenter controller policy (upstream getting-started CloudFormation, v1.14.1), as one document, plus the
    use of the node volume key through EC2 (launching instances whose EBS volumes it encrypts)."""
    partition = partition_of(region)
    p = partition.name
    ec2 = f"arn:{p}:ec2:{region}"
    cluster_tag = f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}"
    request_cluster_tag = f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}"
    tagged = [f"{ec2}:*:{r}/*" for r in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")]
    instance_profile = f"arn:{p}:iam::{account_id}:instance-profile/*"
    cluster_arn = f"arn:{p}:eks:{region}:{account_id}:cluster/{cluster_name}"
    statements = [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*"]
            + [f"{ec2}:*:{r}/*" for r in ("security-group", "subnet", "capacity-reservation", "placement-group")],
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:launch-template/*",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Condition": {"StringEquals": {cluster_tag: "owned"}, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Resource": tagged,
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Condition": {
                "StringEquals": {request_cluster_tag: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster_name},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Resource": tagged,
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {
                    request_cluster_tag: "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                },
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:instance/*",
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {cluster_tag: "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Condition": {"StringEquals": {cluster_tag: "owned"}, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Resource": node_role_arn,
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": [partition.service_principal("ec2")]}},
        },
        {
            "Sid": "AllowScopedInstanceProfileCreationActions",
            "Effect": "Allow",
            "Resource": instance_profile,
            "Action": ["iam:CreateInstanceProfile"],
            "Condition": {
                "StringEquals": {
                    request_cluster_tag: "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                    "aws:RequestTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileTagActions",
            "Effect": "Allow",
            "Resource": instance_profile,
            "Action": ["iam:TagInstanceProfile"],
            "Condition": {
                "StringEquals": {
                    cluster_tag: "owned",
                    "aws:ResourceTag/topology.kubernetes.io/region": region,
                    request_cluster_tag: "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                    "aws:RequestTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*", "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileActions",
            "Effect": "Allow",
            "Resource": instance_profile,
            "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
            "Condition": {
                "StringEquals": {cluster_tag: "owned", "aws:ResourceTag/topology.kubernetes.io/region": region},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Resource": cluster_arn, "Action": "eks:DescribeCluster"},
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Resource": queue_arn,
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        },
        {
            "Sid": "AllowZonalShiftStatusReadOnly",
            "Effect": "Allow",
            "Resource": "*",
            "Action": ["arc-zonal-shift:GetManagedResource"],
            "Condition": {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}},
        },
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AllowNodeVolumeKeyThroughEC2",
            "Effect": "Allow",
            "Resource": volume_key_arn,
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"],
            "Condition": {"StringEquals": {"kms:ViaService": partition.endpoint("ec2", region)}},
        },
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Resource": f"arn:{p}:ssm:{region}::parameter/aws/service/*", "Action": "ssm:GetParameter"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": "pricing:GetProducts"},
        {"Sid": "AllowUnscopedInstanceProfileListAction", "Effect": "Allow", "Resource": "*", "Action": "iam:ListInstanceProfiles"},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Resource": instance_profile, "Action": "iam:GetInstanceProfile"},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
