"""Neuron devices on Bottlerocket open for the pod's own user.

Upstream facts the tests hold Crucible to:
- The EKS user guide ("EKS-optimized Bottlerocket AMIs", Neuron): with Neuron instances the Bottlerocket user data
  must set `[settings.kubernetes] device-ownership-from-security-context = true`, which gives the mounted Neuron
  devices the runAsUser/runAsGroup of the workload; without it they stay root's, and a restricted namespace's pods
  run as non-root.
- Karpenter merges its own settings into the user data by re-marshalling `settings.kubernetes` from its typed struct
  (pkg/providers/amifamily/bootstrap/bottlerocketsettings.go): the key survives because the struct models it
  (DeviceOwnershipFromSecurityContext).
"""

from __future__ import annotations

import tomllib

from helpers import plan, shipped_report

NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
KEY = "device-ownership-from-security-context"


def _settings(stack: str, pool: str) -> dict:
    document = shipped_report(stack)[0]
    (node_class,) = [r for r in document["resources"] if r["type"] == NODECLASS and r["name"] == f"pool-{pool}-nodeclass"]
    return tomllib.loads(node_class["inputs"]["spec"]["userData"])["settings"]


def test_a_neuron_pool_on_bottlerocket_gives_its_devices_to_the_pods_user():
    settings = _settings("prod", "inf")  # inf2, Bottlerocket 1.47.0
    assert settings["kubernetes"][KEY] is True


def test_the_setting_sits_beside_the_boot_labels_in_one_kubernetes_table():
    inf = {"name": "inf", "kind": "neuron", "workload": "serving", "instanceTypes": ["inf2.xlarge"], "maxNodes": 2}
    bottlerocket = {"amiFamily": "Bottlerocket", "amiVersion": "1.47.0", "burnIn": {"enabled": True}}  # burn-in: a boot label
    node_class = plan("dev", pools=[{**inf, **bottlerocket}]).one(NODECLASS)
    kubernetes = tomllib.loads(node_class.inputs["spec"]["userData"])["settings"]["kubernetes"]
    assert kubernetes[KEY] is True and kubernetes["node-labels"] == {"crucible.io/burn-in": "pending"}


def test_a_gpu_pool_on_bottlerocket_does_not_change_its_device_ownership():
    # NVIDIA's container toolkit makes the device nodes world-accessible: nothing to give
    assert KEY not in _settings("prod-platform", "serve").get("kubernetes", {})
