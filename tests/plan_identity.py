"""The identity of a plan's resources: what decides whether `pulumi up` keeps, updates or replaces each one.

A refactor must keep every resource: its URN (or an alias to it) and every input whose change makes the provider
replace it (stacks/tools/plan/replacement.py). `identity_of` keeps just that from a `crucible plan --json` document, small
enough to keep in the repository as the "before" of a refactor; `tests/test_plan_identity.py` diffs today's plan of
each shipped stack against it with `crucible diff` and finds no removal and no replacement.

Regenerate (only when a change is meant to add, remove or replace resources, and say so in the commit):

    .venv/bin/python -m tests.plan_identity
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plan_identity"


def _forcing_roots(type_token: str) -> set[str]:
    from stacks.tools.plan import replacement

    row = replacement.entry(type_token)
    if row is None:
        return set()
    paths = set(row.inputs) | set(row.once_set) | set(row.decrease) | {p for group in row.one_of for p in group}
    return {p.split(".", 1)[0] for p in paths}


def identity_of(document: dict) -> dict:
    """The resources of a plan with only their identity: URN, type, name, protect, aliases and the subtrees of the
    inputs that can force a replacement (for Kubernetes objects, metadata's name and namespace)."""
    resources = []
    for r in document.get("resources", []):
        inputs = r.get("inputs") or {}
        kept: dict[str, Any] = {k: inputs[k] for k in sorted(_forcing_roots(r["type"])) if k in inputs}
        if isinstance(kept.get("metadata"), dict):
            kept["metadata"] = {k: v for k, v in kept["metadata"].items() if k in ("name", "namespace")}
        resources.append(
            {
                "urn": r["urn"],
                "type": r["type"],
                "name": r["name"],
                "parent": r.get("parent"),
                "custom": r.get("custom", True),
                "protect": r.get("protect", False),
                "aliases": r.get("aliases", []),
                "ignore_changes": r.get("ignore_changes", []),  # what the engine neither updates nor replaces for
                "inputs": kept,
            }
        )
    return {"stack": document.get("stack"), "resources": sorted(resources, key=lambda r: r["urn"])}


def write_all() -> None:
    from stacks.tools.plan.locate import plan_stack, shipped_stacks
    from stacks.tools.plan.report import build_report

    FIXTURES.mkdir(parents=True, exist_ok=True)
    for stack in shipped_stacks():
        document, _ = build_report(plan_stack(stack))
        (FIXTURES / f"{stack}.json").write_text(json.dumps(identity_of(document), indent=1, sort_keys=True) + "\n")
        print(f"wrote {FIXTURES / f'{stack}.json'}", file=sys.stderr)


if __name__ == "__main__":
    write_all()
