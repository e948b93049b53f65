"""Customer managed KMS keys, one shape for every key Crucible creates: rotation on, an explicit key policy in
which the account administers the key through IAM (never Principal "*"), an alias, and protection of the key in
the environments that protect stateful resources (deleting a key crypto-shreds everything it encrypts)."""

from __future__ import annotations

import json
from typing import Callable, Sequence

import pulumi
import pulumi_aws as aws

from components.partitions import Partition


def key_policy(account_id: str, partition: Partition, extra_statements: Sequence[dict] = ()) -> str:
    """The account administers the key through IAM; ``extra_statements`` name any service role that uses it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersKeyThroughIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": partition.arn("iam", account=account_id, resource="root")},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                *extra_statements,
            ],
        }
    )


LOGS_KEY_USE = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


def logs_use_key(partition: Partition, region: str, log_group_name: str) -> Callable[[str], list[dict]]:
    """Key policy statements that let CloudWatch Logs (the regional principal logs.<region>.<dnsSuffix>) use the key
    for one log group only: the `kms:EncryptionContext:aws:logs:arn` condition names the group's ARN (CloudWatch Logs
    guide, "Encrypt log data in CloudWatch Logs using AWS KMS")."""

    def statements(account_id: str) -> list[dict]:
        group_arn = partition.arn("logs", region, account_id, f"log-group:{log_group_name}")
        return [
            {
                "Sid": "CloudWatchLogsUsesKeyForItsGroup",
                "Effect": "Allow",
                "Principal": {"Service": partition.regional_service_principal("logs", region)},
                "Action": LOGS_KEY_USE,
                "Resource": "*",
                "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}},
            }
        ]

    return statements


def customer_key(
    name: str,
    *,
    description: str,
    alias: str,
    account_id: pulumi.Input[str],
    partition: Partition,
    deletion_window_days: int,
    protect: bool,
    parent: pulumi.Resource,
    tags: dict | None = None,
    extra_statements: Callable[[str], Sequence[dict]] = lambda account_id: (),
) -> aws.kms.Key:
    """A rotating key named ``name`` with its alias ``alias/<alias>``, both children of ``parent``."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=deletion_window_days,
        policy=pulumi.Output.from_input(account_id).apply(lambda account: key_policy(account, partition, extra_statements(account))),
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect),
    )
    aws.kms.Alias(name, name=f"alias/{alias}", target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=parent))
    return key
