"""S3 buckets and their side resources (public access block, encryption, policy, versioning, lifecycle, object
lock, logging).

A side resource belongs to a bucket when the bucket's URN is a property dependency of its ``bucket`` input
(``bucket=b.id``/``b.bucket``) -- known at preview, unlike the id. A side resource that names an explicitly named
bucket with a plain string joins by that name.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Optional

from policies.support.rule import Res, Stack
from policies.support.tokens import BUCKET, BUCKET_VERSIONING, TypeMatcher
from policies.support.values import text


def explicit_name(bucket: Res) -> Optional[str]:
    value = bucket.get("bucket")
    return value if isinstance(value, str) else None


def attached(stack: Stack, bucket: Res, matcher: TypeMatcher, prop: str = "bucket") -> list[Res]:
    found = stack.referrers(bucket, matcher, prop)
    name = explicit_name(bucket)
    if name:
        found += [r for r in stack.of(matcher) if r not in found and r.get(prop) == name]
    return found


def buckets(stack: Stack) -> list[Res]:
    return stack.of(BUCKET)


def versioning_enabled(stack: Stack, bucket: Res) -> bool:
    return any(text(v.get("versioningConfiguration", "status")) == "Enabled" for v in attached(stack, bucket, BUCKET_VERSIONING))


def matches(bucket: Res, patterns: list[str]) -> bool:
    """Glob patterns against the bucket's Pulumi name and its explicit bucket name."""
    names = [bucket.name] + ([explicit_name(bucket)] if explicit_name(bucket) else [])
    return any(fnmatchcase(n, p) for n in names for p in patterns)


def target_bucket(stack: Stack, side: Res, prop: str) -> Optional[Res]:
    """The bucket a resource reads through ``prop`` (e.g. a DataRepositoryAssociation's dataRepositoryPath)."""
    linked = stack.linked(side, prop, BUCKET)
    if linked:
        return linked[0]
    value = side.get(prop)
    if isinstance(value, str):
        name = value.removeprefix("s3://").split("/", 1)[0]
        for bucket in buckets(stack):
            if explicit_name(bucket) == name:
                return bucket
    return None
