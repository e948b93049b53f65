"""Findings name the `crucible:` config key a user changes (issue 18 A.8), and only keys that exist."""

from __future__ import annotations

import re

import pytest

import test_policy_shapes  # noqa: F401  (registers every shape)
from policies.pack import all_policies
from policies.support.config_keys import KEYS, NAMES_A_KEY
from policy_builder import messages
from shapes import SHAPES
from stacks.spec.reference import rows

SPEC_KEYS = {r[0] for r in rows()}
RULE_IDS = {"-".join(p.name.split("-")[:3]).upper(): p.name for p in all_policies()}
MENTIONED = re.compile(r"`(crucible:[A-Za-z][A-Za-z0-9.\[\]]*)")


def test_the_table_covers_every_rule_of_the_pack_and_nothing_else():
    assert sorted(set(RULE_IDS) ^ set(KEYS)) == []


def test_every_key_of_the_table_is_a_key_of_the_spec():
    assert sorted(k for k in KEYS.values() if k and f"crucible:{k}" not in SPEC_KEYS) == []


CASES = [(policy, shape) for policy, by_shape in sorted(SHAPES.items()) for shape in sorted(by_shape)]


@pytest.mark.parametrize("policy, shape", CASES, ids=[f"{p}:{s}" for p, s in CASES])
def test_each_finding_names_a_real_config_key_or_says_none_controls_it(policy, shape):
    resources, _ = SHAPES[policy][shape]()
    found = messages(policy, resources)
    assert found
    for message in found:
        assert NAMES_A_KEY.search(message), message
        assert sorted(k for k in MENTIONED.findall(message) if k not in SPEC_KEYS) == [], message


def test_a_rule_a_key_controls_names_that_key():
    from shapes_compute import untainted

    pool = untainted("types", {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p5"]})
    assert "`crucible:pools[].kind`" in messages("ai-gpu-001-accelerator-taints", [pool])[0]
