"""REL-IAM-005: IAM's size quotas (IAM User Guide, "IAM and AWS STS quotas"; whitespace is not counted)."""

from __future__ import annotations

import json

from policy_builder import UNKNOWN, run, verdicts
from shapes_iam import ACCOUNT, doc, managed, role, role_policy, statements_of

from policies.rules.iam import policy_size

SIZE = "rel-iam-005-policy-size-quotas"


def test_iam_counts_every_character_but_whitespace():
    compact = doc(*statements_of(3))
    spaced = json.dumps(json.loads(compact), indent=4)
    assert policy_size(spaced) == policy_size(compact) == len(compact.replace(" ", ""))
    assert policy_size(json.loads(compact)) == policy_size(compact)  # a document given as an object, as the provider sends it


def test_documents_within_the_quotas_pass():
    holder = role("holder")
    assert verdicts(SIZE, [managed("fits", doc(*statements_of(50))), holder, role_policy("a", holder, doc(*statements_of(80)))]) == []


def test_a_managed_policy_one_statement_over_6144_fires_and_says_how_big_it_is():
    fits, over = managed("fits", doc(*statements_of(55))), managed("over", doc(*statements_of(56)))
    assert policy_size(fits["inputs"]["policy"]) <= 6144 < policy_size(over["inputs"]["policy"])
    assert verdicts(SIZE, [fits, over]) == [("over", "mandatory")]
    (message,) = [v.message for v in run([over]).of(SIZE)]
    assert f"{policy_size(over['inputs']['policy'])} characters" in message and "6144" in message


def test_inline_policies_are_counted_together_per_role_not_each():
    holder, other = role("holder"), role("other")
    half = doc(*statements_of(80))  # about 8,800: each fits, two on one role do not
    resources = [holder, other, role_policy("a", holder, half), role_policy("b", holder, half), role_policy("c", other, half)]
    assert verdicts(SIZE, resources) == [("holder", "mandatory")]


def test_a_trust_policy_over_the_default_quota_fires_unless_the_account_raised_it():
    principals = [f"arn:aws:iam::{ACCOUNT}:role/caller-{i:03d}" for i in range(60)]
    trusting = role("trusting", trust=doc({"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}))
    assert 2048 < policy_size(trusting["inputs"]["assumeRolePolicy"]) <= 4096
    assert verdicts(SIZE, [trusting]) == [("trusting", "mandatory")]
    assert verdicts(SIZE, [trusting], config={SIZE: {"trustPolicyLimit": 4096}}) == []


def test_a_document_unknown_at_preview_is_judged_when_known():
    # the SDK reports a stack policy that met an unknown as one advisory for the stack
    assert verdicts(SIZE, [managed("later", UNKNOWN)]) == [("", "advisory")]
