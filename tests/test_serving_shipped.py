"""The shipped presets serve models (inference: one-node GPU, multi-node GPU over EFA, Neuron; research: one-node
GPU): every model's pods land, are admitted (or run unqueued, as Kueue leaves Deployments and LeaderWorkerSets) and
reach what they need, and `crucible plan` states each model's replica shape, placement, scaling signal and start
path."""

from __future__ import annotations

import pytest

from helpers import shipped_report
from stacks.spec.loader import load_stack_file
from stacks.tools.plan.locate import shipped_stacks

STACKS_WITH_MODELS = [s for s in shipped_stacks() if s in ("inference", "research")]


def spec_of_stack(stack: str):
    from pathlib import Path

    from helpers import REPO

    found = load_stack_file(Path(REPO, "stacks", f"Pulumi.{stack}.yaml"))
    return next(x for x in found if hasattr(x, "serving"))


def test_the_presets_exercise_every_serving_shape():
    shapes = set()
    for stack in STACKS_WITH_MODELS:
        spec = spec_of_stack(stack)
        from stacks.layers.platform.serving import shape_of

        for m in spec.serving.models:
            shape = shape_of(spec, m)
            shapes.add((shape.kind, shape.multi_node))
    assert shapes == {("gpu", False), ("gpu", True), ("neuron", False)}


@pytest.mark.parametrize("stack", STACKS_WITH_MODELS)
def test_every_model_of_a_shipped_stack_lands_is_admitted_and_reaches(stack):
    document, _ = shipped_report(stack)
    spec = spec_of_stack(stack)
    names = {m.name for m in spec.serving.models}
    entries = [w for w in document["workloads"]["workloads"] if w.get("source") == "platform" and w.get("object") in names]
    assert {w["object"] for w in entries} == names
    pools = {m.name: m.pool for m in spec.serving.models}
    for w in entries:
        for check in ("lands", "admitted", "reaches", "podSecurity"):
            assert w["checks"][check]["ok"], (w["name"], check, w["checks"][check])
        # queued by Kueue's pod integration in a team namespace: admitted on the model's own pool's flavor (the pods
        # select karpenter.sh/nodepool, the flavors' key; research's was admitted on notebooks-gpu before)
        flavors = set((w["checks"]["admitted"].get("flavors") or {}).values())
        assert flavors <= {pools[w["object"]]}, (w["name"], flavors)


@pytest.mark.parametrize("stack", STACKS_WITH_MODELS)
def test_the_plan_states_each_models_shape_placement_scaling_and_start_path(stack):
    document, lines = shipped_report(stack)
    spec = spec_of_stack(stack)
    section = {entry["name"]: entry for entry in document["serving"]}
    assert set(section) == {m.name for m in spec.serving.models}
    for entry in section.values():
        assert entry["replicaShape"] and "FAILS" not in entry["placement"] and entry["scaling"] and entry["startPath"]
    text = "\n".join(lines)
    assert "Served models" in text and "cold start" in text
