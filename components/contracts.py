"""What each layer hands the layers above it.

A layer built in this stack fills these from its component's outputs; a layer built in another stack fills
them from that stack's exports (stacks/references.py). Upper layers depend only on these shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class NetworkOutputs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    zones: tuple[str, ...]
    private_subnet_ids: tuple[pulumi.Input[str], ...]  # one per zone, in zone order
    public_subnet_ids: tuple[pulumi.Input[str], ...]

    def private_subnet_in(self, zone: str) -> pulumi.Input[str]:
        return self.private_subnet_ids[self.zones.index(zone)]

    def export(self) -> dict:
        return {
            "vpcId": self.vpc_id,
            "vpcCidr": self.vpc_cidr,
            "zones": list(self.zones),
            "privateSubnetIds": list(self.private_subnet_ids),
            "publicSubnetIds": list(self.public_subnet_ids),
        }


@dataclass(frozen=True)
class ClusterOutputs:
    name: pulumi.Input[str]
    endpoint: pulumi.Input[str]
    certificate_authority: pulumi.Input[str]
    version: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    system_node_group_label: str  # nodes of the system node group carry crucible.io/pool=<this>
    kubeconfig: pulumi.Input[str]  # secret; exported on its own so the rest of the cluster outputs stay readable

    def export(self) -> dict:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "certificateAuthority": self.certificate_authority,
            "version": self.version,
            "oidcIssuer": self.oidc_issuer,
            "clusterSecurityGroupId": self.cluster_security_group_id,
            "kmsKeyArn": self.kms_key_arn,
            "systemNodeGroupLabel": self.system_node_group_label,
        }
