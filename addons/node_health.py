"""Node health: the EKS node monitoring agent (managed add-on `eks-node-monitoring-agent`, pinned in
components/versions.py), whose node conditions Karpenter's node repair acts on (components/karpenter.py
REPAIR_POLICIES).

The agent's DaemonSet reads each node's logs and reports KernelReady, NetworkingReady, StorageReady,
ContainerRuntimeReady and, on NVIDIA and Neuron nodes, AcceleratedHardwareReady (XID errors, DCGM health, Neuron
device errors). It tolerates every taint (its chart's `nodeAgent.tolerations: [{operator: Exists}]`), so it runs on
the tainted accelerator and system nodes too. Its DCGM host engine DaemonSet (`dcgmAgent`, on NVIDIA instance types)
tolerates nothing by default: it is given the GPU taint and the burn-in startup taint, so GPU health is watched from
the node's first minute. The agent needs no AWS permissions (no Pod Identity association): it writes node
conditions and events through its own RBAC.
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import versions
from components.accelerators import GPU
from components.labels import BURN_IN_TOLERATION

ADDON = "eks-node-monitoring-agent"


def agent_configuration() -> dict:
    """The add-on's configuration values (its configuration.schema.json)."""
    return {"dcgmAgent": {"tolerations": [dict(GPU.toleration or {}), dict(BURN_IN_TOLERATION)]}}


class NodeMonitoringAgent(pulumi.ComponentResource):
    def __init__(self, name: str, cluster_name: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None, *, version: Optional[str] = None):
        super().__init__("crucible:compute:NodeMonitoringAgent", name, None, opts)
        self.addon = aws.eks.Addon(
            name,
            cluster_name=cluster_name,
            addon_name=ADDON,
            addon_version=version or versions.MANAGED_ADDONS[ADDON],
            configuration_values=json.dumps(agent_configuration()),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"addon": ADDON, "version": version or versions.MANAGED_ADDONS[ADDON]})
