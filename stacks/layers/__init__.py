"""The layers, bottom up: each module's `build(spec, below) -> Built[<Layer>Outputs]` turns the spec (and derived
facts) into component args; what a stack does not build it reads back from `stackReference` through the same
contracts (reference.py, components/contracts.py). The program (stacks/program.py) is a loop over them.

    network.py   VPC, subnets, NAT, endpoints, flow logs (or an existing VPC)   -> NetworkOutputs
    cluster.py   EKS, KMS keys, system node group, managed add-ons, access      -> ClusterOutputs
    compute.py   Karpenter, NodePools/EC2NodeClasses, device plugins           -> ComputeOutputs
    storage.py   S3 buckets, FSx for Lustre, CSI drivers, shared volumes        -> StorageOutputs
    platform/    the add-ons of platform/registry.py, in its order             -> PlatformOutputs
"""

from __future__ import annotations

from typing import Callable

from stacks.layers import cluster, compute, network, platform, storage
from stacks.layers.base import Below, Built, aws_provider, stack_tags
from stacks.spec import PlatformSpec

# layer name -> its build; the order is stacks.spec.LAYERS
BUILDS: dict[str, Callable[[PlatformSpec, Below], Built]] = {
    "network": network.build,
    "cluster": cluster.build,
    "compute": compute.build,
    "storage": storage.build,
    "platform": platform.build,
}

__all__ = ["BUILDS", "Below", "Built", "aws_provider", "stack_tags"]
