"""What pulumi-kubernetes waits for before it counts a Kubernetes object as created or updated, beyond its
built-in await logic: the `pulumi.com/waitFor` annotation (pulumi-kubernetes 4.18+, pulumi/pulumi-kubernetes#3134),
a JSON list of `condition=…` / `jsonpath={…}=value` expressions, all of which must hold. Since 4.24 the JSONPath is
RFC 9535 (pulumi/pulumi-kubernetes#3658, released in 4.24.0), whose bracket notation names a key with dots in it; hence the
`pulumi-kubernetes>=4.24` requirement."""

from __future__ import annotations

import json
from typing import Mapping

from components.quantity import canonical

WAIT_FOR = "pulumi.com/waitFor"


def quota_synced(hard: Mapping[str, str]) -> dict[str, str]:
    """The annotations of a ResourceQuota that make its create and every update wait until the quota controller
    has copied each of ``hard`` into `status.hard`, in the canonical form the API server stores it in.

    Quota admission judges a request against `status.hard`, not `spec.hard` (kubernetes
    staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go, checkRequest: a quota whose
    status has no limits yet matches nothing; after an update it judges by the old limits until the controller
    syncs). A claim created right after an update raising the
    quota for it would be refused by the old limit: the wait closes that window for what depends on the quota."""
    return {WAIT_FOR: json.dumps([status_hard(key, value) for key, value in sorted(hard.items())])}


def status_hard(key: str, value: str) -> str:
    """The expression that holds once a ResourceQuota's `status.hard[key]` is ``value`` as the API server stores it."""
    return f"jsonpath={{.status.hard['{key}']}}={canonical(value)}"


def expressions(annotations: Mapping[str, object]) -> list[str]:
    """The waitFor expressions of an object's annotations (a JSON list, or one expression), [] when none."""
    found = annotations.get(WAIT_FOR)
    if not isinstance(found, str) or not found.strip():
        return []
    try:
        parsed = json.loads(found)
    except ValueError:
        return [found]
    return [str(e) for e in parsed] if isinstance(parsed, list) else [found]
