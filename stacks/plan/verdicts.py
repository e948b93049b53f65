"""Policy verdicts for a plan: the very policy objects of the CrossGuard pack, evaluated offline."""

from __future__ import annotations


def evaluate(resources: list[dict], env: str) -> dict:
    """{"evaluated": N, "violations": [{"policy", "level", "urn", "message"}]} for the plan's resources."""
    from policies.offline import evaluate as evaluate_pack

    return evaluate_pack(resources, env).to_json()


def mandatory(verdicts: dict) -> list[dict]:
    return [v for v in verdicts.get("violations", []) if v.get("level") == "mandatory"]


def detail(message: str) -> str:
    """The violation itself: the SDK prefixes every message with the policy's description line."""
    return message.split("\n", 1)[-1].strip()


def render(verdicts: dict) -> list[str]:
    violations = verdicts.get("violations", [])
    must = mandatory(verdicts)
    lines = [f"{verdicts.get('evaluated', 0)} policies evaluated: {len(must)} mandatory violations, {len(violations) - len(must)} advisory"]
    for v in sorted(violations, key=lambda v: (v.get("level") != "mandatory", v.get("policy", ""))):
        resource = v.get("urn", "").rsplit("::", 1)[-1] or "(stack)"
        lines.append(f"{v.get('level', '?'):<9} {v.get('policy')} [{resource}] {detail(v.get('message', ''))}")
    return lines
