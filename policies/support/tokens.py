"""Type tokens the rules match, in one place.

pulumi-aws 7 renamed ``s3.BucketV2`` to ``s3.Bucket`` and the ``BucketXxxV2`` side resources to ``BucketXxx``;
the V2 tokens still exist (deprecated), so every S3 group below holds both. Kubernetes custom resources created
with ``apiextensions.CustomResource`` are typed ``kubernetes:<apiVersion>:<kind>``; ``custom_resource`` matches a
kind over the API versions a rule accepts.
"""

from __future__ import annotations

from typing import Callable, Iterable

TypeMatcher = Callable[[str], bool]


def one_of(*tokens: str) -> TypeMatcher:
    wanted = frozenset(tokens)
    return lambda token: token in wanted


def custom_resource(group: str, kind: str, versions: Iterable[str]) -> TypeMatcher:
    return one_of(*(f"kubernetes:{group}/{version}:{kind}" for version in versions))


def any_of(*matchers: TypeMatcher) -> TypeMatcher:
    return lambda token: any(m(token) for m in matchers)


def short(token: str) -> str:
    """``aws:eks/cluster:Cluster`` -> ``Cluster``."""
    return token.rsplit(":", 1)[-1]


# EKS
EKS_CLUSTER = one_of("aws:eks/cluster:Cluster")
EKS_ADDON = one_of("aws:eks/addon:Addon")
EKS_ACCESS_ENTRY = one_of("aws:eks/accessEntry:AccessEntry")
EKS_ACCESS_POLICY_ASSOCIATION = one_of("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
EKS_NODE_GROUP = one_of("aws:eks/nodeGroup:NodeGroup")
EKS_FARGATE_PROFILE = one_of("aws:eks/fargateProfile:FargateProfile")
EKS_POD_IDENTITY_ASSOCIATION = one_of("aws:eks/podIdentityAssociation:PodIdentityAssociation")

# EC2 / VPC
LAUNCH_TEMPLATE = one_of("aws:ec2/launchTemplate:LaunchTemplate")
SUBNET = one_of("aws:ec2/subnet:Subnet")
VPC = one_of("aws:ec2/vpc:Vpc")
FLOW_LOG = one_of("aws:ec2/flowLog:FlowLog")
PLACEMENT_GROUP = one_of("aws:ec2/placementGroup:PlacementGroup")
SECURITY_GROUP = one_of("aws:ec2/securityGroup:SecurityGroup")
DEFAULT_SECURITY_GROUP = one_of("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
SG_INGRESS_RULE = one_of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
SG_EGRESS_RULE = one_of("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
SG_RULE = one_of("aws:ec2/securityGroupRule:SecurityGroupRule")
EBS_ENCRYPTION_BY_DEFAULT = one_of("aws:ebs/encryptionByDefault:EncryptionByDefault")

# Storage
LUSTRE = one_of("aws:fsx/lustreFileSystem:LustreFileSystem")
DATA_REPOSITORY_ASSOCIATION = one_of("aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation")
BUCKET = one_of("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
BUCKET_PUBLIC_ACCESS_BLOCK = one_of("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
BUCKET_ENCRYPTION = one_of(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_POLICY = one_of("aws:s3/bucketPolicy:BucketPolicy")
BUCKET_VERSIONING = one_of("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_LIFECYCLE = one_of(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
BUCKET_OBJECT_LOCK = one_of(
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
)
BUCKET_LOGGING = one_of("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
CLOUDTRAIL = one_of("aws:cloudtrail/trail:Trail")
ECR_REPOSITORY = one_of("aws:ecr/repository:Repository")
SQS_QUEUE = one_of("aws:sqs/queue:Queue")
EVENT_RULE = one_of("aws:cloudwatch/eventRule:EventRule")

# IAM / KMS
IAM_ROLE = one_of("aws:iam/role:Role")
IAM_POLICY = one_of("aws:iam/policy:Policy")
IAM_INLINE_POLICY = one_of("aws:iam/rolePolicy:RolePolicy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy")
IAM_ROLE_POLICY = one_of("aws:iam/rolePolicy:RolePolicy")
IAM_POLICY_ATTACHMENT = one_of(
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)
IAM_ROLE_POLICY_ATTACHMENT = one_of("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
KMS_KEY = one_of("aws:kms/key:Key")

# Kubernetes
NAMESPACE = one_of("kubernetes:core/v1:Namespace")
RESOURCE_QUOTA = one_of("kubernetes:core/v1:ResourceQuota")
LIMIT_RANGE = one_of("kubernetes:core/v1:LimitRange")
PERSISTENT_VOLUME = one_of("kubernetes:core/v1:PersistentVolume")
PERSISTENT_VOLUME_CLAIM = one_of("kubernetes:core/v1:PersistentVolumeClaim")
NETWORK_POLICY = one_of("kubernetes:networking.k8s.io/v1:NetworkPolicy")
INGRESS = one_of("kubernetes:networking.k8s.io/v1:Ingress")
STORAGE_CLASS = one_of("kubernetes:storage.k8s.io/v1:StorageClass")
CLUSTER_ROLE_BINDING = one_of("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
ROLE_BINDING = one_of("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
RBAC_ROLE = one_of("kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
HELM_RELEASE = one_of("kubernetes:helm.sh/v3:Release")
ADMISSION_POLICY = one_of("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
ADMISSION_POLICY_BINDING = one_of("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")

NODE_POOL = custom_resource("karpenter.sh", "NodePool", ["v1"])
NODE_OVERLAY = custom_resource("karpenter.sh", "NodeOverlay", ["v1alpha1"])
EC2_NODE_CLASS = custom_resource("karpenter.k8s.aws", "EC2NodeClass", ["v1"])
KUEUE_VERSIONS = ("v1beta2", "v1beta1")
CLUSTER_QUEUE = custom_resource("kueue.x-k8s.io", "ClusterQueue", KUEUE_VERSIONS)
RESOURCE_FLAVOR = custom_resource("kueue.x-k8s.io", "ResourceFlavor", KUEUE_VERSIONS)
LOCAL_QUEUE = custom_resource("kueue.x-k8s.io", "LocalQueue", KUEUE_VERSIONS)
RAY_CLUSTER = custom_resource("ray.io", "RayCluster", ["v1"])
RAY_JOB = custom_resource("ray.io", "RayJob", ["v1"])
RAY_SERVICE = custom_resource("ray.io", "RayService", ["v1"])


def kubernetes_object(token: str) -> bool:
    """Any Kubernetes object Pulumi registers directly (not a Helm release or a provider)."""
    return token.startswith("kubernetes:") and not token.startswith("kubernetes:helm.sh/")


# CloudWatch Logs
LOG_GROUP = one_of("aws:cloudwatch/logGroup:LogGroup")
