"""The storage layer end to end: a prod-like stack with an EFA p5 training pool plans a PERSISTENT_2 file system in
that pool's zone, linked to the buckets and mounted as a claim, with a sizing line a person can check; dev plans
SCRATCH_2; `crucible plan` shows and exports the figures."""

from pathlib import Path

import pytest

from helpers import plan, plan_exit_code, shipped_report, spec_of, stack_config
from components.catalog import load_catalog
from stacks.tools.plan.locate import Planned
from stacks.tools.harness import ACCOUNT_ID
from stacks.tools.plan.report import build_report

P5 = {
    "name": "train",
    "kind": "gpu",
    "workload": "training",
    "instanceTypes": ["p5.48xlarge"],
    "efa": True,
    "maxNodes": 4,
    "zones": ["us-east-1b"],
    "amiVersion": "v20251108",
}
STORAGE = {"lustre": {"efa": True, "storageCapacityGib": 19200, "perUnitStorageThroughput": 250}, "checkpointSizeGib": 100}


@pytest.fixture
def catalog():
    """The instance catalog's lookup: figures asserted below are read back through it."""
    return load_catalog().get


def planned(env, **overrides):
    run = plan(env, **overrides)
    return Planned(spec=spec_of(env, **overrides), run=run, path=Path(f"Pulumi.{env}.yaml"), config=stack_config(env, **overrides), secret_keys=[])


def test_prod_with_an_efa_p5_pool_plans_persistent_2_in_the_pools_zone_linked_and_mounted(catalog):
    run = plan("prod", pools=[P5], storage=STORAGE)
    fs = run.one("aws:fsx/lustreFileSystem:LustreFileSystem")
    assert fs.inputs["deploymentType"] == "PERSISTENT_2" and fs.inputs["efaEnabled"] is True
    (subnet,) = fs.property_dependencies["subnetIds"]
    assert run.by_urn(subnet).inputs["availabilityZone"] == "us-east-1b"
    linked = {d.inputs["fileSystemPath"]: d.inputs["dataRepositoryPath"] for d in run.of_type("aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation")}
    assert linked == {
        "/datasets": f"s3://crucible-test-datasets-{ACCOUNT_ID}-us-east-1-an/",
        "/checkpoints": f"s3://crucible-test-checkpoints-{ACCOUNT_ID}-us-east-1-an/",
    }
    pvc = next(r for r in run.of_type("kubernetes:core/v1:PersistentVolumeClaim") if r.inputs["metadata"]["name"] == "lustre")
    assert pvc.inputs["spec"]["volumeName"] == "crucible-lustre" and pvc.protect
    assert fs.protect and fs.retain_on_delete


def test_plan_shows_a_sizing_line_a_person_can_check(catalog):
    accelerators = 4 * catalog("p5.48xlarge").accelerator_count  # maxNodes x GPUs per node
    document, lines = build_report(planned("prod", pools=[P5], storage=STORAGE))
    mbps = 19.2 * 250  # 19200 GiB = 19.2 TiB at 250 MB/s/TiB
    per_accelerator = mbps / accelerators
    seconds = 100 * 1.073741824 * 1000 / mbps
    expected = (
        f"lustre     lustre in us-east-1b: PERSISTENT_2 19,200 GiB x 250 MB/s/TiB = 19.2 x 250 = {mbps:,.0f} MB/s ({mbps / 1000:g} GB/s); "
        f"/ {accelerators} accelerators = {per_accelerator:,.2f} MB/s each; a 100 GiB checkpoint (107.37 GB) writes in {seconds:,.0f} s"
    )
    assert f"  {expected}" in lines
    (entry,) = document["storage"]["fileSystems"]
    assert entry["throughputMbps"] == mbps and entry["trainingAccelerators"] == accelerators
    assert entry["throughputPerAcceleratorMbps"] == round(per_accelerator, 3)
    assert entry["zone"] == "us-east-1b" and entry["efa"] is True and entry["backupRetentionDays"] == 14
    assert document["storage"]["warnings"] == []


def test_plan_warns_below_the_per_accelerator_floor(catalog):
    storage = {**STORAGE, "minThroughputPerAcceleratorMbps": 1000}
    document, lines = build_report(planned("prod", pools=[P5], storage=storage))
    (warning,) = document["storage"]["warnings"]
    assert "below the floor of 1000 MB/s" in warning and any(warning in line for line in lines)


def test_dev_plan_uses_scratch():
    document, lines = shipped_report("dev")
    assert "SCRATCH_2 1,200 GiB x 200 MB/s/TiB = 1.2 x 200 = 240 MB/s (0.24 GB/s)" in "\n".join(lines)
    (entry,) = document["storage"]["fileSystems"]
    assert entry["deploymentType"] == "SCRATCH_2" and entry["backupRetentionDays"] == 0
    names = {b["name"] for b in document["storage"]["buckets"]}
    assert names == {f"crucible-dev-{n}-{ACCOUNT_ID}-us-west-2-an" for n in ("datasets", "checkpoints", "artifacts")}


@pytest.mark.parametrize("stack", ["staging", "prod", "prod-platform"])
def test_shipped_prod_like_stacks_plan_persistent_2(stack):
    document, _ = shipped_report(stack)  # the session's plan of the shipped stack
    assert plan_exit_code(document) == 0
    (entry,) = document["storage"]["fileSystems"]
    # 500 MB/s/TiB: the presets are sized to the storage floor (tests/test_presets_sized.py)
    assert entry["deploymentType"] == "PERSISTENT_2" and entry["throughputPerTibMbps"] == 500 and entry["protected"]
    assert all(b["protected"] and b["retainOnDelete"] and not b["forceDestroy"] for b in document["storage"]["buckets"])
