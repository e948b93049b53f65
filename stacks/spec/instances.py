"""Pool rules that need instance facts: unknown types (with close matches), accelerator kind, EFA, instance store.

Facts come from the instance catalog through stacks.derive.capacity's view of it.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Optional

from stacks.spec.schema import Context, show

if TYPE_CHECKING:  # pragma: no cover
    from stacks.derive.capacity import InstanceFacts, Lookup
    from stacks.spec.pools import PoolSpec

KIND_WORDS = {"gpu": "NVIDIA GPU", "neuron": "AWS Neuron (Trainium/Inferentia)", "cpu": "no accelerator"}


def close_matches(word: str, names: list[str]) -> str:
    families = sorted({n.split(".", 1)[0] for n in names})
    close = difflib.get_close_matches(word, names + families, n=4, cutoff=0.6)
    return f" (close matches: {', '.join(close)})" if close else ""


def _kind_of(facts: "InstanceFacts") -> str:
    return facts.accelerator_kind or "cpu"


def check_pool_instances(pool: "PoolSpec", ctx: Context, path: str, lookup: Optional["Lookup"] = None, names: Optional[list[str]] = None) -> None:
    from stacks.derive.capacity import catalog_facts, catalog_names

    lookup = lookup or catalog_facts
    names = catalog_names() if names is None else names
    families = {n.split(".", 1)[0] for n in names}
    resolved: list[tuple[int, "InstanceFacts"]] = []
    before = len(ctx.problems)
    for j, entry in enumerate(pool.instance_types):
        key = f"{path}.instanceTypes[{j}]"
        if "." in entry:
            facts = lookup(entry)
            if facts is None:
                ctx.problem(key, f"got {show(entry)}: not in the instance catalog{close_matches(entry, names)}")
                continue
            found = [facts]
        elif entry in families:
            found = [f for f in (lookup(n) for n in names if n.split(".", 1)[0] == entry) if f is not None]
        else:
            ctx.problem(key, f"got {show(entry)}: no such instance type or family in the instance catalog{close_matches(entry, names)}")
            continue
        for facts in found:
            if _kind_of(facts) != pool.kind:
                ctx.problem(
                    key,
                    f"got {show(entry)}" + (f" ({facts.name})" if facts.name != entry else "")
                    + f": a {KIND_WORDS.get(_kind_of(facts), _kind_of(facts))} type in a {pool.kind} pool; "
                    f"allowed: {KIND_WORDS[pool.kind]} types only",
                )
                break
            if pool.efa and facts.efa_interfaces == 0:
                ctx.problem(key, f"got {show(facts.name)} with efa: true, but it has no EFA interface; allowed: EFA-capable types (or efa: false)")
                break
            resolved.append((j, facts))
    types_ok = len(ctx.problems) == before  # every entry resolved to a type of the pool's kind
    if pool.efa and resolved:
        counts = {f.efa_interfaces for _, f in resolved}
        if len(counts) > 1:
            detail = ", ".join(f"{f.name}: {f.efa_interfaces}" for _, f in resolved)
            ctx.problem(
                f"{path}.instanceTypes",
                f"EFA interface counts differ ({detail}); allowed: types with the same EFA maximum in one EFA pool "
                "(the node class attaches every interface; split them into pools)",
            )
    if pool.max_accelerators is not None and pool.kind != "cpu" and resolved and types_ok:
        _check_max_accelerators(pool.max_accelerators, [f for _, f in resolved], ctx, path)
    if pool.instance_store_raid0 and resolved:
        without = [f.name for _, f in resolved if not f.instance_store_gib]
        if without:
            ctx.problem(f"{path}.instanceStoreRaid0", f"true, but {', '.join(without)} has no instance store; allowed: false, or types with local NVMe")


def _check_max_accelerators(max_accelerators: int, facts: list["InstanceFacts"], ctx: Context, path: str) -> None:
    """Karpenter launches a node only while the pool's limits leave room for all of it (it drops instance types whose
    capacity exceeds what remains of `spec.limits`): a limit below one node of the smallest type launches nothing,
    and a limit that no whole number of nodes reaches is capacity the plan would show but the pool never runs."""
    per_node = {f.name: f.accelerators for f in facts}
    smallest = min(per_node, key=lambda n: (per_node[n], n))
    if max_accelerators < per_node[smallest]:
        ctx.problem(
            f"{path}.maxAccelerators",
            f"got {max_accelerators}, below one node of the smallest allowed type ({smallest} has {per_node[smallest]}): "
            f"Karpenter could never launch a node; allowed: at least {per_node[smallest]}",
        )
        return
    counts = set(per_node.values())
    if len(counts) == 1:
        (count,) = counts
        if max_accelerators % count:
            low = max_accelerators - max_accelerators % count
            ctx.problem(
                f"{path}.maxAccelerators",
                f"got {max_accelerators}, not a whole number of nodes ({', '.join(sorted(per_node))}: {count} per node); "
                f"allowed: a multiple of {count}, e.g. {low} or {low + count}",
            )
