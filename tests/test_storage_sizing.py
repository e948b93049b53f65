"""Pure storage derivations: Lustre sizing (hand-checkable numbers), the file system's zone, startup taints."""

import pytest

from helpers import spec_of
from stacks.derive.placement import derived_lustre_zone, lustre_zone, startup_taints
from stacks.derive.storage_sizing import checkpoint_seconds, lustre_sizing, sizing_for, throughput_mbps, training_accelerators


def test_throughput_is_fsx_tib_times_throughput_per_tib():
    assert throughput_mbps(1200, 200) == 240  # 1.2 TiB x 200
    assert throughput_mbps(2400, 250) == 600  # 2.4 x 250
    assert throughput_mbps(4800, 1000) == 4800  # 4.8 x 1000


def test_checkpoint_time_is_size_over_throughput():
    # 100 GiB = 107.3741824 GB; at 600 MB/s: 107374.1824 / 600 = 178.96 s
    assert checkpoint_seconds(100, 600) == pytest.approx(178.956, abs=1e-3)
    assert checkpoint_seconds(1, 1073.741824) == pytest.approx(1.0)


def test_sizing_line_a_person_can_check():
    s = lustre_sizing("PERSISTENT_2", 2400, 250, accelerators=32, checkpoint_gib=100, floor_mbps=50)
    assert (s.throughput_mbps, s.throughput_gbps, s.per_accelerator_mbps) == (600, 0.6, 18.75)
    assert s.line() == (
        "PERSISTENT_2 2,400 GiB x 250 MB/s/TiB = 2.4 x 250 = 600 MB/s (0.6 GB/s); / 32 accelerators = 18.75 MB/s each; "
        "a 100 GiB checkpoint (107.37 GB) writes in 179 s"
    )


def test_scratch_writes_at_half_its_read_baseline():
    s = lustre_sizing("SCRATCH_2", 1200, 200, accelerators=None, checkpoint_gib=100, floor_mbps=50)
    assert (s.throughput_mbps, s.write_mbps) == (240, 120)
    assert s.checkpoint_seconds == pytest.approx(107374.1824 / 120)
    assert s.per_accelerator_mbps is None and s.warning() is None


def test_warning_below_the_floor_and_not_above():
    low = lustre_sizing("PERSISTENT_2", 2400, 250, accelerators=32, checkpoint_gib=100, floor_mbps=50)
    assert low.below_floor and "18.75 MB/s per accelerator is below the floor of 50 MB/s" in low.warning()
    assert "32 accelerators need 1,600 MB/s" in low.warning()
    high = lustre_sizing("PERSISTENT_2", 19200, 1000, accelerators=32, checkpoint_gib=100, floor_mbps=50)
    assert high.per_accelerator_mbps == 600 and high.warning() is None  # 19.2 x 1000 / 32


def test_json_carries_the_same_figures():
    data = lustre_sizing("PERSISTENT_2", 4800, 250, accelerators=64, checkpoint_gib=200, floor_mbps=50).to_json()
    assert data["throughputMbps"] == 1200 and data["throughputGbps"] == 1.2
    assert data["throughputPerAcceleratorMbps"] == 18.75 and data["belowFloor"] is True
    assert data["checkpointWriteSeconds"] == pytest.approx(200 * 1073.741824 / 1200, abs=0.05)


P5 = {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": "v20251108"}
G6 = {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"}


class _Capacity:
    def __init__(self, accelerators):
        self.accelerators = accelerators


def test_accelerators_count_training_pools_only():
    spec = spec_of("prod", pools=[P5, G6, {**P5, "name": "train2", "efa": False}])
    counted = training_accelerators(spec, capacity_of=lambda pool: _Capacity({"train": 32, "train2": 16, "serve": 99}[pool.name]))
    assert counted == 48
    assert training_accelerators(spec_of("prod", pools=[G6]), capacity_of=lambda pool: _Capacity(4)) is None
    sizing = sizing_for(spec_of("prod", pools=[P5]), capacity_of=lambda pool: _Capacity(32))
    assert (sizing.capacity_gib, sizing.throughput_per_tib, sizing.accelerators) == (1200, 250, 32)


def test_the_derived_lustre_zone_follows_the_efa_pool_then_training_pool_then_the_first_zone():
    # What dev uses when storage.lustre.zone is unset, and what the error outside dev suggests.
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert derived_lustre_zone(spec_of("prod")) == "us-east-1a"
    assert derived_lustre_zone(spec_of("prod", pools=[G6, {**P5, "zones": ["us-east-1c"]}])) == "us-east-1c"
    assert derived_lustre_zone(spec_of("prod", pools=[{**P5, "efa": False, "zones": ["us-east-1b", "us-east-1c"]}])) == "us-east-1b"
    training = {**P5, "name": "t", "efa": False, "zones": ["us-east-1b", "us-east-1c"]}  # must include the Lustre zone
    efa = {**P5, "name": "e", "zones": ["us-east-1c"]}
    assert derived_lustre_zone(spec_of("prod", pools=[training, efa])) == "us-east-1c"  # EFA first, wherever listed
    assert derived_lustre_zone(spec_of("prod", pools=[{**P5, "efa": False}])) == zones[0]  # all zones: the first
    assert lustre_zone(spec_of("prod", pools=[G6], storage={"lustre": {"zone": "us-east-1b"}})) == "us-east-1b"  # stated wins


def test_startup_taint_on_pools_that_mount_lustre():
    spec = spec_of("prod", pools=[P5, G6])
    train, serve = spec.pools

    def lustre(taints):  # accelerator pools outside dev also start with the burn-in taint (tests/test_node_health.py)
        return [t for t in taints if t["key"] != "crucible.io/burn-in"]

    assert lustre(startup_taints(train, spec)) == [{"key": "fsx.csi.aws.com/agent-not-ready", "effect": "NoExecute"}]
    assert lustre(startup_taints(serve, spec)) == []
    off = spec_of("prod", pools=[P5], storage={"lustre": {"enabled": False}, "buckets": [{"name": "datasets"}]})
    assert lustre(startup_taints(off.pools[0], off)) == []
