"""Shapes of data misconfigurations (issue 18 A.4): SEC-S3-002, SEC-S3-003, SEC-S3-008."""

from __future__ import annotations

import json

from policy_builder import res
from shapes import firing
from test_policy_s3 import good_bucket, side

P1 = "sec-s3-002-kms-encryption"


def with_encryption(algorithm, key=None, bucket_key=True, named=None):
    resources = good_bucket(**({"bucket": named} if named else {}))
    default = {"sseAlgorithm": algorithm, **({"kmsMasterKeyId": key} if key is not None else {})}
    resources[2]["inputs"]["rules"] = [{"applyServerSideEncryptionByDefault": default, "bucketKeyEnabled": bucket_key}]
    return resources


@firing(P1, "sse-s3")
def _():
    return with_encryption("AES256"), ["checkpoints"]


@firing(P1, "aws-managed-key-unset")
def _():
    return with_encryption("aws:kms"), ["checkpoints"]


@firing(P1, "aws-managed-key-by-alias")
def _():
    return with_encryption("aws:kms", "alias/aws/s3"), ["checkpoints"]


@firing(P1, "aws-managed-key-by-alias-arn")
def _():
    return with_encryption("aws:kms", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/aws/s3"), ["checkpoints"]


@firing(P1, "no-bucket-key-with-sse-kms")
def _():
    return with_encryption("aws:kms", "arn:aws:kms:us-east-1:111122223333:key/k", bucket_key=False), ["checkpoints"]


P2 = "sec-s3-003-tls-only"


def with_policy(*statements, named="crucible-checkpoints"):
    resources = good_bucket(bucket=named)
    resources[3]["inputs"]["policy"] = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return resources


def deny_http(resource, action="s3:*", principal="*", condition=None):
    return {
        "Effect": "Deny",
        "Principal": principal,
        "Action": action,
        "Resource": resource,
        "Condition": condition or {"Bool": {"aws:SecureTransport": "false"}},
    }


@firing(P2, "deny-protects-another-bucket")
def _():
    return with_policy(deny_http(["arn:aws:s3:::crucible-other", "arn:aws:s3:::crucible-other/*"])), ["checkpoints"]


@firing(P2, "deny-one-action")
def _():
    return with_policy(deny_http("arn:aws:s3:::crucible-checkpoints/*", action="s3:GetObject")), ["checkpoints"]


@firing(P2, "deny-one-principal")
def _():
    return with_policy(deny_http("arn:aws:s3:::crucible-checkpoints/*", principal={"AWS": "arn:aws:iam::111122223333:role/x"})), ["checkpoints"]


@firing(P2, "deny-when-secure")
def _():
    return with_policy(deny_http("arn:aws:s3:::crucible-checkpoints/*", condition={"Bool": {"aws:SecureTransport": "true"}})), ["checkpoints"]


P3 = "sec-s3-008-access-logging"


@firing(P3, "no-logging")
def _():
    return [r for r in good_bucket() if not r["name"].endswith("-logging")], ["checkpoints"]


@firing(P3, "bucket-logging-without-target")
def _():
    resources = good_bucket()
    resources[-1]["inputs"].pop("targetBucket")
    return resources, ["checkpoints"]


@firing(P3, "trail-switched-off")
def _():
    resources = [r for r in good_bucket() if not r["name"].endswith("-logging")]
    selectors = [{"dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]
    trail = res("aws:cloudtrail/trail:Trail", "trail", {"s3BucketName": "logs", "enableLogging": False, "eventSelectors": selectors})
    return [*resources, trail], ["checkpoints"]


# side() is re-exported for other shape modules that build bucket side resources
__all__ = ["side"]


# SEC-S3-001: a public access block that is missing, off, or left unset ------------------------------------------
P4 = "sec-s3-001-public-access-block"


@firing(P4, "missing")
def _():
    return [r for r in good_bucket() if not r["name"].endswith("-pab")], ["checkpoints"]


@firing(P4, "flag-off")
def _():
    resources = good_bucket()
    resources[1]["inputs"]["ignorePublicAcls"] = False
    return resources, ["checkpoints"]


@firing(P4, "flag-omitted")
def _():
    resources = good_bucket()
    del resources[1]["inputs"]["blockPublicPolicy"]
    return resources, ["checkpoints"]


@firing(P4, "block-joined-to-another-bucket")
def _():
    mine = [r for r in good_bucket() if not r["name"].endswith("-pab")]
    other = good_bucket("other")
    return [*mine, *other], ["checkpoints"]


# DATA-S3-004: versioning missing, suspended, or on another bucket ------------------------------------------------
P5 = "data-s3-004-versioning"


@firing(P5, "missing")
def _():
    return [r for r in good_bucket() if not r["name"].endswith("-versioning")], ["checkpoints"]


@firing(P5, "suspended")
def _():
    resources = good_bucket()
    resources[4]["inputs"]["versioningConfiguration"] = {"status": "Suspended"}
    return resources, ["checkpoints"]


@firing(P5, "versioning-of-another-bucket")
def _():
    mine = [r for r in good_bucket() if not r["name"].endswith("-versioning")]
    return [*mine, *good_bucket("other")], ["checkpoints"]


# DATA-PUL-001 / 003: stateful resources unprotected, whichever resource type holds the state ------------------------
def _stateful(name):
    from test_policy_kueue_options import stateful

    return [r for r in stateful() if r["name"] == name]


for _name in ("auto-bucket", "fsx", "key", "home", "vision"):
    firing("data-pul-001-protect-stateful", f"unprotected-{_name}")(lambda _name=_name: (_stateful(_name), [_name]))
for _name in ("named-bucket", "eks", "home", "jupyterhub"):
    firing("data-pul-003-protect-named-stateful", f"unprotected-named-{_name}")(lambda _name=_name: (_stateful(_name), [_name]))


# REL-K8S-002: a tenant namespace whose quota does not hold ----------------------------------------------------------
P6 = "rel-k8s-002-tenant-quotas"


def _tenant(quota_hard=None, limit_range=True, quota_in_other_namespace=False):
    from test_policy_kubernetes import QUOTA, in_ns, namespace

    from policy_builder import k8s

    ns = namespace()
    other = namespace("search", tenant="search")
    quota = k8s("v1", "ResourceQuota", "quota", {"hard": quota_hard} if quota_hard is not None else QUOTA)
    resources = [ns, in_ns(quota, other if quota_in_other_namespace else ns)]
    if quota_in_other_namespace:
        resources.append(other)
    if limit_range:
        resources.append(in_ns(k8s("v1", "LimitRange", "limits", {"limits": [{"type": "Container", "default": {"cpu": "1"}}]}), ns))
        if quota_in_other_namespace:
            resources.append(in_ns(k8s("v1", "LimitRange", "limits-search", {"limits": []}), other))
    return resources


@firing(P6, "quota-without-accelerator-keys")
def _():
    return _tenant({"requests.cpu": "256"}), ["vision"]


@firing(P6, "no-limit-range")
def _():
    return _tenant(limit_range=False), ["vision"]


@firing(P6, "quota-of-another-namespace")
def _():
    return _tenant(quota_in_other_namespace=True), ["vision"]


# DATA-S3-005 / 007 (advisory): lifecycle and object lock -------------------------------------------------------------
P7 = "data-s3-005-lifecycle"


@firing(P7, "no-lifecycle")
def _():
    return [r for r in good_bucket() if not r["name"].endswith("-lifecycle")], ["checkpoints"]


@firing(P7, "rules-disabled")
def _():
    resources = good_bucket()
    for rule in resources[5]["inputs"]["rules"]:
        rule["status"] = "Disabled"
    return resources, ["checkpoints"]


@firing(P7, "versioned-without-noncurrent-expiry")
def _():
    resources = good_bucket()
    resources[5]["inputs"]["rules"] = [{"id": "abort", "status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}}]
    return resources, ["checkpoints"]


P8 = "data-s3-007-object-lock"


@firing(P8, "no-object-lock")
def _():
    return good_bucket("artifacts"), ["artifacts"]


@firing(P8, "lock-without-retention")
def _():
    return good_bucket("artifacts", objectLockEnabled=True), ["artifacts"]


@firing(P8, "retention-without-a-mode")
def _():
    artifacts = good_bucket("golden-data", objectLockEnabled=True)
    lock = side("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "lock", artifacts[0], rule={"defaultRetention": {"days": 365}})
    return [*artifacts, lock], ["golden-data"]


# AI-KUEUE-002 / 003: flavors that cannot land, preemption without the checkpoint contract ------------------------------
def _kueue_objects():
    import test_policy_kueue_options as q

    return q


@firing("ai-kueue-002-flavor-matches-pool", "missing-toleration")
def _():
    q = _kueue_objects()
    return [q.node_pool(), q.flavor("untolerated", tolerations=False)], ["untolerated"]


@firing("ai-kueue-002-flavor-matches-pool", "label-the-pool-does-not-carry")
def _():
    q = _kueue_objects()
    return [q.node_pool(), q.flavor("foreign", **{"node.kubernetes.io/instance-type": "p4d.24xlarge"})], ["foreign"]


@firing("ai-kueue-002-flavor-matches-pool", "pool-not-in-the-stack")
def _():
    q = _kueue_objects()
    return [q.node_pool(), q.flavor("missing", pool="nowhere")], ["missing"]


@firing("ai-kueue-002-flavor-matches-pool", "no-pool-label")
def _():
    q = _kueue_objects()
    return [q.node_pool(), q.k8s(q.KUEUE, "ResourceFlavor", "unnamed", {"nodeLabels": {"team": "x"}})], ["unnamed"]


@firing("ai-kueue-003-preemption-checkpoint-contract", "namespace-without-the-contract")
def _():
    q = _kueue_objects()
    ns = q.namespace("vision", checkpointing=False)
    return [ns, q.local_queue(ns), q.cluster_queue(preemption=q.PREEMPTING)], ["vision"]


@firing("ai-kueue-003-preemption-checkpoint-contract", "no-local-queue")
def _():
    q = _kueue_objects()
    return [q.namespace("vision"), q.cluster_queue(preemption=q.PREEMPTING)], ["vision"]


@firing("ai-kueue-003-preemption-checkpoint-contract", "cohort-reclaim-only")
def _():
    q = _kueue_objects()
    ns = q.namespace("vision", checkpointing=False)
    return [ns, q.local_queue(ns), q.cluster_queue(preemption={"reclaimWithinCohort": "Any"})], ["vision"]


# REL-K8S-005: claims the namespace's quota refuses -------------------------------------------------------------------
def _claims():
    import test_policy_kubernetes as k

    return k


@firing("rel-k8s-005-claims-within-quota", "storage-over-the-quota")
def _():
    k = _claims()
    ns = k.namespace("serving", "serving")
    return [ns, k.quota_in(ns), k.claim_in(ns, "a", "1200Gi"), k.claim_in(ns, "b", "1200Gi")], ["serving-quota"]


@firing("rel-k8s-005-claims-within-quota", "one-claim-bigger-than-the-quota")
def _():
    k = _claims()
    ns = k.namespace("serving", "serving")
    return [ns, k.quota_in(ns, storage="100Gi"), k.claim_in(ns, "weights", "1200Gi")], ["serving-quota"]


@firing("rel-k8s-006-quota-waits-for-status", "no-wait")
def _():
    k = _claims()
    ns = k.namespace("serving", "serving")
    return [ns, k.quota_in(ns), k.claim_in(ns, "lustre", "1Gi")], ["serving-quota"]


@firing("rel-k8s-006-quota-waits-for-status", "waits-for-the-written-form")
def _():
    k = _claims()
    ns = k.namespace("serving", "serving")
    written = ["jsonpath={.status.hard['requests.storage']}=1024Mi", "jsonpath={.status.hard['persistentvolumeclaims']}=20"]
    return [ns, k.waiting(k.quota_in(ns, storage="1024Mi"), written), k.claim_in(ns, "lustre", "1Gi")], ["serving-quota"]


@firing("rel-k8s-006-quota-waits-for-status", "waits-for-storage-not-the-claim-count")
def _():
    k = _claims()
    ns = k.namespace("serving", "serving")
    return [ns, k.waiting(k.quota_in(ns), ["jsonpath={.status.hard['requests.storage']}=2000Gi"]), k.claim_in(ns, "lustre", "1Gi")], ["serving-quota"]


@firing("rel-k8s-005-claims-within-quota", "more-claims-than-counted")
def _():
    k = _claims()
    ns = k.namespace("serving", "serving")
    return [ns, k.quota_in(ns, claims="0"), k.claim_in(ns, "lustre", "1Gi")], ["serving-quota"]
