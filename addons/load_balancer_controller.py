"""The AWS Load Balancer Controller: Ingress → ALB, Service (LoadBalancer) → NLB.

A `helm.v3.Release` of eks-charts `aws-load-balancer-controller`, with an IAM role trusted by EKS Pod Identity
for its service account. The chart values name the cluster, region and VPC explicitly, so the controller never
needs the instance metadata service (nodes keep an IMDS hop limit of 1). Load balancers are internal unless a
workload asks otherwise, and with private exposure the `alb` IngressClass enforces `internal` for every Ingress.

The IAM policy is written here from the controller's documented list of required actions
(docs/install/iam_policy.json of kubernetes-sigs/aws-load-balancer-controller), scoped tighter where IAM allows:
ARNs in this account and region, security groups in the cluster's VPC, and mutations only on resources tagged
`elbv2.k8s.aws/cluster: <this cluster>` (the tag the controller puts on everything it creates).

Order. Chart 3.5.0 defaults `enableServiceMutatorWebhook: true` (values.yaml) and renders the `mservice.elbv2.k8s.aws`
webhook with `serviceMutatorWebhookConfig.failurePolicy: Fail` on every Service CREATE (templates/webhook.yaml,
inside `{{- if .Values.enableServiceMutatorWebhook }}`): while the controller is not Ready every Service in the
cluster is refused and the other atomic releases roll back. Crucible turns it off: it names the controller on its
own load-balancer Services (`service.beta.kubernetes.io/aws-load-balancer-type: external`, addons/jupyterhub.py) and
Ingresses (`ingressClassName: alb`). On destroy the controller must outlive what it reconciles (their finalizers
`service.k8s.aws/resources`, `ingress.k8s.aws/resources` are cleared by the running controller, which deletes the
load balancers): those depend on `release`; and the release depends on the network and cluster below
(`depends_on`), so it still reaches the ELB API and its load balancers are gone before the subnets are deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components import versions
from components.helm_addon import HelmChart, helm_release, on_system_nodes_at
from components.identity import PodIdentityRole
from components.partitions import partition_of

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
PIN = versions.chart("aws-load-balancer-controller")
RELEASE = "aws-load-balancer-controller"
CLUSTER_TAG = "elbv2.k8s.aws/cluster"


def controller_policy(*, partition: str, region: str, account: str, cluster_name: str, vpc_id: str) -> dict:
    """The controller's IAM policy document."""
    elb = f"arn:{partition}:elasticloadbalancing:{region}:{account}"
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    security_groups = f"{ec2}:security-group/*"
    balancers = [f"{elb}:loadbalancer/app/*/*", f"{elb}:loadbalancer/net/*/*"]
    target_groups = f"{elb}:targetgroup/*/*"
    listeners = [f"{elb}:listener/app/*/*/*", f"{elb}:listener/net/*/*/*"]
    rules = [f"{elb}:listener-rule/app/*/*/*", f"{elb}:listener-rule/net/*/*/*"]
    ours = {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": cluster_name}}
    tagging_ours = {"StringEquals": {f"aws:RequestTag/{CLUSTER_TAG}": cluster_name}}

    def statement(sid: str, actions: list[str], resources, condition: Optional[dict] = None) -> dict:
        out = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
        if condition:
            out["Condition"] = condition
        return out

    return {
        "Version": "2012-10-17",
        "Statement": [
            statement(
                "ElbServiceLinkedRole",
                ["iam:CreateServiceLinkedRole"],
                "*",
                {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},  # all partitions (iam_policy_cn.json)
            ),
            # Describe/Get calls support no resource-level permissions.
            statement(
                "Discover",
                [
                    "ec2:DescribeAccountAttributes",
                    "ec2:DescribeAddresses",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInternetGateways",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeVpcPeeringConnections",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeInstances",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeTags",
                    "ec2:GetCoipPoolUsage",
                    "ec2:DescribeCoipPools",
                    "ec2:GetSecurityGroupsForVpc",
                    "ec2:DescribeIpamPools",
                    "ec2:DescribeRouteTables",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeListenerCertificates",
                    "elasticloadbalancing:DescribeSSLPolicies",
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetGroupAttributes",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "elasticloadbalancing:DescribeTags",
                    "elasticloadbalancing:DescribeTrustStores",
                    "elasticloadbalancing:DescribeListenerAttributes",
                    "elasticloadbalancing:DescribeCapacityReservation",
                ],
                "*",
            ),
            statement(
                "CertificatesAndProtection",
                [
                    "cognito-idp:DescribeUserPoolClient",
                    "acm:ListCertificates",
                    "acm:DescribeCertificate",
                    "iam:ListServerCertificates",
                    "iam:GetServerCertificate",
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
                    # SetWebAcl supports no resource-level permissions: granted on a load balancer ARN it is denied.
                    "elasticloadbalancing:SetWebAcl",
                ],
                "*",
            ),
            # Security groups: created only in the cluster's VPC, tagged as this cluster's.
            statement("CreateSecurityGroupInClusterVpc", ["ec2:CreateSecurityGroup"], f"{ec2}:vpc/{vpc_id}"),
            statement("CreateOwnSecurityGroup", ["ec2:CreateSecurityGroup"], security_groups, tagging_ours),
            statement(
                "TagNewSecurityGroup",
                ["ec2:CreateTags"],
                security_groups,
                {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup", f"aws:RequestTag/{CLUSTER_TAG}": cluster_name}},
            ),
            statement(
                "RetagOwnSecurityGroup", ["ec2:CreateTags", "ec2:DeleteTags"], security_groups, {**ours, "Null": {f"aws:RequestTag/{CLUSTER_TAG}": "true"}}
            ),
            # Rules on node/backend security groups (not tagged by the controller): only inside the cluster's VPC.
            statement(
                "SecurityGroupRulesInClusterVpc",
                ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                security_groups,
                {"ArnEquals": {"ec2:Vpc": f"{ec2}:vpc/{vpc_id}"}},
            ),
            statement("DeleteOwnSecurityGroup", ["ec2:DeleteSecurityGroup"], security_groups, ours),
            # Load balancers and target groups: created tagged as this cluster's; changed only when tagged so.
            statement("CreateOwnLoadBalancers", ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"], "*", tagging_ours),
            statement(
                "TagOnCreate",
                ["elasticloadbalancing:AddTags"],
                [target_groups, *balancers],
                {
                    "StringEquals": {
                        "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"],
                        f"aws:RequestTag/{CLUSTER_TAG}": cluster_name,
                    }
                },
            ),
            statement(
                "RetagOwnLoadBalancers",
                ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                [target_groups, *balancers],
                {**ours, "Null": {f"aws:RequestTag/{CLUSTER_TAG}": "true"}},
            ),
            statement(
                "ManageOwnLoadBalancers",
                [
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyCapacityReservation",
                    "elasticloadbalancing:ModifyIpPools",
                ],
                [target_groups, *balancers],
                ours,
            ),
            statement(
                "ListenersAndRules",
                [
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:CreateRule",
                    "elasticloadbalancing:DeleteRule",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:AddListenerCertificates",
                    "elasticloadbalancing:RemoveListenerCertificates",
                    "elasticloadbalancing:ModifyRule",
                    "elasticloadbalancing:SetRulePriorities",
                    # Its only resource type is listener: on target-group/load-balancer ARNs it was always denied.
                    "elasticloadbalancing:ModifyListenerAttributes",
                ],
                [*balancers, *listeners, *rules],
            ),
            statement("TagListenersAndRules", ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [*listeners, *rules]),
            statement("Targets", ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"], target_groups),
        ],
    }


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    cluster_name: pulumi.Input[str]
    region: str
    vpc_id: pulumi.Input[str]
    replicas: int
    system_pool: str
    enforce_internal: bool  # private exposure: the alb IngressClass pins every Ingress to scheme internal
    depends_on: Sequence[pulumi.Resource] = ()  # the network and cluster below: destroyed after the controller
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)
    version: str = field(default=PIN.version, kw_only=True)  # the chart version (default: the pin)


def controller_values(args: LoadBalancerControllerArgs, cluster_name: pulumi.Input[str], vpc_id: pulumi.Input[str]) -> dict:
    values = {
        "clusterName": cluster_name,
        "region": args.region,
        "vpcId": vpc_id,
        "replicaCount": args.replicas,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        **on_system_nodes_at(args.system_pool, ()),
        "defaultLoadBalancerScheme": "internal",
        "defaultTargetType": "ip",
        "podDisruptionBudget": {"maxUnavailable": 1},
        # No cluster-wide Service webhook with failurePolicy Fail (see the module docstring): Services the
        # controller should take say so with their annotations.
        "enableServiceMutatorWebhook": False,
    }
    if args.enforce_internal:
        # The chart creates the `alb` IngressClass and its IngressClassParams by default (createIngressClassResource,
        # ingressClass, ingressClassParams.create); Crucible sets only what it changes: the pinned scheme.
        values["ingressClassParams"] = {"spec": {"scheme": "internal"}}
    return values


class LoadBalancerController(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = partition_of(args.region).name
        policy = pulumi.Output.all(identity.account_id, args.cluster_name, args.vpc_id).apply(
            lambda v: json.dumps(controller_policy(partition=partition, region=args.region, account=v[0], cluster_name=v[1], vpc_id=v[2]))
        )
        self.role = PodIdentityRole(
            f"{name}-role",
            cluster_name=args.cluster_name,
            account_id=identity.account_id,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            inline_policy=policy,
            permissions_boundary=args.permissions_boundary,
            opts=child,
        )
        # The computed names are leaves of the values, not the whole: the switches (the Service webhook off) stay
        # known at preview, where the policy pack reads them.
        values = controller_values(args, args.cluster_name, args.vpc_id)
        # Credentials must exist before the controller's first reconcile; the network and cluster outlive it.
        chart = HelmChart.of(PIN, release=RELEASE, namespace=NAMESPACE, version=args.version)
        self.release = helm_release(self, name, chart, values, depends_on=[self.role, *args.depends_on])
        self.register_outputs({"roleArn": self.role.arn, "version": args.version})
