"""EFA traffic and errors reach Prometheus (addons/observability_data/efa-counters.sh): EFA devices have no InfiniBand
port counters, so node-exporter's InfiniBand collector shows their state but no traffic and no errors. A sidecar of
the node-exporter pod turns each device's hw_counters into node_efa_<name>_total for the textfile collector. The
script is run here on a sysfs tree shaped as the EFA driver's, and its output checked with promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from addons.observability import EFA_COUNTERS, EFA_COUNTERS_DIR
from components.versions import IMAGES
from helpers import plan
from observability_data import metric_list, promtool

RELEASE = "kubernetes:helm.sh/v3:Release"


def _sysfs(root: Path, devices: dict[str, dict[str, str]]) -> Path:
    for device, counters in devices.items():
        folder = root / "class" / "infiniband" / device / "ports" / "1" / "hw_counters"
        folder.mkdir(parents=True)
        for name, value in counters.items():
            (folder / name).write_text(value + "\n")
    return root


def _run(sys_root: Path, out: Path) -> str:
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no POSIX shell here to run the sidecar's script")
    env = {**os.environ, "SYS": str(sys_root), "OUT": str(out), "ONCE": "1"}
    done = subprocess.run([shell, "-c", EFA_COUNTERS.read_text()], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return (out / "efa.prom").read_text()


def test_each_hardware_counter_becomes_a_counter_of_its_device_and_port(tmp_path):
    sys_root = _sysfs(
        tmp_path / "sys",
        {
            "rdmap0s31": {"tx_bytes": "1024", "rx_drops": "3", "rdma_read_wr_err": "0", "lifespan": "10"},
            "rdmap16s27": {"tx_bytes": "2048", "rx_drops": "0"},
        },
    )
    (tmp_path / "out").mkdir()
    text = _run(sys_root, tmp_path / "out")
    samples = sorted(line for line in text.splitlines() if not line.startswith("#"))
    assert samples == [
        'node_efa_rdma_read_wr_err_total{device="rdmap0s31",port="1"} 0',
        'node_efa_rx_drops_total{device="rdmap0s31",port="1"} 3',
        'node_efa_rx_drops_total{device="rdmap16s27",port="1"} 0',
        'node_efa_tx_bytes_total{device="rdmap0s31",port="1"} 1024',
        'node_efa_tx_bytes_total{device="rdmap16s27",port="1"} 2048',
    ]  # lifespan (the kernel's cache time for the counters) is no counter
    names = {line.split("{")[0] for line in samples}
    assert names <= set(metric_list("efa-counters"))


def test_promtool_accepts_what_the_textfile_collector_reads(tmp_path):
    sys_root = _sysfs(tmp_path / "sys", {"rdmap0s31": {"tx_bytes": "1", "rx_bytes": "2", "rx_drops": "0", "rdma_write_wr_err": "0"}})
    (tmp_path / "out").mkdir()
    text = _run(sys_root, tmp_path / "out")
    done = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["efa.prom"]  # no partial file left to be read


def test_a_node_without_efa_writes_an_empty_file(tmp_path):
    (tmp_path / "sys").mkdir()
    (tmp_path / "out").mkdir()
    assert _run(tmp_path / "sys", tmp_path / "out") == ""


def test_the_node_exporter_of_a_stack_with_efa_pools_runs_the_sidecar_and_reads_its_directory():
    from rendered import objects, pod_spec, release_of

    (daemonset,) = objects(release_of("prod", "kube-prometheus-stack"), "DaemonSet", "kube-prometheus-stack-prometheus-node-exporter")
    containers = {c["name"]: c for c in pod_spec(daemonset)["containers"]}
    assert f"--collector.textfile.directory={EFA_COUNTERS_DIR}" in containers["node-exporter"]["args"]
    sidecar = containers["efa-counters"]
    assert sidecar["image"] == IMAGES["busybox"].ref  # node-exporter's own image is distroless: no shell
    mounts = {m["name"]: m for m in sidecar["volumeMounts"]}
    assert mounts["efa-counters"]["mountPath"] == EFA_COUNTERS_DIR and not mounts["efa-counters"]["readOnly"]
    assert mounts["efa-sys"]["readOnly"]
    volumes = {v["name"]: v for v in pod_spec(daemonset)["volumes"]}
    assert volumes["efa-sys"]["hostPath"]["path"] == "/sys" and "emptyDir" in volumes["efa-counters"]
    assert {m["name"]: m["readOnly"] for m in containers["node-exporter"]["volumeMounts"]}["efa-counters"]


def test_a_stack_without_efa_pools_has_no_sidecar():
    pool = {"name": "l4", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 2, "amiVersion": "v20251108"}
    values = plan("prod", pools=[pool]).one(RELEASE, "monitoring").inputs["values"]["prometheus-node-exporter"]
    assert "sidecars" not in values and "extraArgs" not in values
