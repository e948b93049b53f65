"""AWS partitions: which regions each holds, and the ARN prefix and DNS suffix that go with it.

One table for the whole project: ARNs (`arn:<partition>:...`), service principals (`ec2.<dnsSuffix>`) and endpoint
names (`s3.<region>.<dnsSuffix>`) are built from it, never written with `aws`/`amazonaws.com` by hand. Regions as
AWS lists them for each partition (EC2 DescribeRegions / the SDKs' partitions.json), late 2026.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Partition:
    name: str  # the ARN's second field: arn:<name>:...
    dns_suffix: str  # service principals and endpoints: ec2.<dns_suffix>, s3.<region>.<dns_suffix>
    regions: tuple[str, ...]

    def arn(self, service: str, region: str = "", account: str = "", resource: str = "") -> str:
        return f"arn:{self.name}:{service}:{region}:{account}:{resource}"

    def service_principal(self, service: str) -> str:
        """The IAM service principal of ``service`` (e.g. ec2 → ec2.amazonaws.com, ec2.amazonaws.com.cn in China).

        Only the services in ``PARTITION_SUFFIXED_PRINCIPALS`` take the partition's DNS suffix; every other service's
        principal is ``<service>.amazonaws.com`` in every partition (in China: eks, pods.eks, elasticloadbalancing,
        events, sqs, vpc-flow-logs...)."""
        suffix = self.dns_suffix if service in PARTITION_SUFFIXED_PRINCIPALS else "amazonaws.com"
        return f"{service}.{suffix}"

    def regional_service_principal(self, service: str, region: str) -> str:
        """A regional service principal, e.g. CloudWatch Logs: logs.<region>.<dnsSuffix>."""
        return f"{service}.{region}.{self.dns_suffix}"

    @property
    def reverse_dns_prefix(self) -> str:
        """com.amazonaws, cn.com.amazonaws: the prefix of VPC endpoint service names (not all services use it)."""
        return ".".join(reversed(self.dns_suffix.split(".")))

    def endpoint_service_names(self, service: str, region: str) -> list[str]:
        """The names EC2 may list ``service``'s VPC endpoint service under in ``region``: com.amazonaws.<region>.<service>
        everywhere, and in China also cn.com.amazonaws.<region>.<service> (most interface services; S3's gateway and a
        few others keep com.amazonaws)."""
        names = [f"com.amazonaws.{region}.{service}"]
        if self.reverse_dns_prefix != "com.amazonaws":
            names.append(f"{self.reverse_dns_prefix}.{region}.{service}")
        return names

    def endpoint(self, service: str, region: str) -> str:
        """A service's regional endpoint name, e.g. ec2.<region>.<dnsSuffix> (the value of kms:ViaService)."""
        return f"{service}.{region}.{self.dns_suffix}"

    def service_linked_role_arn(self, account: str, service: str, role: str) -> str:
        """arn:<p>:iam::<account>:role/aws-service-role/<service principal>/<role>."""
        return self.arn("iam", account=account, resource=f"role/aws-service-role/{self.service_principal(service)}/{role}")

    def managed_policy_arn(self, name: str) -> str:
        return f"arn:{self.name}:iam::aws:policy/{name}"


# Services whose IAM principal carries the partition's DNS suffix (ec2.amazonaws.com.cn in China). EC2: the Karpenter
# CloudFormation trusts `ec2.${AWS::URLSuffix}` and lists ec2.amazonaws.com.cn in iam:PassedToService; Auto Scaling:
# autoscaling.amazonaws.com.cn in the China regions (its service-linked role's path too). Every other principal
# Crucible uses is <service>.amazonaws.com in all partitions (EKS China docs: eks, pods.eks; the load balancer
# controller's iam_policy_cn.json: elasticloadbalancing; Karpenter's template: events, sqs; aws-cdk-lib's region_info:
# cloudwatch, whose China principal is cloudwatch.amazonaws.com as every service's but codedeploy, logs and EMR).
PARTITION_SUFFIXED_PRINCIPALS = frozenset({"ec2", "autoscaling"})

PARTITIONS: tuple[Partition, ...] = (
    Partition(
        "aws",
        "amazonaws.com",
        (
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-south-1",
            "eu-south-2",
            "eu-north-1",
            "il-central-1",
            "me-south-1",
            "me-central-1",
            "mx-central-1",
            "sa-east-1",
        ),
    ),
    Partition("aws-us-gov", "amazonaws.com", ("us-gov-west-1", "us-gov-east-1")),
    Partition("aws-cn", "amazonaws.com.cn", ("cn-north-1", "cn-northwest-1")),
)

_BY_REGION = {region: p for p in PARTITIONS for region in p.regions}


def partition_of(region: str) -> Partition:
    """The partition holding ``region``. Raises KeyError for a region no partition lists (the spec refuses those)."""
    return _BY_REGION[region]


def known_region(region: str) -> bool:
    return region in _BY_REGION


def all_regions() -> tuple[str, ...]:
    return tuple(_BY_REGION)
