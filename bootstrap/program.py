"""The bootstrap program: engine config -> BootstrapSpec -> the delivery identities and the state backend -> outputs
(what to put into GitHub: each environment's AWS_ROLE_ARN, the state bucket, the secrets provider)."""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.kms import customer_key
from components.partitions import Partition, partition_of
from components.storage import BucketArgs, Buckets, tls_only_statement

from bootstrap import boundary as boundary_module
from bootstrap import permissions
from bootstrap.config import GITHUB_ISSUER, PROJECT, BootstrapSpec, ConfigError, load

# The tag naming the one GitHub environment a delivery role is for (policy SEC-CICD-004 holds its trust to it).
ENVIRONMENT_TAG = "crucible:github-environment"
SECRETS_ALIAS = "crucible-secrets"  # alias/crucible-secrets-<env>: one secrets provider key per environment
STATE_ALIAS = "crucible-state"


def secrets_alias(environment: str) -> str:
    return f"{SECRETS_ALIAS}-{environment}"


def secrets_provider(spec: BootstrapSpec, environment: str) -> str:
    """What `pulumi stack init --secrets-provider` takes for a stack of ``environment``."""
    return f"awskms://alias/{secrets_alias(environment)}?region={spec.region}"


class GithubOidc(pulumi.ComponentResource):
    """The account's GitHub Actions OIDC provider (one per URL per account), or the existing one."""

    def __init__(
        self,
        name: str,
        *,
        existing_arn: Optional[str],
        partition: Partition,
        account_id: pulumi.Input[str],
        protect: bool,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("crucible:bootstrap:GithubOidc", name, None, opts)
        if existing_arn:
            self.arn: pulumi.Output[str] = pulumi.Output.from_input(existing_arn)
        else:
            provider = aws.iam.OpenIdConnectProvider(
                name,
                url=f"https://{GITHUB_ISSUER}",
                client_id_lists=[permissions.AUDIENCE],
                tags={"crucible:delivery": "github-oidc"},
                # every deploy in the account stops without it (and other repositories may trust it too)
                opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
            )
            # IAM names a provider by its URL: arn:<partition>:iam::<account>:oidc-provider/<host>. Built from the
            # table (the trust policies and the policy pack read it) and resolved only once the provider exists.
            self.arn = pulumi.Output.all(provider.arn, account_id).apply(
                lambda v: partition.arn("iam", account=v[1], resource=f"oidc-provider/{GITHUB_ISSUER}")
            )
        self.register_outputs({"arn": self.arn})


class StateBackend(pulumi.ComponentResource):
    """The self-managed Pulumi backend: a private, versioned, SSE-KMS, TLS-only bucket (one prefix per environment)
    with its own key, one secrets provider key per environment (a preview or deploy role decrypts its own
    environment's secrets only), and the bucket's server access logs in a log bucket of its own."""

    def __init__(self, name: str, *, spec: BootstrapSpec, partition: Partition, account_id: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:bootstrap:StateBackend", name, None, opts)
        common = dict(account_id=account_id, partition=partition, deletion_window_days=spec.key_deletion_window_days, protect=spec.protect, parent=self)
        self.state_key = customer_key(f"{name}-state", description="Crucible delivery: the Pulumi state bucket", alias=STATE_ALIAS, **common)
        self.secrets_keys = {
            env: customer_key(
                f"{name}-secrets-{env}", description=f"Crucible delivery: the Pulumi secrets provider (awskms) of {env}", alias=secrets_alias(env), **common
            )
            for env in spec.environments
        }
        bucket_name = pulumi.Output.from_input(account_id).apply(lambda account: spec.state_bucket(account))
        self.buckets = Buckets(
            name,
            buckets=[
                BucketArgs(
                    logical_name="state",
                    physical_name=bucket_name,
                    noncurrent_version_days=spec.noncurrent_version_days,
                    abort_incomplete_upload_days=1,
                    namespace="account-regional",
                )
            ],
            kms_key_arn=self.state_key.arn,
            protect=spec.protect,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket = self.buckets.names["state"]
        self.access_logs = AccessLogBucket(
            f"{name}-access-logs",
            spec=spec,
            partition=partition,
            account_id=account_id,
            source_bucket=self.buckets.buckets["state"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.log_bucket = self.access_logs.bucket.bucket
        self.register_outputs(
            {
                "bucket": self.bucket,
                "stateKey": self.state_key.arn,
                "secretsKeys": {env: key.arn for env, key in self.secrets_keys.items()},
                "accessLogBucket": self.log_bucket,
            }
        )

    @property
    def keys(self) -> list[pulumi.Output[str]]:
        """Every key of the backend: the state key, then each environment's secrets key."""
        return [self.state_key.arn, *[key.arn for key in self.secrets_keys.values()]]


class AccessLogBucket(pulumi.ComponentResource):
    """Where S3 delivers the state bucket's server access logs (who read or wrote which state file).

    S3 server access logging delivers to a target bucket with SSE-S3 default encryption only: "the target bucket
    must not have a default encryption configuration with SSE-KMS" / "only SSE-S3 is supported" (S3 User Guide,
    "Enabling Amazon S3 server access logging", and "Logging requests with server access logging": server access log
    files can be encrypted with SSE-S3 only). So this bucket uses SSE-S3 (AES256), which the pack's SEC-S3-002 refuses
    for every other bucket: policies/config/bootstrap.json exempts it by name, with the reason. Otherwise it is held to
    the same rules: versioned, TLS-only, public access blocked, bucket owner enforced (the logging service writes
    through the bucket policy, not ACLs), a lifecycle expiry, and delivery allowed to logging.s3.amazonaws.com for
    this account's state bucket only (aws:SourceAccount, aws:SourceArn)."""

    def __init__(
        self,
        name: str,
        *,
        spec: BootstrapSpec,
        partition: Partition,
        account_id: pulumi.Input[str],
        source_bucket: aws.s3.Bucket,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("crucible:bootstrap:AccessLogBucket", name, None, opts)
        side = pulumi.ResourceOptions(parent=self, protect=spec.protect, retain_on_delete=spec.protect)
        self.bucket = aws.s3.Bucket(
            name,
            bucket=pulumi.Output.from_input(account_id).apply(spec.log_bucket),
            bucket_namespace="account-regional",
            force_destroy=False,
            tags={"crucible:bucket": "state-access-logs"},
            opts=side,
        )
        aws.s3.BucketPublicAccessBlock(
            name, bucket=self.bucket.id, block_public_acls=True, block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True, opts=side
        )
        aws.s3.BucketOwnershipControls(
            name, bucket=self.bucket.id, rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=side
        )
        versioning = aws.s3.BucketVersioning(
            name, bucket=self.bucket.id, versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=side
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                )
            ],
            opts=side,
        )
        aws.s3.BucketPolicy(
            name,
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, source_bucket.arn, account_id).apply(lambda v: log_bucket_policy(v[0], v[1], v[2])),
            opts=side,
        )
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=spec.access_log_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=30),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=1),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, protect=spec.protect, retain_on_delete=spec.protect, depends_on=[versioning]),
        )
        # The log bucket's policy admits the logging service before the source bucket starts delivering.
        aws.s3.BucketLogging(
            name,
            bucket=source_bucket.id,
            target_bucket=self.bucket.id,
            target_prefix=ACCESS_LOG_PREFIX,
            opts=side,
        )
        self.register_outputs({"bucket": self.bucket.bucket})


ACCESS_LOG_PREFIX = "state/"


def log_bucket_policy(log_bucket_arn: str, source_bucket_arn: str, account: str) -> str:
    """TLS only, and S3 server access log delivery for the state bucket of this account only (S3 User Guide,
    "Permissions for log delivery": principal logging.s3.amazonaws.com, aws:SourceArn the source bucket,
    aws:SourceAccount its owner)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                tls_only_statement(log_bucket_arn),
                {
                    "Sid": "S3ServerAccessLogsOfTheStateBucket",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{log_bucket_arn}/{ACCESS_LOG_PREFIX}*",
                    "Condition": {"ArnLike": {"aws:SourceArn": source_bucket_arn}, "StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        }
    )


class DeliveryRole(pulumi.ComponentResource):
    """One role GitHub Actions assumes from one environment, with its managed policies."""

    def __init__(
        self,
        name: str,
        *,
        role_name: str,
        description: str,
        trust: pulumi.Input[str],
        policies: dict[str, pulumi.Input[str]],
        max_session_seconds: int,
        github_environment: str,
        partition: Partition,
        account_id: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("crucible:bootstrap:DeliveryRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            name,
            name=role_name,
            path=permissions.PATH,
            description=description,
            assume_role_policy=trust,
            max_session_duration=max_session_seconds,
            # the one GitHub environment it is for: SEC-CICD-004 holds its trust to that environment
            tags={"crucible:delivery": role_name, ENVIRONMENT_TAG: github_environment},
            opts=child,
        )
        for suffix, document in policies.items():
            policy = aws.iam.Policy(
                f"{name}-{suffix}",
                name=f"{role_name}-{suffix}",
                path=permissions.PATH,
                description=f"{description}: {suffix}",
                policy=document,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(f"{name}-{suffix}", role=self.role.name, policy_arn=policy.arn, opts=child)
        # The ARN as IAM forms it (arn:<partition>:iam::<account>:role<path><name>), resolved once the role exists:
        # what GitHub's AWS_ROLE_ARN and the stacks' apiAccess.deployRoleArn / previewRoleArn name exactly.
        self.arn: pulumi.Output[str] = pulumi.Output.all(self.role.arn, account_id).apply(
            lambda v: partition.arn("iam", account=v[1], resource=f"role{permissions.PATH}{role_name}")
        )
        self.register_outputs({"arn": self.arn})


class PlatformBoundary(pulumi.ComponentResource):
    """The permissions boundary of every role the platform's stacks create (bootstrap/boundary.py), a managed policy
    on a path of its own; the deploy roles create and change roles only with it and can never change it."""

    def __init__(self, name: str, *, partition: Partition, account_id: pulumi.Input[str], backend: StateBackend, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:bootstrap:PlatformBoundary", name, None, opts)
        document = pulumi.Output.all(account_id, backend.bucket, backend.log_bucket, *backend.keys).apply(
            lambda v: permissions.boundary_policy(partition, v[0], [v[1], v[2]], *v[3:])
        )
        self.policy = aws.iam.Policy(
            name,
            name=boundary_module.NAME,
            path=boundary_module.PATH,
            description="Crucible: the permissions boundary of every IAM role the platform creates (bootstrap/boundary.py)",
            policy=document,
            tags={"crucible:delivery": "permissions-boundary"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The ARN as IAM forms it (arn:<partition>:iam::<account>:policy<path><name>), resolved once the policy exists:
        # the deploy roles' iam:PermissionsBoundary condition and the stacks' setting name exactly this.
        self.arn = pulumi.Output.all(self.policy.arn, account_id).apply(lambda v: boundary_module.arn(partition, v[1]))
        self.register_outputs({"arn": self.arn})


def build(spec: BootstrapSpec) -> dict[str, pulumi.Output]:
    partition = partition_of(spec.region)
    account_id = aws.get_caller_identity_output().account_id
    oidc = GithubOidc("github-oidc", existing_arn=spec.existing_oidc_provider_arn, partition=partition, account_id=account_id, protect=spec.protect)
    backend = StateBackend("pulumi-state", spec=spec, partition=partition, account_id=account_id)
    boundary = PlatformBoundary("platform-boundary", partition=partition, account_id=account_id, backend=backend)

    def inputs(environment: str) -> pulumi.Output[list]:
        keys = pulumi.Output.all(*backend.keys)
        return pulumi.Output.all(
            account_id, oidc.arn, backend.bucket, backend.state_key.arn, backend.secrets_keys[environment].arn, backend.log_bucket, boundary.arn, keys
        )

    def deploy_policies(environment: str) -> dict[str, pulumi.Output[str]]:
        return {
            "platform": inputs(environment).apply(lambda v: permissions.platform_policy(partition)),
            "delivery": inputs(environment).apply(
                lambda v: permissions.delivery_policy(spec, environment, partition, v[0], v[1], [v[2], v[5]], v[3], v[4], v[6], v[7])
            ),
        }

    def preview_policies(environment: str) -> dict[str, pulumi.Output[str]]:
        return {"read": inputs(environment).apply(lambda v: permissions.preview_policy(partition, spec.region, environment, v[2], v[3], v[4]))}

    roles, previews = {}, {}
    for environment in spec.environments:
        roles[environment] = DeliveryRole(
            f"deploy-{environment}",
            role_name=f"crucible-deploy-{environment}",
            description=f"Crucible {environment} deploys from GitHub environment {environment} of {spec.repository}",
            trust=oidc.arn.apply(lambda arn, e=environment: permissions.trust_policy(arn, spec.subject(e))),
            policies=deploy_policies(environment),
            max_session_seconds=spec.session_hours * 3600,
            github_environment=environment,
            partition=partition,
            account_id=account_id,
        )
    for environment in spec.environments:
        github = spec.preview_environment(environment)
        previews[environment] = DeliveryRole(
            f"preview-{environment}",
            role_name=f"crucible-preview-{environment}",
            description=f"Crucible read-only previews of {environment} from GitHub environment {github} of {spec.repository}",
            trust=oidc.arn.apply(lambda arn, g=github: permissions.trust_policy(arn, spec.subject(g))),
            policies=preview_policies(environment),
            max_session_seconds=3600,
            github_environment=github,
            partition=partition,
            account_id=account_id,
        )

    def by_environment(members: dict[str, DeliveryRole]) -> pulumi.Output[dict[str, str]]:
        return pulumi.Output.all(*[r.arn for r in members.values()]).apply(lambda arns: dict(zip(members, arns)))

    return {
        "githubOidcProviderArn": oidc.arn,
        "deployRoleArns": by_environment(roles),
        # Each stack's cluster.apiAccess.previewRoleArn: the preview role of the stack's environment.
        "previewRoleArns": by_environment(previews),
        "stateBucket": backend.bucket,
        "stateAccessLogBucket": backend.log_bucket,
        # What every stack sets as crucible:permissionsBoundary (README "Deploying for real", step 2).
        "permissionsBoundaryArn": boundary.arn,
        "stateRegion": pulumi.Output.from_input(spec.region),
        "backendUrls": backend.bucket.apply(lambda b: {e: f"s3://{b}/{e}?region={spec.region}" for e in spec.environments}),
        # `pulumi stack init --secrets-provider` of a stack of each environment (one key per environment).
        "secretsProviders": pulumi.Output.from_input({e: secrets_provider(spec, e) for e in spec.environments}),
        # What to set in GitHub (Settings > Environments / Variables); README "Deploying for real", step 3.
        "githubVariables": pulumi.Output.all(backend.bucket, by_environment(roles), by_environment(previews)).apply(
            lambda v: {
                "repository": {"PULUMI_STATE_BUCKET": v[0], "PULUMI_STATE_REGION": spec.region, "PULUMI_DEPLOY": "true", "PULUMI_PREVIEW": "true"},
                **{e: {"AWS_ROLE_ARN": v[1][e]} for e in spec.environments},
                **{spec.preview_environment(e): {"AWS_ROLE_ARN": v[2][e]} for e in spec.environments},
            }
        ),
    }


def spec_from_engine() -> BootstrapSpec:
    from pulumi.runtime.config import CONFIG, get_config_env

    config = dict(CONFIG.get()) or dict(get_config_env())
    try:
        return load(config, source=f"config of stack {pulumi.get_stack()!r} ({PROJECT})")
    except ConfigError as error:
        raise pulumi.RunError(error.render()) from None


def main() -> None:
    for name, value in build(spec_from_engine()).items():
        pulumi.export(name, value)
