"""The pack reads ARNs of every partition (aws, aws-cn, aws-us-gov): SEC-IAM-003 only knew `arn:aws:s3:::` and
skipped China and GovCloud team policies silently, SEC-S3-008 their CloudTrail data events; SEC-IAM-001 is pinned too."""

import json

import pytest

from policy_builder import UNKNOWN, link, res, verdicts

POD_IDENTITY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}],
    }
)
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


def _team_policy(partition, resource):
    role = res("aws:iam/role:Role", "vision-data", {"assumeRolePolicy": POD_IDENTITY, "tags": {"crucible.io/team": "vision"}})
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": resource.format(p=partition)}]})
    return [role, link(res("aws:iam/rolePolicy:RolePolicy", "data", {"role": UNKNOWN, "policy": document}), "role", role)]


@pytest.mark.parametrize("partition", PARTITIONS)
def test_a_team_reaching_other_prefixes_fires_in_every_partition(partition):
    assert verdicts("sec-iam-003-tenant-data-scope", _team_policy(partition, "arn:{p}:s3:::crucible-datasets/*")) == [("data", "mandatory")]
    assert verdicts("sec-iam-003-tenant-data-scope", _team_policy(partition, "arn:{p}:s3:::crucible-datasets/vision/*")) == []


@pytest.mark.parametrize("partition", PARTITIONS)
def test_administrator_access_fires_in_every_partition(partition):
    attach = res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", {"role": "r", "policyArn": f"arn:{partition}:iam::aws:policy/AdministratorAccess"}
    )
    assert verdicts("sec-iam-001-no-admin-wildcards", [attach]) == [("admin", "mandatory")]


@pytest.mark.parametrize("partition", ("aws-cn", "aws-us-gov"))
def test_cloudtrail_data_events_of_any_partition_count_as_bucket_logging(partition):
    from test_policy_s3 import good_bucket, without

    resources = without(good_bucket(), "-logging")
    trail = res(
        "aws:cloudtrail/trail:Trail",
        "data-events",
        {
            "s3BucketName": "crucible-trail",
            "eventSelectors": [{"readWriteType": "All", "dataResources": [{"type": "AWS::S3::Object", "values": [f"arn:{partition}:s3"]}]}],
        },
    )
    assert verdicts("sec-s3-008-access-logging", resources + [trail]) == []
    assert verdicts("sec-s3-008-access-logging", resources) != []
