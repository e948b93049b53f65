"""S3 buckets for datasets, checkpoints and model artifacts: never public, encrypted, TLS-only, versioned,
cleaned up, not emptied by a destroy, locked where golden, and logged (SEC-S3-001 ... SEC-S3-008).

Buckets are ``aws:s3/bucket:Bucket`` (pulumi-aws 7) or the deprecated ``BucketV2``; their settings are side
resources joined to them by URN (see ``policies.support.s3``).
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from pulumi_policy import EnforcementLevel

from policies.support import iam_actions, s3
from policies.support.iam_documents import parse_document
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.tokens import (
    BUCKET,
    BUCKET_ENCRYPTION,
    BUCKET_LIFECYCLE,
    BUCKET_LOGGING,
    BUCKET_OBJECT_LOCK,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    CLOUDTRAIL,
)
from policies.support.values import as_list, dig, flag, is_set, known, text

_ALL_OBJECTS = re.compile(r"arn:aws[a-z-]*:s3(:::)?")  # every object of every bucket, in any partition

PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
EXEMPT_BUCKETS = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": "Glob patterns of buckets (Pulumi name or bucket name) this rule does not apply to, e.g. log buckets.",
}


def _subject_buckets(stack: Stack, ctx: Ctx) -> list[Res]:
    exempt = list(ctx.setting("exemptBuckets"))
    return [b for b in s3.buckets(stack) if not s3.matches(b, exempt)]


# SEC-S3-001 ----------------------------------------------------------------------------------------------------
def _public_access_blocked(stack: Stack, ctx: Ctx) -> None:
    for bucket in s3.buckets(stack):
        with ctx.each():
            blocks = s3.attached(stack, bucket, BUCKET_PUBLIC_ACCESS_BLOCK)
            if not blocks:
                ctx.violation(
                    bucket,
                    "has no public access block; add aws.s3.BucketPublicAccessBlock(bucket=<bucket>.id) with all four flags true.",
                )
                continue
            if not any(all(flag(b.get(f)) is True for f in PAB_FLAGS) for b in blocks):
                off = sorted({f for b in blocks for f in PAB_FLAGS if flag(b.get(f)) is not True})
                ctx.violation(bucket, f"its public access block leaves {', '.join(off)} off; set all four flags to true.")


SEC_S3_001 = stack_policy(
    rule_id="SEC-S3-001",
    slug="public-access-block",
    description="Every bucket has a public access block with all four flags on, so no ACL or bucket policy can make data public.",
    check=_public_access_blocked,
    anchor="CKV_AWS_53/54/55/56, CKV2_AWS_6",
)


# SEC-S3-002 ----------------------------------------------------------------------------------------------------
_AWS_MANAGED_ALIAS = re.compile(r"(^|:)alias/aws/", re.IGNORECASE)


def _aws_managed_key(key_id: object) -> bool:
    """An AWS managed key in any form: ``alias/aws/s3``, its alias ARN in any partition/region/account."""
    return isinstance(key_id, str) and bool(_AWS_MANAGED_ALIAS.search(key_id))


def _kms_encrypted(stack: Stack, ctx: Ctx) -> None:
    require_kms = ctx.setting("requireKms")
    require_cmk = ctx.setting("requireCmk")
    for bucket in _subject_buckets(stack, ctx):
        with ctx.each():
            configs = s3.attached(stack, bucket, BUCKET_ENCRYPTION)
            rules = [r for c in configs for r in as_list(c.get("rules")) if isinstance(r, dict)]
            if not rules:
                if require_kms:
                    ctx.violation(
                        bucket,
                        "has no default-encryption configuration (S3 falls back to SSE-S3); add "
                        "BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms, a KMS key and "
                        "bucketKeyEnabled.",
                    )
                continue
            for rule in rules:
                algorithm = text(dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm"))
                kms = algorithm in ("aws:kms", "aws:kms:dsse")
                if require_kms and not kms:
                    ctx.violation(bucket, f"default encryption is {algorithm or 'unset'}; use sseAlgorithm aws:kms.")
                key_id = dig(rule, "applyServerSideEncryptionByDefault", "kmsMasterKeyId")
                if kms and require_cmk and (not is_set(key_id) or _aws_managed_key(key_id)):
                    ctx.violation(
                        bucket,
                        "SSE-KMS uses the AWS managed aws/s3 key"
                        + (f" ({key_id})" if isinstance(key_id, str) else "")
                        + "; set kmsMasterKeyId to a customer managed key (no crucible: key chooses it: the storage "
                        "layer encrypts with the stack's own key).",
                    )
                # S3 Bucket Keys are not supported with DSSE-KMS (S3 user guide, "Using dual-layer server-side
                # encryption with AWS KMS keys"): asking for one there would refuse a legitimate configuration.
                if algorithm == "aws:kms" and flag(rule.get("bucketKeyEnabled")) is not True:
                    ctx.violation(
                        bucket,
                        "SSE-KMS without an S3 Bucket Key calls KMS for every object (multi-GB checkpoints, millions "
                        "of dataset files); set bucketKeyEnabled = true.",
                    )


SEC_S3_002 = stack_policy(
    rule_id="SEC-S3-002",
    slug="kms-encryption",
    description="Buckets encrypt by default with SSE-KMS (a customer managed key in production) and an S3 "
    "Bucket Key, which cuts KMS requests and cost by up to 99%.",
    check=_kms_encrypted,
    settings={
        "requireKms": {"type": "boolean", "default": True, "description": "Require SSE-KMS (dev may accept SSE-S3)."},
        "requireCmk": {"type": "boolean", "default": True, "description": "Require a customer managed key (prod)."},
        # e.g. an S3 server access log target, which S3 delivers to only with SSE-S3 (the bootstrap's state access logs)
        "exemptBuckets": EXEMPT_BUCKETS,
    },
    anchor="CKV_AWS_145, CKV_AWS_19; EKS BPG aiml_security",
)


# SEC-S3-003 ----------------------------------------------------------------------------------------------------
def _covers_objects(resources: tuple[str, ...], bucket_name: str | None, built_from_bucket: bool) -> bool:
    """Whether Resource patterns cover the bucket's objects: by matching its name in any partition when the bucket
    is named, else (the name computed) patterns ending in /* of a policy built from the bucket."""
    if "*" in resources:
        return True
    if bucket_name:
        probes = [f"arn:{partition}:s3:::{bucket_name}/any/key" for partition in ("aws", "aws-cn", "aws-us-gov")]
        return any(fnmatchcase(p, r) for r in resources for p in probes)
    return built_from_bucket and any(r.endswith("/*") for r in resources)


def _denies_plain_http(document, bucket_name: str | None = None, built_from_bucket: bool = True) -> bool:
    """A Deny of every S3 action (any spelling that expands to all of them), for everyone, on *this* bucket's
    objects, when aws:SecureTransport is false: a narrower Deny (one action, one principal, another bucket) leaves
    plain-HTTP requests allowed."""
    s3_actions = iam_actions.expand("s3:*")
    for st in parse_document(document):
        values = st.condition_values("Bool", "aws:SecureTransport") or st.condition_values("BoolIfExists", "aws:SecureTransport")
        if st.effect != "Deny" or values is None or not any(str(v).lower() == "false" for v in values):
            continue
        every_action = s3_actions <= iam_actions.expand_all(st.actions)
        if every_action and st.principal_is_everyone() and _covers_objects(st.resources, bucket_name, built_from_bucket):
            return True
    return False


def _tls_only(stack: Stack, ctx: Ctx) -> None:
    for bucket in s3.buckets(stack):
        with ctx.each():
            policies = s3.attached(stack, bucket, BUCKET_POLICY)
            try:
                enforced = any(
                    _denies_plain_http(p.get("policy"), s3.explicit_name(bucket), bucket.urn in p.property_dependencies.get("policy", ())) for p in policies
                )
            except ValueError:
                enforced = False
            if not enforced:
                ctx.violation(
                    bucket,
                    'its bucket policy does not refuse plain HTTP; add a Deny statement for s3:* with condition Bool aws:SecureTransport = "false".',
                )


SEC_S3_003 = stack_policy(
    rule_id="SEC-S3-003",
    slug="tls-only",
    description="Bucket policies deny requests that do not use TLS (aws:SecureTransport false).",
    check=_tls_only,
    anchor="CKV_AWS_379; Security Hub S3.5",
)


# DATA-S3-004 ---------------------------------------------------------------------------------------------------
def _versioned(stack: Stack, ctx: Ctx) -> None:
    for bucket in _subject_buckets(stack, ctx):
        with ctx.each():
            if not s3.versioning_enabled(stack, bucket):
                ctx.violation(
                    bucket,
                    "versioning is not enabled, so an overwritten checkpoint or a deleted dataset is gone for good; add BucketVersioning with status Enabled.",
                )


DATA_S3_004 = stack_policy(
    rule_id="DATA-S3-004",
    slug="versioning",
    description="Dataset, checkpoint and model buckets are versioned, so overwrites and deletes can be undone.",
    check=_versioned,
    settings={"exemptBuckets": EXEMPT_BUCKETS},
    anchor="CKV_AWS_21",
)


# DATA-S3-005 ---------------------------------------------------------------------------------------------------
def _lifecycle(stack: Stack, ctx: Ctx) -> None:
    for bucket in _subject_buckets(stack, ctx):
        with ctx.each():
            rules = [
                r
                for c in s3.attached(stack, bucket, BUCKET_LIFECYCLE)
                for r in as_list(c.get("rules"))
                if isinstance(r, dict) and text(r.get("status")) == "Enabled"
            ]
            if not any(is_set(r.get("abortIncompleteMultipartUpload")) for r in rules):
                ctx.violation(
                    bucket,
                    "no lifecycle rule aborts incomplete multipart uploads, so interrupted multi-GB checkpoint uploads "
                    "are billed forever; set `crucible:storage.buckets[].abortIncompleteUploadDays`.",
                )
            if s3.versioning_enabled(stack, bucket) and not any(is_set(r.get("noncurrentVersionExpiration")) for r in rules):
                ctx.violation(
                    bucket,
                    "is versioned but never expires noncurrent versions, so every overwritten checkpoint is kept; set "
                    "`crucible:storage.buckets[].noncurrentVersionDays`.",
                )


DATA_S3_005 = stack_policy(
    rule_id="DATA-S3-005",
    slug="lifecycle",
    description="Buckets abort incomplete multipart uploads and, when versioned, expire noncurrent versions.",
    check=_lifecycle,
    level=EnforcementLevel.ADVISORY,
    settings={"exemptBuckets": EXEMPT_BUCKETS},
    anchor="CKV_AWS_300, CKV2_AWS_61",
)


# DATA-S3-006 ---------------------------------------------------------------------------------------------------
def _no_force_destroy(bucket: Res, ctx: Ctx) -> None:
    if flag(bucket.get("forceDestroy")):
        ctx.violation(
            bucket,
            "forceDestroy = true: a destroy or replacement deletes every object first; set forceDestroy = false "
            "(stateful buckets; Crucible ties it to `crucible:protect`).",
        )


DATA_S3_006 = resource_policy(
    rule_id="DATA-S3-006",
    slug="no-force-destroy",
    description="Stateful buckets do not set forceDestroy, so removing or replacing the resource cannot empty the bucket.",
    applies_to=BUCKET,
    checks=[_no_force_destroy],
    anchor="Pulumi forceDestroy; pairs with DATA-PUL-003",
)


# DATA-S3-007 ---------------------------------------------------------------------------------------------------
def _object_lock(stack: Stack, ctx: Ctx) -> None:
    patterns = list(ctx.setting("lockedBuckets"))
    for bucket in s3.buckets(stack):
        if not s3.matches(bucket, patterns):
            continue
        with ctx.each():
            if flag(bucket.get("objectLockEnabled")) is not True:
                ctx.violation(
                    bucket,
                    "holds golden data or released artifacts but has no Object Lock; create it with objectLockEnabled = true (only possible at creation).",
                )
                continue
            retention = [dig(c.props, "rule", "defaultRetention") for c in s3.attached(stack, bucket, BUCKET_OBJECT_LOCK)]
            if not any(
                isinstance(r, dict) and text(r.get("mode")) in ("GOVERNANCE", "COMPLIANCE") and (is_set(r.get("days")) or is_set(r.get("years")))
                for r in retention
            ):
                ctx.violation(
                    bucket,
                    "Object Lock is on but no default retention is set; add BucketObjectLockConfiguration with "
                    "rule.defaultRetention (mode GOVERNANCE or COMPLIANCE, days or years).",
                )


DATA_S3_007 = stack_policy(
    rule_id="DATA-S3-007",
    slug="object-lock",
    description="Buckets of golden datasets and released model artifacts use Object Lock with a default "
    "retention, so a mistake or a compromised credential cannot delete them.",
    check=_object_lock,
    level=EnforcementLevel.ADVISORY,
    settings={
        "lockedBuckets": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["*golden*", "*artifacts*"],
            "description": "Glob patterns (Pulumi name or bucket name) of buckets that must use Object Lock.",
        }
    },
    anchor="CKV_AWS_143",
)


# SEC-S3-008 ----------------------------------------------------------------------------------------------------
def _trail_covers(stack: Stack, trail: Res, bucket: Res) -> bool:
    if bucket.urn in trail.property_dependencies.get("eventSelectors", ()) or bucket.urn in trail.property_dependencies.get("advancedEventSelectors", ()):
        return True
    for selector in as_list(trail.get("eventSelectors")):
        for resource in as_list(selector.get("dataResources") if isinstance(selector, dict) else None):
            if not isinstance(resource, dict) or known(resource.get("type")) != "AWS::S3::Object":
                continue
            values = [known(v) for v in as_list(resource.get("values"))]
            name = s3.explicit_name(bucket)
            if any(_ALL_OBJECTS.fullmatch(v or "") or (name and re.match(rf"arn:aws[a-z-]*:s3:::{re.escape(name)}/", v or "")) for v in values):
                return True
    for selector in as_list(trail.get("advancedEventSelectors")):
        fields = as_list(selector.get("fieldSelectors") if isinstance(selector, dict) else None)
        if any(isinstance(f, dict) and f.get("field") == "resources.type" and "AWS::S3::Object" in as_list(f.get("equals")) for f in fields) and not any(
            isinstance(f, dict) and f.get("field") == "resources.ARN" for f in fields
        ):
            return True
    return False


def _logged(stack: Stack, ctx: Ctx) -> None:
    log_targets = {t.urn for lg in stack.of(BUCKET_LOGGING) for t in stack.linked(lg, "targetBucket")}
    trails = stack.of(CLOUDTRAIL)
    for bucket in _subject_buckets(stack, ctx):
        if bucket.urn in log_targets:
            continue  # a log bucket does not log into itself
        with ctx.each():
            logging = [lg for lg in s3.attached(stack, bucket, BUCKET_LOGGING) if is_set(lg.get("targetBucket"))]
            if logging or any(flag(t.get("enableLogging")) is not False and _trail_covers(stack, t, bucket) for t in trails):
                continue  # a BucketLogging without a target, or a trail that is switched off, records nothing
            ctx.violation(
                bucket,
                "object access is not recorded; add BucketLogging to a log bucket, or a CloudTrail trail with S3 data events covering it.",
            )


SEC_S3_008 = stack_policy(
    rule_id="SEC-S3-008",
    slug="access-logging",
    description="Access to data buckets is recorded (S3 server access logging or CloudTrail S3 data events), so "
    "who read or changed training data can be answered.",
    check=_logged,
    level=EnforcementLevel.ADVISORY,
    settings={"exemptBuckets": EXEMPT_BUCKETS},
    anchor="CKV_AWS_18",
)

POLICIES = [SEC_S3_001, SEC_S3_002, SEC_S3_003, DATA_S3_004, DATA_S3_005, DATA_S3_006, DATA_S3_007, SEC_S3_008]
