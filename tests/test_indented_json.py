"""stacks/tools/indented_json.py writes the text json.dumps(value, indent=2, default=str) writes, byte for byte."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from helpers import shipped_report
from stacks.tools import indented_json
from stacks.tools.plan.locate import shipped_stacks


def _standard(value, indent=2):
    return json.dumps(value, indent=indent, default=str)


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_shipped_plan_document_is_written_as_the_standard_encoder_writes_it(stack):
    document = shipped_report(stack)[0]
    assert indented_json.dumps(document) == _standard(document)


EDGES = {
    "empty": [{}, [], (), "", {"a": {}, "b": [], "c": [[]], "d": [{}]}],
    "scalars": [None, True, False, 0, -1, 2**70, 1.0, -0.0, 1e-7, 1e16, 123456.789, math.pi, math.inf, -math.inf, math.nan],
    "strings": ["plain", 'quote " and \\ backslash', "tab\tnew\nline\r", "\x00\x1f\x7f", "é ü ß", "中文", "😀 astral", "</script>"],
    "keys": {"s": 1, 3: "int", 2.5: "float", True: "bool", False: "false", None: "none", "nested": {"deeper": {"deepest": [1, [2, [3]]]}}},
    "others": [Path("/tmp/x"), b"bytes", object.__new__(type("Opaque", (), {"__str__": lambda self: "opaque"}))],
    "subclasses": [
        type("S", (str,), {})("str-sub"),
        type("I", (int,), {})(7),
        type("F", (float,), {})(2.5),
        type("D", (dict,), {})(a=1),
        type("L", (list,), {})([1]),
    ],
}


@pytest.mark.parametrize("case", sorted(EDGES))
def test_edge_values_are_written_as_the_standard_encoder_writes_them(case):
    value = EDGES[case]
    assert indented_json.dumps(value) == _standard(value)
    assert indented_json.dumps(value, indent=4) == _standard(value, indent=4)


def test_a_key_the_standard_encoder_refuses_is_refused():
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None, not tuple"):
        indented_json.dumps({(1, 2): "tuple key"})
    with pytest.raises(TypeError):
        _standard({(1, 2): "tuple key"})
