"""Layers built by another stack: the referenced stack's outputs, checked, read back through the layer contracts.

A stack that starts above the network reads every layer below its first one from `stackReference` (network, cluster
with the kubeconfig, compute, storage) with each contract's `from_reference` (components/contracts.py). Before
anything is read, :func:`problems_with` checks that the referenced stack has the outputs of every one of those layers,
lives in this stack's region and zones, and that the pools this stack plans its platform from (`crucible:pools`, a
copy of the compute stack's) are the pools the compute layer built. `crucible plan` reports the same problems as
config errors (stacks/tools/plan/locate.py), `pulumi up` as a RunError naming them. A stack re-exports the layers it
read, so a stack above it finds every layer below, however the layers are split between stacks.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi

from components.contracts import ClusterOutputs, ComputeOutputs, ContractError, LayerContract, NetworkOutputs, PlatformOutputs, StorageOutputs
from stacks.spec.platform import LAYERS, PlatformSpec

# Each layer's contract: what it exports, and how it is read back.
CONTRACTS: dict[str, type[LayerContract]] = {
    "network": NetworkOutputs,
    "cluster": ClusterOutputs,
    "compute": ComputeOutputs,
    "storage": StorageOutputs,
    "platform": PlatformOutputs,
}

# The stack outputs each layer must export for a stack above to read it.
LAYER_OUTPUTS: dict[str, tuple[str, ...]] = {layer: c.REQUIRED for layer, c in CONTRACTS.items()}


def layers_below(spec: PlatformSpec) -> tuple[str, ...]:
    """The layers this stack does not build and reads from its stack reference."""
    return LAYERS[: LAYERS.index(spec.layers[0])] if spec.layers else ()


class StackOutputs:
    """The outputs of the referenced stack (components.contracts.Reference): as Outputs of the StackReference for
    resource inputs, and as the plain values read once for what decides which resources exist."""

    def __init__(self, ref: Optional[pulumi.StackReference], values: Mapping[str, Any]):
        self.ref = ref
        self.values = dict(values)

    def output(self, name: str) -> pulumi.Output:
        if self.ref is None:
            return pulumi.Output.from_input(self.values[name])
        return self.ref.require_output(name)

    def value(self, name: str) -> Any:
        return self.values[name]

    def exported(self, layer: str) -> dict[str, Any]:
        """The layer's outputs as the referenced stack exports them (re-exported as they are)."""
        return {name: self.values[name] for name in CONTRACTS[layer].OUTPUTS if name in self.values}


def problems_with(outputs: Optional[Mapping[str, Any]], spec: PlatformSpec) -> list[str]:
    """What the referenced stack's outputs lack for this stack, or where they disagree with it (empty: usable)."""
    outputs = outputs or {}
    problems = []
    missing = {layer: [o for o in LAYER_OUTPUTS[layer] if o not in outputs] for layer in layers_below(spec)}
    missing = {layer: names for layer, names in missing.items() if names}
    if missing:
        detail = "; ".join(f"the {layer} layer (output {', '.join(repr(n) for n in names)})" for layer, names in missing.items())
        problems.append(
            f"stack {spec.stack_reference!r} does not export {detail}, which this stack needs (layers: "
            f"{', '.join(spec.layers)}); allowed: a stack that builds {', '.join(layers_below(spec))} or reads them from "
            f"its own stackReference (it exports what it has: {', '.join(sorted(outputs)) or 'nothing'})"
        )
    network = outputs.get("network")
    if isinstance(network, Mapping) and network.get("zones") is not None:
        zones = list(network.get("zones") or [])
        regions = sorted({z[:-1] for z in zones})
        if regions and regions != [spec.region]:
            problems.append(
                f"stack {spec.stack_reference!r} is in {', '.join(regions)}, but this stack is in {spec.region} "
                f"(crucible:region); allowed: a core stack in {spec.region}"
            )
        elif zones != list(spec.availability_zones):
            problems.append(
                f"stack {spec.stack_reference!r} has subnets in {zones}, but crucible:availabilityZones is "
                f"{list(spec.availability_zones)}; allowed: the same zones in the same order"
            )
    if "compute" in layers_below(spec):
        problems += pool_problems(outputs.get("compute"), spec)
    return problems


def pool_problems(compute: object, spec: PlatformSpec) -> list[str]:
    """`crucible:pools` of a stack that builds storage or the platform above another stack's compute layer must be the
    pools that layer built: same names, zones and limits. The platform plans Kueue flavors and quotas, notebook profiles
    and the accelerator exporters from them, and storage the Lustre zone of the training pools, so missing pools would
    silently drop those; none are needed only when the compute layer built none."""
    if not isinstance(compute, Mapping) or not isinstance(compute.get("pools"), Mapping):
        return []  # a missing compute output is reported above
    from stacks.derive.capacity import pool_capacity, pool_zones

    built = compute["pools"]
    mine = {p.name: p for p in spec.pools}
    problems = []
    if not (spec.builds("storage") or spec.builds("platform")):
        return []  # nothing here is planned from the pools
    if set(mine) != set(built):
        problems.append(
            f"crucible:pools names {sorted(mine)}, but the compute layer of stack {spec.stack_reference!r} built {sorted(built)}; "
            "allowed: the same pools as the compute stack's crucible:pools (this stack plans its queues and profiles from them)"
        )
        return problems
    for i, (name, pool) in enumerate(mine.items()):
        there = built[name] if isinstance(built[name], Mapping) else {}
        zones, limits = list(pool_zones(pool, spec.availability_zones)), pool_capacity(pool).limits()
        if list(there.get("zones") or []) != zones:
            problems.append(
                f"crucible:pools[{i}] ({name}) is in zones {zones}, but the compute layer built it in {list(there.get('zones') or [])}; allowed: the compute stack's pool, as configured there"
            )
        if dict(there.get("limits") or {}) != limits:
            problems.append(
                f"crucible:pools[{i}] ({name}) has limits {limits}, but the compute layer built it with {dict(there.get('limits') or {})}; allowed: the compute stack's pool, as configured there"
            )
    return problems


def read(spec: PlatformSpec) -> Optional[StackOutputs]:
    """The referenced stack's outputs, checked (None when the stack builds every layer); raises RunError naming what
    is missing or disagrees.

    Upper layers need the shape of what lies below (which buckets, whether a Lustre file system exists) while the
    program registers resources, so the outputs are awaited here, the way the SDK's own synchronous invokes wait.
    A StackReference is a read: its outputs are known in preview as in update (unless the referenced stack was never
    deployed, which is reported as missing outputs)."""
    if not spec.stack_reference:
        return None
    from pulumi.runtime.sync_await import _sync_await

    ref = pulumi.StackReference(spec.stack_reference)
    outputs = _sync_await(ref.outputs.future()) or {}
    problems = problems_with(outputs, spec)
    if problems:
        raise pulumi.RunError("stack reference crucible:stackReference: " + "; ".join(problems))
    return StackOutputs(ref, outputs)


def read_layer(layer: str, outputs: StackOutputs) -> LayerContract:
    """The layer's contract read back from the referenced stack; a malformed output stops the program naming it."""
    try:
        return CONTRACTS[layer].from_reference(outputs)
    except ContractError as error:
        raise pulumi.RunError(f"stack reference crucible:stackReference: the {layer} layer: {error}") from None
