"""Layers built by another stack: read its exports back into the contracts upper layers expect."""

from __future__ import annotations

import pulumi

from components.contracts import ClusterOutputs, NetworkOutputs


def network_from(ref: pulumi.StackReference, zones: tuple[str, ...]) -> NetworkOutputs:
    network = ref.require_output("network")
    return NetworkOutputs(
        vpc_id=network.apply(lambda n: n["vpcId"]),
        vpc_cidr=network.apply(lambda n: n["vpcCidr"]),
        zones=zones,
        private_subnet_ids=tuple(network.apply(lambda n, i=i: n["privateSubnetIds"][i]) for i in range(len(zones))),
        public_subnet_ids=tuple(network.apply(lambda n, i=i: n["publicSubnetIds"][i] if n["publicSubnetIds"] else "") for i in range(len(zones))),
    )


def cluster_from(ref: pulumi.StackReference) -> ClusterOutputs:
    cluster = ref.require_output("cluster")

    def field(key: str) -> pulumi.Output:
        return cluster.apply(lambda c: c[key])

    return ClusterOutputs(
        name=field("name"),
        endpoint=field("endpoint"),
        certificate_authority=field("certificateAuthority"),
        version=field("version"),
        oidc_issuer=field("oidcIssuer"),
        cluster_security_group_id=field("clusterSecurityGroupId"),
        kms_key_arn=field("kmsKeyArn"),
        node_volume_kms_key_arn=field("nodeVolumeKmsKeyArn"),
        system_node_group_label="system",
        kubeconfig=pulumi.Output.secret(ref.require_output("kubeconfig")),
    )
