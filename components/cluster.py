"""The cluster layer: EKS control plane, secrets encryption, access entries, add-ons and the system node group."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.contracts import ClusterOutputs, NetworkOutputs
from components.identity import PodIdentityRole, aws_managed_policy, service_trust_policy
from components.kms import customer_key, logs_use_key
from components.kubeconfig import kubeconfig_for
from components.labels import POOL_LABEL, SYSTEM_POOL, SYSTEM_TAINT
from components.partitions import Partition, partition_of

CLUSTER_ADMIN_POLICY = "cluster-access-policy/AmazonEKSClusterAdminPolicy"  # arn:<partition>:eks::aws:<this>
VIEW_POLICY = "cluster-access-policy/AmazonEKSViewPolicy"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)


@dataclass(frozen=True)
class SystemNodeGroupArgs:
    instance_types: Sequence[str]
    ami_type: str  # AL2023_x86_64_STANDARD or AL2023_ARM_64_STANDARD
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int


@dataclass(frozen=True)
class ApiAccessArgs:
    """Who reaches the API: networks admitted on 443 to the cluster security group, and the deploy role."""

    source_security_group_ids: Sequence[str] = ()
    source_cidrs: Sequence[str] = ()
    deploy_role_arn: Optional[str] = None
    preview_role_arn: Optional[str] = None  # read-only: AmazonEKSViewPolicy


@dataclass(frozen=True)
class ClusterArgs:
    cluster_name: str
    region: str
    version: str
    network: NetworkOutputs
    endpoint_public_access: bool
    public_access_cidrs: Sequence[str]
    log_types: Sequence[str]
    log_retention_days: int
    authentication_mode: str
    bootstrap_creator_admin: bool
    admin_role_arns: Sequence[str]
    kms_key_deletion_window_days: int
    addon_versions: Mapping[str, str]
    prefix_delegation: bool  # VPC CNI assigns /28 prefixes; every pool's kubelet maxPods is derived with it
    system_node_group: SystemNodeGroupArgs
    protect: bool
    api_access: ApiAccessArgs = ApiAccessArgs()
    create_service_linked_roles: bool = False
    # Network resources the deployer's path depends on (the transit gateway attachment and return routes).
    network_path: Sequence[pulumi.Resource] = ()
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)


class Cluster(pulumi.ComponentResource):
    """An EKS cluster that is private by default, encrypts secrets with its own KMS key and logs its control plane."""

    outputs: ClusterOutputs
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.account_id = identity.account_id
        tags = {"crucible:cluster": args.cluster_name}
        partition = self.partition = partition_of(args.region)
        self.service_linked_roles = self._service_linked_roles(name, args)

        self.kms_key = customer_key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {args.cluster_name}",
            alias=f"{args.cluster_name}-secrets",
            account_id=self.account_id,
            partition=partition,
            deletion_window_days=args.kms_key_deletion_window_days,
            protect=args.protect,
            parent=self,
            tags=tags,
        )
        # Node EBS volumes (system nodes and every Karpenter pool) are encrypted with their own customer managed key:
        # EC2 Auto Scaling (system node group) uses it through its service-linked role, and the Karpenter controller
        # through EC2 (its IAM policy, kms:ViaService).
        self.node_volume_key = customer_key(
            f"{name}-node-volumes",
            description=f"EBS volumes of the nodes of {args.cluster_name}",
            alias=f"{args.cluster_name}-node-volumes",
            # The key policy names Auto Scaling's service-linked role, which must exist before the policy is set (KMS
            # refuses a policy naming an unknown principal): reading the account id through the roles orders the key
            # after them when Crucible creates them.
            account_id=pulumi.Output.all(self.account_id, *[r.arn for r in self.service_linked_roles]).apply(lambda v: v[0]),
            partition=partition,
            deletion_window_days=args.kms_key_deletion_window_days,
            protect=args.protect,
            parent=self,
            tags=tags,
            extra_statements=lambda account: auto_scaling_uses_key(account, partition),
        )

        role = aws.iam.Role(
            f"{name}-control-plane",
            assume_role_policy=service_trust_policy(partition.service_principal("eks")),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-control-plane", role=role.name, policy_arn=aws_managed_policy("AmazonEKSClusterPolicy", partition), opts=child
        )
        # The control-plane log group is encrypted with its own key, whose policy admits CloudWatch Logs for this
        # group only. The key (policy inline) is an input of the group, so it exists with its policy first: CloudWatch
        # Logs checks that it may use the key when the group is created.
        log_group_name = f"/aws/eks/{args.cluster_name}/cluster"
        self.log_key = customer_key(
            f"{name}-logs",
            description=f"Control-plane logs of {args.cluster_name} (CloudWatch Logs {log_group_name})",
            alias=f"{args.cluster_name}-logs",
            account_id=self.account_id,
            partition=partition,
            deletion_window_days=args.kms_key_deletion_window_days,
            protect=args.protect,
            parent=self,
            tags=tags,
            extra_statements=logs_use_key(partition, args.region, log_group_name),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=self.log_key.arn,
            tags=tags,
            opts=child,
        )

        self.cluster = aws.eks.Cluster(
            name,
            name=args.cluster_name,
            version=args.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.network.private_subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public_access,
                public_access_cidrs=list(args.public_access_cidrs) if args.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.kms_key.arn),
            ),
            enabled_cluster_log_types=list(args.log_types),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode=args.authentication_mode,
                bootstrap_cluster_creator_admin_permissions=args.bootstrap_creator_admin,
            ),
            bootstrap_self_managed_addons=False,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            tags=tags,
            # bootstrapClusterCreatorAdminPermissions is read only by CreateCluster: a change would replace the cluster
            # (and everything on it), so later changes are ignored; access to a running cluster is by access entries.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                depends_on=[attachment, log_group],
                ignore_changes=[BOOTSTRAP_CREATOR_ADMIN_INPUT],
            ),
        )

        self.api_ingress_rules = self._api_ingress(name, args)
        access_policies = self._admin_access(name, args) + self._preview_access(name, args)

        self.node_role = aws.iam.Role(
            f"{name}-system-nodes",
            assume_role_policy=service_trust_policy(partition.service_principal("ec2")),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-system-nodes-{policy}", role=self.node_role.name, policy_arn=aws_managed_policy(policy, partition), opts=child
            )
            for policy in NODE_POLICIES
        ]

        # Networking and identity add-ons come before nodes: a node is not Ready without the CNI.
        early_addons = [self._addon(name, addon, args) for addon in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")]
        self.system_node_group = self._system_node_group(name, args, tags, node_policies + early_addons)
        ebs_role = PodIdentityRole(
            f"{name}-ebs-csi",
            cluster_name=self.cluster.name,
            account_id=self.account_id,
            namespace="kube-system",
            service_account="ebs-csi-controller-sa",
            managed_policy_arns=[aws_managed_policy("service-role/AmazonEBSCSIDriverPolicy", partition)],
            associate=False,
            permissions_boundary=args.permissions_boundary,
            opts=child,
        )
        # Workloads' add-ons need somewhere to run.
        late = [self.system_node_group]
        self._addon(name, "coredns", args, depends_on=late)
        self._addon(
            name,
            "aws-ebs-csi-driver",
            args,
            depends_on=late,
            pod_identity=[aws.eks.AddonPodIdentityAssociationArgs(role_arn=ebs_role.arn, service_account="ebs-csi-controller-sa")],
        )

        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            kubeconfig_for(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data, args.region)
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # The deployer reaches the API only once its network is admitted (443 rules), routed back (transit gateway
            # attachment and routes) and its access entry is associated.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_node_group, *access_policies, *self.api_ingress_rules, *args.network_path]),
        )
        self.outputs = ClusterOutputs(
            name=self.cluster.name,
            endpoint=self.cluster.endpoint,
            certificate_authority=self.cluster.certificate_authority.data,
            version=self.cluster.version,
            oidc_issuer=self.cluster.identities.apply(lambda ids: (ids[0].oidcs[0].issuer or "") if ids and ids[0].oidcs else ""),
            cluster_security_group_id=self.cluster.vpc_config.cluster_security_group_id,
            kms_key_arn=self.kms_key.arn,
            node_volume_kms_key_arn=self.node_volume_key.arn,
            system_node_group_label=SYSTEM_POOL,
            kubeconfig=self.kubeconfig,
        )
        self.register_outputs(self.outputs.export())

    def _service_linked_roles(self, name: str, args: ClusterArgs) -> list[aws.iam.ServiceLinkedRole]:
        """The account-wide roles EC2 Auto Scaling (system node group) and EC2 Spot (Karpenter's spot capacity) act
        through, for a new account that has neither. Retained on delete: other workloads in the account use them."""
        if not args.create_service_linked_roles:
            return []
        return [
            aws.iam.ServiceLinkedRole(
                f"{name}-{label}",
                # the same principal the node volume key's policy names (auto_scaling_uses_key): one name per partition
                aws_service_name=self.partition.service_principal(service),
                description=f"Created by Crucible for {args.cluster_name}; shared by the whole account",
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            for label, service in SERVICE_LINKED_ROLES
        ]

    def _api_ingress(self, name: str, args: ClusterArgs) -> list[aws.vpc.SecurityGroupIngressRule]:
        """HTTPS to the private endpoint from the declared networks (the cluster security group admits only itself)."""
        group = self.cluster.vpc_config.cluster_security_group_id
        child = pulumi.ResourceOptions(parent=self)
        rules = []
        for sg in args.api_access.source_security_group_ids:
            rules.append(
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-api-from-{sg}",
                    security_group_id=group,
                    referenced_security_group_id=sg,
                    ip_protocol="tcp",
                    from_port=443,
                    to_port=443,
                    description=f"Kubernetes API (443) from security group {sg} (deployer, kubectl users)",
                    opts=child,
                )
            )
        for cidr in args.api_access.source_cidrs:
            v6 = ":" in cidr
            rules.append(
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-api-from-{cidr.replace('/', '-').replace(':', '_')}",
                    security_group_id=group,
                    cidr_ipv4=None if v6 else cidr,
                    cidr_ipv6=cidr if v6 else None,
                    ip_protocol="tcp",
                    from_port=443,
                    to_port=443,
                    description=f"Kubernetes API (443) from the connected network {cidr} (deployer, kubectl users)",
                    opts=child,
                )
            )
        return rules

    def _admin_access(self, name: str, args: ClusterArgs) -> list[aws.eks.AccessPolicyAssociation]:
        """One access entry with AmazonEKSClusterAdminPolicy (cluster scope) per admin role and for the deploy role
        (one entry when the deploy role is also an admin: EKS allows one entry per principal)."""
        associations = []
        roles = list(args.admin_role_arns)
        if args.api_access.deploy_role_arn and args.api_access.deploy_role_arn not in roles:
            roles.append(args.api_access.deploy_role_arn)
        for role_arn in roles:
            label = role_arn.rsplit("/", 1)[-1].lower()
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{label}",
                cluster_name=self.cluster.name,
                principal_arn=role_arn,
                type="STANDARD",
                opts=pulumi.ResourceOptions(parent=self),
            )
            associations.append(
                aws.eks.AccessPolicyAssociation(
                    f"{name}-admin-{label}",
                    cluster_name=self.cluster.name,
                    principal_arn=entry.principal_arn,
                    policy_arn=self.partition.arn("eks", account="aws", resource=CLUSTER_ADMIN_POLICY),
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return associations

    def _preview_access(self, name: str, args: ClusterArgs) -> list[aws.eks.AccessPolicyAssociation]:
        """The read-only preview role's access entry, with AmazonEKSViewPolicy at cluster scope."""
        role_arn = args.api_access.preview_role_arn
        if not role_arn:
            return []
        entry = aws.eks.AccessEntry(
            f"{name}-preview", cluster_name=self.cluster.name, principal_arn=role_arn, type="STANDARD", opts=pulumi.ResourceOptions(parent=self)
        )
        return [
            aws.eks.AccessPolicyAssociation(
                f"{name}-preview",
                cluster_name=self.cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=self.partition.arn("eks", account="aws", resource=VIEW_POLICY),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=self),
            )
        ]

    def _addon(
        self,
        name: str,
        addon: str,
        args: ClusterArgs,
        depends_on: Sequence[pulumi.Resource] = (),
        pod_identity: Optional[list] = None,
    ) -> aws.eks.Addon:
        configuration = None
        if addon == "vpc-cni":
            # Network policies are only enforced when the CNI's policy agent is on; prefix delegation
            # raises pods per node on the large accelerator instances.
            env = {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"} if args.prefix_delegation else {}
            configuration = json.dumps({"enableNetworkPolicy": "true", "env": env})
        if addon == "aws-ebs-csi-driver":
            # Its node agent attaches volumes wherever they are used: the tainted system nodes (the hub's database,
            # Prometheus) and the accelerator pools too.
            configuration = json.dumps({"node": {"tolerateAllTaints": True}})
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            addon_version=args.addon_versions.get(addon),
            configuration_values=configuration,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            pod_identity_associations=pod_identity,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )

    def _system_node_group(self, name: str, args: ClusterArgs, tags: dict, depends_on: list) -> aws.eks.NodeGroup:
        group = args.system_node_group
        template = aws.ec2.LaunchTemplate(
            f"{name}-system",
            description=f"System nodes of {args.cluster_name}: IMDSv2 only, encrypted gp3 root volume",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=self.node_volume_key.arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="instance", tags={**tags, "Name": f"{args.cluster_name}-system"})],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.cluster.name,
            node_group_name_prefix=f"{args.cluster_name[:30]}-system-",
            node_role_arn=self.node_role.arn,
            subnet_ids=list(args.network.private_subnet_ids),
            capacity_type="ON_DEMAND",
            ami_type=group.ami_type,
            instance_types=list(group.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            labels={POOL_LABEL: SYSTEM_POOL},
            # Only platform pods (which tolerate it) run here: see components/labels.py SYSTEM_TAINT.
            taints=[aws.eks.NodeGroupTaintArgs(key=SYSTEM_TAINT["key"], value=SYSTEM_TAINT["value"], effect="NO_SCHEDULE")],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, ignore_changes=["scalingConfig.desiredSize"]),
        )


BOOTSTRAP_CREATOR_ADMIN_INPUT = "accessConfig.bootstrapClusterCreatorAdminPermissions"
# (resource label, service) of the service-linked roles a new account lacks; see ClusterArgs.create_service_linked_roles.
SERVICE_LINKED_ROLES = (("autoscaling-service-role", "autoscaling"), ("spot-service-role", "spot"))
AUTOSCALING_SERVICE_ROLE = "AWSServiceRoleForAutoScaling"
EBS_KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def auto_scaling_uses_key(account_id: str, partition: Partition) -> list[dict]:
    """Key policy statements for EC2 Auto Scaling's service-linked role (which launches the system nodes): use the key
    and grant it to the volumes it creates. The role exists once any Auto Scaling group has been created in the
    account (README: prerequisites)."""
    autoscaling = partition.service_linked_role_arn(account_id, "autoscaling", AUTOSCALING_SERVICE_ROLE)
    return [
        {"Sid": "AutoScalingUsesKey", "Effect": "Allow", "Principal": {"AWS": autoscaling}, "Action": EBS_KEY_USE, "Resource": "*"},
        {
            "Sid": "AutoScalingGrantsKeyToVolumes",
            "Effect": "Allow",
            "Principal": {"AWS": autoscaling},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]
