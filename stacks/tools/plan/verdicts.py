"""Policy verdicts for a plan: the very policy objects of the CrossGuard pack, evaluated offline."""

from __future__ import annotations

from typing import Mapping, Optional


def evaluate(resources: list[dict], env: str, outputs: Optional[Mapping[str, Mapping]] = None, *, preview: bool = False) -> dict:
    """{"evaluated": N, "violations": [{"policy", "level", "urn", "message"}]} for the plan's resources.

    ``outputs`` ({urn: what the mocks answered}) is what the engine hands the pack: inputs after the provider's Check
    (auto-names) to resource policies, outputs to stack policies; ``preview`` evaluates as a first `pulumi preview`
    does (ids and computed outputs unknown; a rule that needs one says it cannot run instead of passing)."""
    from policies.offline import evaluate as evaluate_pack

    return evaluate_pack(resources, env, outputs=outputs, preview=preview).to_json()


def mandatory(verdicts: dict) -> list[dict]:
    return [v for v in verdicts.get("violations", []) if v.get("level") == "mandatory"]


def detail(message: str) -> str:
    """The violation itself: the SDK prefixes every message with the policy's description line."""
    return message.split("\n", 1)[-1].strip()


def render(verdicts: dict) -> list[str]:
    """Every mandatory violation on its own line; advisory ones grouped by policy (the JSON keeps each one)."""
    violations = verdicts.get("violations", [])
    must = mandatory(verdicts)
    lines = [f"{verdicts.get('evaluated', 0)} policies evaluated: {len(must)} mandatory violations, {len(violations) - len(must)} advisory"]
    for v in sorted(must, key=lambda v: v.get("policy", "")):
        lines.append(f"mandatory {v.get('policy')} [{_resource(v)}] {detail(v.get('message', ''))}")
    advisory: dict[str, list[dict]] = {}
    for v in violations:
        if v.get("level") != "mandatory":
            advisory.setdefault(v.get("policy", ""), []).append(v)
    for policy, found in sorted(advisory.items()):
        names = [_resource(v) for v in found]
        where = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        lines.append(f"{found[0].get('level', 'advisory'):<9} {policy} [{where}] {detail(found[0].get('message', ''))}")
    return lines


def _resource(violation: dict) -> str:
    return violation.get("urn", "").rsplit("::", 1)[-1] or "(stack)"
