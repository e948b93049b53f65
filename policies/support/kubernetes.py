"""Kubernetes namespaces and what lives in them.

Contract with the program: tenant namespaces carry the label ``crucible.io/tenant: <team>``; a namespace's
``crucible.io/workload`` label says what runs there (training | serving | interactive). An object is in a
namespace when its ``metadata`` was computed from the Namespace resource (the Namespace's URN is a property
dependency of ``metadata``) or names it (``metadata.namespace`` equals the Namespace's ``metadata.name``).
"""

from __future__ import annotations

from policies.support.rule import Res, Stack
from policies.support.tokens import NAMESPACE, TypeMatcher

TENANT_LABEL = "crucible.io/tenant"
WORKLOAD_LABEL = "crucible.io/workload"
# The ResourceQuota hard limits that count claims (a quota limiting only compute does not judge them).
CLAIM_LIMITS = ("requests.storage", "persistentvolumeclaims")


def is_tenant(namespace: Res) -> bool:
    return bool(namespace.labels.get(TENANT_LABEL))


def tenant_namespaces(stack: Stack) -> list[Res]:
    return [ns for ns in stack.of(NAMESPACE) if is_tenant(ns)]


def in_namespace(obj: Res, namespace: Res) -> bool:
    if namespace.urn in obj.property_dependencies.get("metadata", ()):
        return True
    name = namespace.k8s_name
    return name is not None and obj.k8s_namespace == name


def objects_in(stack: Stack, namespace: Res, matcher: TypeMatcher) -> list[Res]:
    return [o for o in stack.of(matcher) if in_namespace(o, namespace)]
