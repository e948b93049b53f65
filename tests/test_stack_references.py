"""Stack references bring back every layer below the stack, from a stack in the same region, or the stack stops
naming what is missing (issue 12, E): `crucible plan` exits 2 with a config error, the program raises a RunError."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pulumi
import pytest
import yaml

from addons.storage_drivers import LUSTRE_CLAIM
from stacks.tools import cli
from stacks.tools.plan.locate import plan_stack
from helpers import REPO, plan

STACKS = REPO / "stacks"


def _shipped(name: str) -> dict:
    return yaml.safe_load((STACKS / f"Pulumi.{name}.yaml").read_text())["config"]


def _write(folder: Path, name: str, config: dict) -> Path:
    path = folder / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


PLATFORM_SECTIONS = ("crucible:teams", "crucible:addons", "crucible:jupyterhubOauthClientSecret", "crucible:grafanaAdminPassword")


@functools.lru_cache(maxsize=None)
def three_stacks(folder: Path) -> Path:
    """prod-core (network, cluster) ← mid (compute, storage) ← top (platform only)."""
    core = _shipped("prod-core")
    _write(folder, "prod-core", core)
    split = _shipped("prod-platform")
    mid = {k: v for k, v in split.items() if k not in PLATFORM_SECTIONS}
    mid["crucible:layers"] = ["compute", "storage"]
    _write(folder, "mid", mid)
    # the pools the platform plans from are the compute stack's (checked against its export); no teams here
    top = {k: v for k, v in split.items() if k not in ("crucible:storage", "crucible:teams")}
    top["crucible:layers"] = ["platform"]
    top["crucible:stackReference"] = "acme/crucible/mid"
    return _write(folder, "top", top)


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("split")
    three_stacks(folder)
    return folder


def test_a_platform_only_stack_gets_the_storage_layer_back(split_folder):
    top = plan_stack(str(split_folder / "Pulumi.top.yaml")).run
    assert not top.of_type("aws:s3/bucket:Bucket") and not top.of_type("aws:fsx/lustreFileSystem:LustreFileSystem")
    (hub,) = [r for r in top.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == "jupyterhub"]
    assert LUSTRE_CLAIM in json.dumps(hub.inputs["values"]), "notebooks lost the shared Lustre claim: the storage layer was dropped"
    assert set(top.outputs) >= {"network", "cluster", "kubeconfig", "compute", "storage"}  # re-exported for stacks above


def test_a_referenced_stack_that_lacks_a_layer_is_a_config_error_in_plan(split_folder, capsys):
    top = yaml.safe_load((split_folder / "Pulumi.top.yaml").read_text())["config"]
    top["crucible:stackReference"] = "acme/crucible/prod-core"  # network and cluster only
    path = _write(split_folder, "top-on-core", top)
    assert cli.main(["plan", str(path)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "crucible:stackReference" in err and "the compute layer (output 'compute')" in err
    assert "the storage layer (output 'storage')" in err and "internal error" not in err


def test_a_core_stack_in_another_region_is_a_config_error_in_plan(tmp_path, capsys):
    core = _shipped("prod-core")
    core.update({"aws:region": "us-west-2", "crucible:region": "us-west-2", "crucible:availabilityZones": ["us-west-2a", "us-west-2b", "us-west-2c"]})
    _write(tmp_path, "prod-core", core)
    path = _write(tmp_path, "prod-platform", _shipped("prod-platform"))
    assert cli.main(["plan", str(path)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "crucible:stackReference" in err and "is in us-west-2, but this stack is in us-east-1" in err


PLATFORM_ONLY = {"layers": ["platform"], "stackReference": "acme/crucible/core"}


def test_under_the_engine_a_missing_output_stops_the_program_naming_it():
    from helpers import BASE

    zones = BASE["prod"]["availabilityZones"]
    outputs = {
        "network": {
            "vpcId": "vpc-1",
            "vpcCidr": "10.0.0.0/16",
            "zones": zones,
            "privateSubnetIds": ["subnet-1", "subnet-2", "subnet-3"],
            "publicSubnetIds": [],
        },
        "cluster": {"name": "c"},
        "compute": {},
        "storage": {},
    }
    with pytest.raises(pulumi.RunError) as caught:
        plan("prod", stack_outputs={"acme/crucible/core": outputs}, drop=("cluster",), **PLATFORM_ONLY)
    assert "crucible:stackReference" in str(caught.value) and "the cluster layer (output 'kubeconfig')" in str(caught.value)


def test_a_plan_does_not_inherit_the_outputs_of_the_plan_before_it_in_the_same_process():
    assert "storage" in plan_stack("prod-platform").run.outputs
    assert sorted(plan_stack("prod-core").run.outputs) == ["cluster", "kubeconfig", "network"]


# ---- the split-stack config (issue 14, item 1): a stack carries the sections of the layers it builds, and the
# pools it plans from when the compute layer is below it


def _platform_with_pools(folder: Path, name: str, edit=None) -> Path:
    """The platform-only stack on `mid` (with the pools of mid's compute layer), with the shipped teams."""
    three_stacks(folder)
    top = yaml.safe_load((folder / "Pulumi.top.yaml").read_text())["config"]
    split = _shipped("prod-platform")
    top["crucible:teams"] = split["crucible:teams"]
    if edit is not None:
        edit(top)
    return _write(folder, name, top)


def test_a_platform_only_stack_with_the_compute_stacks_pools_gets_its_queues_and_team_namespaces(split_folder):
    run = plan_stack(str(_platform_with_pools(split_folder, "top-teams"))).run
    assert not run.of_type("crucible:compute:NodePool") and not run.of_type("aws:s3/bucket:Bucket")
    assert sorted(r.name for r in run.of_type("kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor")) == [
        "kueue-flavor-cpu",
        "kueue-flavor-serve",
        "kueue-flavor-train",
    ]
    assert sorted(r.name for r in run.of_type("crucible:platform:Team")) == ["team-llm", "team-search", "team-vision"]
    assert run.of_type("crucible:platform:DcgmExporter"), "the gpu pools' metrics exporter is planned from the pools"
    assert set(run.outputs["tenancy"]["teams"]) == {"llm", "vision", "search"}


def test_a_platform_stack_whose_pools_differ_from_the_compute_layer_below_is_a_config_error_in_plan(split_folder, capsys):
    def bigger(config: dict) -> None:
        config["crucible:pools"][0]["maxNodes"] = 8  # mid's compute layer built train with 4 nodes

    def renamed(config: dict) -> None:
        config["crucible:pools"][2]["name"] = "cpu-nb"

    assert cli.main(["plan", str(_platform_with_pools(split_folder, "top-bigger", bigger))]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "crucible:stackReference" in err and "crucible:pools[0] (train) has limits" in err and "internal error" not in err
    assert cli.main(["plan", str(_platform_with_pools(split_folder, "top-renamed", renamed))]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "crucible:pools names ['cpu-nb', 'serve', 'train'], but the compute layer of stack 'acme/crucible/mid' built ['cpu', 'serve', 'train']" in err
    assert (
        cli.main(["plan", str(_platform_with_pools(split_folder, "top-no-pools", lambda c: (c.pop("crucible:pools"), c.pop("crucible:teams"))))])
        == cli.EXIT_CONFIG
    )
    err = capsys.readouterr().err  # without them the platform would silently lose the exporters and profiles of those pools
    assert "crucible:pools names [], but the compute layer of stack 'acme/crucible/mid' built ['cpu', 'serve', 'train']" in err


def _problems(config: dict, stack: str) -> dict[str, str]:
    from stacks.spec import ConfigError, load_spec
    from stacks.spec.loader import encode

    try:
        load_spec({k: encode(v) for k, v in config.items()}, stack, missing_secrets="allow")  # secrets are not shipped
    except ConfigError as error:
        return {p.path: p.message for p in error.problems}
    return {}


def test_a_core_stack_carries_no_section_of_the_layers_above_it():
    core = _shipped("prod-core")
    assert not any(key in core for key in ("crucible:pools", "crucible:storage", *PLATFORM_SECTIONS, "crucible:training", "crucible:serving"))
    assert _problems(core, "prod-core") == {}  # the platform's defaults are not validated in a stack that does not build it
    found = _problems({**core, "crucible:pools": _shipped("prod-platform")["crucible:pools"]}, "prod-core")
    assert list(found) == ["crucible:pools"]
    assert "does not build any layer that reads it (compute, storage, platform)" in found["crucible:pools"]


def test_a_platform_only_stack_carries_no_section_of_the_layers_below_it_but_the_pools(split_folder):
    top = yaml.safe_load((split_folder / "Pulumi.top.yaml").read_text())["config"]
    assert not any(key in top for key in ("crucible:network", "crucible:cluster", "crucible:storage"))
    assert _problems(top, "top") == {}
    split = _shipped("prod-platform")
    assert _problems({**top, "crucible:teams": split["crucible:teams"]}, "top") == {}
    found = _problems({**top, "crucible:storage": split["crucible:storage"]}, "top")
    assert list(found) == ["crucible:storage"] and "does not build the storage layer" in found["crucible:storage"]
