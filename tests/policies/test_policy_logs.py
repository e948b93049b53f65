"""SEC-LOG-001: log groups on a customer managed key that admits CloudWatch Logs for the group."""

import json

from policy_builder import UNKNOWN, link, res, verdicts

POLICY = "sec-log-001-log-group-cmk"
GROUP_ARN = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/eks/c1/cluster"


def key(name, *statements):
    admin = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}
    return res("aws:kms/key:Key", name, {"enableKeyRotation": True, "policy": json.dumps({"Version": "2012-10-17", "Statement": [admin, *statements]})})


LOGS = {
    "Effect": "Allow",
    "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
    "Resource": "*",
    "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": GROUP_ARN}},
}


def group(name, k=None):
    g = res("aws:cloudwatch/logGroup:LogGroup", name, {"name": "/aws/eks/c1/cluster", "kmsKeyId": UNKNOWN if k else None})
    if k is None:
        del g["inputs"]["kmsKeyId"]
        return g
    return link(g, "kmsKeyId", k)


def test_a_group_on_a_key_that_admits_cloudwatch_logs_passes():
    k = key("logs", LOGS)
    assert verdicts(POLICY, [k, group("control-plane", k)]) == []


def test_a_group_without_a_customer_key_fires():
    assert verdicts(POLICY, [group("control-plane")]) == [("control-plane", "mandatory")]
    assert verdicts(POLICY, [group("control-plane")], env="dev") == [("control-plane", "advisory")]


def test_a_group_on_a_key_that_does_not_admit_cloudwatch_logs_fires():
    no_statement = key("bare")
    no_condition = key("open", {k: v for k, v in LOGS.items() if k != "Condition"})
    for k in (no_statement, no_condition):
        assert verdicts(POLICY, [k, group("control-plane", k)]) == [("control-plane", "mandatory")], k["name"]
