"""Customer managed KMS keys: rotated, with an explicit policy that trusts no one-and-everyone, a deletion
window that leaves time to notice, and protected from deletion (SEC-KMS-001, DATA-KMS-002).

Deleting a key that encrypts S3, FSx, EBS or EKS secrets crypto-shreds all of that data.
"""

from __future__ import annotations

import re

from policies.support.iam_documents import Statement, parse_document
from policies.support.rule import Ctx, Res, resource_policy
from policies.support.tokens import KMS_KEY
from policies.support.values import flag, is_set, number, text


def _limited_to_account_via_service(st: Statement) -> bool:
    """The AWS-documented key policy statement ``Principal: "*"`` narrowed by ``StringEquals`` ``kms:CallerAccount``
    (one or more literal account ids) and ``kms:ViaService`` (literal service endpoints): only principals of that
    account, and only through that service (the EBS/Secrets Manager default key policies; KMS developer guide,
    "kms:CallerAccount" and "kms:ViaService"). ``StringLike`` with wildcards, ``...IfExists`` or a missing key does
    not count."""
    accounts = _string_equals(st, "kms:CallerAccount")
    services = _string_equals(st, "kms:ViaService")
    return (
        bool(accounts)
        and all(re.fullmatch(r"\d{12}", a) for a in accounts)
        and bool(services)
        and all(re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+\.amazonaws\.com(\.cn)?", s) for s in services)
    )


def _string_equals(st: Statement, key: str) -> tuple[str, ...]:
    for op, entries in st.conditions.items():
        if op == "StringEquals":
            for name, values in entries.items():
                if name.lower() == key.lower():
                    return values
    return ()


# Three independent checks, each run on its own (rule.py): a key policy computed at preview must not silence
# the rotation or deletion-window verdicts.
def _rotation(key: Res, ctx: Ctx) -> None:
    spec = text(key.get("customerMasterKeySpec")) or text(key.get("keySpec")) or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and flag(key.get("enableKeyRotation")) is not True:
        ctx.violation(key, "automatic rotation is off (the KMS default); set enableKeyRotation = true.")


def _key_policy(key: Res, ctx: Ctx) -> None:
    if not is_set(key.get("policy")):
        ctx.violation(
            key,
            "has no explicit key policy (the default grants the whole account through IAM); set policy to a "
            "document naming the account root and the roles that use the key.",
        )
    else:
        try:
            statements = parse_document(key.get("policy"))
        except ValueError:
            statements = []
        if any(st.allows and st.principal_is_everyone() and not _limited_to_account_via_service(st) for st in statements):
            ctx.violation(
                key,
                'its key policy allows Principal "*" without limiting it to your account through one AWS service '
                "(StringEquals kms:CallerAccount + kms:ViaService); name the principals.",
            )


def _deletion_window(key: Res, ctx: Ctx) -> None:
    minimum = float(ctx.setting("minDeletionWindowDays"))
    window = number(key.get("deletionWindowInDays"))
    effective = 30.0 if window is None else window  # the KMS default
    if effective < minimum:
        ctx.violation(
            key,
            f"deletion window is {effective:g} days; set it to at least {minimum:g} "
            "(`crucible:cluster.kmsKeyDeletionWindowDays` / `crucible:storage.kmsKeyDeletionWindowDays`).",
        )


SEC_KMS_001 = resource_policy(
    rule_id="SEC-KMS-001",
    slug="cmk-hygiene",
    description='Customer managed keys rotate yearly, carry an explicit key policy without Principal "*", '
    "and keep a deletion window long enough to notice a mistaken deletion.",
    applies_to=KMS_KEY,
    checks=[_rotation, _key_policy, _deletion_window],
    settings={
        "minDeletionWindowDays": {
            "type": "number",
            "minimum": 7,
            "maximum": 30,
            "default": 30,
            "description": "Minimum deletionWindowInDays (7-30; 30 in prod).",
        }
    },
    anchor="CKV_AWS_7, CKV_AWS_33, CKV2_AWS_64",
)


def _protected(key: Res, ctx: Ctx) -> None:
    if not key.protect:
        ctx.violation(
            key,
            "is not protected; deleting it makes everything it encrypts unreadable. Set `crucible:protect: true` (opts.protect) for this environment.",
        )


DATA_KMS_002 = resource_policy(
    rule_id="DATA-KMS-002",
    slug="protect-keys",
    description="KMS keys that encrypt data (S3, FSx, EBS, EKS secrets) are protected from deletion "
    "(opts.protect), since deleting a key crypto-shreds the data.",
    applies_to=KMS_KEY,
    checks=[_protected],
    anchor="CKV_GCP_82 (AWS analogue)",
)

POLICIES = [SEC_KMS_001, DATA_KMS_002]
