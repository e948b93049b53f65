"""CloudWatch Logs: every log group is encrypted with a customer managed key that lets CloudWatch Logs use it for
that group (SEC-LOG-001).

Without `kmsKeyId` a group is encrypted with a key CloudWatch Logs owns: no key policy, no CloudTrail record of its
use, no crypto-shredding on demand (scanners flag it: CKV_AWS_158). A key that does not admit the regional
principal `logs.<region>.<dnsSuffix>` under a `kms:EncryptionContext:aws:logs:arn` condition makes CreateLogGroup
fail (CloudWatch Logs guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
"""

from __future__ import annotations

from policies.support.iam_documents import parse_document
from policies.support.rule import Ctx, Stack, stack_policy
from policies.support.tokens import KMS_KEY, LOG_GROUP
from policies.support.values import is_set, is_unknown

CONTEXT_KEY = "kms:EncryptionContext:aws:logs:arn"


def _admits_logs(key) -> bool:
    try:
        statements = parse_document(key.get("policy"))
    except ValueError:
        return False
    for st in statements:
        services = st.principals.get("Service", ())
        if not st.allows or not any(s.startswith("logs.") for s in services):
            continue
        if any(k.lower() == CONTEXT_KEY.lower() for entries in st.conditions.values() for k in entries):
            return True
    return False


def _log_groups(stack: Stack, ctx: Ctx) -> None:
    for group in stack.of(LOG_GROUP):
        with ctx.each():
            if not is_set(group.get("kmsKeyId")):
                ctx.violation(
                    group,
                    "is not encrypted with a customer managed key; set kmsKeyId to a key whose policy admits "
                    f"logs.<region>.<dnsSuffix> under a {CONTEXT_KEY} condition.",
                )
                continue
            for key in stack.linked(group, "kmsKeyId", KMS_KEY):
                if is_unknown(key.get("policy")):
                    continue
                if not _admits_logs(key):
                    ctx.violation(
                        group,
                        f"its key {key.name!r} does not let CloudWatch Logs use it: add a statement allowing "
                        f"logs.<region>.<dnsSuffix> with a {CONTEXT_KEY} condition naming the group.",
                    )


SEC_LOG_001 = stack_policy(
    rule_id="SEC-LOG-001",
    slug="log-group-cmk",
    description="CloudWatch log groups are encrypted with a customer managed KMS key whose policy admits CloudWatch "
    "Logs (logs.<region>.<dnsSuffix>) under the kms:EncryptionContext:aws:logs:arn condition.",
    check=_log_groups,
    anchor="CKV_AWS_158; CloudWatch Logs guide: Encrypt log data using AWS KMS",
)

POLICIES = [SEC_LOG_001]
