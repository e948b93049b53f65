"""The platform add-ons are one registry (issue 14, item 2, the registry): one entry per add-on with its enabling
rule, its build and where its export goes; the platform layer builds the enabled ones in registry order, which keeps
the ordering the REL-ORD policies check (the load balancer controller first, ServiceMonitors after Monitoring, Kueue
before the teams), and adding an add-on is one module plus one registry line."""

from __future__ import annotations

import dataclasses

import pulumi
import pytest

from helpers import REPO, plan, shipped_report
from stacks.layers.platform import registry
from stacks.layers.platform.addon import AddonOutputs, Entry
from stacks.tools.plan.locate import plan_stack
from stacks.spec.loader import load_stack_file

TOP_LEVEL_PLATFORM = "crucible:platform:"


def shipped_spec(stack: str):
    return load_stack_file(REPO / "stacks" / f"Pulumi.{stack}.yaml")[0]


def test_the_registry_builds_every_add_on_after_the_ones_it_depends_on():
    assert registry.order_problems() == []
    first = registry.ENTRIES[0]
    assert first.name == "aws-load-balancer-controller"  # what it reconciles (hub NLB, team Ingresses) depends on it
    names = [e.name for e in registry.ENTRIES]
    for exporter in ("dcgm-exporter", "neuron-monitor", "kuberay-operator", "kueue"):
        assert names.index("monitoring") < names.index(exporter)
    assert names.index("kueue") < names.index("teams")


def test_a_registry_that_builds_an_add_on_before_its_dependency_is_refused():
    swapped = list(registry.ENTRIES)
    swapped[0], swapped[3] = swapped[3], swapped[0]  # jupyterhub before the load balancer controller
    assert registry.order_problems(tuple(swapped)) == ["jupyterhub is built before aws-load-balancer-controller, which it must come after"]
    unknown = (dataclasses.replace(registry.entry("kuberay-operator"), after=("prometheus",)),)
    assert registry.order_problems(unknown) == ["kuberay-operator must come after 'prometheus', which is not in the registry"]


@pytest.mark.parametrize("stack", ["dev", "prod", "trainium", "prod-platform"])
def test_the_enabled_entries_are_exactly_the_platform_components_the_plan_registers(stack):
    enabled = registry.enabled(shipped_spec(stack))
    assert enabled, f"{stack} builds the platform layer"
    document, _ = shipped_report(stack)
    registered = {r["type"] for r in document["resources"] if r["type"].startswith(TOP_LEVEL_PLATFORM)}
    assert registered == {c for e in enabled for c in e.components}


def test_a_stack_without_the_platform_layer_enables_no_add_on():
    spec = shipped_spec("prod-core")
    assert registry.enabled(spec) == []
    assert all(e.enabled(spec) for e in registry.ENTRIES if e.name in ("aws-load-balancer-controller", "kuberay-operator"))  # on by default


def test_each_export_lands_at_its_entry_s_key():
    spec = shipped_spec("prod")
    outputs = plan_stack("prod").run.outputs
    for e in registry.enabled(spec):
        if e.key is not None:
            assert e.key in outputs[e.output], f"{e.name}: no {e.output}.{e.key}"
    assert set(outputs["workloads"]) == {e.key for e in registry.enabled(spec) if e.output == "workloads"} | {"exposure"}
    assert set(outputs["addons"]) == {e.key for e in registry.enabled(spec) if e.output == "addons" and e.key}
    assert set(outputs["tenancy"]) == {"kueue", "teams"}


class _Example(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions):
        super().__init__("crucible:platform:Example", name, None, opts)


def test_adding_an_add_on_is_one_entry_with_its_build(monkeypatch):
    """The README's "Adding an add-on": a module with a build and an ENTRY, and its line in ENTRIES."""

    def build(spec, below, opts) -> AddonOutputs:
        _Example("example", opts)
        return AddonOutputs(export={"namespace": "example", "after": below.monitoring is not None})

    example = Entry(
        name="example",
        components=("crucible:platform:Example",),
        enabled=lambda spec: spec.addons.observability.enabled,
        build=build,
        output="addons",
        key="example",
        after=("monitoring",),
    )
    monkeypatch.setattr(registry, "ENTRIES", (*registry.ENTRIES, example))
    run = plan("prod")
    assert [r.name for r in run.of_type("crucible:platform:Example")] == ["example"]
    assert run.outputs["addons"]["example"] == {"namespace": "example", "after": True}
    assert not plan("dev").of_type("crucible:platform:Example")  # its enabling rule: observability is off in dev
