"""The storage section: S3 buckets (durable), FSx for Lustre (fast, next to the GPUs) and the in-cluster volumes.

FSx rules checked here are the service's own (FSx API reference, CreateFileSystem / CreateDataRepositoryAssociation;
shared/reference/facts.md):
- SSD capacity for SCRATCH_2, PERSISTENT_1 and PERSISTENT_2: 1200 GiB, 2400 GiB, then steps of 2400 GiB.
- Throughput per TiB: PERSISTENT_2 125/250/500/1000 MB/s/TiB; PERSISTENT_1 (SSD) 50/100/200; SCRATCH_2 has no
  setting (a fixed 200 MB/s/TiB baseline).
- EFA-enabled file systems: PERSISTENT_2 only, chosen at creation; capacity in steps of 38400/19200/9600/4800 GiB
  for 125/250/500/1000 MB/s/TiB.
- Metadata configuration (PERSISTENT_2): AUTOMATIC, or USER_PROVISIONED with 1500, 3000, 6000, 12000 or a multiple
  of 12000 up to 192000 IOPS.
- Scratch file systems are not replicated and have no backups; a file system has at most 8 data repository
  associations, whose file-system paths must not overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Optional

from stacks.spec.checks import absolute_path, k8s_name
from stacks.spec.schema import ByEnv, Context, did_you_mean, in_range, setting, show, unique

DEPLOYMENT_TYPES = ("SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2")
THROUGHPUT_PER_TIB = {"PERSISTENT_2": (125, 250, 500, 1000), "PERSISTENT_1": (50, 100, 200), "SCRATCH_2": ()}
DEFAULT_THROUGHPUT_PER_TIB = {"PERSISTENT_2": 250, "PERSISTENT_1": 200}
SCRATCH_2_BASELINE_PER_TIB = 200  # MB/s/TiB, fixed by the service
EFA_CAPACITY_STEP_GIB = {125: 38400, 250: 19200, 500: 9600, 1000: 4800}
METADATA_IOPS_LISTED = (1500, 3000, 6000, 12000)
METADATA_IOPS_MAX = 192000
MAX_REPOSITORY_ASSOCIATIONS = 8
EVENTS = ("NEW", "CHANGED", "DELETED")

# Default bucket names live in the account regional namespace (S3 User Guide, "Namespaces for general purpose
# buckets"; CreateBucket `x-amz-bucket-namespace: account-regional`): <prefix>-<12-digit account id>-<region>-an, a
# subdivision of the partition's global namespace that only the owning account can create buckets in, so two accounts
# with a stack `prod` in one region never collide and nobody can take a deleted name. Not offered in Middle East
# (Bahrain) and Middle East (UAE): there the name keeps the account id and region, in the global namespace.
ACCOUNT_ID_DIGITS = 12
ACCOUNT_REGIONAL_SUFFIX = "-an"
NO_ACCOUNT_REGIONAL_NAMESPACE = ("me-south-1", "me-central-1")

_LOGICAL_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def logical_bucket_name(value: str) -> Optional[str]:
    if not _LOGICAL_NAME.match(value):
        return f"got {show(value)}; allowed: 1-24 lowercase letters, digits and '-', starting and ending with a letter or digit"
    return None


def s3_bucket_name_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid general-purpose S3 bucket name (S3 naming rules), or None.

    Crucible also refuses dots (virtual-hosted TLS certificates do not cover them)."""
    if not 3 <= len(name) <= 63:
        return f"{show(name)} is {len(name)} characters; S3 bucket names are 3-63 characters"
    if not _BUCKET.match(name):
        return f"{show(name)}: S3 bucket names (here) are lowercase letters, digits and '-', starting and ending with a letter or digit"
    if "--" in name and (name.startswith("xn--") or name.endswith("--ol-s3") or name.endswith("--x-s3")):
        return f"{show(name)}: the prefix xn-- and the suffixes --ol-s3/--x-s3 are reserved by S3"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"{show(name)}: the prefix {prefix!r} is reserved by S3"
    for suffix in ("-s3alias", "--ol-s3", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"{show(name)}: the suffix {suffix!r} is reserved by S3"
    if _IP.match(name):
        return f"{show(name)}: S3 bucket names must not look like an IP address"
    return None


def s3_prefix(value: str) -> Optional[str]:
    if value.startswith("/") or "//" in value or len(value) > 900:
        return f"got {show(value)}; allowed: an S3 key prefix such as imagenet/ (no leading '/')"
    return None


@dataclass(frozen=True)
class BucketSpec:
    """One S3 bucket. Every bucket is SSE-KMS (storage key, bucket keys), versioned, private, TLS-only."""

    name: str = setting(
        "Logical name (datasets, checkpoints, artifacts). The physical name is <bucketPrefix>-<name> when "
        "storage.bucketPrefix is set, else crucible-<stack>-<name>-<account id>-<region>-an (see storage.bucketPrefix).",
        check=logical_bucket_name,
    )
    noncurrent_version_days: int = setting(
        "Days after which noncurrent (overwritten or deleted) object versions expire.",
        default=ByEnv(dev=7, prod=90),
        check=in_range(1, 3650),
    )
    abort_incomplete_upload_days: int = setting(
        "Days after which incomplete multipart uploads (interrupted checkpoint writes) are aborted.", default=7, check=in_range(1, 365)
    )
    read_only_volume: bool = setting("Also mount the bucket read-only in the cluster through Mountpoint for S3 (a static PersistentVolume).", default=False)


DEFAULT_BUCKETS = [
    {"name": "datasets", "readOnlyVolume": True},
    {"name": "checkpoints"},
    {"name": "artifacts"},
]


@dataclass(frozen=True)
class RepositoryLinkSpec:
    """A data repository association: a file-system directory kept in step with an S3 bucket prefix."""

    path: str = setting("Directory on the file system, e.g. /datasets.", check=absolute_path)
    bucket: str = setting("Logical name of a bucket in `storage.buckets`.")
    prefix: str = setting("Key prefix in the bucket (empty: the whole bucket).", default="", check=s3_prefix)
    import_events: tuple[Literal["NEW", "CHANGED", "DELETED"], ...] = setting(
        "S3 changes imported automatically into the file system.", default=list(EVENTS), check=unique
    )
    export_events: tuple[Literal["NEW", "CHANGED", "DELETED"], ...] = setting(
        "File-system changes exported automatically to S3 (DELETED only to versioned buckets).", default=list(EVENTS), check=unique
    )


DEFAULT_LINKS = [{"path": "/datasets", "bucket": "datasets"}, {"path": "/checkpoints", "bucket": "checkpoints"}]


def _metadata_iops(value: int) -> Optional[str]:
    if value in METADATA_IOPS_LISTED or (value % 12000 == 0 and 12000 <= value <= METADATA_IOPS_MAX):
        return None
    return f"got {value}; allowed: 1500, 3000, 6000, 12000 or a multiple of 12000 up to {METADATA_IOPS_MAX}"


@dataclass(frozen=True)
class LustreSpec:
    enabled: bool = setting("Create the FSx for Lustre file system.", default=True)
    deployment_type: Literal["SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2"] = setting(
        "FSx deployment type: SCRATCH_2 (cheap, not replicated, no backups) or PERSISTENT_1/PERSISTENT_2 (replicated, backed up).",
        default=ByEnv(dev="SCRATCH_2", prod="PERSISTENT_2"),
    )
    storage_capacity_gib: int = setting("SSD storage capacity: 1200, 2400, then steps of 2400 GiB.", default=1200)
    per_unit_storage_throughput: Optional[int] = setting(
        "Throughput per TiB in MB/s/TiB. PERSISTENT_2: 125, 250, 500, 1000; PERSISTENT_1: 50, 100, 200; SCRATCH_2: unset "
        "(fixed 200). Default: 250 (PERSISTENT_2), 200 (PERSISTENT_1).",
        default=None,
    )
    efa: bool = setting(
        "EFA-enabled file system (PERSISTENT_2 only; set at creation, replacing the file system to change). "
        "Capacity then steps by 38400/19200/9600/4800 GiB for 125/250/500/1000 MB/s/TiB.",
        default=False,
    )
    metadata_mode: Literal["AUTOMATIC", "USER_PROVISIONED"] = setting(
        "PERSISTENT_2 metadata configuration: AUTOMATIC (scales with capacity) or USER_PROVISIONED (set metadataIops).",
        default="AUTOMATIC",
    )
    metadata_iops: Optional[int] = setting(
        "Metadata IOPS for USER_PROVISIONED: 1500, 3000, 6000, 12000 or multiples of 12000 up to 192000.",
        default=None,
        check=_metadata_iops,
    )
    backup_retention_days: Optional[int] = setting(
        "Automatic daily backups kept this many days (persistent types; at least 7 in prod). Default: 0 for SCRATCH_2 "
        "(no backups exist), 7 in dev and 14 in staging/prod for persistent types.",
        default=None,
        check=in_range(0, 90),
    )
    zone: Optional[str] = setting(
        "Availability zone of the file system: one of `availabilityZones`, where the EFA/training pools run. Required "
        "in staging and prod (moving the file system replaces it, so its zone must not follow the order of zones or "
        "pools). Dev default: the zone of the first EFA pool, else of the first training pool, else the first zone.",
        default=None,
    )
    repositories: tuple[RepositoryLinkSpec, ...] = setting(
        "Data repository associations: file-system directories linked to bucket prefixes (at most 8).", default=DEFAULT_LINKS
    )

    @property
    def scratch(self) -> bool:
        return self.deployment_type.startswith("SCRATCH")

    def throughput_per_tib(self) -> int:
        """MB/s per TiB of storage: configured, else the type's default (SCRATCH_2: its fixed baseline)."""
        if self.scratch:
            return SCRATCH_2_BASELINE_PER_TIB
        return self.per_unit_storage_throughput or DEFAULT_THROUGHPUT_PER_TIB[self.deployment_type]

    def backup_days(self, environment: str) -> int:
        if self.scratch:
            return 0
        if self.backup_retention_days is not None:
            return self.backup_retention_days
        return 7 if environment == "dev" else 14

    def check(self, ctx: Context, path: str) -> None:
        kind = self.deployment_type
        capacity = self.storage_capacity_gib
        if capacity not in (1200, 2400) and not (capacity > 2400 and capacity % 2400 == 0):
            ctx.problem(f"{path}.storageCapacityGib", f"got {capacity}; allowed for {kind}: 1200, 2400, or a multiple of 2400 GiB (4800, 7200, …)")
        throughput = self.per_unit_storage_throughput
        if throughput is not None:
            allowed = THROUGHPUT_PER_TIB[kind]
            if not allowed:
                ctx.problem(
                    f"{path}.perUnitStorageThroughput",
                    f"got {throughput}; {kind} has no throughput setting (fixed {SCRATCH_2_BASELINE_PER_TIB} MB/s/TiB): remove it, or use PERSISTENT_2 (125, 250, 500, 1000)",
                )
            elif throughput not in allowed:
                ctx.problem(f"{path}.perUnitStorageThroughput", f"got {throughput}; allowed for {kind}: {', '.join(map(str, allowed))} MB/s/TiB")
        if self.efa:
            if kind != "PERSISTENT_2":
                ctx.problem(f"{path}.efa", f"true, but deploymentType is {kind}; allowed: EFA-enabled file systems are PERSISTENT_2 only")
            elif self.throughput_per_tib() in EFA_CAPACITY_STEP_GIB:
                step = EFA_CAPACITY_STEP_GIB[self.throughput_per_tib()]
                if capacity % step:
                    ctx.problem(
                        f"{path}.storageCapacityGib",
                        f"got {capacity}; allowed for an EFA-enabled PERSISTENT_2 file system at {self.throughput_per_tib()} MB/s/TiB: "
                        f"a multiple of {step} GiB",
                    )
        if kind == "PERSISTENT_2":
            if self.metadata_mode == "USER_PROVISIONED" and self.metadata_iops is None:
                ctx.problem(f"{path}.metadataIops", "required when metadataMode is USER_PROVISIONED; allowed: 1500, 3000, 6000, 12000 or multiples of 12000")
            if self.metadata_mode == "AUTOMATIC" and self.metadata_iops is not None:
                ctx.problem(f"{path}.metadataIops", f"got {self.metadata_iops}, but metadataMode is AUTOMATIC: remove it or set metadataMode: USER_PROVISIONED")
        elif self.metadata_iops is not None:
            ctx.problem(f"{path}.metadataIops", f"got {self.metadata_iops}; a metadata configuration exists on PERSISTENT_2 only (deploymentType is {kind})")
        if self.scratch and self.backup_retention_days:
            ctx.problem(
                f"{path}.backupRetentionDays",
                f"got {self.backup_retention_days}; {kind} file systems cannot be backed up: allowed 0 or unset (or use PERSISTENT_2)",
            )
        if ctx.env != "dev":
            if self.scratch:
                ctx.problem(
                    f"{path}.deploymentType",
                    f"got {show(kind)} in {ctx.env}; scratch file systems are not replicated and have no backups: allowed: PERSISTENT_1, PERSISTENT_2",
                )
            elif self.backup_retention_days is not None and self.backup_retention_days < 7:
                ctx.problem(f"{path}.backupRetentionDays", f"got {self.backup_retention_days}; allowed in {ctx.env}: 7..90 days")
        if len(self.repositories) > MAX_REPOSITORY_ASSOCIATIONS:
            ctx.problem(f"{path}.repositories", f"got {len(self.repositories)} associations; allowed: at most {MAX_REPOSITORY_ASSOCIATIONS} per file system")
        for i, link in enumerate(self.repositories):
            for j, other in enumerate(self.repositories[:i]):
                if link.path == other.path or link.path.startswith(other.path + "/") or other.path.startswith(link.path + "/"):
                    ctx.problem(
                        f"{path}.repositories[{i}].path",
                        f"got {show(link.path)}; overlaps repositories[{j}].path {show(other.path)}: file-system paths must not nest",
                    )
                elif (link.bucket, link.prefix) == (other.bucket, other.prefix):
                    ctx.problem(
                        f"{path}.repositories[{i}].prefix",
                        f"bucket {show(link.bucket)} prefix {show(link.prefix)} is already linked by repositories[{j}]; each association needs its own bucket or prefix",
                    )


@dataclass(frozen=True)
class StorageSpec:
    buckets: tuple[BucketSpec, ...] = setting("S3 buckets (see `buckets[].*`).", default=DEFAULT_BUCKETS)
    bucket_prefix: Optional[str] = setting(
        "Prefix of explicitly named buckets: <bucketPrefix>-<name>, kept exactly as given, in S3's global namespace "
        "(it must be unique in the partition). Unset: crucible-<stack>-<name>-<account id>-<region>-an in the account's "
        "regional namespace, which no other account can take (Middle East (Bahrain, UAE): without -an, global). Not the "
        "cluster name: renaming the cluster must not rename, i.e. replace, the buckets. A stack deployed before default "
        "names carried the account keeps its buckets with bucketPrefix: crucible-<stack>-<region>.",
        default=None,
        check=lambda v: None if re.match(r"^[a-z0-9][a-z0-9-]*$", v) else f"got {show(v)}; allowed: lowercase letters, digits and '-'",
    )
    kms_key_deletion_window_days: int = setting(
        "Waiting period before the storage KMS key (buckets, file system) is deleted.", default=ByEnv(dev=7, prod=30), check=in_range(7, 30)
    )
    lustre: LustreSpec = setting("The FSx for Lustre file system (see `lustre.*`).", default={})
    namespace: str = setting("Namespace of the shared volume claims (Lustre, read-only datasets).", default="crucible-data", check=k8s_name)
    storage_class_name: str = setting(
        "Name of the gp3 StorageClass for user volumes (encrypted, Retain, WaitForFirstConsumer).", default="crucible-gp3", check=k8s_name
    )
    checkpoint_size_gib: float = setting("Size of one training checkpoint, for the plan's write-time figure.", default=100, check=in_range(0.1, 1_000_000))
    min_throughput_per_accelerator_mbps: float = setting(
        "The plan warns when Lustre throughput per training accelerator (at the pools' maximum) is below this (MB/s).",
        default=50,
        check=in_range(0, 100_000),
    )

    def bucket(self, name: str) -> Optional[BucketSpec]:
        return next((b for b in self.buckets if b.name == name), None)

    def bucket_namespace(self, region: str) -> Optional[str]:
        """The S3 namespace of the buckets: "account-regional" for default names where S3 offers it, else None (the
        global namespace, the API's default; explicit names keep exactly the inputs they always had)."""
        if self.bucket_prefix or region in NO_ACCOUNT_REGIONAL_NAMESPACE:
            return None
        return "account-regional"

    def physical_bucket_name(self, logical: str, stack: str, region: str, account_id: str) -> str:
        """<bucketPrefix>-<name> as given, else crucible-<stack>-<name>-<account id>-<region>[-an]: unique per
        account (and per stack and region within it)."""
        if self.bucket_prefix:
            return f"{self.bucket_prefix}-{logical}".lower()
        name = f"crucible-{stack}-{logical}-{account_id}-{region}".lower()
        return name + ACCOUNT_REGIONAL_SUFFIX if self.bucket_namespace(region) else name

    def check(self, ctx: Context, path: str) -> None:
        names = [b.name for b in self.buckets]
        if not names:
            ctx.problem(f"{path}.buckets", "must list at least one bucket")
        for i, name in enumerate(names):
            if names.index(name) != i:
                ctx.problem(f"{path}.buckets[{i}].name", f"got {show(name)}; bucket names must be unique (also used by buckets[{names.index(name)}])")
        if self.lustre.enabled:
            for i, link in enumerate(self.lustre.repositories):
                if link.bucket not in names:
                    ctx.problem(
                        f"{path}.lustre.repositories[{i}].bucket",
                        f"got {show(link.bucket)}{did_you_mean(link.bucket, names)}; allowed: a bucket of storage.buckets ({', '.join(names)})",
                    )


def check_physical_names(storage: StorageSpec, stack: str, region: str, ctx: Context, path: str) -> None:
    """Physical bucket names are known once the stack name is: checked by the loader, before any resource. The account
    id is only known to the program (the caller identity), but it is always 12 digits: a stand-in of that length
    bounds the name exactly."""
    stand_in = "0" * ACCOUNT_ID_DIGITS
    for i, bucket in enumerate(storage.buckets):
        physical = storage.physical_bucket_name(bucket.name, stack.lower(), region, stand_in)
        problem = s3_bucket_name_problem(physical)
        if problem:
            if storage.bucket_prefix:
                ctx.problem(f"{path}.bucketPrefix", f"derived bucket name {problem}; set a shorter or valid storage.bucketPrefix")
            else:
                shown = problem.replace(stand_in, "<account id>")
                ctx.problem(
                    f"{path}.buckets[{i}].name",
                    f"default bucket name (crucible-<stack>-<name>-<account id>-<region>-an) {shown}; use a shorter stack "
                    "or bucket name, or set storage.bucketPrefix (an explicit name in the global namespace)",
                )
