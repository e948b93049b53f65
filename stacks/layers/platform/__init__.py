"""The platform layer: the add-ons of the registry (registry.py) the spec enables, in registry order.

Each add-on's build gets the layers below plus the add-ons built before it (AddonsBelow) and returns its export,
which lands at `<output>.<key>` of the stack outputs: `workloads` (training operators, load balancer controller,
exposure), `addons` (notebooks, observability, pipelines, Ray) and, with teams, `tenancy` (Kueue and the teams).
"""

from __future__ import annotations

from typing import Any, Sequence

from components.contracts import PlatformOutputs
from stacks.layers.base import Below, Built
from stacks.layers.platform import registry
from stacks.layers.platform.addon import AddonsBelow
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: Below) -> Built[PlatformOutputs]:
    sections = build_addons(spec, below, registry.enabled(spec))
    sections["workloads"]["exposure"] = spec.serving.exposure
    return Built(PlatformOutputs(workloads=sections["workloads"], addons=sections["addons"], tenancy=sections["tenancy"] if spec.teams else None))


def build_addons(spec: PlatformSpec, below: Below, entries: Sequence[registry.Entry]) -> dict[str, dict[str, Any]]:
    """Build ``entries`` in order, each on what the ones before it installed; their exports by stack output."""
    opts = below.opts()
    installed = AddonsBelow.of(below)
    sections: dict[str, dict[str, Any]] = {"workloads": {}, "addons": {}, "tenancy": {}}
    for entry in entries:
        out = entry.build(spec, installed, opts)
        installed = installed.with_(out)
        if entry.key is not None:
            sections[entry.output][entry.key] = out.export
    return sections
