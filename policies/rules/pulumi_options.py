"""Pulumi resource options on stateful resources: protected in production, never delete-before-replace, and
protected when explicitly named (DATA-PUL-001 ... DATA-PUL-003).

Stateful: S3 buckets, FSx for Lustre file systems, KMS keys, EKS clusters, PersistentVolumes and claims, tenant
namespaces and the namespaces named in config (JupyterHub's). ``retainOnDelete`` is invisible to CrossGuard
(PolicyResourceOptions has no such field): DATA-PUL-004 is enforced by the components and their tests.
"""

from __future__ import annotations

from policies.support.kubernetes import is_tenant
from policies.support.rule import Ctx, Res, resource_policy
from policies.support.tokens import (
    BUCKET,
    EKS_CLUSTER,
    KMS_KEY,
    LUSTRE,
    NAMESPACE,
    PERSISTENT_VOLUME,
    PERSISTENT_VOLUME_CLAIM,
    any_of,
)
from policies.support.values import is_set

STATEFUL_TYPES = any_of(BUCKET, LUSTRE, KMS_KEY, EKS_CLUSTER, PERSISTENT_VOLUME, PERSISTENT_VOLUME_CLAIM, NAMESPACE)
STATEFUL_NAMESPACES = {
    "type": "array",
    "items": {"type": "string"},
    "default": ["jupyterhub"],
    "description": "Namespaces (metadata.name) that hold user data besides tenant namespaces.",
}


def _stateful(res: Res, ctx: Ctx) -> bool:
    if NAMESPACE(res.type):
        return is_tenant(res) or res.k8s_name in ctx.setting("statefulNamespaces")
    return True


def _explicit_name(res: Res) -> str | None:
    if BUCKET(res.type):
        value = res.get("bucket")
    elif EKS_CLUSTER(res.type):
        value = res.get("name")
    elif LUSTRE(res.type) or KMS_KEY(res.type):
        return None  # no name input: replacements get a new id either way
    else:
        value = res.get("metadata", "name")
    return value if is_set(value) and isinstance(value, str) else None


def _protect(res: Res, ctx: Ctx) -> None:
    if _stateful(res, ctx) and not res.protect:
        ctx.violation(
            res,
            "stateful resource without protect: a refactor or a replacing change would delete it and its data; set `crucible:protect: true` (opts.protect).",
        )


DATA_PUL_001 = resource_policy(
    rule_id="DATA-PUL-001",
    slug="protect-stateful",
    description="Stateful resources (buckets, file systems, KMS keys, the cluster, volumes, tenant namespaces) "
    "are protected, which blocks both deletion and replacement.",
    applies_to=STATEFUL_TYPES,
    checks=[_protect],
    settings={"statefulNamespaces": STATEFUL_NAMESPACES},
    anchor="Pulumi docs: protect",
)


def _no_delete_before_replace(res: Res, ctx: Ctx) -> None:
    if _stateful(res, ctx) and res.delete_before_replace:
        ctx.violation(
            res,
            "deleteBeforeReplace on a stateful resource deletes the data before its replacement exists (and a failed "
            "create leaves nothing); remove opts.delete_before_replace.",
        )


DATA_PUL_002 = resource_policy(
    rule_id="DATA-PUL-002",
    slug="no-delete-before-replace",
    description="Stateful resources never use deleteBeforeReplace: it destroys the data first and a failed create leaves the stack without it.",
    applies_to=STATEFUL_TYPES,
    checks=[_no_delete_before_replace],
    settings={"statefulNamespaces": STATEFUL_NAMESPACES},
    anchor="Pulumi docs: deleteBeforeReplace; pulumi/pulumi#16179",
)


def _named_protected(res: Res, ctx: Ctx) -> None:
    name = _explicit_name(res)
    if name and _stateful(res, ctx) and not res.protect:
        ctx.violation(
            res,
            f"is explicitly named ({name!r}), so any replacement is delete-before-replace (the name cannot exist "
            "twice): the data goes first. Protect it (`crucible:protect: true`) or let Pulumi auto-name it.",
        )


DATA_PUL_003 = resource_policy(
    rule_id="DATA-PUL-003",
    slug="protect-named-stateful",
    description="Explicitly named stateful resources are protected: providers replace them delete-first, since the old and new resource cannot share the name.",
    applies_to=STATEFUL_TYPES,
    checks=[_named_protected],
    settings={"statefulNamespaces": STATEFUL_NAMESPACES},
    anchor="pulumi/pulumi-terraform#465",
)

POLICIES = [DATA_PUL_001, DATA_PUL_002, DATA_PUL_003]
