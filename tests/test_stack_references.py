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
    # teams name pools, which live in the compute layer's stack: a platform-only stack has none to name
    top = {k: v for k, v in split.items() if k not in ("crucible:pools", "crucible:storage", "crucible:teams")}
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
    outputs = {"network": {"vpcId": "vpc-1", "vpcCidr": "10.0.0.0/16", "zones": zones,
                           "privateSubnetIds": ["subnet-1", "subnet-2", "subnet-3"], "publicSubnetIds": []},
               "cluster": {"name": "c"}, "compute": {}, "storage": {}}
    with pytest.raises(pulumi.RunError) as caught:
        plan("prod", stack_outputs={"acme/crucible/core": outputs}, drop=("cluster",), **PLATFORM_ONLY)
    assert "crucible:stackReference" in str(caught.value) and "the cluster layer (output 'kubeconfig')" in str(caught.value)


def test_a_plan_does_not_inherit_the_outputs_of_the_plan_before_it_in_the_same_process():
    assert "storage" in plan_stack("prod-platform").run.outputs
    assert sorted(plan_stack("prod-core").run.outputs) == ["cluster", "kubeconfig", "network"]
