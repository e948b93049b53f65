"""Every ARN, service principal and endpoint name Crucible registers follows the region's partition
(components/partitions.py): arn:aws-us-gov: in GovCloud, arn:aws-cn: and the .amazonaws.com.cn suffix in China.

Service principals: in China most services keep `<service>.amazonaws.com` (EKS and EKS Pod Identity per the EKS
China docs; elasticloadbalancing in the load balancer controller's own iam_policy_cn.json; events/sqs in the
Karpenter CloudFormation), while EC2 (and Auto Scaling) take the partition's suffix — Karpenter's template trusts
`ec2.${AWS::URLSuffix}` for its node role. Those global principals are the only `.amazonaws.com"` allowed."""

from __future__ import annotations

import functools
import json
import re

import pytest

from components.partitions import partition_of
from helpers import plan, spec_of

REGIONS = ("us-gov-west-1", "cn-north-1")
# Principals that are <service>.amazonaws.com in every partition (see the module docstring and partitions.py).
# cloudwatch (the Lustre alarm's SNS topic and key policies): aws-cdk-lib 2.275.0's region_info Default.servicePrincipal
# (in this venv: aws_cdk/_jsii, region-info/lib/default.js) gives the China suffix only to codedeploy, logs and
# elasticmapreduce; every other service, cloudwatch included, is <service>.amazonaws.com in every partition.
GLOBAL_PRINCIPALS = {
    f"{s}.amazonaws.com" for s in ("eks", "pods.eks", "elasticloadbalancing", "events", "sqs", "vpc-flow-logs", "s3.data-source.lustre.fsx", "cloudwatch")
}
ARN = re.compile(r"arn:(aws[a-z-]*):")
AMAZONAWS = re.compile(r'([\w.-]+\.amazonaws\.com)(\.cn)?(?=[\\"/:])')


@functools.lru_cache(maxsize=None)
def _plan(region: str):
    partition = partition_of(region)
    return plan(
        "prod",
        region=region,
        availabilityZones=[f"{region}a", f"{region}b", f"{region}c"],
        permissionsBoundary=f"arn:{partition.name}:iam::111122223333:policy/crucible-boundary/crucible-platform-boundary",
        cluster={
            "adminRoleArns": [f"arn:{partition.name}:iam::111122223333:role/PlatformAdmin"],
            "apiAccess": {"deployRoleArn": f"arn:{partition.name}:iam::111122223333:role/crucible-deploy"},
        },
    )


def _texts(region: str):
    for r in _plan(region).resources:
        yield r, json.dumps(r.inputs)


@pytest.mark.parametrize("region", REGIONS)
def test_every_arn_is_in_the_regions_partition(region):
    wanted = partition_of(region).name
    wrong = sorted({(r.type, m.group(0)) for r, text in _texts(region) for m in ARN.finditer(text) if m.group(1) != wanted})
    assert not wrong, wrong


@pytest.mark.parametrize("region", REGIONS)
def test_every_amazonaws_name_has_the_regions_dns_suffix(region):
    partition = partition_of(region)
    wrong = set()
    for r, text in _texts(region):
        for m in AMAZONAWS.finditer(text):
            name = m.group(1) + (m.group(2) or "")
            if name.endswith(f".{partition.dns_suffix}") and not (partition.dns_suffix != "amazonaws.com" and m.group(2) is None):
                continue  # the partition's own suffix
            if name in GLOBAL_PRINCIPALS:
                continue
            wrong.add((r.type, name))
    assert not sorted(wrong), sorted(wrong)


def test_karpenter_node_role_is_trusted_by_ec2_of_china():
    role = _plan("cn-north-1").one("aws:iam/role:Role", "karpenter-node")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com.cn"}]


def test_managed_policies_are_the_partitions():
    attachments = _plan("us-gov-west-1").of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachments and all(a.inputs["policyArn"].startswith("arn:aws-us-gov:iam::aws:policy/") for a in attachments)


def test_control_plane_logs_key_allows_the_regional_logs_principal_of_china():
    keys = _plan("cn-north-1").of_type("aws:kms/key:Key")
    principals = {json.dumps(s.get("Principal")) for k in keys for s in json.loads(k.inputs["policy"])["Statement"]}
    assert json.dumps({"Service": "logs.cn-north-1.amazonaws.com.cn"}) in principals


@pytest.mark.parametrize("region", REGIONS)
def test_the_policy_pack_reads_arns_of_any_partition(region):
    """A GovCloud or China plan passes every mandatory policy, as the same stack does in us-east-1 (the pack's ARN
    patterns are not `arn:aws:`-only)."""
    from stacks.tools.plan.verdicts import evaluate, mandatory

    verdicts = evaluate(_plan(region).to_json()["resources"], "prod")
    assert mandatory(verdicts) == []


def test_endpoint_service_names_are_looked_up_from_ec2_not_written():
    """China names many interface endpoint services cn.com.amazonaws.<region>.<service> (not all): the network layer
    takes each name from EC2 (getVpcEndpointService), which the harness answers per partition."""
    names = {e.inputs["serviceName"] for e in _plan("cn-north-1").of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert "com.amazonaws.cn-north-1.s3" in names  # the S3 gateway endpoint
    assert "cn.com.amazonaws.cn-north-1.sts" in names


def test_the_harness_answers_endpoint_lookups_as_the_provider_would():
    """The data source's `service` argument builds com.amazonaws.<region>.<service> itself: in China an interface
    service listed as cn.com.amazonaws.… is not found, so the network layer must not ask that way."""
    from stacks.tools.harness import CrucibleMocks

    china = CrucibleMocks(region="cn-north-1")
    with pytest.raises(Exception, match="no matching"):
        china._endpoint_service({"service": "sts", "serviceType": "Interface"})
    found = china._endpoint_service(
        {"serviceType": "Interface", "filters": [{"name": "service-name", "values": partition_of("cn-north-1").endpoint_service_names("sts", "cn-north-1")}]}
    )
    assert found["serviceName"] == "cn.com.amazonaws.cn-north-1.sts"
    assert CrucibleMocks(region="us-east-1")._endpoint_service({"service": "sts", "serviceType": "Interface"})["serviceName"] == "com.amazonaws.us-east-1.sts"


def test_a_role_of_another_partition_is_refused_before_any_resource():
    from stacks.spec import ConfigError

    with pytest.raises(ConfigError) as caught:
        spec_of(
            "prod",
            region="us-gov-west-1",
            availabilityZones=["us-gov-west-1a", "us-gov-west-1b", "us-gov-west-1c"],
            cluster={"apiAccess": {"deployRoleArn": "arn:aws-us-gov:iam::111122223333:role/crucible-deploy"}},
        )
    found = {p.path: p.message for p in caught.value.problems}
    assert "partition 'aws-us-gov'" in found["crucible:cluster.adminRoleArns[0]"]  # BASE's arn:aws: admin role
    assert "crucible:cluster.apiAccess.deployRoleArn" not in found


def test_the_auto_scaling_role_crucible_creates_is_the_one_the_node_volume_key_names():
    """createServiceLinkedRoles in China: the role's service name and the key policy's role path agree, or KMS refuses
    the policy (unknown principal) or IAM the service name."""
    partition = partition_of("cn-north-1")
    run = plan(
        "prod",
        region="cn-north-1",
        availabilityZones=["cn-north-1a", "cn-north-1b", "cn-north-1c"],
        permissionsBoundary="arn:aws-cn:iam::111122223333:policy/crucible-boundary/crucible-platform-boundary",
        cluster={
            "adminRoleArns": ["arn:aws-cn:iam::111122223333:role/PlatformAdmin"],
            "apiAccess": {"deployRoleArn": "arn:aws-cn:iam::111122223333:role/crucible-deploy"},
            "createServiceLinkedRoles": True,
        },
    )
    services = {r.inputs["awsServiceName"] for r in run.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")}
    key_policy = next(k.inputs["policy"] for k in run.of_type("aws:kms/key:Key") if "AutoScalingUsesKey" in k.inputs.get("policy", ""))
    (autoscaling,) = [s for s in services if s.startswith("autoscaling.")]
    assert f"/aws-service-role/{autoscaling}/AWSServiceRoleForAutoScaling" in key_policy
    assert autoscaling == partition.service_principal("autoscaling")
