"""CloudWatch log groups (control plane, VPC flow logs) are encrypted with customer managed keys whose policy
admits CloudWatch Logs (logs.<region>.<dnsSuffix>) for that group only, through the
`kms:EncryptionContext:aws:logs:arn` condition (CloudWatch Logs guide: "Encrypt log data in CloudWatch Logs using
AWS KMS"); the key, policy included, exists before its group (the group reads the key's ARN)."""

from __future__ import annotations

import functools
import json

import pytest

from helpers import plan

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY = "aws:kms/key:Key"
GROUPS = {"cluster-control-plane": "/aws/eks/crucible-test/cluster", "network-flow-logs": "/crucible/crucible-test/vpc-flow-logs"}


@functools.lru_cache(maxsize=None)
def _prod():
    return plan("prod")


def _key_of(run, group):
    keys = [run.by_urn(u) for u in group.property_dependencies.get("kmsKeyId", [])]
    assert [k.type for k in keys] == [KEY], f"{group.name}: kmsKeyId does not come from a KMS key of the plan"
    return keys[0]


@pytest.mark.parametrize("group_name", sorted(GROUPS))
def test_log_group_is_encrypted_with_its_own_customer_key(group_name):
    run = _prod()
    group = run.one(LOG_GROUP, group_name)
    key = _key_of(run, group)
    assert group.inputs["kmsKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True and key.protect


@pytest.mark.parametrize("group_name", sorted(GROUPS))
def test_key_policy_admits_cloudwatch_logs_for_that_group_only(group_name):
    run = _prod()
    key = _key_of(run, run.one(LOG_GROUP, group_name))
    statements = [s for s in json.loads(key.inputs["policy"])["Statement"] if s.get("Principal") == {"Service": "logs.us-east-1.amazonaws.com"}]
    assert len(statements) == 1
    assert statements[0]["Condition"] == {
        "ArnEquals": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUPS[group_name]}"}
    }
    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(statements[0]["Action"])


def test_key_is_registered_before_the_group_that_uses_it():
    run = _prod()
    order = [r.urn for r in run.resources]
    for name in GROUPS:
        group = run.one(LOG_GROUP, name)
        assert order.index(_key_of(run, group).urn) < order.index(group.urn)
