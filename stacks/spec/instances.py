"""Pool rules that need instance facts: unknown types (with the catalog's close matches), accelerator kind, EFA,
instance store.

Facts are the instance catalog's own (components/catalog InstanceType); kinds are the accelerator table's
(components/accelerators.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from components.accelerators import accelerator
from stacks.spec.schema import Context, show

if TYPE_CHECKING:  # pragma: no cover
    from components.catalog import Catalog, InstanceType
    from stacks.spec.pools import PoolSpec


def _catalog(catalog: Optional["Catalog"]) -> "Catalog":
    from components.catalog import load_catalog

    return catalog if catalog is not None else load_catalog()


def close_matches(word: str, catalog: Optional["Catalog"] = None) -> str:
    """The catalog's close matches for a mistyped instance type or family, as a message suffix."""
    close = _catalog(catalog).close_matches(word)
    return f" (close matches: {', '.join(close)})" if close else ""


def check_pool_instances(pool: "PoolSpec", ctx: Context, path: str, catalog: Optional["Catalog"] = None) -> None:
    catalog = _catalog(catalog)
    wanted = accelerator(pool.kind)
    resolved: list[tuple[int, "InstanceType"]] = []
    before = len(ctx.problems)
    for j, entry in enumerate(pool.instance_types):
        key = f"{path}.instanceTypes[{j}]"
        if "." in entry and entry not in catalog:
            ctx.problem(key, f"got {show(entry)}: not in the instance catalog{close_matches(entry, catalog)}")
            continue
        if "." not in entry and not catalog.is_family(entry):
            ctx.problem(key, f"got {show(entry)}: no such instance type or family in the instance catalog{close_matches(entry, catalog)}")
            continue
        for facts in catalog.resolve(entry):
            if facts.kind != pool.kind:
                ctx.problem(
                    key,
                    f"got {show(entry)}"
                    + (f" ({facts.name})" if facts.name != entry else "")
                    + f": a {accelerator(facts.kind).words} type in a {pool.kind} pool; "
                    f"allowed: {wanted.words} types only",
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
        _check_max_accelerators(pool, [f for _, f in resolved], ctx, path)
    if pool.instance_store_raid0 and resolved:
        without = [f.name for _, f in resolved if not f.instance_store_gib]
        if without:
            ctx.problem(f"{path}.instanceStoreRaid0", f"true, but {', '.join(without)} has no instance store; allowed: false, or types with local NVMe")


def _check_max_accelerators(pool: "PoolSpec", facts: list["InstanceType"], ctx: Context, path: str) -> None:
    """Karpenter launches a node only while the pool's limits leave room for all of it (it drops instance types whose
    capacity exceeds what remains of `spec.limits`): a limit below one node of the smallest type launches nothing,
    and a limit that no whole number of nodes reaches is capacity the plan would show but the pool never runs."""
    limit = pool.max_accelerators
    if limit is None:  # the caller checks only a stated limit
        return
    per_node = {f.name: f.accelerator_count for f in facts}
    smallest = min(per_node, key=lambda n: (per_node[n], n))
    if limit < per_node[smallest]:
        ctx.problem(
            f"{path}.maxAccelerators",
            f"got {limit}, below one node of the smallest allowed type ({smallest} has {per_node[smallest]}): "
            f"Karpenter could never launch a node; allowed: at least {per_node[smallest]}",
        )
        return
    counts = set(per_node.values())
    if len(counts) == 1:
        (count,) = counts
        if limit % count:
            low = limit - limit % count
            ctx.problem(
                f"{path}.maxAccelerators",
                f"got {limit}, not a whole number of nodes ({', '.join(sorted(per_node))}: {count} per node); "
                f"allowed: a multiple of {count}, e.g. {low} or {low + count}",
            )


# NVIDIA GPUs with Multi-Instance GPU (NVIDIA MIG user guide, "Supported GPUs": Ampere A100/A30, Hopper H100/H200,
# Blackwell); the catalog's `accelerator` names. L4, L40S and A10G have none.
MIG_GPUS = frozenset({"a100", "a30", "h100", "h200", "b200"})


def mig_capable(instance_types, catalog: Optional["Catalog"] = None) -> tuple[list[str], list[str]]:
    """(types whose GPUs support MIG, the other GPU types) of a pool's instance types (families resolved)."""
    facts = _catalog(catalog).select(instance_types)
    gpus = [f for f in facts if f.kind == "gpu"]
    return [f.name for f in gpus if f.accelerator in MIG_GPUS], [f.name for f in gpus if f.accelerator not in MIG_GPUS]
