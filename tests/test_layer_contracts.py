"""Each layer is a module `build(spec, below) -> Built[<Layer>Outputs]` on a typed Below, and each layer's contract
exports itself and is read back from a stack reference side by side (issue 14, item 1): what one stack exports, a
stack above reads back unchanged, for every layer below the platform."""

from __future__ import annotations

import ast
import functools
import inspect
import typing
from pathlib import Path

import pulumi
import pytest

from components.contracts import ComputeOutputs, StorageOutputs
from helpers import REPO
from stacks.layers import BUILDS, Below, Built
from stacks.layers.reference import CONTRACTS, StackOutputs, read_layer
from stacks.spec import LAYERS
from stacks.tools.harness import run_program


@functools.lru_cache(maxsize=None)
def prod_outputs() -> dict:
    """The outputs of the shipped all-in-one prod stack, as a StackReference to it reads them."""
    from stacks.tools.plan.locate import plan_stack

    return dict(plan_stack("prod").run.raw_outputs)


def test_every_layer_has_a_build_and_a_contract_in_layer_order():
    assert tuple(BUILDS) == LAYERS and tuple(CONTRACTS) == LAYERS


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_builds_on_a_typed_below_and_returns_its_contract(layer):
    hints = typing.get_type_hints(BUILDS[layer])
    assert hints["below"] is Below
    assert typing.get_origin(hints["return"]) is Built and typing.get_args(hints["return"]) == (CONTRACTS[layer],)


def test_the_deploy_path_wires_layers_without_probing_objects():
    """No getattr/hasattr and no `Any`-typed parameter in the layers or the program: what a layer needs from below is
    a field of Below, typed."""
    files = [REPO / "stacks" / "program.py", *sorted((REPO / "stacks" / "layers").rglob("*.py"))]
    found = []
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.func.id}")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.args + node.args.kwonlyargs:
                    if isinstance(arg.annotation, ast.Name) and arg.annotation.id == "Any":
                        found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}({arg.arg}: Any)")
    assert not found, found


@pytest.mark.parametrize("layer", ["network", "cluster", "compute", "storage"])
def test_what_a_layer_exports_a_stack_above_reads_back_unchanged(layer):
    exported = prod_outputs()
    names = CONTRACTS[layer].OUTPUTS

    def program() -> None:
        read = read_layer(layer, StackOutputs(pulumi.StackReference("acme/crucible/prod"), exported))
        for name, value in read.stack_outputs().items():
            pulumi.export(name, value)

    run = run_program(program, stack="above", config={}, stack_outputs={"acme/crucible/prod": exported})
    assert {n: run.raw_outputs[n] for n in names} == {n: exported[n] for n in names}


def test_the_compute_layer_exports_a_typed_contract_with_todays_shape():
    compute = ComputeOutputs.from_reference(StackOutputs(None, prod_outputs()))
    assert set(compute.pools) == {"train", "serve", "inf", "cpu"}  # every pool of the stack, by name
    assert compute.pools["train"].efa_interfaces_per_node > 0 and compute.pools["cpu"].efa_interfaces_per_node == 0
    exported = prod_outputs()["compute"]
    assert set(exported) == {"karpenter", "pools"} and set(exported["karpenter"]) == {"version", "interruptionQueue", "nodeRole"}
    for pool in exported["pools"].values():
        assert set(pool) == {"limits", "zones", "efaInterfacesPerNode", "maxPodsPerNode"}
    assert compute.export() == exported


def test_a_malformed_layer_output_stops_the_program_naming_the_layer_and_the_key():
    outputs = dict(prod_outputs())
    outputs["compute"] = {"karpenter": outputs["compute"]["karpenter"]}  # no pools
    with pytest.raises(pulumi.RunError) as caught:
        read_layer("compute", StackOutputs(None, outputs))
    assert "the compute layer" in str(caught.value) and "'pools'" in str(caught.value)
    outputs["storage"] = {"namespace": "data"}
    with pytest.raises(pulumi.RunError) as caught:
        read_layer("storage", StackOutputs(None, outputs))
    assert "the storage layer" in str(caught.value) and "'kmsKeyArn'" in str(caught.value)


def test_the_storage_contract_reads_back_lustre_and_the_read_only_claims():
    storage = StorageOutputs.from_reference(StackOutputs(None, prod_outputs()))
    assert storage.lustre is not None and storage.lustre.pvc_name and storage.read_only_claims
    assert storage.export() == prod_outputs()["storage"]


def test_contracts_import_nothing_from_stacks():
    tree = ast.parse(Path(inspect.getfile(ComputeOutputs)).read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module] + [
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    ]
    assert not [m for m in imported if m.split(".")[0] == "stacks"]
