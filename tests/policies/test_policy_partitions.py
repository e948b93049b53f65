"""The pack reads ARNs of every partition (aws, aws-cn, aws-us-gov): SEC-IAM-003 only knew `arn:aws:s3:::` and
skipped China and GovCloud team policies silently; SEC-IAM-001 is pinned here too."""
import json

import pytest

from policy_builder import UNKNOWN, link, res, verdicts

POD_IDENTITY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
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
    attach = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", {"role": "r", "policyArn": f"arn:{partition}:iam::aws:policy/AdministratorAccess"})
    assert verdicts("sec-iam-001-no-admin-wildcards", [attach]) == [("admin", "mandatory")]
