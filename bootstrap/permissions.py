"""The delivery identities' documents, as pure functions: trust policies, the deploy policy of an environment and the
preview policy.

Deploy rights follow what Crucible creates: ``SERVICES`` maps each AWS resource module the program registers (the
type token's module, e.g. ``aws:ec2transitgateway/vpcAttachment`` -> ec2) to its IAM service, and each service to the
verbs the provider calls to create, read, change and delete those resources — patterns such as ``ec2:Create*``,
never ``ec2:*`` (a test plans every shipped stack and fails on a resource type whose service is missing here). Over
that, explicit denies keep every deploy role away from the delivery identities themselves (their path, the OIDC
provider), from the administrator managed policies, and from the state backend's configuration and keys; its state
objects are its own environment's prefix only.

IAM is delegated the way the IAM User Guide documents it ("Permissions boundaries for IAM entities"): a deploy role
creates and changes the platform's roles only with the platform boundary (bootstrap/boundary.py) as their
permissions boundary, can never remove a boundary or change the boundary policy, and cannot rewrite any trust
policy, so no role it creates can do more than the boundary allows. Left, said plainly: iam:PassRole to the
platform's services is scoped by service, not by role (IAM has no condition for "a role with this boundary" on
PassRole), so a deploy role can pass an existing role of the account that trusts one of those services; it cannot
change what such a role trusts or holds.
"""

from __future__ import annotations

import json
from typing import Sequence

from components.partitions import Partition

from bootstrap import boundary
from bootstrap.config import GITHUB_ISSUER, BootstrapSpec

AUDIENCE = "sts.amazonaws.com"
PATH = "/crucible-bootstrap/"  # the delivery identities' IAM path: no deploy role may touch anything under it
ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")

# resource type (module or module/resource) -> IAM service prefixes its create/read/update/delete calls use
SERVICES: dict[str, tuple[str, ...]] = {
    "ec2": ("ec2",),
    "vpc": ("ec2",),
    "ec2transitgateway": ("ec2",),
    "eks": ("eks",),
    "iam": ("iam",),
    "kms": ("kms",),
    "s3": ("s3",),
    "fsx": ("fsx",),
    "sqs": ("sqs",),
    "cloudwatch/eventRule": ("events",),
    "cloudwatch/eventTarget": ("events",),
    "cloudwatch/logGroup": ("logs",),
    "cloudwatch/metricAlarm": ("cloudwatch",),  # the Lustre capacity alarm (addons/lustre_alarms.py)
    "sns": ("sns",),  # the alerts' and the Lustre alarm's topics, their policies and email subscriptions
    "amp": ("aps",),  # Amazon Managed Prometheus (addons.observability.managed)
    "grafana": ("grafana", "sso"),  # Managed Grafana with IAM Identity Center (AWS_SSO) authentication
}

# service -> actions (patterns) of the deploy role, on Resource "*" (ARN-scoped where the service allows it below)
DEPLOY_ACTIONS: dict[str, tuple[str, ...]] = {
    "ec2": (
        "ec2:Describe*",
        "ec2:Get*",
        "ec2:Create*",
        "ec2:Delete*",
        "ec2:Modify*",
        "ec2:Authorize*",
        "ec2:Revoke*",
        "ec2:Associate*",
        "ec2:Disassociate*",
        "ec2:Attach*",
        "ec2:Detach*",
        "ec2:Allocate*",
        "ec2:Release*",
        "ec2:Replace*",
        "ec2:Enable*",
        "ec2:Disable*",
        "ec2:Accept*",
        "ec2:Update*",
    ),
    "eks": (
        "eks:Describe*",
        "eks:List*",
        "eks:Create*",
        "eks:Delete*",
        "eks:Update*",
        "eks:Associate*",
        "eks:Disassociate*",
        "eks:TagResource",
        "eks:UntagResource",
    ),
    "kms": (
        "kms:CreateKey",
        "kms:CreateAlias",
        "kms:CreateGrant",
        "kms:RetireGrant",
        "kms:RevokeGrant",
        "kms:Describe*",
        "kms:Get*",
        "kms:List*",
        "kms:PutKeyPolicy",
        "kms:EnableKeyRotation",
        "kms:DisableKeyRotation",
        "kms:EnableKey",
        "kms:UpdateAlias",
        "kms:DeleteAlias",
        "kms:UpdateKeyDescription",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:TagResource",
        "kms:UntagResource",
    ),
    "s3": (
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:ListBucket",
        "s3:ListAllMyBuckets",
        "s3:GetBucket*",
        "s3:PutBucket*",
        "s3:DeleteBucketPolicy",
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:GetAccelerateConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetObjectLockConfiguration",
        "s3:PutObjectLockConfiguration",
        "s3:GetAnalyticsConfiguration",
        "s3:GetInventoryConfiguration",
        "s3:GetMetricsConfiguration",
        "s3:GetIntelligentTieringConfiguration",
    ),
    "fsx": (
        "fsx:Create*",
        "fsx:Delete*",
        "fsx:Describe*",
        "fsx:Update*",
        "fsx:List*",
        "fsx:TagResource",
        "fsx:UntagResource",
        "fsx:AssociateFileSystemAliases",
        "fsx:DisassociateFileSystemAliases",
    ),
    "sqs": (
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:TagQueue",
        "sqs:UntagQueue",
        "sqs:ListQueueTags",
        "sqs:AddPermission",
        "sqs:RemovePermission",
    ),
    "events": (
        "events:PutRule",
        "events:DeleteRule",
        "events:DescribeRule",
        "events:EnableRule",
        "events:DisableRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:ListTargetsByRule",
        "events:TagResource",
        "events:UntagResource",
        "events:ListTagsForResource",
    ),
    "logs": (
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:Describe*",
        "logs:List*",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:AssociateKmsKey",
        "logs:DisassociateKmsKey",
        "logs:TagResource",
        "logs:UntagResource",
        "logs:TagLogGroup",
        "logs:UntagLogGroup",
    ),
    "cloudwatch": (
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
    ),
    "sns": (
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:Subscribe",
        "sns:Unsubscribe",
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
        "sns:ListSubscriptionsByTopic",
        "sns:TagResource",
        "sns:UntagResource",
        "sns:ListTagsForResource",
    ),
    "aps": (
        "aps:CreateWorkspace",
        "aps:DeleteWorkspace",
        "aps:DescribeWorkspace",
        "aps:UpdateWorkspaceAlias",
        "aps:ListWorkspaces",
        "aps:TagResource",
        "aps:UntagResource",
        "aps:ListTagsForResource",
    ),
    "grafana": (
        "grafana:CreateWorkspace",
        "grafana:DeleteWorkspace",
        "grafana:DescribeWorkspace",
        "grafana:UpdateWorkspace",
        "grafana:DescribeWorkspaceAuthentication",
        "grafana:UpdateWorkspaceAuthentication",
        "grafana:ListWorkspaces",
        "grafana:TagResource",
        "grafana:UntagResource",
        "grafana:ListTagsForResource",
    ),
    # Managed Grafana's AWS_SSO authentication registers an IAM Identity Center application for the workspace
    "sso": ("sso:CreateManagedApplicationInstance", "sso:DeleteManagedApplicationInstance", "sso:DescribeRegisteredRegions", "sso:GetSharedSsoConfiguration"),
}

# IAM, as AWS documents delegation with a permissions boundary (IAM User Guide, "Permissions boundaries for IAM
# entities"): a deploy role creates a role, writes its policies and sets its boundary only when the role's boundary is
# the platform boundary (condition iam:PermissionsBoundary, which CreateRole, PutRolePermissionsBoundary,
# Attach/DetachRolePolicy and Put/DeleteRolePolicy support); it may never remove a boundary nor change the boundary
# policy (the Deny statements of `_protections`). Crucible's program creates roles, their inline policies and managed
# policy attachments only: no managed policy, instance profile or OIDC provider, so no deploy role writes those. No
# iam:UpdateAssumeRolePolicy: IAM offers no condition that limits it to bounded roles (the Service Authorization
# Reference lists no condition key for it), and rewriting a trust policy is how any role of the account is taken
# over; Crucible's trust policies are fixed by the components (a service, or EKS Pod Identity of the account).
BOUNDED_ROLE_WRITES = (
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
)
ROLE_UPKEEP = (
    "iam:DeleteRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:RemoveRoleFromInstanceProfile",  # deleting a node role takes it out of Karpenter's instance profiles first
    "iam:CreateServiceLinkedRole",
)
IAM_READS = ("iam:Get*", "iam:List*")
IAM_ACTIONS = IAM_READS + BOUNDED_ROLE_WRITES + ROLE_UPKEEP
# Every IAM write, denied on the delivery identities whatever else is allowed.
IAM_WRITES = (
    *BOUNDED_ROLE_WRITES,
    *ROLE_UPKEEP,
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UntagOpenIDConnectProvider",
)
PASSED_TO = ("eks", "ec2", "pods.eks", "vpc-flow-logs", "events", "grafana")  # grafana: the workspace's role

# the preview role: describe and read the same services (no object reads in data buckets, no secret values)
READ_ACTIONS: dict[str, tuple[str, ...]] = {
    "ec2": ("ec2:Describe*", "ec2:Get*"),
    "eks": ("eks:Describe*", "eks:List*"),
    "iam": ("iam:Get*", "iam:List*"),
    "kms": ("kms:Describe*", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:List*"),
    "s3": (
        "s3:ListAllMyBuckets",
        "s3:GetBucket*",
        "s3:GetEncryptionConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:GetAccelerateConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetObjectLockConfiguration",
        "s3:GetAnalyticsConfiguration",
        "s3:GetInventoryConfiguration",
        "s3:GetMetricsConfiguration",
        "s3:GetIntelligentTieringConfiguration",
    ),
    "fsx": ("fsx:Describe*", "fsx:List*"),
    "sqs": ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"),
    "events": ("events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource"),
    "logs": ("logs:Describe*", "logs:List*"),
    "cloudwatch": ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
    "sns": ("sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource"),
    "aps": ("aps:DescribeWorkspace", "aps:ListWorkspaces", "aps:ListTagsForResource"),
    "grafana": ("grafana:DescribeWorkspace", "grafana:DescribeWorkspaceAuthentication", "grafana:ListWorkspaces", "grafana:ListTagsForResource"),
    "sso": ("sso:DescribeRegisteredRegions",),
}
COMMON = ("sts:GetCallerIdentity", "ssm:GetParameter", "ssm:GetParameters")  # identity; the EKS AMI parameters
STATE_LOCKS = ".pulumi/locks"  # the self-managed backend's lock files: a preview takes the stack's lock too


def services_of(resource_type: str) -> tuple[str, ...]:
    """The IAM services behind an ``aws:`` resource type token; () when the table does not know it."""
    module, _, rest = resource_type.partition(":")[2].partition("/")
    resource = rest.split(":", 1)[0]
    return SERVICES.get(f"{module}/{resource}", SERVICES.get(module, ()))


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=False)


def trust_policy(provider_arn: str, subject: str) -> str:
    """Exactly one subject of one repository, the audience configure-aws-credentials requests, StringEquals."""
    return doc(
        {
            "Sid": "GitHubActionsOneEnvironment",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": AUDIENCE, f"{GITHUB_ISSUER}:sub": subject}},
        }
    )


def _state(partition: Partition, bucket: str) -> tuple[str, str]:
    arn = partition.arn("s3", resource=bucket)
    return arn, f"{arn}/*"


def _protections(
    spec: BootstrapSpec, partition: Partition, account: str, provider_arn: str, buckets: Sequence[str], keys: Sequence[str], boundary_arn: str
) -> list[dict]:
    """What no deploy role may do, whatever else it is allowed."""
    iam = lambda resource: partition.arn("iam", account=account, resource=resource)  # noqa: E731
    arns = [partition.arn("s3", resource=b) for b in buckets]
    return [
        {
            "Sid": "NoChangeToTheDeliveryIdentities",
            "Effect": "Deny",
            "Action": list(IAM_WRITES) + ["iam:PassRole"],
            "Resource": [iam(f"role{PATH}*"), iam(f"policy{PATH}*"), provider_arn],
        },
        {
            # AWS delegation example: a bounded role stays bounded.
            "Sid": "NoRemovingABoundary",
            "Effect": "Deny",
            "Action": "iam:DeleteRolePermissionsBoundary",
            "Resource": "*",
        },
        {
            # ... and the boundary stays what the bootstrap wrote.
            "Sid": "NoChangeToTheBoundary",
            "Effect": "Deny",
            "Action": list(boundary.BOUNDARY_CHANGES) + ["iam:TagPolicy", "iam:UntagPolicy"],
            "Resource": boundary_arn,
        },
        {
            "Sid": "NoAdministratorPolicies",
            "Effect": "Deny",
            "Action": ["iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:AttachUserPolicy", "iam:AttachGroupPolicy"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"iam:PolicyARN": [partition.managed_policy_arn(p) for p in ADMIN_POLICIES]}},
        },
        {
            "Sid": "NoChangeToTheStateBackend",
            "Effect": "Deny",
            "Action": [
                "s3:DeleteBucket",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketOwnershipControls",
                "s3:PutBucketAcl",
                "s3:PutObjectAcl",
                "s3:PutBucketLogging",
            ],
            "Resource": [r for a in arns for r in (a, f"{a}/*")],
        },
        {
            # the state bucket's access logs are the record of who read the state: nobody who deploys deletes them
            "Sid": "NoChangeToTheStateAccessLogs",
            "Effect": "Deny",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject"],
            "Resource": [f"{a}/*" for a in arns[1:]],
        },
        {
            "Sid": "NoChangeToTheStateKeys",
            "Effect": "Deny",
            "Action": [
                "kms:ScheduleKeyDeletion",
                "kms:DisableKey",
                "kms:PutKeyPolicy",
                "kms:DisableKeyRotation",
                "kms:CreateGrant",
                "kms:UpdateAlias",
                "kms:DeleteAlias",
            ],
            "Resource": list(keys),
        },
    ]


def boundary_policy(partition: Partition, account: str, buckets: Sequence[str], *keys: str) -> str:
    """The permissions boundary every role Crucible creates carries (bootstrap/boundary.py); ``keys``: the state key
    and every environment's secrets key."""
    return doc(*boundary.statements(partition, account, PATH, buckets, list(keys)))


def platform_policy(partition: Partition) -> str:
    """What every deploy role may do to create what Crucible creates (the services of ``SERVICES``, by verb)."""
    services = [a for actions in DEPLOY_ACTIONS.values() for a in actions]
    return doc({"Sid": "CreateWhatCrucibleCreates", "Effect": "Allow", "Action": services + list(COMMON), "Resource": "*"})


def delivery_policy(
    spec: BootstrapSpec,
    environment: str,
    partition: Partition,
    account: str,
    provider_arn: str,
    buckets: Sequence[str],
    state_key: str,
    secrets_key: str,
    boundary_arn: str,
    all_keys: Sequence[str] = (),
) -> str:
    """The rest of the deploy role of ``environment``: the platform's roles (created, changed and given policies only
    with the platform boundary, passed only to their services), its own state prefix, the state and secrets keys for
    encrypt/decrypt, ``secrets_key`` being this environment's own; never the delivery identities, the boundary, the
    backend's configuration, another environment's state or secrets key. ``buckets``: the state bucket, then its
    access-log bucket; ``all_keys``: every key of the backend (the state key, every environment's secrets key), none
    of which any deploy role may change."""
    iam = lambda resource: partition.arn("iam", account=account, resource=resource)  # noqa: E731
    bucket_arn, _ = _state(partition, buckets[0])
    prefix = f"{environment}/"
    return doc(
        {
            "Sid": "ReadIam",
            "Effect": "Allow",
            "Action": list(IAM_READS),
            "Resource": [iam("role/*"), iam("policy/*"), iam("instance-profile/*"), iam("oidc-provider/*")],
        },
        {
            "Sid": "BoundedPlatformRoles",
            "Effect": "Allow",
            "Action": list(BOUNDED_ROLE_WRITES),
            "Resource": iam("role/*"),
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary_arn}},
        },
        {
            "Sid": "PlatformRoleUpkeep",
            "Effect": "Allow",
            "Action": list(ROLE_UPKEEP),
            "Resource": [iam("role/*"), iam("instance-profile/*")],
        },
        {
            "Sid": "PassPlatformRolesToTheirServices",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": iam("role/*"),
            "Condition": {"StringEquals": {"iam:PassedToService": [partition.service_principal(s) for s in PASSED_TO]}},
        },
        {
            "Sid": "OwnStatePrefix",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{bucket_arn}/{prefix}*",
        },
        {
            "Sid": "ListOwnStatePrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
        {
            "Sid": "StateAndSecretsKeys",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": [state_key, secrets_key],
        },
        *_protections(spec, partition, account, provider_arn, buckets, list(all_keys) or [state_key, secrets_key], boundary_arn),
    )


def preview_policy(partition: Partition, region: str, environment: str, bucket: str, state_key: str, secrets_key: str) -> str:
    """The read-only preview role of ``environment`` (crucible-preview-<env>): describe what Crucible creates, read
    this environment's state prefix and nothing else of the bucket, decrypt this environment's secrets key only (a
    preview runs the program, which needs its config secrets) and take this environment's stack lock — no create,
    change or delete anywhere, no other environment's state or secrets.

    Why a key per environment: Pulumi's awskms secrets provider keeps one data key per stack, encrypted by the KMS key
    (the stack file's `encryptedkey`, Pulumi "stack settings file reference"), opened through the Go CDK's awskms
    keeper from the URL alone (`awskms://<key id|alias|ARN>?region=`, Go CDK "Open a Secret Keeper"), with no
    encryption context a key policy or grant could tell environments apart by. A key per environment makes the
    ``Resource`` of this statement the boundary.

    The state objects are SSE-KMS with an S3 bucket key (components/storage.py), so S3 asks KMS under the bucket's
    ARN (encryption context aws:s3:arn = the bucket): the state key is usable only through S3 in the bucket's region
    for this bucket, and which objects it opens is decided by the prefix-scoped S3 statements."""
    bucket_arn, _ = _state(partition, bucket)
    prefix = f"{environment}/"
    reads = [a for actions in READ_ACTIONS.values() for a in actions]
    through_s3 = {
        "StringEquals": {
            "kms:ViaService": partition.endpoint("s3", region),
            "kms:EncryptionContext:aws:s3:arn": bucket_arn,
        }
    }
    return doc(
        {"Sid": "DescribeWhatCrucibleCreates", "Effect": "Allow", "Action": reads + ["sts:GetCallerIdentity"], "Resource": "*"},
        {
            # the public parameters only (the EKS AMI ids): a SecureString of the account is not a preview's to read
            "Sid": "PublicParameters",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": partition.arn("ssm", region="*", resource="parameter/aws/service/*"),
        },
        {"Sid": "ReadOwnState", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/{prefix}*"},
        {
            "Sid": "ListOwnState",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
        {
            "Sid": "TakeOwnStackLock",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{bucket_arn}/{prefix}{STATE_LOCKS}/*",
        },
        {
            # read the state, write the lock file (SSE-KMS: PutObject needs GenerateDataKey)
            "Sid": "StateKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": state_key,
            "Condition": through_s3,
        },
        {"Sid": "DecryptOwnSecrets", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": secrets_key},
    )
