"""FSx for Lustre: in the training zone, reachable only from inside, encrypted with a customer key, and durable
(AI-FSX-001, AI-FSX-002, SEC-FSX-003, DATA-FSX-004).

A Lustre file system lives in one subnet; the training nodes that read it at hundreds of GB/s must sit in that
subnet's zone, or every byte crosses zones (cost, latency).
"""

from __future__ import annotations

import re

from policies.support import s3
from policies.support.karpenter import ZONE, node_pools
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.security_groups import group_rules
from policies.support.tokens import DATA_REPOSITORY_ASSOCIATION, LUSTRE, SECURITY_GROUP, SUBNET
from policies.support.values import as_list, flag, is_set, known, number, text

LUSTRE_PORTS = (988, 1018, 1019, 1020, 1021, 1022, 1023)


# AI-FSX-001 ----------------------------------------------------------------------------------------------------
def _zone_of(stack: Stack, fs: Res) -> tuple[str | None, Res | None]:
    for subnet in stack.linked(fs, "subnetIds", SUBNET):
        zone = subnet.get("availabilityZone")
        if isinstance(zone, str):
            return zone, subnet
        known(zone)
    return None, None


def _placeable_zones(stack: Stack, pool) -> set[str] | None:
    """Zones a pool can place nodes in: its zone requirement (In / NotIn), narrowed by the zones of the subnets its
    EC2NodeClass selects by id when those subnets are in the stack; None when nothing limits it."""
    zones = pool.zones()
    for req in pool.requirements():
        if known(req.get("key")) == ZONE and known(req.get("operator")) == "NotIn" and zones is not None:
            zones = zones - {str(known(v)) for v in as_list(req.get("values"))}
    node_class = pool.node_class(stack)
    if node_class is not None:
        subnet_zones: set[str] = set()
        by_id = {s.get("id") or s.name: s for s in stack.of(SUBNET)}
        for term in as_list(node_class.get("spec", "subnetSelectorTerms")):
            subnet = by_id.get(term.get("id")) if isinstance(term, dict) else None
            if subnet is None or not isinstance(subnet.get("availabilityZone"), str):
                return zones  # selected by tag or outside the stack: the requirement decides
            subnet_zones.add(subnet.get("availabilityZone"))
        if subnet_zones:
            zones = subnet_zones if zones is None else zones & subnet_zones
    return zones


def _training_zone(stack: Stack, ctx: Ctx) -> None:
    pools = [p for p in node_pools(stack) if p.workload == "training"]
    for fs in stack.of(LUSTRE):
        with ctx.each():
            zone, subnet = _zone_of(stack, fs)
            if zone is None:
                continue  # the subnet is not in this stack (e.g. a split core stack): nothing to compare
            for pool in pools:
                zones = _placeable_zones(stack, pool)
                if zones is None or zones - {zone}:
                    where = "any zone (no zone requirement)" if zones is None else ", ".join(sorted(zones))
                    ctx.violation(
                        fs,
                        f"the file system is in {zone} (subnet {subnet.name!r}) but training pool {pool.name!r} can "
                        f"place nodes in {where}; reads from a node outside {zone} cross zones. Put the pool in the file "
                        "system's zone only (`crucible:storage.lustre.zone` and `crucible:pools[].zones`).",
                    )


AI_FSX_001 = stack_policy(
    rule_id="AI-FSX-001",
    slug="lustre-in-training-zone",
    description="FSx for Lustre file systems sit in the availability zone of the training pools that read them "
    "(EFA pools are single-zone), so training I/O does not cross zones.",
    check=_training_zone,
    anchor="FSx Lustre single-subnet; ai-on-eks pins private_subnets[0]",
)


# AI-FSX-002 ----------------------------------------------------------------------------------------------------
def _lustre_security_groups(stack: Stack, ctx: Ctx) -> None:
    for fs in stack.of(LUSTRE):
        with ctx.each():
            groups = stack.linked(fs, "securityGroupIds", SECURITY_GROUP)
            if not groups:
                if not is_set(fs.get("securityGroupIds")):
                    ctx.violation(
                        fs,
                        "no security group: set securityGroupIds to a group that admits TCP 988 and 1018-1023 "
                        "from the node security group or the private CIDRs only.",
                    )
                continue  # groups managed elsewhere
            ingress = [r for g in groups for r in group_rules(stack, g) if r.direction == "ingress"]
            lustre = [r for r in ingress if any(r.covers(p) for p in LUSTRE_PORTS)]
            open_rules = [r for r in lustre if r.open_to_world()]
            for rule in open_rules:
                ctx.violation(
                    rule.declared_by,
                    f"admits Lustre traffic (TCP 988/1018-1023) of file system {fs.name!r} from the internet "
                    f"({rule.sources()}); allow only the node security group or the VPC's private CIDRs.",
                )
            uncovered = [p for p in (988, 1018, 1023) if not any(r.covers(p) for r in lustre)]
            if uncovered:
                ctx.violation(
                    fs,
                    f"its security groups ({', '.join(g.name for g in groups)}) do not admit TCP "
                    f"{', '.join(map(str, uncovered))}; clients cannot mount it. Allow TCP 988 and 1018-1023 from "
                    "the node security group.",
                )


AI_FSX_002 = stack_policy(
    rule_id="AI-FSX-002",
    slug="lustre-security-group",
    description="FSx for Lustre security groups admit the Lustre ports (TCP 988, 1018-1023) from nodes or private CIDRs -- and never from the internet.",
    check=_lustre_security_groups,
    anchor="FSx Lustre VPC access control; ai-on-eks aws_security_group.fsx",
)


# SEC-FSX-003 ---------------------------------------------------------------------------------------------------
def _cmk(fs: Res, ctx: Ctx) -> None:
    deployment = text(fs.get("deploymentType")) or "SCRATCH_1"
    if deployment.startswith("SCRATCH"):
        ctx.violation(
            fs,
            f"{deployment} file systems cannot use a customer managed key; use PERSISTENT_2 with kmsKeyId (`crucible:storage.lustre.deploymentType`).",
        )
    elif not is_set(fs.get("kmsKeyId")) or re.search(r"(^|:)alias/aws/", str(fs.get("kmsKeyId") or ""), re.IGNORECASE):
        ctx.violation(fs, "encrypted with the AWS managed key (kmsKeyId unset or alias/aws/...); set kmsKeyId to a customer managed KMS key.")


SEC_FSX_003 = resource_policy(
    rule_id="SEC-FSX-003",
    slug="lustre-cmk",
    description="FSx for Lustre file systems are encrypted with a customer managed KMS key, so access to the data can be audited and revoked with the key.",
    applies_to=LUSTRE,
    checks=[_cmk],
    anchor="CKV_AWS_190",
)


# DATA-FSX-004 --------------------------------------------------------------------------------------------------
def _durable(stack: Stack, ctx: Ctx) -> None:
    allowed = list(ctx.setting("allowedDeploymentTypes"))
    minimum = float(ctx.setting("minBackupRetentionDays"))
    for fs in stack.of(LUSTRE):
        with ctx.each():
            deployment = text(fs.get("deploymentType")) or "SCRATCH_1"
            if deployment not in allowed:
                ctx.violation(
                    fs,
                    f"deployment type {deployment} is not allowed here ({', '.join(allowed)}): SCRATCH file systems "
                    "are not replicated and cannot be backed up; set `crucible:storage.lustre.deploymentType: "
                    "PERSISTENT_2`.",
                )
            if deployment.startswith("PERSISTENT"):
                retention = number(fs.get("automaticBackupRetentionDays"))
                if retention is None or retention < minimum:
                    ctx.violation(
                        fs,
                        f"automatic backups are kept {f'{retention:g} days' if retention is not None else 'for the API default'}; "
                        f"set `crucible:storage.lustre.backupRetentionDays` to at least {minimum:g} "
                        "(automaticBackupRetentionDays, set explicitly).",
                    )
                if flag(fs.get("skipFinalBackup")) is not False:
                    ctx.violation(
                        fs,
                        "deleting it takes no final backup (skipFinalBackup defaults to true in the FSx API); set skipFinalBackup = false.",
                    )
        with ctx.each():
            _repository_links(stack, fs, ctx)


def _repository_links(stack: Stack, fs: Res, ctx: Ctx) -> None:
    links = stack.referrers(fs, DATA_REPOSITORY_ASSOCIATION, "fileSystemId")
    if not links:
        if ctx.setting("requireDataRepositoryAssociation"):
            ctx.violation(
                fs,
                "no data repository association exports it to S3, so checkpoints written here exist only on the "
                "file system; link a bucket (`crucible:storage.lustre.repositories`) with export events NEW and "
                "CHANGED.",
            )
        return
    for link in links:
        events = {known(e) for e in as_list(link.get("s3", "autoExportPolicy", "events"))}
        missing = sorted({"NEW", "CHANGED"} - events)
        if missing:
            ctx.violation(
                link,
                f"automatic export lacks {', '.join(missing)}, so new or changed files never reach S3; add them to "
                "`crucible:storage.lustre.repositories[].exportEvents`.",
            )
        if "DELETED" in events:
            bucket = s3.target_bucket(stack, link, "dataRepositoryPath")
            if bucket is None or not s3.versioning_enabled(stack, bucket):
                ctx.violation(
                    link,
                    "exports DELETED to "
                    + (f"bucket {bucket.name!r}, which is not versioned" if bucket else "a bucket this stack cannot see versioned")
                    + ": a file deleted on the file system is deleted from S3 for good. Enable versioning on the bucket "
                    "or drop DELETED from `crucible:storage.lustre.repositories[].exportEvents`.",
                )


DATA_FSX_004 = stack_policy(
    rule_id="DATA-FSX-004",
    slug="lustre-durability",
    description="FSx for Lustre holding training data and checkpoints is durable: a persistent deployment, "
    "automatic backups, a final backup on delete, and export to S3 (deletions only to a versioned bucket).",
    check=_durable,
    settings={
        "allowedDeploymentTypes": {
            "type": "array",
            "items": {"type": "string", "enum": ["SCRATCH_1", "SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2"]},
            "default": ["PERSISTENT_2"],
            "description": "Deployment types allowed (dev may add SCRATCH_2).",
        },
        "minBackupRetentionDays": {
            "type": "number",
            "minimum": 0,
            "default": 7,
            "description": "Minimum automaticBackupRetentionDays of persistent file systems.",
        },
        "requireDataRepositoryAssociation": {
            "type": "boolean",
            "default": True,
            "description": "Require an S3 data repository association exporting NEW and CHANGED files.",
        },
    },
    anchor="FSx API DeleteFileSystemLustreConfiguration SkipFinalBackup; ai-on-eks DRA",
)

POLICIES = [AI_FSX_001, AI_FSX_002, SEC_FSX_003, DATA_FSX_004]
