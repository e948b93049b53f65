"""Every rule judges the effect, not one spelling of it: each registered shape fires (tests/policies/shapes.py),
and a rule with fewer than three shapes fails unless FEWER_SHAPES gives the reason."""

from __future__ import annotations

import pytest

import shapes_iam  # noqa: F401  (each shapes_* module registers its shapes)
import shapes_compute  # noqa: F401
import shapes_data  # noqa: F401
import shapes_network  # noqa: F401
from policies.pack import all_policies
from policy_builder import verdicts
from shapes import SHAPES

CASES = [(policy, shape) for policy, by_shape in sorted(SHAPES.items()) for shape in sorted(by_shape)]
LEVELS = {p.name: p.enforcement_level for p in all_policies()}


@pytest.mark.parametrize("policy, shape", CASES, ids=[f"{p}:{s}" for p, s in CASES])
def test_each_shape_fires(policy, shape):
    resources, expected = SHAPES[policy][shape]()
    level = LEVELS[policy].value if hasattr(LEVELS[policy], "value") else str(LEVELS[policy])
    found = verdicts(policy, resources)
    assert sorted({name for name, _ in found}) == sorted(set(expected)), found
    assert {lvl for _, lvl in found} == {level}, found


def test_shapes_name_policies_of_the_pack():
    assert sorted(set(SHAPES) - set(LEVELS)) == []
