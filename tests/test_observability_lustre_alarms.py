"""Where the Lustre near-full alarm goes (addons/lustre_alarms.py): an SNS topic of its own, KMS-encrypted with a
customer managed key whose policy lets CloudWatch use it for this stack's alarms only, a topic policy that lets only
this account's CloudWatch alarms of this stack publish, the email subscriptions of addons.observability.alarmEmails,
and the alarm's ALARM and OK actions on it. A CloudWatch alarm cannot publish to a topic encrypted with the AWS
managed key (SNS developer guide, "Enable compatibility between event sources from AWS services and encrypted
topics"): the key's policy must grant the cloudwatch.amazonaws.com principal kms:Decrypt and kms:GenerateDataKey*."""

from __future__ import annotations

import functools
import json

import pytest

from helpers import plan, spec_of
from stacks.spec import ConfigError
from stacks.tools.harness import ACCOUNT_ID

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KEY = "aws:kms/key:Key"
EMAILS = ["oncall@example.com", "Storage.Team+fsx@example.co.uk"]
REGION = "us-east-1"


@functools.lru_cache(maxsize=None)
def prod(emails: tuple[str, ...] = tuple(EMAILS)):
    return plan("prod", addons={"observability": {"alarmEmails": list(emails)}})


def topic(run):
    return run.one(TOPIC, "lustre-alarms-topic")


def subscriptions(run) -> list:
    """The Lustre alarms' subscriptions (the same addresses also subscribe to the alerts topic: test_alert_notifications)."""
    return [s for s in run.of_type(SUBSCRIPTION) if s.name.startswith("lustre-alarms-")]


def test_the_alarm_notifies_its_topic_on_alarm_and_on_ok():
    run = prod()
    alarm = run.one(ALARM, "lustre-alarms-near-full")
    arn = topic(run).outputs["arn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:crucible-test-lustre-alarms"
    assert alarm.inputs["alarmActions"] == [arn] and alarm.inputs["okActions"] == [arn]
    assert topic(run).urn in alarm.property_dependencies["alarmActions"]


def test_the_topic_is_encrypted_with_a_rotating_key_of_its_own_that_cloudwatch_may_use_for_these_alarms_only():
    run = prod()
    key = run.by_urn(topic(run).property_dependencies["kmsMasterKeyId"][0])
    assert key.type == KEY and key.name == "lustre-alarms-key"
    assert topic(run).inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True and key.protect  # prod protects its keys (crypto-shredding)
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    cloudwatch = statements["CloudWatchAlarmsOfThisStackUseKey"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:crucible-test-lustre-*"},
    }
    assert all(s["Principal"] != "*" and s["Principal"] != {"AWS": "*"} for s in statements.values())


def test_only_this_accounts_cloudwatch_alarms_of_this_stack_may_publish():
    run = prod()
    (policy,) = run.of_type(POLICY)
    assert policy.inputs["arn"] == topic(run).outputs["arn"]
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Allow", {"Service": "cloudwatch.amazonaws.com"}, "sns:Publish")
    assert statement["Resource"] == topic(run).outputs["arn"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
    pattern = statement["Condition"]["ArnLike"]["aws:SourceArn"]
    alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{prod().one(ALARM, 'lustre-alarms-near-full').inputs['name']}"
    assert alarm_arn.startswith(pattern.removesuffix("*"))  # the pattern covers the alarm it serves


def test_each_configured_address_gets_an_email_subscription():
    run = prod()
    found = subscriptions(run)
    assert sorted(s.inputs["endpoint"] for s in found) == sorted(EMAILS)
    assert all(s.inputs["protocol"] == "email" and s.inputs["topic"] == topic(run).outputs["arn"] for s in found)


def test_removing_one_address_leaves_the_other_subscription_in_place():
    names = {s.inputs["endpoint"]: s.name for s in subscriptions(prod())}
    (kept,) = subscriptions(prod((EMAILS[1],)))
    assert kept.name == names[EMAILS[1]]  # named by the address, not by its position in the list


def test_without_addresses_the_topic_is_still_the_alarms_target_and_nothing_subscribes():
    run = plan("prod")
    assert run.one(ALARM, "lustre-alarms-near-full").inputs["alarmActions"] == [topic(run).outputs["arn"]]
    assert not subscriptions(run)


def test_no_topic_without_the_lustre_alarm():
    run = plan("prod", storage={"lustre": {"enabled": False}})
    assert not [t for t in run.of_type(TOPIC) if t.name.startswith("lustre-alarms")] and not run.of_type(ALARM)


@pytest.mark.parametrize(
    "emails, bad",
    [
        (["oncall@example.com", "Ops Team <ops@example.com>"], "item [1]"),
        (["not-an-address"], "item [0]"),
        (["ops@localhost"], "item [0]"),
        (["ops@example.com", "OPS@example.com"], "listed twice"),
    ],
)
def test_a_bad_alarm_address_is_a_config_error_naming_the_key(emails, bad):
    with pytest.raises(ConfigError) as caught:
        spec_of("prod", addons={"observability": {"alarmEmails": emails}})
    found = {p.path: p.message for p in caught.value.problems}
    message = found["crucible:addons.observability.alarmEmails"]
    assert bad in message and ("email address" in message or "twice" in message), message
