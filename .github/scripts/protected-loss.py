#!/usr/bin/env python3
"""The second half of the data-loss gate (gate-data-loss.sh): `protected-loss.py <diff.json> <stack>` exits 1 when
the diff (`crucible diff --json`) removes or replaces a PROTECTED stateful resource. `crucible diff
--fail-on-data-loss` lets those through — the data survives — but `pulumi up` stops at them halfway, after earlier
stages (and earlier resources of this one) already changed: a stage must not start a deploy it cannot finish."""

from __future__ import annotations

import json
import sys


def protected_losses(diff: dict) -> list[dict]:
    return [c for c in diff.get("statefulReplacements", []) if c.get("protected")]


def main(argv: list[str]) -> int:
    path, stack = argv[1], argv[2]
    with open(path) as handle:
        found = protected_losses(json.load(handle))
    for change in found:
        print(
            f"::error title={stack}: protected {change['kind']}::{change['urn']} is protected: `pulumi up` would stop there, "
            "halfway, after earlier stages changed; lift protection deliberately and deploy that change on its own"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
