"""SEC-S3-001 ... SEC-S3-008: side resources join their bucket through the `bucket` property dependency, for the
pulumi-aws 7 tokens and the deprecated V2 tokens alike."""

import json

import pytest

from policy_builder import UNKNOWN, link, res, verdicts

TLS_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
)

TOKENS = {
    "v7": {
        "bucket": "aws:s3/bucket:Bucket",
        "versioning": "aws:s3/bucketVersioning:BucketVersioning",
        "encryption": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "lifecycle": "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "logging": "aws:s3/bucketLogging:BucketLogging",
        "lock": "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    },
    "v2": {
        "bucket": "aws:s3/bucketV2:BucketV2",
        "versioning": "aws:s3/bucketVersioningV2:BucketVersioningV2",
        "encryption": "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
        "lifecycle": "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
        "logging": "aws:s3/bucketLoggingV2:BucketLoggingV2",
        "lock": "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
    },
}


def side(token, name, bucket, **inputs):
    return link(res(token, name, {"bucket": UNKNOWN, **inputs}), "bucket", bucket)


def good_bucket(name="checkpoints", tokens=TOKENS["v7"], **bucket_inputs):
    """A bucket with everything the S3 rules ask for, joined by URN only (its id is unknown at preview)."""
    bucket = res(tokens["bucket"], name, {"forceDestroy": False, **bucket_inputs})
    return [
        bucket,
        side(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-pab",
            bucket,
            blockPublicAcls=True,
            blockPublicPolicy=True,
            ignorePublicAcls=True,
            restrictPublicBuckets=True,
        ),
        side(
            tokens["encryption"],
            f"{name}-sse",
            bucket,
            rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN}, "bucketKeyEnabled": True}],
        ),
        # the policy document is built from the bucket (bucket.arn), as the program builds it: the Deny covers it
        link(side("aws:s3/bucketPolicy:BucketPolicy", f"{name}-policy", bucket, policy=TLS_ONLY), "policy", bucket),
        side(tokens["versioning"], f"{name}-versioning", bucket, versioningConfiguration={"status": "Enabled"}),
        side(
            tokens["lifecycle"],
            f"{name}-lifecycle",
            bucket,
            rules=[
                {
                    "id": "tidy",
                    "status": "Enabled",
                    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1},
                    "noncurrentVersionExpiration": {"noncurrentDays": 30},
                }
            ],
        ),
        side(tokens["logging"], f"{name}-logging", bucket, targetBucket="crucible-logs", targetPrefix=f"{name}/"),
    ]


def without(resources, suffix):
    return [r for r in resources if not r["name"].endswith(suffix)]


S3_POLICIES = [
    "sec-s3-001-public-access-block",
    "sec-s3-002-kms-encryption",
    "sec-s3-003-tls-only",
    "data-s3-004-versioning",
    "data-s3-005-lifecycle",
    "data-s3-006-no-force-destroy",
    "sec-s3-008-access-logging",
]


@pytest.mark.parametrize("generation", ["v7", "v2"])
@pytest.mark.parametrize("policy", S3_POLICIES)
def test_a_well_configured_bucket_passes_with_either_token_generation(policy, generation):
    assert verdicts(policy, good_bucket(tokens=TOKENS[generation])) == []


@pytest.mark.parametrize("generation", ["v7", "v2"])
@pytest.mark.parametrize(
    "policy, missing, level, findings",
    [
        ("sec-s3-001-public-access-block", "-pab", "mandatory", 1),
        ("sec-s3-002-kms-encryption", "-sse", "mandatory", 1),
        ("sec-s3-003-tls-only", "-policy", "mandatory", 1),
        ("data-s3-004-versioning", "-versioning", "mandatory", 1),
        ("data-s3-005-lifecycle", "-lifecycle", "advisory", 2),  # no multipart abort, no noncurrent expiry
        ("sec-s3-008-access-logging", "-logging", "advisory", 1),
    ],
)
def test_a_bucket_missing_its_side_resource_fires(policy, missing, level, findings, generation):
    assert verdicts(policy, without(good_bucket(tokens=TOKENS[generation]), missing)) == [("checkpoints", level)] * findings


def test_side_resources_of_an_explicitly_named_bucket_join_by_name_too():
    bucket = res("aws:s3/bucket:Bucket", "named", {"bucket": "crucible-named"})
    pab = res(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "named-pab",
        {"bucket": "crucible-named", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
    )
    assert verdicts("sec-s3-001-public-access-block", [bucket, pab]) == []


def test_a_public_access_block_with_a_flag_off_fires():
    resources = good_bucket()
    resources[1]["inputs"]["restrictPublicBuckets"] = False
    assert verdicts("sec-s3-001-public-access-block", resources) == [("checkpoints", "mandatory")]


def test_sse_s3_or_kms_without_bucket_key_fires_in_prod_and_sse_s3_is_fine_in_dev():
    resources = good_bucket()
    resources[2]["inputs"]["rules"] = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    assert verdicts("sec-s3-002-kms-encryption", resources) == [("checkpoints", "mandatory")]
    assert verdicts("sec-s3-002-kms-encryption", resources, env="dev") == []
    resources[2]["inputs"]["rules"] = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]
    assert verdicts("sec-s3-002-kms-encryption", resources) == [("checkpoints", "mandatory")] * 2  # no CMK, no bucket key


def test_a_bucket_policy_without_the_tls_condition_fires_and_an_unknown_policy_cannot_be_judged():
    resources = good_bucket()
    resources[3]["inputs"]["policy"] = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket"}]})
    assert verdicts("sec-s3-003-tls-only", resources) == [("checkpoints", "mandatory")]
    resources[3]["inputs"]["policy"] = UNKNOWN
    assert verdicts("sec-s3-003-tls-only", resources) == [("", "advisory")]


def test_a_plain_http_deny_narrower_than_every_action_for_everyone_fires():
    narrow = json.loads(TLS_ONLY)
    narrow["Statement"][0]["Action"] = "s3:PutObject"  # plain-HTTP reads still allowed
    one_principal = json.loads(TLS_ONLY)
    one_principal["Statement"][0]["Principal"] = {"AWS": "arn:aws:iam::111122223333:role/uploader"}
    for policy in (narrow, one_principal):
        resources = good_bucket()
        resources[3]["inputs"]["policy"] = json.dumps(policy)
        assert verdicts("sec-s3-003-tls-only", resources) == [("checkpoints", "mandatory")]


def test_suspended_versioning_fires_and_exempt_buckets_are_skipped():
    resources = good_bucket()
    resources[4]["inputs"]["versioningConfiguration"] = {"status": "Suspended"}
    assert verdicts("data-s3-004-versioning", resources) == [("checkpoints", "mandatory")]
    assert verdicts("data-s3-004-versioning", resources, env="dev") == [("checkpoints", "advisory")]
    assert verdicts("data-s3-004-versioning", resources, config={"data-s3-004-versioning": {"exemptBuckets": ["check*"]}}) == []


def test_versioned_bucket_without_noncurrent_expiry_is_advised():
    resources = good_bucket()
    resources[5]["inputs"]["rules"] = [{"id": "abort", "status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}}]
    assert verdicts("data-s3-005-lifecycle", resources) == [("checkpoints", "advisory")]


def test_force_destroy_fires_in_prod_and_is_off_in_dev():
    resources = good_bucket(forceDestroy=True)
    assert verdicts("data-s3-006-no-force-destroy", resources) == [("checkpoints", "mandatory")]
    assert verdicts("data-s3-006-no-force-destroy", resources, env="dev") == []


def test_object_lock_is_advised_for_artifact_buckets_only():
    artifacts = good_bucket("artifacts")
    assert verdicts("data-s3-007-object-lock", artifacts + good_bucket("checkpoints")) == [("artifacts", "advisory")]


def test_artifact_bucket_with_object_lock_and_default_retention_passes():
    artifacts = good_bucket("artifacts", objectLockEnabled=True)
    lock = side(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "artifacts-lock",
        artifacts[0],
        rule={"defaultRetention": {"mode": "GOVERNANCE", "days": 365}},
    )
    assert verdicts("data-s3-007-object-lock", artifacts + [lock]) == []
    assert verdicts("data-s3-007-object-lock", artifacts) == [("artifacts", "advisory")]  # lock on, no retention


def test_cloudtrail_s3_data_events_count_as_logging_and_log_buckets_are_not_asked_to_log():
    resources = without(good_bucket(), "-logging")
    trail = res(
        "aws:cloudtrail/trail:Trail",
        "data-events",
        {
            "s3BucketName": "crucible-trail",
            "eventSelectors": [{"readWriteType": "All", "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}],
        },
    )
    assert verdicts("sec-s3-008-access-logging", resources + [trail]) == []
    logs = res("aws:s3/bucket:Bucket", "logs", {})
    logging = link(good_bucket()[-1], "targetBucket", logs)
    assert verdicts("sec-s3-008-access-logging", [*good_bucket()[:-1], logging, logs]) == []


def test_an_sse_s3_bucket_the_config_exempts_passes_and_only_that_bucket():
    """An S3 server access log target takes SSE-S3 only (S3 User Guide, "Enabling Amazon S3 server access logging"):
    the bootstrap's policy config exempts its log bucket by name (policies/config/bootstrap.json)."""
    resources = good_bucket()
    resources[2]["inputs"]["rules"] = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    exempt = {"sec-s3-002-kms-encryption": {"exemptBuckets": ["checkpoints"]}}
    assert verdicts("sec-s3-002-kms-encryption", resources, config=exempt) == []
    other = {"sec-s3-002-kms-encryption": {"exemptBuckets": ["access-logs"]}}
    assert verdicts("sec-s3-002-kms-encryption", resources, config=other) == [("checkpoints", "mandatory")]
