"""Firing fixtures tagged with the *shape* of the misconfiguration they write (issue 18: "each rule judges the
effect; fixtures write the same effect several ways").

A shape is one way of writing a bad effect: a different spelling (``s3:*`` / ``i?m:*`` / the full action list), a
different attachment or join path (inline / managed / attached to the principal), a different mechanism (iptables
/ NetworkPolicy), or a different resource type expressing it. Two fixtures of one shape that differ only in a
value are one shape. ``@firing(policy, shape)`` registers a function returning ``(resources, expected)``: the
names of the resources the policy must report at its prod level (mandatory for mandatory rules). The meta-test in
``test_policy_shapes.py`` fails when a rule has fewer than three shapes, unless ``FEWER_SHAPES`` says why.
"""

from __future__ import annotations

from typing import Callable, Iterable

Fixture = Callable[[], tuple[list[dict], Iterable[str]]]
SHAPES: dict[str, dict[str, Fixture]] = {}


def firing(policy: str, shape: str) -> Callable[[Fixture], Fixture]:
    def register(fixture: Fixture) -> Fixture:
        shapes = SHAPES.setdefault(policy, {})
        if shape in shapes:
            raise ValueError(f"{policy}: shape {shape!r} registered twice")
        shapes[shape] = fixture
        return fixture

    return register
