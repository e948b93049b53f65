"""Device plugins for the accelerator pools, each pinned and scheduled only where its devices are.

- NVIDIA device plugin: AL2023 GPU nodes only (Bottlerocket's NVIDIA variant ships its own plugin).
- AWS Neuron device plugin: Trainium / Inferentia nodes (no scheduler extension: see :func:`neuron_values`).
- EFA device plugin: nodes of EFA pools (label crucible.io/efa=true), tolerating the accelerator taints.

Wired by the compute layer (top-level tokens `crucible:compute:*`); the values are built by pure functions so
tests can check them against the charts' own values.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components import accelerators, versions
from components.helm_addon import HelmChart, helm_release
from components.labels import ACCELERATOR_LABEL, AMI_FAMILY_LABEL, BURN_IN_TOLERATION, EFA_LABEL

NAMESPACE = "kube-system"
NVIDIA = versions.chart(accelerators.GPU.device_plugin or "")  # the accelerator table names each kind's plugin
EFA = versions.chart("aws-efa-k8s-device-plugin")
# The Neuron chart's pin is not confirmed against the registry (see its note in components/versions.py).
NEURON = versions.chart(accelerators.NEURON.device_plugin or "")

GPU_TOLERATION = accelerators.GPU.toleration
NEURON_TOLERATION = accelerators.NEURON.toleration


def _required_node_affinity(*expressions: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": list(expressions)}]}}}


def nvidia_values() -> dict:
    """On nodes labelled accelerator=nvidia and ami-family=al2023 (the chart's default affinity looks for NFD/GFD
    labels Crucible does not install; replace it)."""
    return {
        "affinity": _required_node_affinity(
            {"key": ACCELERATOR_LABEL, "operator": "In", "values": [accelerators.GPU.label_value]},
            {"key": AMI_FAMILY_LABEL, "operator": "In", "values": ["al2023"]},
        ),
        # The burn-in startup taint too: burn-in's diagnostics request the GPUs this plugin advertises.
        "tolerations": [GPU_TOLERATION, BURN_IN_TOLERATION],
    }


def efa_values() -> dict:
    """Keys checked against the chart's values.yaml (shared/upstream/extras/eks-charts)."""
    return {
        "nodeSelector": {EFA_LABEL: "true"},
        "tolerations": [GPU_TOLERATION, NEURON_TOLERATION, BURN_IN_TOLERATION],
    }


def neuron_values() -> dict:
    """The device plugin only. The Neuron scheduler extension is not installed: on EKS it runs as a second
    scheduler (`my-scheduler`, a kube-scheduler image that must track the cluster's minor version) and acts only for
    pods that name it in `schedulerName`; it is needed only to place pods asking for several but not all Neuron
    devices of a node (awsdocs-neuron: deploy/infrastructure/scheduler, containers/tutorials/k8s-multiple-scheduler).
    Crucible's Neuron pods ask for one device (notebooks, serving replicas) or a whole node (training), so the
    default scheduler places them; the chart's scheduler is off by default and stated off."""
    return {
        "devicePlugin": {"nodeSelector": {ACCELERATOR_LABEL: accelerators.NEURON.label_value}, "tolerations": [NEURON_TOLERATION, BURN_IN_TOLERATION]},
        "scheduler": {"enabled": False},
        "npd": {"enabled": False},
    }


@dataclass(frozen=True)
class DevicePluginArgs:
    system_pool: str = "system"
    version: str = NEURON.version  # the Neuron chart version


class NvidiaDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None, *, version: str = NVIDIA.version):
        super().__init__("crucible:compute:NvidiaDevicePlugin", name, None, opts)
        self.release = helm_release(self, name, HelmChart.of(NVIDIA, release=name, namespace=NAMESPACE, version=version), nvidia_values())
        self.register_outputs({"version": version})


class EfaDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None, *, version: str = EFA.version):
        super().__init__("crucible:compute:EfaDevicePlugin", name, None, opts)
        self.release = helm_release(self, name, HelmChart.of(EFA, release=name, namespace=NAMESPACE, version=version), efa_values())
        self.register_outputs({"version": version})


class NeuronDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, args: DevicePluginArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:compute:NeuronDevicePlugin", name, None, opts)
        chart = HelmChart.of(NEURON, release=name, namespace=NAMESPACE, version=args.version)
        self.release = helm_release(self, name, chart, neuron_values())
        self.register_outputs({"version": args.version})
