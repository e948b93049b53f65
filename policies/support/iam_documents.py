"""IAM policy documents (identity, trust and resource policies) as normalised statements."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from policies.support.values import known


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    principals: dict[str, tuple[str, ...]]  # {"AWS": (...), "Service": (...), "Federated": (...)}; "*" -> {"*": ("*",)}
    conditions: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # operator -> key -> values
    sid: str = ""
    not_actions: tuple[str, ...] = ()  # NotAction: every action but these
    not_resources: tuple[str, ...] = ()  # NotResource: every resource but these

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    def principal_is_everyone(self) -> bool:
        return "*" in self.principals or "*" in self.principals.get("AWS", ())

    def condition_values(self, operator: str, key_suffix: str) -> Optional[tuple[str, ...]]:
        """Values of ``operator`` conditions whose key ends with ``key_suffix`` (case-insensitive keys)."""
        for op, entries in self.conditions.items():
            if op.lower() != operator.lower():
                continue
            for key, values in entries.items():
                if key.lower().endswith(key_suffix.lower()):
                    return values
        return None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def parse_document(document: Any) -> list[Statement]:
    """Statements of a JSON string or dict document; raises the SDK's unknown error when it is unknown, and
    ``ValueError`` when it is not a policy document."""
    known(document)
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise ValueError(f"not a JSON policy document: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON policy document")
    raw = document.get("Statement", [])
    if isinstance(raw, dict):
        raw = [raw]
    statements = []
    for st in raw if isinstance(raw, list) else []:
        if not isinstance(st, dict):
            continue
        principal = st.get("Principal")
        if principal == "*":
            principals = {"*": ("*",)}
        elif isinstance(principal, dict):
            principals = {str(k): _strings(v) for k, v in principal.items()}
        else:
            principals = {}
        conditions = {
            str(op): {str(k): _strings(v) for k, v in entries.items()} for op, entries in (st.get("Condition") or {}).items() if isinstance(entries, dict)
        }
        statements.append(
            Statement(
                effect=str(st.get("Effect", "")),
                actions=_strings(st.get("Action")),
                resources=_strings(st.get("Resource")),
                principals=principals,
                conditions=conditions,
                sid=str(st.get("Sid", "")),
                not_actions=_strings(st.get("NotAction")),
                not_resources=_strings(st.get("NotResource")),
            )
        )
    return statements
