"""One fact, one module, no upward imports (issue 14, item 3): one accelerator table that every layer reads, the
catalog's own facts, components and add-ons importing only components/ and plain args, and a deploy path that
never imports the tools."""

from __future__ import annotations

import ast
import typing
from functools import cache
from pathlib import Path

import pytest
from helpers import REPO

from components import accelerators
from components.accelerators import (
    ACCELERATORS,
    CPU,
    DEVICE_RESOURCES,
    GPU,
    KINDS,
    NEURON,
    accelerator,
    from_catalog_kind,
    from_resource,
)
from components.catalog import load_catalog

DEPLOY_PATH = ("components", "addons", "stacks", "policies")


def python_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py"))


@cache
def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, wherever the import is (module level, a function, TYPE_CHECKING)."""
    out = []
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out += [(node.lineno, node.module)]
    return out


def imports_of(roots: tuple[str, ...], package: str, exclude: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in python_files(*roots):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(exclude):
            continue
        found += [f"{rel}:{line} imports {name}" for line, name in imported_modules(path) if name == package or name.startswith(package + ".")]
    return found


# ---- no upward imports -------------------------------------------------------------------------------------------


def test_no_component_or_addon_imports_stacks():
    # Components and add-ons only create resources from typed args; what they need lives in components/.
    assert imports_of(("components", "addons"), "stacks") == []


def test_the_deploy_path_never_imports_the_tools():
    # `pulumi up` runs program, spec, derive, layers, components and add-ons; stacks/tools is the CLI's alone.
    assert imports_of(("components", "addons", "stacks"), "stacks.tools", exclude=("stacks/tools/",)) == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    # The check must not be blind to a deferred import (the kind that hid components -> stacks.derive before).
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from stacks.derive.capacity import pool_capacity\n    import stacks.spec\n")
    assert [name for _, name in imported_modules(module)] == ["stacks.derive.capacity", "stacks.spec"]


def test_the_accelerator_table_needs_only_the_standard_library():
    # The policy pack reads it from its own virtualenv (pulumi and pulumi-policy only).
    path = REPO / "components" / "accelerators.py"
    assert {name.split(".")[0] for _, name in imported_modules(path)} <= {"__future__", "dataclasses", "typing"}


# ---- one table ---------------------------------------------------------------------------------------------------


def test_the_vocabulary_is_the_pool_kind_of_the_spec():
    from stacks.spec.pools import PoolSpec

    assert typing.get_args(typing.get_type_hints(PoolSpec)["kind"]) == KINDS == ("gpu", "neuron", "cpu")


@pytest.mark.parametrize(
    "kind, catalog_kind, resource, label, taint",
    [
        ("gpu", "nvidia", "nvidia.com/gpu", "nvidia", {"key": "nvidia.com/gpu", "effect": "NoSchedule"}),
        ("neuron", "neuron", "aws.amazon.com/neuron", "neuron", {"key": "aws.amazon.com/neuron", "effect": "NoSchedule"}),
        ("cpu", "none", None, None, None),
    ],
)
def test_each_kind_has_one_row_with_every_name_it_goes_by(kind, catalog_kind, resource, label, taint):
    row = accelerator(kind)
    assert (row.catalog_kind, row.resource, row.label_value, row.taint) == (catalog_kind, resource, label, taint)
    assert from_catalog_kind(catalog_kind) is row
    assert from_resource(resource) is row
    if resource:
        assert row.toleration == {"key": resource, "operator": "Exists", "effect": "NoSchedule"}


def test_neuron_cores_are_a_neuron_resource_and_device_resources_are_gpu_then_neuron():
    assert from_resource("aws.amazon.com/neuroncore") is NEURON
    assert DEVICE_RESOURCES == ("nvidia.com/gpu", "aws.amazon.com/neuron")


def test_an_unknown_kind_is_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match="accelerator kind 'tpu'; allowed: gpu, neuron, cpu"):
        accelerator("tpu")
    with pytest.raises(ValueError, match="allowed: nvidia, neuron, none"):
        from_catalog_kind("gpu")


def test_every_catalog_type_has_a_kind_of_the_table_with_its_resource():
    for instance_type in load_catalog():
        row = ACCELERATORS[instance_type.kind]
        assert instance_type.accelerator_resource == row.resource
        assert instance_type.is_accelerated is row.accelerated is (instance_type.accelerator_count > 0)


def test_the_device_plugins_are_the_charts_the_table_names():
    from addons import device_plugins

    from components import versions

    assert device_plugins.NVIDIA == versions.chart(GPU.device_plugin)  # the pin of the table's chart
    assert device_plugins.NEURON == versions.chart(NEURON.device_plugin)
    assert CPU.device_plugin is None


def _spelled_names() -> set[str]:
    """The spellings only the table may hold: device resources and the catalog's maker names (``neuron`` is also the
    pool kind itself, so it is not one of them)."""
    rows = accelerators.ACCELERATED
    return (
        {r for a in rows for r in a.resources}
        | {a.catalog_kind for a in rows if a.catalog_kind not in KINDS}
        | {a.label_value for a in rows if a.label_value not in KINDS}
    )


def test_no_module_but_the_table_spells_an_accelerator_name():
    # The whole class of maps between vocabularies ({"gpu": "nvidia.com/gpu"}, {"nvidia": "gpu"}, a hard-coded
    # "requests.nvidia.com/gpu"): a string constant naming a device resource or the maker, outside prose.
    names = _spelled_names()
    assert names == {"nvidia.com/gpu", "aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "nvidia"}
    table = REPO / "components" / "accelerators.py"
    found = []
    for path in python_files(*DEPLOY_PATH):
        if path == table:
            continue
        tree = tree_of(path)
        prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in prose:
                continue
            value = node.value
            if any(c.isspace() for c in value):
                continue  # a message or description
            if value in names or any(resource in value for resource in names if "/" in resource):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {value!r}")
    assert found == []


# ---- the training runtime lives with the training operators ------------------------------------------------------


def test_the_training_runtime_is_the_training_operators_and_the_examples_import_it_from_there():
    from addons import training_operators
    from stacks.tools.examples import training

    assert training.torch_efa_runtime is training_operators.torch_efa_runtime
    assert training.EFA_ENV is training_operators.EFA_ENV
