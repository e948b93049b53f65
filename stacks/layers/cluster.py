"""The cluster layer: EKS with its KMS keys, system node group, managed add-ons and access entries."""

from __future__ import annotations

import pulumi

from components.cluster import ApiAccessArgs, Cluster, ClusterArgs, SystemNodeGroupArgs
from components.contracts import ClusterOutputs
from stacks.derive.capacity import PREFIX_DELEGATION, system_ami_type
from stacks.layers.base import Below, Built
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: Below) -> Built[ClusterOutputs]:
    c = spec.cluster
    group = c.system_node_group
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            cluster_name=spec.cluster_name,
            region=spec.region,
            version=c.version,
            network=below.require_network(),
            endpoint_public_access=c.endpoint_public_access,
            public_access_cidrs=c.public_access_cidrs,
            log_types=c.log_types,
            log_retention_days=c.log_retention_days,
            authentication_mode=c.authentication_mode,
            bootstrap_creator_admin=c.bootstrap_creator_admin,
            admin_role_arns=c.admin_role_arns,
            kms_key_deletion_window_days=c.kms_key_deletion_window_days,
            addon_versions=dict(c.addon_versions),
            prefix_delegation=PREFIX_DELEGATION,
            system_node_group=SystemNodeGroupArgs(
                instance_types=group.instance_types,
                ami_type=system_ami_type(group.instance_types),
                min_size=group.min_size,
                desired_size=group.desired_size,
                max_size=group.max_size,
                disk_size_gib=group.disk_size_gib,
            ),
            protect=spec.protect,
            api_access=ApiAccessArgs(
                source_security_group_ids=c.api_access.source_security_group_ids,
                source_cidrs=c.api_access.source_cidrs,
                deploy_role_arn=c.api_access.deploy_role_arn,
                preview_role_arn=c.api_access.preview_role_arn,
            ),
            create_service_linked_roles=c.create_service_linked_roles,
            network_path=tuple(below.network_path),
            permissions_boundary=spec.permissions_boundary,
        ),
        opts=pulumi.ResourceOptions(providers=[below.aws_provider]),
    )
    return Built(cluster.outputs, k8s_provider=cluster.provider, foundation=(cluster,))
