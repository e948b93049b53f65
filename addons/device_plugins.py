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
import pulumi_kubernetes as k8s

from components.accelerators import GPU, NEURON
from components.labels import ACCELERATOR_LABEL, AMI_FAMILY_LABEL, EFA_LABEL

NVIDIA_REPO, NVIDIA_CHART, NVIDIA_VERSION = "https://nvidia.github.io/k8s-device-plugin", "nvidia-device-plugin", "0.20.0"
EFA_REPO, EFA_CHART, EFA_VERSION = "https://aws.github.io/eks-charts", "aws-efa-k8s-device-plugin", "0.5.30"
# NOTE: Neuron chart version 1.10.0 comes from shared/reference/facts.md, which marks it "not confirmed against
# the registry". Confirm with `helm show chart oci://public.ecr.aws/neuron/neuron-helm-chart --version 1.10.0`
# before the first real deployment.
NEURON_CHART, NEURON_VERSION = "oci://public.ecr.aws/neuron/neuron-helm-chart", "1.10.0"

GPU_TOLERATION = GPU.toleration
NEURON_TOLERATION = NEURON.toleration


def _required_node_affinity(*expressions: dict) -> dict:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": list(expressions)}]}
        }
    }


def nvidia_values() -> dict:
    """On nodes labelled accelerator=nvidia and ami-family=al2023 (the chart's default affinity looks for NFD/GFD
    labels Crucible does not install; replace it)."""
    return {
        "affinity": _required_node_affinity(
            {"key": ACCELERATOR_LABEL, "operator": "In", "values": [GPU.label_value]},
            {"key": AMI_FAMILY_LABEL, "operator": "In", "values": ["al2023"]},
        ),
        "tolerations": [GPU_TOLERATION],
    }


def efa_values() -> dict:
    """Keys checked against the chart's values.yaml (shared/upstream/extras/eks-charts)."""
    return {
        "nodeSelector": {EFA_LABEL: "true"},
        "tolerations": [GPU_TOLERATION, NEURON_TOLERATION],
    }


def neuron_values() -> dict:
    """The device plugin only. The Neuron scheduler extension is not installed: on EKS it runs as a second
    scheduler (`my-scheduler`, a kube-scheduler image that must track the cluster's minor version) and acts only for
    pods that name it in `schedulerName`; it is needed only to place pods asking for several but not all Neuron
    devices of a node (awsdocs-neuron: deploy/infrastructure/scheduler, containers/tutorials/k8s-multiple-scheduler).
    Crucible's Neuron pods ask for one device (notebooks, serving replicas) or a whole node (training), so the
    default scheduler places them; the chart's scheduler is off by default and stated off."""
    return {
        "devicePlugin": {"nodeSelector": {ACCELERATOR_LABEL: NEURON.label_value}, "tolerations": [NEURON_TOLERATION]},
        "scheduler": {"enabled": False},
        "npd": {"enabled": False},
    }


@dataclass(frozen=True)
class DevicePluginArgs:
    system_pool: str = "system"


def _release(parent: pulumi.Resource, name: str, chart: str, version: str, namespace: str, values: dict, repo: Optional[str] = None) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        name,
        name=name,
        chart=chart,
        version=version,
        namespace=namespace,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo) if repo else None,
        values=values,
        atomic=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


class NvidiaDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:compute:NvidiaDevicePlugin", name, None, opts)
        self.release = _release(self, name, NVIDIA_CHART, NVIDIA_VERSION, "kube-system", nvidia_values(), NVIDIA_REPO)
        self.register_outputs({"version": NVIDIA_VERSION})


class EfaDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:compute:EfaDevicePlugin", name, None, opts)
        self.release = _release(self, name, EFA_CHART, EFA_VERSION, "kube-system", efa_values(), EFA_REPO)
        self.register_outputs({"version": EFA_VERSION})


class NeuronDevicePlugin(pulumi.ComponentResource):
    def __init__(self, name: str, args: DevicePluginArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:compute:NeuronDevicePlugin", name, None, opts)
        self.release = _release(self, name, NEURON_CHART, NEURON_VERSION, "kube-system", neuron_values())
        self.register_outputs({"version": NEURON_VERSION})
