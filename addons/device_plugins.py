"""Device plugins for the accelerator pools, each pinned and scheduled only where its devices are.

- NVIDIA device plugin: AL2023 GPU nodes only (Bottlerocket's NVIDIA variant ships its own plugin); optional
  time-slicing per pool (pools[].gpuSharing) through the plugin's named configs.
- AWS Neuron device plugin: Trainium / Inferentia nodes (no scheduler extension: see :func:`neuron_values`).
- EFA device plugin: nodes of EFA pools (label crucible.io/efa=true), tolerating the accelerator taints.

Wired by the compute layer (top-level tokens `crucible:compute:*`); the values are built by pure functions so
tests can check them against the charts' own values.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import yaml

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


# The node label the chart's config-manager sidecar reads to pick a node's named config (templates/
# daemonset-device-plugin.yml NODE_LABEL); nodes without it get config.default.
CONFIG_LABEL = "nvidia.com/device-plugin.config"
DEFAULT_CONFIG = "default"


def sharing_config(replicas: int) -> dict:
    """The device plugin's config (k8s-device-plugin config v1) for time-slicing: each GPU advertised ``replicas``
    times under its own name nvidia.com/gpu (renameByDefault false, so pods and Kueue quotas keep asking for
    nvidia.com/gpu); failRequestsGreaterThanOne refuses a pod asking for more than one shared GPU (it would get two
    slices of the same GPU, not two GPUs)."""
    return {
        "version": "v1",
        "flags": {"migStrategy": "none"},
        "sharing": {
            "timeSlicing": {
                "renameByDefault": False,
                "failRequestsGreaterThanOne": True,
                "resources": [{"name": accelerators.GPU.resource, "replicas": replicas}],
            }
        },
    }


def nvidia_values(sharing: Optional[Mapping[str, int]] = None) -> dict:
    """On nodes labelled accelerator=nvidia and ami-family=al2023 (the chart's default affinity looks for NFD/GFD
    labels Crucible does not install; replace it).

    ``sharing`` (pool -> time-slicing replicas): the chart's `config.map` gets a named config per shared pool (the
    pool's nodes carry the label nvidia.com/device-plugin.config=<pool>: stacks/layers/compute.py) and a `default`
    one without sharing for every other GPU node."""
    values: dict = {
        "affinity": _required_node_affinity(
            {"key": ACCELERATOR_LABEL, "operator": "In", "values": [accelerators.GPU.label_value]},
            {"key": AMI_FAMILY_LABEL, "operator": "In", "values": ["al2023"]},
        ),
        # The burn-in startup taint too: burn-in's diagnostics request the GPUs this plugin advertises.
        "tolerations": [GPU_TOLERATION, BURN_IN_TOLERATION],
    }
    if sharing:
        configs = {DEFAULT_CONFIG: {"version": "v1", "flags": {"migStrategy": "none"}}}
        configs.update({pool: sharing_config(replicas) for pool, replicas in sorted(sharing.items())})
        values["config"] = {"map": {name: yaml.safe_dump(config, sort_keys=False) for name, config in configs.items()}, "default": DEFAULT_CONFIG}
    return values


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
    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None, *, version: str = NVIDIA.version, sharing: Optional[Mapping[str, int]] = None):
        super().__init__("crucible:compute:NvidiaDevicePlugin", name, None, opts)
        self.release = helm_release(self, name, HelmChart.of(NVIDIA, release=name, namespace=NAMESPACE, version=version), nvidia_values(sharing))
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
