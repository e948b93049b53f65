"""The dependency graph as the Pulumi engine orders it: what a resource waits for when it is created, and therefore
outlives when it is destroyed.

Pulumi creates a resource after everything it depends on and deletes it before them. What counts as "depends on":

- its ``dependencies`` (``depends_on``) and ``property_dependencies`` (inputs computed from another resource);
- a dependency on a component resource is one on every resource under it (the SDK waits for the component's
  children; the engine deletes them first);
- its parent, and -- transitively -- everything its parents depend on: a child is registered only once its parent
  is, and the parent waits for its own dependencies (a component's ``depends_on`` holds its children back).

``waits_for(urn)`` is the transitive closure over those edges, by URN (always known at preview, unlike ids).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence


class Graph:
    def __init__(self, nodes: Iterable[tuple[str, Optional[str], Iterable[str]]]):
        """``nodes``: (urn, parent urn, direct dependency urns: dependencies and property dependencies)."""
        self._parent: dict[str, Optional[str]] = {}
        self._direct: dict[str, tuple[str, ...]] = {}
        self._children: dict[str, list[str]] = {}
        for urn, parent, deps in nodes:
            self._parent[urn] = parent or None
            self._direct[urn] = tuple(dict.fromkeys(d for d in deps if d and d != urn))
        for urn, parent in self._parent.items():
            if parent:
                self._children.setdefault(parent, []).append(urn)
        self._memo: dict[str, frozenset[str]] = {}
        self._subtrees: dict[str, tuple[str, ...]] = {}
        self._busy: set[str] = set()

    @classmethod
    def of_stack(cls, stack) -> "Graph":
        """From a policy ``Stack`` (policies.support.rule)."""
        return cls((r.urn, r.parent, [*r.dependencies, *(u for urns in r.property_dependencies.values() for u in urns)]) for r in stack.resources)

    @classmethod
    def of_plan(cls, resources: Sequence[Mapping]) -> "Graph":
        """From resources in the plan JSON shape (``crucible plan --json``)."""
        return cls(
            (
                r["urn"],
                r.get("parent") or None,
                [*(r.get("dependencies") or ()), *(u for urns in (r.get("property_dependencies") or {}).values() for u in urns)],
            )
            for r in resources
        )

    def subtree(self, urn: str) -> tuple[str, ...]:
        """Every resource under ``urn`` (its children, theirs, ...)."""
        if urn not in self._subtrees:
            out, todo = [], list(self._children.get(urn, ()))
            while todo:
                child = todo.pop()
                out.append(child)
                todo.extend(self._children.get(child, ()))
            self._subtrees[urn] = tuple(out)
        return self._subtrees[urn]

    def waits_for(self, urn: str) -> frozenset[str]:
        """Every resource ``urn`` is created after (and destroyed before)."""
        if urn in self._memo:
            return self._memo[urn]
        if urn in self._busy:  # a cycle: the engine would refuse it; do not loop
            return frozenset()
        self._busy.add(urn)
        found: set[str] = set()
        parent = self._parent.get(urn)
        if parent:
            found.add(parent)
            found |= self.waits_for(parent)
        for dep in self._direct.get(urn, ()):
            for target in (dep, *self.subtree(dep)):
                found.add(target)
                found |= self.waits_for(target)
        found.discard(urn)
        self._busy.discard(urn)
        result = frozenset(found)
        self._memo[urn] = result
        return result

    def after(self, later: str, earlier: str) -> bool:
        """True when ``later`` is created after ``earlier`` (and destroyed before it)."""
        return earlier in self.waits_for(later)


def waits_for_in(resources: Sequence[Mapping], urn: str) -> set[str]:
    """``Graph.of_plan(resources).waits_for(urn)``: for tests and tools reading a saved plan."""
    return set(Graph.of_plan(resources).waits_for(urn))
