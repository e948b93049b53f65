"""`crucible diff BASE HEAD`: what a change to the program or a stack config would do, for a pull request.

BASE and HEAD are plans (JSON documents from `crucible plan --json`). Resources are matched by URN. A resource whose
URN disappears while another of the same type appears is a delete-and-create unless an alias connects them; a
changed input that the provider cannot update in place replaces the resource. Either, on a stateful resource, is
called out loudly: that is how data gets lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stacks.tools.plan import replacement
from stacks.spec import LAYERS

# Which types are stateful and which input changes replace what: one table, stacks/tools/plan/replacement.py.
STATEFUL_TYPES = replacement.STATEFUL_TYPES

# Create-only inputs the program ignores after creation (ignore_changes): a change is not applied; say what it means.
CREATE_ONLY = {
    ("aws:eks/cluster:Cluster", "accessConfig.bootstrapClusterCreatorAdminPermissions"): (
        "cluster.bootstrapCreatorAdmin is create-only: EKS reads it only when it creates the cluster and a change would "
        "replace the cluster, so the program ignores it (ignore_changes) and the running cluster keeps the creator's "
        "access as it was; grant or remove access with cluster.adminRoleArns or cluster.apiAccess.deployRoleArn"
    ),
}


@dataclass
class Change:
    kind: str  # added | removed | updated | replaced
    urn: str
    type: str
    name: str
    layer: str
    fields: list[str] = field(default_factory=list)
    stateful: bool = False
    protected: bool = False
    replaces: list[str] = field(default_factory=list)  # why it is replaced: the forcing fields, or "input ← replaced dependency"
    hint: str = ""  # what replacing this type means (replacement.TABLE)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class PlanDiff:
    base: str
    head: str
    changes: list[Change]
    policies_fixed: list[dict]
    policies_new: list[dict]
    cost: dict
    notes: list[str] = field(default_factory=list)  # changes the program ignores (create-only inputs)
    refused: list[dict] = field(default_factory=list)  # updates the API server refuses (transitions.Refusal.to_json)

    @property
    def dangerous(self) -> list[Change]:
        return [c for c in self.changes if c.stateful and c.kind in ("removed", "replaced")]

    def to_json(self) -> dict:
        return {
            "base": self.base,
            "head": self.head,
            "changes": [c.to_json() for c in self.changes],
            "statefulReplacements": [c.to_json() for c in self.dangerous],
            "policies": {"new": self.policies_new, "fixed": self.policies_fixed},
            "cost": self.cost,
            "notes": self.notes,
            "refusedUpdates": self.refused,
        }


def _layers(document: dict) -> dict[str, str]:
    """urn -> layer of every resource of a plan document (the plan's read model decides, as the report does)."""
    from stacks.tools.plan.model import PlanModel

    return PlanModel.from_document(document).layers


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: value}


def _changed_fields(before: dict, after: dict) -> list[str]:
    a, b = _flatten(before), _flatten(after)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _ignored(fields: list[str], resource: dict) -> tuple[list[str], list[str]]:
    """Split changed fields into (applied, ignored): the engine neither updates nor replaces for a field the program
    tells it to ignore (`ignore_changes`)."""
    paths = resource.get("ignore_changes") or []
    ignored = [f for f in fields if any(f == i or f.startswith(f"{i}.") or f.startswith(f"{i}[") for i in paths)]
    return [f for f in fields if f not in ignored], ignored


def _change(resource: dict, before: dict, urn: str, layer: str, notes: list[str]) -> Change | None:
    """The change of one resource, or None; a create-only input it ignores adds a note saying what its change means."""
    after = resource.get("inputs", {})
    fields, ignored = _ignored(_changed_fields(before, after), resource)
    notes.extend(
        f"{resource['name']}: {f} changed and is ignored — {CREATE_ONLY[(resource['type'], f)]}" for f in ignored if (resource["type"], f) in CREATE_ONLY
    )
    if not fields:
        return None
    forcing = replacement.forcing_fields(resource["type"], before, after, fields)
    return Change(
        "replaced" if forcing else "updated",
        urn,
        resource["type"],
        resource["name"],
        layer,
        fields,
        replacement.is_stateful(resource["type"]),
        resource.get("protect", False),
        forcing,
        _hint(resource["type"]) if forcing else "",
    )


def _hint(type_token: str) -> str:
    row = replacement.entry(type_token)
    return row.hint if row else ""


def _violations(document: dict) -> set[tuple[str, str, str]]:
    policies = document.get("policies") or {}
    return {(v.get("policy", ""), _key(v.get("urn", "")), v.get("level", "")) for v in policies.get("violations", [])}


def _cost_range(document: dict) -> dict:
    """The plan's own cost figures, as `crucible plan` printed them (its cost section): $/h at minimum scale and the
    range at maximum scale (all spot, cheapest type … all on-demand, dearest type). Plans written before the cost
    section existed fall back to the capacity section's pools (empty at minimum)."""
    cost = document.get("cost")
    if isinstance(cost, dict):
        at_max = cost.get("atMaximum") or {}
        return {
            "min": float(cost.get("atMinimum", 0) or 0),
            "maxLow": float(at_max.get("low", 0) or 0),
            "max": float(at_max.get("high", 0) or 0),
        }
    pools = [p for p in (document.get("capacity") or {}).values() if isinstance(p, dict)]
    range_of = lambda end: sum(float((p.get("perHourAtMax") or {}).get(end, 0) or 0) for p in pools)  # noqa: E731
    return {"min": 0.0, "maxLow": range_of("low"), "max": range_of("high")}


def _hours_per_month(*documents: dict) -> int:
    for document in documents:
        hours = (document.get("cost") or {}).get("hoursPerMonth") if isinstance(document.get("cost"), dict) else None
        if hours:
            return int(hours)
    from stacks.derive.cost import HOURS_PER_MONTH

    return HOURS_PER_MONTH


def _key(urn: str) -> str:
    """A URN without its stack and project, so two stacks (or a renamed stack) compare resource by resource."""
    parts = urn.split("::", 2)
    return parts[2] if len(parts) == 3 else urn


def _keyed(document: dict) -> dict[str, dict]:
    out = {}
    for r in document.get("resources", []):
        if r.get("custom", True):
            out[_key(r["urn"])] = {**r, "aliases": [_key(a) for a in r.get("aliases", [])]}
    return out


def diff_plans(base: dict, head: dict, base_label: str = "base", head_label: str = "head") -> PlanDiff:
    base_res, head_res = _keyed(base), _keyed(head)
    base_layers = {_key(u): layer for u, layer in _layers(base).items()}
    head_layers = {_key(u): layer for u, layer in _layers(head).items()}
    aliased = {alias for r in head_res.values() for alias in r.get("aliases", [])}
    changes: list[Change] = []
    notes: list[str] = []
    for urn, r in head_res.items():
        stateful = replacement.is_stateful(r["type"])
        if urn not in base_res:
            moved_from = next((a for a in r.get("aliases", []) if a in base_res), None)
            if moved_from:
                change = _change(r, base_res[moved_from].get("inputs", {}), urn, head_layers[urn], notes)
                if change:
                    changes.append(change)
            else:
                changes.append(Change("added", urn, r["type"], r["name"], head_layers[urn], [], stateful, r.get("protect", False)))
            continue
        change = _change(r, base_res[urn].get("inputs", {}), urn, head_layers[urn], notes)
        if change:
            changes.append(change)
    # A replaced resource gets a new id: whatever holds that id in an input that forces replacement is replaced too.
    by_urn = {c.urn: c for c in changes}
    existing = {urn: r for urn, r in head_res.items() if urn in base_res or any(a in base_res for a in r.get("aliases", []))}
    label = lambda key: f"{head_res[key]['type'].rsplit(':', 1)[-1]} {head_res[key]['name']}" if key in head_res else key  # noqa: E731
    knock_on = replacement.cascade({c.urn for c in changes if c.kind == "replaced"}, existing, key_of=_key, label_of=label)
    for urn, reasons in knock_on.because.items():
        r = head_res[urn]
        change = by_urn.get(urn) or Change(
            "updated", urn, r["type"], r["name"], head_layers[urn], [], replacement.is_stateful(r["type"]), r.get("protect", False)
        )
        change.kind, change.replaces, change.hint = "replaced", sorted(set(change.replaces) | set(reasons)), _hint(r["type"])
        if urn not in by_urn:
            changes.append(change)
    for urn, r in base_res.items():
        if urn not in head_res and urn not in aliased:
            changes.append(Change("removed", urn, r["type"], r["name"], base_layers[urn], [], replacement.is_stateful(r["type"]), r.get("protect", False)))
    order = {layer: i for i, layer in enumerate([*LAYERS, "providers", "stack"])}
    changes.sort(key=lambda c: (order.get(c.layer, 99), c.kind, c.type, c.name))
    before, after = _violations(base), _violations(head)
    as_dicts = lambda items: [{"policy": p, "urn": u, "level": lv} for p, u, lv in sorted(items)]  # noqa: E731
    before_cost, after_cost = _cost_range(base), _cost_range(head)
    cost = {
        "base": {k: round(v, 3) for k, v in before_cost.items()},  # as the plan states them
        "head": {k: round(v, 3) for k, v in after_cost.items()},
        "delta": {k: round(after_cost[k] - before_cost[k], 2) for k in before_cost},
        "hoursPerMonth": _hours_per_month(head, base),
    }
    refused = _refused(changes, base_res, head_res, notes)
    return PlanDiff(base_label, head_label, changes, as_dicts(before - after), as_dicts(after - before), cost, notes, refused)


def _refused(changes: list[Change], base_res: dict[str, dict], head_res: dict[str, dict], notes: list[str]) -> list[dict]:
    """The updates of custom resources that their CRDs' transition rules refuse (stacks/tools/plan/transitions.py);
    a note when they could not be judged."""
    from stacks.tools.plan import transitions

    pairs = []
    for c in changes:
        if c.kind != "updated":
            continue
        after = head_res[_key(c.urn)]
        before = base_res.get(_key(c.urn)) or next((base_res[a] for a in after.get("aliases", []) if a in base_res), None)
        if before is not None:
            pairs.append((before, after))
    if not any(transitions.manifest(after) for _, after in pairs):
        return []
    try:
        refused, unjudged = transitions.refused_updates(pairs)
    except transitions.CrdsUnavailable as error:
        notes.append(f"updated custom resources not checked against their CRDs' transition rules: {error}")
        return []
    if unjudged:
        notes.append(f"updates not checked against transition rules (no upstream CRD): {', '.join(unjudged)}")
    return [r.to_json() for r in refused]


def render(diff: PlanDiff, markdown: bool = False) -> str:
    lines: list[str] = []
    h = (lambda text: f"### {text}") if markdown else (lambda text: text)
    bullet = "- " if markdown else "  "
    counts = {kind: sum(1 for c in diff.changes if c.kind == kind) for kind in ("added", "updated", "replaced", "removed")}
    lines.append(h(f"crucible diff {diff.base} → {diff.head}"))
    lines.append(", ".join(f"{n} {kind}" for kind, n in counts.items()))
    for note in diff.notes:
        lines.append(f"{bullet}note: {note}")
    if diff.dangerous:
        lines.append("")
        lines.append(h("⚠ STATEFUL RESOURCES WOULD BE DESTROYED OR REPLACED"))
        for c in diff.dangerous:
            why = f" (replaced by: {', '.join(c.replaces)})" if c.replaces else (f" (changes {', '.join(c.fields)})" if c.fields else "")
            if c.protected:
                guard = "protected: `pulumi up` stops here until protection is lifted; lifted, the data does not move to the new one"
            else:
                guard = "NOT protected: data will be lost"
            lines.append(
                f"{bullet}**{c.kind}** `{c.type}` {c.name}{why} — {guard}" if markdown else f"{bullet}{c.kind.upper()} {c.type} {c.name}{why} — {guard}"
            )
            if c.hint:
                lines.append(f"  - {c.hint}" if markdown else f"{bullet}  {c.hint}")
    if diff.refused:
        lines.append("")
        lines.append(h("⚠ UPDATES THE API SERVER REFUSES (the CRD's transition rules): `pulumi up` fails there"))
        for r in diff.refused:
            lines.append(f"{bullet}{'**refused**' if markdown else 'REFUSED'} `{r['type']}` {r['name']}: {'; '.join(r['errors'])}")
    current = None
    for c in diff.changes:
        if c.layer != current:
            current = c.layer
            lines.append("")
            lines.append(h(f"layer {current}"))
        sign = {"added": "+", "removed": "-", "updated": "~", "replaced": "±"}[c.kind]
        detail = f" ({', '.join(c.fields[:6])}{'…' if len(c.fields) > 6 else ''})" if c.fields else ""
        if c.kind == "replaced":
            detail += f" — replaced by: {', '.join(c.replaces[:4])}{'…' if len(c.replaces) > 4 else ''}"
        lines.append(f"{bullet}`{sign} {c.type} {c.name}`{detail}" if markdown else f"{bullet}{sign} {c.type} {c.name}{detail}")
    if diff.policies_new or diff.policies_fixed:
        lines.append("")
        lines.append(h("policy verdicts"))
        for v in diff.policies_new:
            lines.append(f"{bullet}new {v['level']} violation: {v['policy']} on {v['urn'].rsplit('::', 1)[-1]}")
        for v in diff.policies_fixed:
            lines.append(f"{bullet}fixed: {v['policy']} on {v['urn'].rsplit('::', 1)[-1]}")
    cost = diff.cost
    lines.append("")
    lines.append(h("cost (list prices; minimum: fixed costs, pools empty; maximum: every pool at its limit, all spot … all on-demand)"))
    hours = cost.get("hoursPerMonth", 730)
    money = lambda v: f"${v:,.2f}"  # noqa: E731
    span = lambda side: money(side["max"]) if side["maxLow"] == side["max"] else f"{money(side['maxLow'])}-{money(side['max'])}"  # noqa: E731
    delta = cost["delta"]
    change = f"{delta['max']:+,.2f}" if delta["maxLow"] == delta["max"] else f"{delta['maxLow']:+,.2f} … {delta['max']:+,.2f}"
    lines.append(f"{bullet}at maximum scale: {span(cost['base'])}/h → {span(cost['head'])}/h ({change}/h)")
    lines.append(f"{bullet}at minimum scale: {money(cost['base']['min'])}/h → {money(cost['head']['min'])}/h ({delta['min']:+,.2f}/h)")
    lines.append(
        f"{bullet}per month ({hours} h): at maximum {money(cost['head']['max'] * hours)} ({delta['max'] * hours:+,.2f}), "
        f"at minimum {money(cost['head']['min'] * hours)} ({delta['min'] * hours:+,.2f})"
    )
    return "\n".join(lines)
