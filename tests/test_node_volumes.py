"""Node volumes agree with where the node keeps containers, images and kubelet state, and with the volume Karpenter
sizes ephemeral-storage from (EC2NodeClass `rootVolume`; without one Karpenter takes the AMI family's ephemeral
device: /dev/xvda on AL2023, /dev/xvdb on Bottlerocket — karpenter-provider-aws instancetype.ephemeralStorage).

- Bottlerocket: /dev/xvda is the OS volume, /dev/xvdb the data volume where kubelet and containerd live: xvdb is the
  rootVolume.
- AL2023 with `dataVolumeGib`: the AMI never formats an extra volume, so the node class's user data formats
  /dev/xvdb and mounts it over /var/lib/containerd, /var/lib/kubelet and /var/log/pods before nodeadm starts them
  (nodeadm-run.service runs after cloud-final); xvdb is the rootVolume.
- AL2023 with instance-store RAID0: Karpenter's NodeConfig assembles and mounts it (/mnt/k8s-disks/0) and sizes
  ephemeral-storage from it; a data volume as well would compete for the same directories: refused.
"""

from __future__ import annotations

import email

import pytest

from helpers import plan, spec_of
from stacks.spec import ConfigError

NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
CPU = {"name": "cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.xlarge"], "maxNodes": 5}
# g6e.2xlarge has local NVMe: RAID0 is the default on it.
NVME = {"name": "gpu", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.2xlarge"], "maxNodes": 2}


def _spec(**pool):
    return plan("dev", pools=[{**CPU, **pool}]).one(NODECLASS).inputs["spec"]


def _devices(spec):
    return {d["deviceName"]: d for d in spec["blockDeviceMappings"]}


def test_bottlerocket_data_volume_is_the_root_volume_karpenter_sizes():
    devices = _devices(_spec(amiFamily="Bottlerocket", rootVolumeGib=20, dataVolumeGib=300))
    assert devices["/dev/xvdb"]["rootVolume"] is True and devices["/dev/xvdb"]["ebs"]["volumeSize"] == "300Gi"
    assert "rootVolume" not in devices["/dev/xvda"] and devices["/dev/xvda"]["ebs"]["volumeSize"] == "20Gi"


def test_al2023_without_a_data_volume_keeps_everything_on_the_root_volume():
    spec = _spec(rootVolumeGib=150)
    assert list(_devices(spec)) == ["/dev/xvda"] and _devices(spec)["/dev/xvda"]["rootVolume"] is True
    assert "userData" not in spec


def test_al2023_data_volume_is_mounted_where_containers_and_kubelet_live():
    spec = _spec(dataVolumeGib=500)
    devices = _devices(spec)
    assert devices["/dev/xvdb"]["rootVolume"] is True and devices["/dev/xvdb"]["ebs"]["volumeSize"] == "500Gi"
    assert "rootVolume" not in devices["/dev/xvda"]
    script = _shell_part(spec["userData"])
    assert script.startswith("#!/bin/bash\n")
    assert "mkfs.xfs" in script and "/dev/xvdb" in script
    for directory in ("/var/lib/containerd", "/var/lib/kubelet", "/var/log/pods"):
        assert directory in script
    assert "/etc/fstab" in script  # the mounts survive a reboot (node repair)


def _shell_part(user_data: str) -> str:
    """The one text/x-shellscript part of a MIME multipart user data, as cloud-init reads it."""
    message = email.message_from_string(user_data)
    assert message.is_multipart() and message.get_content_type() == "multipart/mixed"
    (part,) = message.get_payload()
    assert part.get_content_type() == "text/x-shellscript"
    return part.get_payload()


def test_al2023_user_data_is_a_mime_archive_karpenter_merges_its_node_config_into():
    # Karpenter reads non-MIME AL2023 user data as a NodeConfig when it parses as a YAML mapping (nodeadm.go); a script
    # must never depend on happening not to parse. As MIME, its NodeConfig part is added beside the script.
    user_data = _spec(dataVolumeGib=500)["userData"]
    assert user_data.startswith("MIME-Version: 1.0\n")
    assert _shell_part(user_data).startswith("#!/bin/bash\n")


def test_al2023_data_volume_turns_the_default_raid0_off():
    spec = plan("dev", pools=[{**NVME, "dataVolumeGib": 400}]).one(NODECLASS).inputs["spec"]
    assert "instanceStorePolicy" not in spec and _devices(spec)["/dev/xvdb"]["rootVolume"] is True


def test_al2023_raid0_is_left_to_karpenter_and_sizes_ephemeral_storage():
    spec = plan("dev", pools=[NVME]).one(NODECLASS).inputs["spec"]
    assert spec["instanceStorePolicy"] == "RAID0"
    assert "userData" not in spec  # Karpenter's NodeConfig sets up /mnt/k8s-disks/0; nothing may compete with it


def test_al2023_data_volume_with_raid0_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", pools=[{**NVME, "dataVolumeGib": 400, "instanceStoreRaid0": True}])
    problems = [p for p in caught.value.problems if p.path == "crucible:pools[0].dataVolumeGib"]
    assert len(problems) == 1, caught.value.render()
    assert "instanceStoreRaid0" in problems[0].message and "400" in problems[0].message


def test_the_data_volume_script_is_valid_bash():
    import shutil
    import subprocess

    from components.node_pool import al2023_data_volume_script

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    result = subprocess.run([bash, "-n"], input=al2023_data_volume_script(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_volume_layout_validates_against_the_upstream_crd():
    import upstream
    from helpers import shared_dir

    shared_dir()
    layouts = [
        {"amiFamily": "Bottlerocket", "dataVolumeGib": 300},
        {"amiFamily": "Bottlerocket"},
        {"dataVolumeGib": 500},
        {},
    ]
    for layout in layouts:
        r = plan("dev", pools=[{**CPU, **layout}]).one(NODECLASS)
        manifest = {k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}
        upstream.assert_valid(manifest)
        assert sum(1 for d in manifest["spec"]["blockDeviceMappings"] if d.get("rootVolume")) == 1, layout  # the CRD's CEL rule: at most one
