"""Where Prometheus's alerts go: an SNS topic that Alertmanager publishes to, and the people subscribed to it.

kube-prometheus-stack's Alertmanager ships with one receiver, `"null"`, and routes everything to it (the chart's
values.yaml `alertmanager.config`): every rule fires into nothing. Crucible gives it a receiver:

- an SNS topic `crucible-<stack>-alerts`, encrypted with a customer managed key of its own (components.kms: rotating,
  the account administers it through IAM), with an email subscription per address of
  `addons.observability.alarmEmails` (each address confirms it from the message SNS sends; until then it receives
  nothing). A chat or paging integration subscribes to the topic (the export's `topicArn`) outside Crucible;
- Alertmanager's route: alerts of severity `warning` or `critical` (Crucible's rules, addons/observability_data/
  alerts.yaml, and the chart's) go to the topic, grouped by alert and namespace, with their resolution; the rest
  (the chart's `Watchdog` and `InfoInhibitor`, severity `none`/`info`) stays on `"null"`. The chart's inhibit rules
  and templates are kept (Helm merges the map);
- Alertmanager publishes with `sns_configs` (Alertmanager v0.34.0 notify/sns: AWS SDK v2's default credential chain,
  which reads EKS Pod Identity's container credentials), signed for the stack's region, as the service account the
  chart gives it (`kube-prometheus-stack-alertmanager` for release kube-prometheus-stack; the test reads it from the
  rendered Alertmanager): a Pod Identity role that may publish to this topic only, and use its key for that.

The association must exist before Alertmanager's pod starts (credentials are injected at pod creation): the
kube-prometheus-stack release depends on it. Alertmanager reaches SNS's regional endpoint as Grafana reaches
CloudWatch: through the NAT gateways.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.identity import PodIdentityRole
from components.kms import customer_key
from components.partitions import partition_of

ALERTMANAGER_SERVICE_ACCOUNT = "kube-prometheus-stack-alertmanager"
RECEIVER = "alerts-topic"
POD_IDENTITY_ANNOTATION = "crucible.io/pod-identity-association"
NOTIFIED = ("warning", "critical")  # the severities that reach people
PUBLISH_WITH_KEY = ("kms:GenerateDataKey*", "kms:Decrypt")  # what publishing to an encrypted topic needs of its key


def topic_name(stack_name: str) -> str:
    return f"crucible-{stack_name}-alerts"


# SNS refuses a subject of 100 characters or more, or one that is not printable ASCII (Publish: "Invalid parameter:
# Subject"), and Alertmanager's default subject holds every common label value (the operator's external label
# among them): 140-odd characters for one alert, and Alertmanager sends it untruncated (v0.34.0 notify/sns/sns.go) and
# drops the notification SNS refuses. The subject is the status, alert and namespace, cut to 99 printable characters.
SUBJECT_LIMIT = 100


def bounded(expression: str) -> str:
    """An Alertmanager template of ``expression`` (a template pipeline) with what SNS refuses in a subject removed:
    characters outside printable ASCII, then all past the 99th."""
    return f'{{{{ reReplaceAll "^(.{{0,{SUBJECT_LIMIT - 1}}}).*$" "$1" (reReplaceAll "[^ -~]" "" ({expression})) }}}}'


SUBJECT = bounded('printf "[%s] %s %s" (.Status | toUpper) .GroupLabels.alertname .GroupLabels.namespace')
# The message: how many alerts, and the first twenty summaries. The default lists every alert with all its labels;
# a group of a node-level alert across a fleet (no namespace to split it) outgrew SNS's 256 KiB, and the message
# Alertmanager truncates to exactly that limit is still refused once its `truncated` attribute is added.
MESSAGE = (
    "{{ len .Alerts }} alert(s) {{ .Status }}: {{ .GroupLabels.alertname }} {{ .GroupLabels.namespace }}"
    "{{ range $i, $alert := .Alerts }}{{ if lt $i 20 }}\n- {{ $alert.Annotations.summary }}{{ end }}{{ end }}"
    "{{ if gt (len .Alerts) 20 }}\n(and {{ len .Alerts }} in all){{ end }}"
)


def alertmanager_config(topic_arn: pulumi.Input[str], region: str) -> dict:
    """kube-prometheus-stack `alertmanager.config`: warning and critical alerts to the topic, the rest to the chart's
    "null" (its route's receiver; its group_wait 30s and group_interval 5m are kept, as Helm merges the map)."""
    return {
        "route": {
            "group_by": ["alertname", "namespace"],
            "repeat_interval": "4h",
            "routes": [{"receiver": RECEIVER, "matchers": [f'severity=~"{"|".join(NOTIFIED)}"']}],
        },
        "receivers": [
            {"name": "null"},
            {
                "name": RECEIVER,
                "sns_configs": [{"topic_arn": topic_arn, "sigv4": {"region": region}, "subject": SUBJECT, "message": MESSAGE, "send_resolved": True}],
            },
        ],
    }


def publish_policy(topic_arn: str, key_arn: str) -> str:
    """Publish to the alerts topic, using its key for that; nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn},
                {"Sid": "EncryptAlerts", "Effect": "Allow", "Action": list(PUBLISH_WITH_KEY), "Resource": key_arn},
            ],
        }
    )


@dataclass(frozen=True)
class AlertNotificationsArgs:
    cluster_name: pulumi.Input[str]
    stack_name: str
    region: str
    namespace: str  # the monitoring namespace (Alertmanager's service account lives there)
    emails: Sequence[str] = ()
    kms_key_deletion_window_days: int = 30
    protect: bool = False
    service_account: str = ALERTMANAGER_SERVICE_ACCOUNT
    permissions_boundary: Optional[str] = field(default=None, kw_only=True)


class AlertNotifications(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlertNotificationsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:AlertNotifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.key = customer_key(
            f"{name}-key",
            description=f"SNS topic of the Prometheus alerts of stack {args.stack_name}",
            alias=f"crucible/{args.stack_name}/alerts",
            account_id=account_id,
            partition=partition_of(args.region),
            deletion_window_days=args.kms_key_deletion_window_days,
            protect=args.protect,
            parent=self,
        )
        self.topic = aws.sns.Topic(f"{name}-topic", name=topic_name(args.stack_name), kms_master_key_id=self.key.arn, opts=child)
        for email in args.emails:  # named by the address's digest: removing one address leaves the others in place
            digest = hashlib.sha256(email.lower().encode()).hexdigest()[:10]
            aws.sns.TopicSubscription(f"{name}-email-{digest}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child)
        self.role = PodIdentityRole(
            f"{name}-alertmanager",
            cluster_name=args.cluster_name,
            account_id=account_id,
            namespace=args.namespace,
            service_account=args.service_account,
            inline_policy=pulumi.Output.all(self.topic.arn, self.key.arn).apply(lambda a: publish_policy(a[0], a[1])),
            permissions_boundary=args.permissions_boundary,
            opts=child,
        )
        self.config = alertmanager_config(self.topic.arn, args.region)
        # Pod Identity injects the credentials when a pod is created, and a change of the config alone does not
        # recreate Alertmanager's pod (the config reloader reloads it): on a stack that already runs Alertmanager, the
        # pod would keep running without them. The association on the pod template makes the operator roll it.
        self.pod_annotations = {POD_IDENTITY_ANNOTATION: self.role.association.id} if self.role.association is not None else {}
        self.register_outputs({"topicArn": self.topic.arn, "roleArn": self.role.arn})
