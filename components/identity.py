"""IAM roles for workloads: one role per service account, trusted only by EKS Pod Identity."""

from __future__ import annotations

import json
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.partitions import Partition

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"  # the same in every partition (EKS docs, China regions included)


def pod_identity_trust_policy(account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """Trust EKS Pod Identity of this account only (the role is usable through an association, never directly)."""
    return pulumi.Output.from_input(account_id).apply(
        lambda account: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "EksPodIdentity",
                        "Effect": "Allow",
                        "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                    }
                ],
            }
        )
    )


def service_trust_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def aws_managed_policy(name: str, partition: Partition) -> str:
    return partition.managed_policy_arn(name)


class PodIdentityRole(pulumi.ComponentResource):
    """An IAM role for one Kubernetes service account, with its managed and inline policies.

    ``permissions_boundary``: the managed policy bounding the role (None: no boundary).

    With ``associate=True`` it also creates the EKS Pod Identity association; EKS managed add-ons pass the
    role through the add-on's own ``pod_identity_associations`` instead.
    """

    def __init__(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        account_id: pulumi.Input[str],
        namespace: str,
        service_account: str,
        managed_policy_arns: Sequence[str] = (),
        inline_policy: Optional[pulumi.Input[str]] = None,
        associate: bool = True,
        tags: Optional[dict] = None,
        permissions_boundary: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("crucible:identity:PodIdentityRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = namespace
        self.service_account = service_account
        self.role = aws.iam.Role(
            name,
            description=f"Pod Identity role for {namespace}/{service_account}",
            assume_role_policy=pod_identity_trust_policy(account_id),
            permissions_boundary=permissions_boundary,
            tags=dict(tags) if tags else None,
            opts=child,
        )
        for arn in managed_policy_arns:
            aws.iam.RolePolicyAttachment(f"{name}-{arn.rsplit('/', 1)[-1]}", role=self.role.name, policy_arn=arn, opts=child)
        if inline_policy is not None:
            aws.iam.RolePolicy(name, role=self.role.id, policy=inline_policy, opts=child)
        self.association = None
        if associate:
            self.association = aws.eks.PodIdentityAssociation(
                name,
                cluster_name=cluster_name,
                namespace=namespace,
                service_account=service_account,
                role_arn=self.role.arn,
                opts=child,
            )
        self.arn = self.role.arn
        self.register_outputs({"roleArn": self.role.arn})
