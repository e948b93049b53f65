"""Lustre near full, as a CloudWatch alarm: FSx for Lustre publishes its capacity to CloudWatch (namespace AWS/FSx,
FreeDataStorageCapacity in bytes per FileSystemId, one data point per disk per minute: FSx for Lustre user guide,
"Monitoring with Amazon CloudWatch"), not to Prometheus. The FSx CSI driver does not implement NodeGetVolumeStats
(kubernetes-sigs/aws-fsx-csi-driver pkg/driver/node.go returns Unimplemented), so the kubelet has no volume stats for
the Lustre claims either.

What fills up first is a disk (an OST), not the file system: a file lives on the disks it is striped over, and a
write to a file on a full disk fails however much room the others have. The metric's `Minimum` is the bytes free on
the fullest disk and its `SampleCount` (over one minute) the number of disks, so with the file system's disks all the
same size the fullest disk's free fraction is `Minimum × SampleCount / capacity` (CloudWatch metric math). The alarm
goes to ALARM when that stays under `free_fraction` for 15 minutes.

Its notification target is an SNS topic of its own (`crucible-<stack>-lustre-alarms`), on ALARM and back to OK:
- encrypted with a customer managed key of its own (components.kms: rotating, the account administers it through
  IAM), whose policy lets the CloudWatch service principal use it (kms:Decrypt, kms:GenerateDataKey*) for this stack's
  Lustre alarms only: an alarm cannot publish to a topic encrypted with the AWS managed key alias/aws/sns, whose
  policy cannot be changed (SNS developer guide, "Enable compatibility between event sources from AWS services and
  encrypted topics"). A key of another layer (storage, cluster) would need its policy edited there;
- its topic policy allows sns:Publish to the CloudWatch service principal only, and only on behalf of this account's
  alarms named `crucible-<stack>-lustre-*` (aws:SourceAccount, aws:SourceArn: the confused-deputy guard);
- an email subscription per address of `addons.observability.alarmEmails` (each address confirms it from the
  message SNS sends; until then it receives nothing). Any other subscriber (a chat or paging integration) subscribes
  to the topic (the `lustreAlarmTopicArn` of the component) outside Crucible.
The alarm also emits the `CloudWatch Alarm State Change` EventBridge event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.kms import customer_key
from components.partitions import Partition, partition_of

GIB = 1024**3
PERIOD = 60  # seconds: one data point per disk, so SampleCount is the number of disks
CLOUDWATCH_KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey*"]  # what CloudWatch needs to publish to an encrypted topic


def alarm_name_prefix(stack_name: str) -> str:
    return f"crucible-{stack_name}-lustre-"


def alarm_source(partition: Partition, region: str, account_id: str, stack_name: str) -> dict:
    """The condition that limits a grant to CloudWatch acting for this account's Lustre alarms of this stack."""
    return {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {"aws:SourceArn": partition.arn("cloudwatch", region, account_id, f"alarm:{alarm_name_prefix(stack_name)}*")},
    }


def topic_policy(partition: Partition, region: str, account_id: str, stack_name: str, topic_arn: str) -> str:
    """Only CloudWatch, for this stack's Lustre alarms in this account, may publish (the account's own IAM principals
    manage the topic through IAM)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudWatchAlarmsOfThisStackPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": partition.service_principal("cloudwatch")},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": alarm_source(partition, region, account_id, stack_name),
                }
            ],
        }
    )


@dataclass(frozen=True)
class LustreAlarmsArgs:
    file_system_id: pulumi.Input[str]
    capacity_gib: pulumi.Input[int]
    stack_name: str
    region: str
    kms_key_deletion_window_days: int
    protect: bool
    emails: Sequence[str] = ()  # email subscriptions of the alarm topic
    free_fraction: float = 0.10


class LustreAlarms(pulumi.ComponentResource):
    def __init__(self, name: str, args: LustreAlarmsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:LustreAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = partition_of(args.region)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        def cloudwatch_uses_key(account: str) -> list[dict]:
            return [
                {
                    "Sid": "CloudWatchAlarmsOfThisStackUseKey",
                    "Effect": "Allow",
                    "Principal": {"Service": partition.service_principal("cloudwatch")},
                    "Action": CLOUDWATCH_KEY_USE,
                    "Resource": "*",
                    "Condition": alarm_source(partition, args.region, account, args.stack_name),
                }
            ]

        self.key = customer_key(
            f"{name}-key",
            description=f"SNS topic of the Lustre alarms of stack {args.stack_name}",
            alias=f"crucible/{args.stack_name}/lustre-alarms",
            account_id=account_id,
            partition=partition,
            deletion_window_days=args.kms_key_deletion_window_days,
            protect=args.protect,
            parent=self,
            extra_statements=cloudwatch_uses_key,
        )
        self.topic = aws.sns.Topic(f"{name}-topic", name=f"crucible-{args.stack_name}-lustre-alarms", kms_master_key_id=self.key.arn, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(account_id, self.topic.arn).apply(lambda a: topic_policy(partition, args.region, a[0], args.stack_name, a[1])),
            opts=child,
        )
        for email in args.emails:  # named by the address's digest: removing one address leaves the others in place
            digest = hashlib.sha256(email.lower().encode()).hexdigest()[:10]
            aws.sns.TopicSubscription(f"{name}-email-{digest}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child)

        def free(stat: str) -> aws.cloudwatch.MetricAlarmMetricQueryMetricArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/FSx", metric_name="FreeDataStorageCapacity", dimensions={"FileSystemId": args.file_system_id}, period=PERIOD, stat=stat
            )

        self.near_full = aws.cloudwatch.MetricAlarm(
            f"{name}-near-full",
            name=f"{alarm_name_prefix(args.stack_name)}near-full",
            alarm_description=f"The fullest disk (OST) of FSx for Lustre has less than {args.free_fraction:.0%} of its capacity free for 15 minutes",
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="fullest", metric=free("Minimum")),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="disks", metric=free("SampleCount")),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="free",
                    expression=pulumi.Output.from_input(args.capacity_gib).apply(lambda gib: f"fullest * disks / {int(gib) * GIB}"),
                    label="free fraction of the fullest disk",
                    return_data=True,
                ),
            ],
            evaluation_periods=15 * 60 // PERIOD,
            comparison_operator="LessThanThreshold",
            threshold=args.free_fraction,
            treat_missing_data="missing",
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=child,
        )
        self.register_outputs({"topicArn": self.topic.arn})
