"""The one table of input changes that make a provider REPLACE a resource (create a new one, delete the old) instead
of updating it in place, for every resource type Crucible creates; `crucible diff` reads it (stacks/tools/plan/diff.py).

A replacement of a stateful resource loses its data (a bucket's objects, a file system's files, a cluster's state)
or, for a key, the ability to read what it encrypted; a replacement of a network resource changes its id, and so
replaces in turn every resource whose replacing input holds that id (`cascade`). Each entry lists the camelCase input
paths as the plan records them; a change at or below a path replaces.

Sources, read for this table (pulumi-aws 7 bridges terraform-provider-aws: a schema field marked `ForceNew: true`,
or `RequiresReplace()` in plugin-framework resources, is a replacement in `pulumi preview`/`up`). Files in
hashicorp/terraform-provider-aws, internal/service/:
- ec2/vpc_.go (cidr_block, ipv4_ipam_pool_id, ipv4_netmask_length); ec2/vpc_subnet.go (vpc_id, cidr_block,
  availability_zone[_id], ipv4/ipv6 IPAM and netmask, ipv6_native, outpost_arn); ec2/vpc_route_table.go (vpc_id);
  ec2/vpc_route.go (route_table_id and the destination); ec2/vpc_route_table_association.go (subnet_id, gateway_id;
  route_table_id is replaced in place); ec2/vpc_internet_gateway.go (none: vpc_id attaches/detaches in place);
  ec2/vpc_nat_gateway.go (allocation_id, connectivity_type, private_ip, secondary_private_ip_address_count,
  subnet_id); ec2/ec2_eip.go (address, domain, ipam_pool_id, network_border_group, public_ipv4_pool);
  ec2/vpc_security_group.go (name, name_prefix, description, vpc_id: a changed description replaces the group);
  ec2/vpc_security_group_ingress_rule.go (security_group_id; switching the source kind cidr_ipv4/cidr_ipv6/
  prefix_list_id/referenced_security_group_id; the rest is ModifySecurityGroupRules in place); ec2/vpc_endpoint.go
  (vpc_id, service_name, vpc_endpoint_type, service_region, service_network_arn, resource_configuration_arn,
  dns_options.private_dns_preference / private_dns_specified_domains); ec2/vpc_flow_log.go (every argument: flow
  logs are tags-only updatable); transitgateway/vpc_attachment.go (transit_gateway_id, vpc_id; subnet_ids and the
  support flags update in place).
- eks/cluster.go (name, role_arn, access_config.bootstrap_cluster_creator_admin_permissions,
  bootstrap_self_managed_addons, kubernetes_network_config.ip_family / service_ipv4_cidr, outpost_config; removing
  encryption_config once set replaces: ForceNewIfChange; vpc_config subnets and security groups update in place);
  eks/node_group.go (ami_type, capacity_type, cluster_name, disk_size, instance_types, launch_template.id/name,
  node_group_name[_prefix], node_role_arn, remote_access, subnet_ids); eks/access_entry.go (cluster_name,
  principal_arn, type); eks/pod_identity_association.go (cluster_name, namespace, service_account).
- fsx/lustre_file_system.go (backup_id, copy_tags_to_backups, deployment_type, drive_cache_type, export_path,
  file_system_type_version, import_path, imported_file_chunk_size, kms_key_id, security_group_ids, storage_type,
  subnet_ids; a smaller storage_capacity replaces: CustomizeDiff). efa_enabled "must be set at creation ... cannot
  be changed" (pulumi-aws 7.51 LustreFileSystem docs). per_unit_storage_throughput was ForceNew in older releases;
  current ones update it in place (UpdateFileSystem), so it is not listed. fsx/data_repository_association.go
  (data_repository_path, file_system_id, file_system_path).
- kms/key.go (custom_key_store_id, customer_master_key_spec, key_usage, multi_region, xks_key_id);
  logs/group.go (name, name_prefix, log_group_class; kms_key_id associates in place).
- s3/bucket.go (bucket, bucket_prefix, object_lock_enabled; bucket_namespace "Forces new resource",
  terraform-provider-aws#46917 docs).
Identity fields of the remaining types (IAM roles and policies, service-linked roles (aws_service_name,
custom_suffix), KMS aliases and grants, EventBridge rules and
targets, SQS, placement groups, launch templates, EKS add-ons and access policies, S3 bucket configurations) follow
the same files' ForceNew names and fields (iam/role.go, iam/role_policy.go, iam/role_policy_attachment.go,
kms/alias.go, kms/grant.go, events/rule.go, events/target.go, sqs/queue.go, sqs/queue_policy.go, sns/topic.go
(name, name_prefix, fifo_topic), sns/topic_policy.go (arn), sns/topic_subscription.go (endpoint, protocol, topic_arn:
Pulumi's `topic`),
ec2/ec2_placement_group.go, ec2/ec2_launch_template.go, eks/addon.go, eks/access_policy_association.go,
s3/bucket_*.go).

pulumi-kubernetes, provider/pkg/provider/diff.go (`forceNewProperties`): every kind is replaced when
metadata.name or metadata.namespace changes; besides, per kind: PersistentVolume spec.<volume source> (spec.csi for
Crucible's), PersistentVolumeClaim spec, StorageClass parameters and provisioner, Secret type/data/stringData,
ConfigMap data/binaryData, Service spec.clusterIP, ResourceQuota spec.scopes, (Cluster)RoleBinding roleRef,
Deployment and StatefulSet spec.selector, Job spec.template/selector/completions/parallelism. (Its DaemonSet entry is
keyed "Daemonset" and never matches the kind: a DaemonSet selector change is sent as an update, which the API server
refuses as immutable.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

STATEFUL = "stateful"  # data lives in it: replacing it loses the data (or, for a key, what it encrypted)
NETWORK = "network"  # VPC plumbing: replacing it changes its id and replaces whatever holds that id
INFRASTRUCTURE = "infrastructure"  # everything else: replacing it is disruptive, not lossy


@dataclass(frozen=True)
class Replacement:
    kind: str
    inputs: frozenset[str] = frozenset()  # any change at or below these paths replaces
    once_set: frozenset[str] = frozenset()  # changing or removing a value that was set replaces; first setting it does not
    decrease: frozenset[str] = frozenset()  # a smaller number replaces, a larger one updates in place
    one_of: tuple[frozenset[str], ...] = ()  # switching which member of a group is set replaces
    hint: str = ""  # what the replacement means, for the diff's data-loss warning

    def forcing(self, before: Mapping[str, Any], after: Mapping[str, Any], changed: Iterable[str]) -> list[str]:
        """The changed fields (flattened dotted paths) that make the provider replace the resource."""
        changed = list(changed)
        out = [f for f in changed if any(_under(f, p) for p in self.inputs)]
        for path in self.once_set:
            old, new = _get(before, path), _get(after, path)
            if old not in (None, {}, []) and old != new:
                out.append(path)
        for path in self.decrease:
            old, new = _get(before, path), _get(after, path)
            if isinstance(old, (int, float)) and isinstance(new, (int, float)) and new < old:
                out.append(path)
        for group in self.one_of:
            if {k for k in group if _get(before, k) is not None} != {k for k in group if _get(after, k) is not None}:
                out.extend(sorted(k for k in group if _get(before, k) != _get(after, k)))
        return sorted(set(out))

    def replaced_by(self, key: str) -> bool:
        """Whether a new value of top-level input ``key`` (e.g. the id of a replaced dependency) can replace this."""
        paths = self.inputs | self.once_set | {k for g in self.one_of for k in g}
        return any(p == key or p.startswith(f"{key}.") for p in paths)


def _under(field_path: str, path: str) -> bool:
    return field_path == path or field_path.startswith(f"{path}.") or field_path.startswith(f"{path}[")


def _get(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _r(kind: str, *inputs: str, hint: str = "", **more) -> Replacement:
    return Replacement(kind, frozenset(inputs), hint=hint, **{k: (frozenset(v) if k != "one_of" else v) for k, v in more.items()})


_BUCKET_HINT = (
    "S3 cannot rename a bucket or move it between namespaces: a new, empty bucket is created and the objects stay in "
    "the old one (retained, not deleted, where protected). To keep a deployed bucket set crucible:storage.bucketPrefix "
    "to its old prefix (crucible-<stack>-<region> for names from before default names carried the account); otherwise "
    "copy the objects and lift protection deliberately"
)
_S3_SIDE = ("bucket", "expectedBucketOwner")
_RULE_SOURCE = (frozenset({"cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"}),)

TABLE: dict[str, Replacement] = {
    # ---- network -------------------------------------------------------------------------------------------
    "aws:ec2/vpc:Vpc": _r(NETWORK, "cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"),
    "aws:ec2/subnet:Subnet": _r(
        NETWORK,
        "vpcId",
        "cidrBlock",
        "availabilityZone",
        "availabilityZoneId",
        "ipv4IpamPoolId",
        "ipv4NetmaskLength",
        "ipv6IpamPoolId",
        "ipv6Native",
        "ipv6NetmaskLength",
        "outpostArn",
    ),
    "aws:ec2/routeTable:RouteTable": _r(NETWORK, "vpcId"),
    "aws:ec2/route:Route": _r(NETWORK, "routeTableId", "destinationCidrBlock", "destinationIpv6CidrBlock", "destinationPrefixListId"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _r(NETWORK, "subnetId", "gatewayId"),
    "aws:ec2/internetGateway:InternetGateway": _r(NETWORK),
    "aws:ec2/natGateway:NatGateway": _r(NETWORK, "allocationId", "connectivityType", "privateIp", "secondaryPrivateIpAddressCount", "subnetId"),
    "aws:ec2/eip:Eip": _r(NETWORK, "address", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool"),
    "aws:ec2/securityGroup:SecurityGroup": _r(NETWORK, "name", "namePrefix", "description", "vpcId"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _r(NETWORK, "vpcId"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _r(NETWORK, "securityGroupId", one_of=_RULE_SOURCE),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _r(NETWORK, "securityGroupId", one_of=_RULE_SOURCE),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _r(
        NETWORK,
        "vpcId",
        "serviceName",
        "vpcEndpointType",
        "serviceRegion",
        "serviceNetworkArn",
        "resourceConfigurationArn",
        "dnsOptions.privateDnsPreference",
        "dnsOptions.privateDnsSpecifiedDomains",
    ),
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": _r(NETWORK, "transitGatewayId", "vpcId"),
    "aws:ec2/flowLog:FlowLog": _r(
        NETWORK,
        "deliverCrossAccountRole",
        "destinationOptions",
        "eniId",
        "iamRoleArn",
        "logDestination",
        "logDestinationType",
        "logFormat",
        "maxAggregationInterval",
        "regionalNatGatewayId",
        "subnetId",
        "trafficType",
        "transitGatewayAttachmentId",
        "transitGatewayId",
        "vpcId",
    ),
    # ---- stateful ------------------------------------------------------------------------------------------
    "aws:s3/bucket:Bucket": _r(STATEFUL, "bucket", "bucketPrefix", "bucketNamespace", "objectLockEnabled", hint=_BUCKET_HINT),
    "aws:s3/bucketV2:BucketV2": _r(STATEFUL, "bucket", "bucketPrefix", "bucketNamespace", "objectLockEnabled", hint=_BUCKET_HINT),
    "aws:fsx/lustreFileSystem:LustreFileSystem": _r(
        STATEFUL,
        "backupId",
        "copyTagsToBackups",
        "deploymentType",
        "driveCacheType",
        "efaEnabled",
        "exportPath",
        "fileSystemTypeVersion",
        "importPath",
        "importedFileChunkSize",
        "kmsKeyId",
        "securityGroupIds",
        "storageType",
        "subnetIds",
        decrease={"storageCapacity"},
        hint="a new, empty file system: files not yet exported to S3 are lost (restore from a backup with backupId); "
        "keep the zone stated in crucible:storage.lustre.zone so reordering zones or pools cannot move it",
    ),
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation": _r(
        STATEFUL,
        "dataRepositoryPath",
        "fileSystemId",
        "fileSystemPath",
        hint="the link is deleted and created again: the directory is re-imported from S3 (files not yet exported are not)",
    ),
    "aws:kms/key:Key": _r(
        STATEFUL,
        "customKeyStoreId",
        "customerMasterKeySpec",
        "keyUsage",
        "multiRegion",
        "xksKeyId",
        hint="a new key: everything encrypted with the old one stays readable only while the old key exists",
    ),
    "aws:eks/cluster:Cluster": _r(
        STATEFUL,
        "name",
        "roleArn",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
        "bootstrapSelfManagedAddons",
        "kubernetesNetworkConfig.ipFamily",
        "kubernetesNetworkConfig.serviceIpv4Cidr",
        "outpostConfig",
        once_set={"encryptionConfig"},
        hint="a new control plane: every Kubernetes object, secret and workload on the old cluster is gone",
    ),
    "aws:cloudwatch/logGroup:LogGroup": _r(
        STATEFUL, "name", "namePrefix", "logGroupClass", hint="a new, empty log group: the old one's events go with it unless retained"
    ),
    "aws:amp/workspace:Workspace": _r(
        STATEFUL, "kmsKeyArn", hint="a new, empty Managed Prometheus workspace: the remote-written metric history goes with the old one"
    ),
    "kubernetes:core/v1:PersistentVolume": _r(
        STATEFUL,
        *(
            f"spec.{source}"
            for source in (
                "awsElasticBlockStore",
                "azureDisk",
                "azureFile",
                "cephfs",
                "cinder",
                "csi",
                "fc",
                "flexVolume",
                "flocker",
                "gcePersistentDisk",
                "glusterfs",
                "hostPath",
                "iscsi",
                "local",
                "nfs",
                "photonPersistentDisk",
                "portworxVolume",
                "quobyte",
                "rbd",
                "scaleIO",
                "storageos",
                "vsphereVolume",
            )
        ),
    ),
    "kubernetes:core/v1:PersistentVolumeClaim": _r(STATEFUL, "spec"),
    "kubernetes:core/v1:Namespace": _r(STATEFUL, hint="deleting a namespace deletes every object in it"),
    # ---- infrastructure ------------------------------------------------------------------------------------
    "aws:eks/nodeGroup:NodeGroup": _r(
        INFRASTRUCTURE,
        "amiType",
        "capacityType",
        "clusterName",
        "diskSize",
        "instanceTypes",
        "launchTemplate.id",
        "launchTemplate.name",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "remoteAccess",
        "subnetIds",
    ),
    "aws:eks/addon:Addon": _r(INFRASTRUCTURE, "addonName", "clusterName"),
    "aws:grafana/workspace:Workspace": _r(INFRASTRUCTURE),  # the dashboards live in ConfigMaps and are imported again
    "aws:eks/accessEntry:AccessEntry": _r(INFRASTRUCTURE, "clusterName", "principalArn", "type"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _r(INFRASTRUCTURE, "accessScope", "clusterName", "policyArn", "principalArn"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _r(INFRASTRUCTURE, "clusterName", "namespace", "serviceAccount"),
    "aws:ec2/launchTemplate:LaunchTemplate": _r(INFRASTRUCTURE, "name", "namePrefix"),
    "aws:ec2/placementGroup:PlacementGroup": _r(INFRASTRUCTURE, "name", "partitionCount", "spreadLevel", "strategy"),
    "aws:iam/role:Role": _r(INFRASTRUCTURE, "name", "namePrefix", "path"),
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": _r(INFRASTRUCTURE, "awsServiceName", "customSuffix"),
    "aws:iam/rolePolicy:RolePolicy": _r(INFRASTRUCTURE, "name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _r(INFRASTRUCTURE, "policyArn", "role"),
    "aws:kms/alias:Alias": _r(INFRASTRUCTURE, "name", "namePrefix"),
    "aws:kms/grant:Grant": _r(INFRASTRUCTURE, "constraints", "grantCreationTokens", "granteePrincipal", "keyId", "name", "operations", "retiringPrincipal"),
    "aws:cloudwatch/eventRule:EventRule": _r(INFRASTRUCTURE, "name", "namePrefix", "eventBusName"),
    "aws:cloudwatch/eventTarget:EventTarget": _r(INFRASTRUCTURE, "rule", "targetId", "eventBusName"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _r(INFRASTRUCTURE, "name"),
    "aws:sns/topic:Topic": _r(INFRASTRUCTURE, "name", "namePrefix", "fifoTopic"),
    "aws:sns/topicPolicy:TopicPolicy": _r(INFRASTRUCTURE, "arn"),
    "aws:sns/topicSubscription:TopicSubscription": _r(INFRASTRUCTURE, "endpoint", "protocol", "topic"),
    "aws:sqs/queue:Queue": _r(INFRASTRUCTURE, "name", "namePrefix", "fifoQueue"),
    "aws:sqs/queuePolicy:QueuePolicy": _r(INFRASTRUCTURE, "queueUrl"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _r(INFRASTRUCTURE, "bucket"),
    "aws:s3/bucketVersioning:BucketVersioning": _r(INFRASTRUCTURE, *_S3_SIDE),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _r(INFRASTRUCTURE, *_S3_SIDE),
    "aws:s3/bucketPolicy:BucketPolicy": _r(INFRASTRUCTURE, "bucket"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _r(INFRASTRUCTURE, *_S3_SIDE),
    "kubernetes:storage.k8s.io/v1:StorageClass": _r(INFRASTRUCTURE, "parameters", "provisioner"),
    "kubernetes:core/v1:Secret": _r(INFRASTRUCTURE, "type", "data", "stringData"),
    "kubernetes:core/v1:ConfigMap": _r(INFRASTRUCTURE, "data", "binaryData"),
    "kubernetes:core/v1:Service": _r(INFRASTRUCTURE, "spec.clusterIP"),
    "kubernetes:core/v1:ResourceQuota": _r(INFRASTRUCTURE, "spec.scopes"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _r(INFRASTRUCTURE, "roleRef"),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": _r(INFRASTRUCTURE, "roleRef"),
    "kubernetes:apps/v1:Deployment": _r(INFRASTRUCTURE, "spec.selector"),
    "kubernetes:apps/v1:StatefulSet": _r(
        INFRASTRUCTURE, "spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"
    ),
    "kubernetes:batch/v1:Job": _r(INFRASTRUCTURE, "spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
}

# pulumi-kubernetes replaces any object whose name or namespace changes (its identity in the API server).
KUBERNETES_IDENTITY = frozenset({"metadata.name", "metadata.namespace"})
_KUBERNETES_OBJECT = Replacement(INFRASTRUCTURE, KUBERNETES_IDENTITY)


def entry(type_token: str) -> Optional[Replacement]:
    """The type's row, the Kubernetes identity rule folded into every Kubernetes kind; None for a type not in the table."""
    row = TABLE.get(type_token)
    if type_token.startswith("kubernetes:") and not type_token.startswith("kubernetes:helm.sh/"):
        row = row or _KUBERNETES_OBJECT
        return Replacement(row.kind, row.inputs | KUBERNETES_IDENTITY, row.once_set, row.decrease, row.one_of, row.hint)
    return row


def is_stateful(type_token: str) -> bool:
    row = TABLE.get(type_token)
    return row is not None and row.kind == STATEFUL


STATEFUL_TYPES = frozenset(t for t, row in TABLE.items() if row.kind == STATEFUL)
NETWORK_TYPES = frozenset(t for t, row in TABLE.items() if row.kind == NETWORK)


def forcing_fields(type_token: str, before: Mapping[str, Any], after: Mapping[str, Any], changed: Iterable[str]) -> list[str]:
    row = entry(type_token)
    return row.forcing(before, after, changed) if row else []


def missing_from_table(type_tokens: Iterable[str]) -> list[str]:
    """Provider resource types with no row: every AWS type must be classified and listed (a Kubernetes kind is covered
    by the identity rule, a stateful one must have its own row)."""
    stateful_kinds = ("kubernetes:core/v1:PersistentVolume", "kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:core/v1:Namespace")
    return sorted({t for t in type_tokens if (t.startswith("aws:") or t in stateful_kinds) and t not in TABLE})


@dataclass
class Cascade:
    """Resources replaced because an input that replaces them holds the id of a replaced resource."""

    because: dict[str, list[str]] = field(default_factory=dict)  # key -> ["vpcId ← <replaced key>", …]


def cascade(replaced: set[str], resources: Mapping[str, Mapping[str, Any]], key_of=lambda urn: urn, label_of=lambda key: key) -> Cascade:
    """Follow replacements through property dependencies until nothing new is replaced: a replaced VPC gets a new id,
    so its subnets (vpcId forces replacement) are replaced, then the file system in one of them (subnetIds), and so on.
    Kubernetes objects are referred to by name, which a replacement keeps (a renamed one changes the referring input
    itself): they carry nothing on. ``resources``: key -> plan resource (type, property_dependencies by URN)."""
    out = Cascade()
    by_name = {k for k, r in resources.items() if str(r.get("type", "")).startswith("kubernetes:")}
    done = set(replaced)
    changed = True
    while changed:
        changed = False
        for key, resource in resources.items():
            if key in done:
                continue
            row = entry(resource.get("type", ""))
            if row is None:
                continue
            reasons = [
                f"{prop} ← {label_of(key_of(dep))}"
                for prop, deps in sorted((resource.get("property_dependencies") or {}).items())
                for dep in deps
                if key_of(dep) in done and key_of(dep) not in by_name and row.replaced_by(prop)
            ]
            if reasons:
                out.because[key] = reasons
                done.add(key)
                changed = True
    return out
