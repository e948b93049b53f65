"""What a layer is handed and what it hands back.

:class:`Below` is everything the layers under a layer provide, typed: their contracts (components/contracts.py), the
providers, and the resources of this stack that upper resources must depend on. :class:`Built` is one layer's result:
its contract, and what it adds to :class:`Below` for the layers above it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Generic, Optional, TypeVar

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.contracts import ClusterOutputs, ComputeOutputs, NetworkOutputs, PlatformOutputs, StorageOutputs
from stacks.spec import PlatformSpec

T = TypeVar("T")


class MissingLayer(RuntimeError):
    """A layer asked for a layer below it that the stack neither builds nor reads: a wiring bug, not bad config
    (the spec requires `stackReference` for every layer below the first, and the reference is checked first)."""


@dataclass(frozen=True)
class Below:
    """The layers under the one being built: built in this stack or read from `stackReference`."""

    aws_provider: aws.Provider
    network: Optional[NetworkOutputs] = None
    cluster: Optional[ClusterOutputs] = None
    k8s_provider: Optional[k8s.Provider] = None  # the cluster's, or one from the referenced kubeconfig
    compute: Optional[ComputeOutputs] = None
    storage: Optional[StorageOutputs] = None
    # The transit gateway attachment and routes the deployer's path to the API needs (the cluster waits for them).
    network_path: tuple[pulumi.Resource, ...] = ()
    # Components of this stack's network and cluster layers: Karpenter and the load balancer controller depend on them,
    # so a destroy removes those (and the nodes and load balancers they made) before the VPC and cluster.
    foundation: tuple[pulumi.Resource, ...] = ()

    def require_network(self) -> NetworkOutputs:
        if self.network is None:
            raise MissingLayer("the network layer is neither built by this stack nor read from its stackReference")
        return self.network

    def require_cluster(self) -> ClusterOutputs:
        if self.cluster is None:
            raise MissingLayer("the cluster layer is neither built by this stack nor read from its stackReference")
        return self.cluster

    def require_k8s_provider(self) -> k8s.Provider:
        if self.k8s_provider is None:
            raise MissingLayer("no Kubernetes provider: the cluster layer is neither built nor read")
        return self.k8s_provider

    def providers(self) -> list[pulumi.ProviderResource]:
        """The AWS provider and, once a cluster is below, its Kubernetes provider."""
        return [self.aws_provider] + ([self.k8s_provider] if self.k8s_provider is not None else [])

    def opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=self.providers())

    def joined(self, layer: str, built: "Built") -> "Below":
        """This Below with ``layer``'s result added, for the layers above it."""
        changes: dict = {layer: built.outputs} if layer != "platform" else {}
        if built.k8s_provider is not None:
            changes["k8s_provider"] = built.k8s_provider
        if built.network_path:
            changes["network_path"] = self.network_path + tuple(built.network_path)
        if built.foundation:
            changes["foundation"] = self.foundation + tuple(built.foundation)
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Built(Generic[T]):
    """One layer's result: its contract, and what it adds to :class:`Below` besides."""

    outputs: T
    k8s_provider: Optional[k8s.Provider] = None
    network_path: tuple[pulumi.Resource, ...] = ()
    foundation: tuple[pulumi.Resource, ...] = ()


def stack_tags(spec: PlatformSpec) -> dict[str, str]:
    """The tags of every AWS resource of the stack: the provider's default tags, and the EC2NodeClass tags of what
    Karpenter launches (default tags do not reach those)."""
    return {"crucible:stack": spec.stack, "crucible:environment": spec.environment, **dict(spec.tags)}


def aws_provider(spec: PlatformSpec) -> aws.Provider:
    return aws.Provider("aws", region=spec.region, default_tags=aws.ProviderDefaultTagsArgs(tags=stack_tags(spec)))


__all__ = [
    "Below",
    "Built",
    "ClusterOutputs",
    "ComputeOutputs",
    "MissingLayer",
    "NetworkOutputs",
    "PlatformOutputs",
    "StorageOutputs",
    "aws_provider",
    "stack_tags",
]
