"""The bootstrap program: engine config -> BootstrapSpec -> the delivery identities and the state backend -> outputs
(what to put into GitHub: each environment's AWS_ROLE_ARN, the state bucket, the secrets provider)."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from components.kms import customer_key
from components.partitions import Partition, partition_of
from components.storage import BucketArgs, Buckets

from bootstrap import permissions
from bootstrap.config import GITHUB_ISSUER, PROJECT, BootstrapSpec, ConfigError, load

SECRETS_ALIAS = "crucible-secrets"
STATE_ALIAS = "crucible-state"


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
    with its own key, and the secrets provider's key."""

    def __init__(self, name: str, *, spec: BootstrapSpec, partition: Partition, account_id: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:bootstrap:StateBackend", name, None, opts)
        common = dict(account_id=account_id, partition=partition, deletion_window_days=spec.key_deletion_window_days, protect=spec.protect, parent=self)
        self.state_key = customer_key(f"{name}-state", description="Crucible delivery: the Pulumi state bucket", alias=STATE_ALIAS, **common)
        self.secrets_key = customer_key(f"{name}-secrets", description="Crucible delivery: the Pulumi secrets provider (awskms)", alias=SECRETS_ALIAS, **common)
        bucket_name = pulumi.Output.from_input(account_id).apply(lambda account: f"{spec.state_bucket_prefix}-{account}-{spec.region}-an")
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
        self.register_outputs({"bucket": self.bucket, "stateKey": self.state_key.arn, "secretsKey": self.secrets_key.arn})


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
            tags={"crucible:delivery": role_name},
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
        self.arn = self.role.arn
        self.register_outputs({"arn": self.role.arn})


def build(spec: BootstrapSpec) -> dict[str, pulumi.Output]:
    partition = partition_of(spec.region)
    account_id = aws.get_caller_identity_output().account_id
    oidc = GithubOidc("github-oidc", existing_arn=spec.existing_oidc_provider_arn, partition=partition, account_id=account_id, protect=spec.protect)
    backend = StateBackend("pulumi-state", spec=spec, partition=partition, account_id=account_id)

    def policies(environment: Optional[str]) -> dict[str, pulumi.Output[str]]:
        inputs = pulumi.Output.all(account_id, oidc.arn, backend.bucket, backend.state_key.arn, backend.secrets_key.arn)
        if environment is None:
            return {"read": inputs.apply(lambda v: permissions.preview_policy(partition, v[2], v[3], v[4]))}
        return {
            "platform": inputs.apply(lambda v: permissions.platform_policy(partition)),
            "delivery": inputs.apply(lambda v: permissions.delivery_policy(spec, environment, partition, v[0], v[1], v[2], v[3], v[4])),
        }

    roles = {}
    for environment in spec.environments:
        roles[environment] = DeliveryRole(
            f"deploy-{environment}",
            role_name=f"crucible-deploy-{environment}",
            description=f"Crucible {environment} deploys from GitHub environment {environment} of {spec.repository}",
            trust=oidc.arn.apply(lambda arn, e=environment: permissions.trust_policy(arn, spec.subject(e))),
            policies=policies(environment),
            max_session_seconds=spec.session_hours * 3600,
        )
    preview = DeliveryRole(
        "preview",
        role_name="crucible-preview",
        description=f"Crucible read-only previews from GitHub environment {spec.preview_environment} of {spec.repository}",
        trust=oidc.arn.apply(lambda arn: permissions.trust_policy(arn, spec.subject(spec.preview_environment))),
        policies=policies(None),
        max_session_seconds=3600,
    )
    secrets_provider = f"awskms://alias/{SECRETS_ALIAS}?region={spec.region}"
    return {
        "githubOidcProviderArn": oidc.arn,
        "deployRoleArns": pulumi.Output.all(*[r.arn for r in roles.values()]).apply(lambda arns: dict(zip(roles, arns))),
        "previewRoleArn": preview.arn,
        "stateBucket": backend.bucket,
        "stateRegion": pulumi.Output.from_input(spec.region),
        "backendUrls": backend.bucket.apply(lambda b: {e: f"s3://{b}/{e}?region={spec.region}" for e in (*spec.environments,)}),
        "secretsProvider": pulumi.Output.from_input(secrets_provider),
        # What to set in GitHub (Settings > Environments / Variables); README "Deploying for real", step 2.
        "githubVariables": pulumi.Output.all(backend.bucket, preview.arn, *[r.arn for r in roles.values()]).apply(
            lambda v: {
                "repository": {"PULUMI_STATE_BUCKET": v[0], "PULUMI_STATE_REGION": spec.region, "PULUMI_DEPLOY": "true", "PULUMI_PREVIEW": "true"},
                spec.preview_environment: {"AWS_ROLE_ARN": v[1]},
                **{e: {"AWS_ROLE_ARN": arn} for e, arn in zip(roles, v[2:])},
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
