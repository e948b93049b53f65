"""Kubernetes objects from manifests as the API spells them: one way for every add-on that declares Kueue (or other)
custom resources, and one way to hand a camelCase spec to a typed `pulumi_kubernetes` resource (`as_api`).

The SDK's `apiextensions.CustomResource` carries only `apiVersion`, `kind`, `metadata` and `spec`; an object with
other top-level fields (a Kueue WorkloadPriorityClass has `value` and `description`) is registered as the same
resource type (`kubernetes:<apiVersion>:<kind>`, which the provider applies as given) with the whole manifest as its
inputs, pinned to the same provider plugin version the SDK's own resources use.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

SPEC_FIELDS = {"apiVersion", "kind", "metadata", "spec"}


def as_api(value: Any) -> Any:
    """A spec, rule list or other part of a Kubernetes object as the API spells it (camelCase keys), for a typed
    `pulumi_kubernetes` resource: the provider sends it as given, while the SDK's ArgsDicts know only snake_case keys.

    Returning `Any` says so once, here, instead of a `type: ignore` at every call -- and keeps the type check
    affordable: a call mypy cannot match against a resource's overloads makes it explain why against every overload's
    union of TypedDicts, and mypy 2.4.1 took 210 s and 19.5 GB to do that for one DaemonSet with a dict spec (0.7 s and
    0.2 GB through this function).
    """
    return value


class TopLevelCustomResource(pulumi.CustomResource):
    """A custom resource whose fields are not all under `spec`: the manifest as the inputs."""

    def __init__(self, resource_name: str, manifest: dict, opts: Optional[pulumi.ResourceOptions] = None):
        from pulumi_kubernetes import _utilities

        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=_utilities.get_version()), opts)
        super().__init__(f"kubernetes:{manifest['apiVersion']}:{manifest['kind']}", resource_name, dict(manifest), opts)


def custom_resource(resource_name: str, manifest: dict, opts: Optional[pulumi.ResourceOptions] = None) -> pulumi.CustomResource:
    """The manifest as a custom resource: the SDK's CustomResource when it fits, else a TopLevelCustomResource."""
    if set(manifest) - SPEC_FIELDS:
        return TopLevelCustomResource(resource_name, manifest, opts)
    return k8s.apiextensions.CustomResource(
        resource_name, api_version=manifest["apiVersion"], kind=manifest["kind"], metadata=manifest["metadata"], spec=manifest.get("spec"), opts=opts
    )
