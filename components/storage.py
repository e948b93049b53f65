"""The storage layer's AWS resources: the storage KMS key, the S3 buckets and the FSx for Lustre file system.

Everything stateful is created with ``protect`` and ``retain_on_delete`` equal to the stack's `protect` setting, so
in prod neither `pulumi destroy` nor a refactor that drops a resource from the program deletes data: removing one
needs an explicit `protect: false` change first, and even then the cloud resource is left in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components import versions
from components.kms import customer_key
from components.partitions import partition_of

LUSTRE_PORTS = ((988, 988), (1018, 1023))  # TCP: LNet, and the Lustre server range
LUSTRE_VERSION = versions.SOFTWARE["lustre"].version  # DRAs need 2.12+ on every type; EFA and metadata configs need 2.15
KMS_GRANT_OPERATIONS = ("Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey")


def _stateful(parent: pulumi.Resource, protect: bool, **extra) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect, **extra)


class EncryptionKey(pulumi.ComponentResource):
    """The storage KMS key: encrypts the buckets (SSE-KMS with bucket keys) and the Lustre file system."""

    def __init__(self, name: str, *, alias: str, region: str, deletion_window_days: int, protect: bool, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:storage:EncryptionKey", name, None, opts)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.account_id = identity.account_id
        self.key = customer_key(
            name,
            description="Crucible storage: S3 buckets and FSx for Lustre",
            alias=alias,
            account_id=self.account_id,
            partition=partition_of(region),
            deletion_window_days=deletion_window_days,
            protect=protect,
            parent=self,
        )
        self.arn = self.key.arn
        self.register_outputs({"keyArn": self.key.arn})


# ---- buckets ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketArgs:
    logical_name: str
    physical_name: pulumi.Input[str]
    noncurrent_version_days: int
    abort_incomplete_upload_days: int
    # "account-regional": a name only this account can hold (<prefix>-<account id>-<region>-an); None: the global
    # namespace (the API's default), left out of the inputs so explicitly named buckets keep the inputs they had.
    namespace: Optional[str] = None


def tls_only_statement(bucket_arn: str) -> dict:
    """The bucket policy statement that refuses every request to the bucket and its objects over plain HTTP."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_policy(bucket_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(bucket_arn)]})


class Buckets(pulumi.ComponentResource):
    """Private, versioned, SSE-KMS, TLS-only S3 buckets with lifecycle rules; never force-destroyed."""

    def __init__(
        self,
        name: str,
        *,
        buckets: Sequence[BucketArgs],
        kms_key_arn: pulumi.Input[str],
        protect: bool,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("crucible:storage:Buckets", name, None, opts)
        self.buckets: dict[str, aws.s3.Bucket] = {}
        self.versioned: dict[str, bool] = {}
        for args in buckets:
            self.buckets[args.logical_name] = self._bucket(args, kms_key_arn, protect)
            self.versioned[args.logical_name] = True
        self.names = {k: b.bucket for k, b in self.buckets.items()}
        self.arns = {k: b.arn for k, b in self.buckets.items()}
        self.register_outputs({"buckets": self.names})

    def _bucket(self, args: BucketArgs, kms_key_arn: pulumi.Input[str], protect: bool) -> aws.s3.Bucket:
        n = args.logical_name
        bucket = aws.s3.Bucket(
            n,
            bucket=args.physical_name,
            bucket_namespace=args.namespace,
            force_destroy=False,
            tags={"crucible:bucket": n},
            opts=_stateful(self, protect),
        )
        # Side resources take the bucket's own output, so the engine links them to the bucket URN (policies join on it);
        # they are protected and retained with the bucket: dropping one must not quietly switch a protection off.
        side = _stateful(self, protect)
        aws.s3.BucketPublicAccessBlock(
            n,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=side,
        )
        versioning = aws.s3.BucketVersioning(
            n,
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=side,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            n,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=side,
        )
        aws.s3.BucketPolicy(n, bucket=bucket.id, policy=bucket.arn.apply(tls_only_policy), opts=side)
        aws.s3.BucketLifecycleConfiguration(
            n,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=args.abort_incomplete_upload_days
                    ),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_days
                    ),
                ),
            ],
            # Lifecycle rules on versions only make sense once versioning is on.
            opts=_stateful(self, protect, depends_on=[versioning]),
        )
        return bucket


# ---- FSx for Lustre -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepositoryLink:
    path: str  # file-system directory
    bucket: str  # logical bucket name
    prefix: str
    import_events: Sequence[str]
    export_events: Sequence[str]


def export_events_allowed(events: Sequence[str], bucket_versioned: bool) -> Optional[str]:
    """Exporting deletions removes S3 objects: only to versioned buckets, where the deleted data stays recoverable."""
    if "DELETED" in events and not bucket_versioned:
        return "exporting DELETED events needs a versioned bucket (deletions on the file system would destroy S3 data)"
    return None


@dataclass(frozen=True)
class LustreArgs:
    name: str  # file-system name tag
    deployment_type: str
    storage_capacity_gib: int
    per_unit_storage_throughput: Optional[int]  # None for SCRATCH_2
    efa: bool
    metadata_mode: Optional[str]  # PERSISTENT_2 only
    metadata_iops: Optional[int]
    backup_retention_days: int  # 0: none (SCRATCH_2 cannot be backed up)
    zone: str
    subnet_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    client_security_group_ids: Sequence[pulumi.Input[str]]  # the nodes: the cluster security group
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    links: Sequence[RepositoryLink]
    bucket_names: Mapping[str, pulumi.Input[str]]
    bucket_versioned: Mapping[str, bool]
    protect: bool
    region: str  # its partition names the FSx service-linked role


class Lustre(pulumi.ComponentResource):
    """One FSx for Lustre file system in the training zone, encrypted with the storage key, linked to S3 buckets."""

    def __init__(self, name: str, args: LustreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:storage:Lustre", name, None, opts)
        for link in args.links:
            problem = export_events_allowed(link.export_events, args.bucket_versioned.get(link.bucket, False))
            if problem:
                raise ValueError(f"data repository {link.path} -> {link.bucket}: {problem}")

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-lustre",
            description=f"FSx for Lustre {args.name}: Lustre ports from the cluster nodes and itself only",
            vpc_id=args.vpc_id,
            tags={"Name": f"{args.name}-lustre"},
            # A security group's description forces its replacement, and a new group id replaces the file system
            # (securityGroupIds forces too): the description, which names the cluster, keeps its first value.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["description"]),
        )
        rules = self._rules(name, args)

        scratch = args.deployment_type.startswith("SCRATCH")
        persistent2 = args.deployment_type == "PERSISTENT_2"
        # Lustre 2.15 everywhere: with it every deployment type but SCRATCH_1 takes data repository associations
        # (the API default for SCRATCH_2 is 2.10, which only has the legacy file-system-wide importPath/exportPath
        # and no automatic export). So dev's SCRATCH_2 and prod's PERSISTENT_2 link to S3 the same way.
        self.file_system = aws.fsx.LustreFileSystem(
            name,
            deployment_type=args.deployment_type,
            file_system_type_version=LUSTRE_VERSION,
            storage_type="SSD",
            storage_capacity=args.storage_capacity_gib,
            per_unit_storage_throughput=None if scratch else args.per_unit_storage_throughput,
            efa_enabled=True if args.efa else None,
            metadata_configuration=aws.fsx.LustreFileSystemMetadataConfigurationArgs(
                mode=args.metadata_mode, iops=args.metadata_iops if args.metadata_mode == "USER_PROVISIONED" else None
            )
            if persistent2
            else None,
            subnet_ids=args.subnet_id,
            security_group_ids=[self.security_group.id],
            # Scratch file systems are always encrypted at rest with FSx-managed keys: a KMS key is persistent-only.
            kms_key_id=None if scratch else args.kms_key_arn,
            automatic_backup_retention_days=None if scratch else args.backup_retention_days,
            copy_tags_to_backups=None if scratch else True,
            # The API's default is to skip the final backup (data lost on delete); scratch has no backups at all.
            skip_final_backup=None if scratch else False,
            tags={"Name": args.name},
            # Every rule of both sides first: FSx checks the groups when the file system is created.
            opts=_stateful(self, args.protect, depends_on=rules),
        )
        self.associations = []
        for link in args.links:
            bucket = args.bucket_names[link.bucket]
            path = pulumi.Output.concat("s3://", bucket, "/", link.prefix)
            self.associations.append(
                aws.fsx.DataRepositoryAssociation(
                    f"{name}{link.path.replace('/', '-')}",
                    file_system_id=self.file_system.id,
                    file_system_path=link.path,
                    data_repository_path=path,
                    batch_import_meta_data_on_create=True,
                    delete_data_in_filesystem=False,
                    s3=aws.fsx.DataRepositoryAssociationS3Args(
                        auto_import_policy=aws.fsx.DataRepositoryAssociationS3AutoImportPolicyArgs(events=list(link.import_events))
                        if link.import_events
                        else None,
                        auto_export_policy=aws.fsx.DataRepositoryAssociationS3AutoExportPolicyArgs(events=list(link.export_events))
                        if link.export_events
                        else None,
                    ),
                    opts=_stateful(self, args.protect),
                )
            )
        if self.associations:
            # FSx reaches the (SSE-KMS) buckets through a per-file-system service-linked role it creates with the
            # first association; a grant lets exactly that role use the storage key, without widening the key policy.
            partition = partition_of(args.region)
            slr = pulumi.Output.all(args.account_id, self.file_system.id).apply(
                lambda v: partition.service_linked_role_arn(v[0], "s3.data-source.lustre.fsx", f"AWSServiceRoleForFSxS3Access_{v[1]}")
            )
            aws.kms.Grant(
                f"{name}-s3-access",
                key_id=args.kms_key_arn,
                grantee_principal=slr,
                operations=list(KMS_GRANT_OPERATIONS),
                opts=pulumi.ResourceOptions(parent=self, depends_on=self.associations),
            )
        self.id = self.file_system.id
        self.dns_name = self.file_system.dns_name
        self.mount_name = self.file_system.mount_name
        self.arn = self.file_system.arn
        self.register_outputs({"fileSystemId": self.file_system.id, "dnsName": self.dns_name, "mountName": self.mount_name})

    def _rules(self, name: str, args: LustreArgs) -> list[pulumi.Resource]:
        """The rules of both sides, as the FSx guide lists them ("File system access control with Amazon VPC":
        Lustre file system and Lustre client VPC security group rules), returned so the file system can depend on
        every one: FSx validates its groups synchronously at CreateFileSystem (400 InvalidNetworkSettings on port
        988, or "Insufficient security group permissions to create an EFA-enabled file system", when a rule is
        still being created).

        - the file system's group: Lustre TCP 988 and 1018-1023 in and out, with itself and with each client group;
        - each client group (the nodes' cluster security group, which every system and Karpenter node carries):
          the same ports in from and out to the file system's group. Lustre servers open LNet connections to the
          clients too, so a client group that admits nothing from the file system drops them (evictions, hangs);
        - EFA file systems: all traffic in and out with the file system's own group and with each client group, on
          both sides (https://docs.aws.amazon.com/fsx/latest/LustreGuide/cannot-create-fs.html: "all inbound and
          outbound traffic to and from the security group itself and the security group of the clients").

        Never a CIDR, never 0.0.0.0/0."""
        child = pulumi.ResourceOptions(parent=self)
        sg = self.security_group.id
        rules: list[pulumi.Resource] = []

        def rule(cls, rule_name: str, group, peer, description: str, ports: Optional[tuple[int, int]]) -> None:
            protocol = {"ip_protocol": "tcp", "from_port": ports[0], "to_port": ports[1]} if ports else {"ip_protocol": "-1"}
            rules.append(cls(rule_name, security_group_id=group, referenced_security_group_id=peer, description=description, opts=child, **protocol))

        clients = [(f"nodes{i}" if i else "nodes", g) for i, g in enumerate(args.client_security_group_ids)]
        for label, peer in [("self", sg)] + clients:
            peer_text = "the file system" if label == "self" else "cluster nodes"
            for low, high in LUSTRE_PORTS:
                ports = f"{low}" if low == high else f"{low}-{high}"
                rule(aws.vpc.SecurityGroupIngressRule, f"{name}-in-{label}-{ports}", sg, peer, f"Lustre TCP {ports} from {peer_text}", (low, high))
                rule(aws.vpc.SecurityGroupEgressRule, f"{name}-out-{label}-{ports}", sg, peer, f"Lustre TCP {ports} to {peer_text}", (low, high))
        for label, client in clients:
            for low, high in LUSTRE_PORTS:
                ports = f"{low}" if low == high else f"{low}-{high}"
                rule(
                    aws.vpc.SecurityGroupIngressRule, f"{name}-{label}-in-{ports}", client, sg, f"Lustre TCP {ports} from file system {args.name}", (low, high)
                )
                rule(aws.vpc.SecurityGroupEgressRule, f"{name}-{label}-out-{ports}", client, sg, f"Lustre TCP {ports} to file system {args.name}", (low, high))
        if args.efa:
            for direction, cls, way in (("in", aws.vpc.SecurityGroupIngressRule, "from"), ("out", aws.vpc.SecurityGroupEgressRule, "to")):
                rule(cls, f"{name}-{direction}-self-efa", sg, sg, "EFA: all traffic within the file system's security group", None)
                for label, client in clients:
                    rule(cls, f"{name}-{direction}-{label}-efa", sg, client, f"EFA: all traffic {way} cluster nodes", None)
                    rule(cls, f"{name}-{label}-{direction}-efa", client, sg, f"EFA: all traffic {way} file system {args.name}", None)
        return rules
