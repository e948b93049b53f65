"""Kubernetes custom resources from whole manifests: one way for every add-on that declares Kueue (or other) objects.

The SDK's `apiextensions.CustomResource` carries only `apiVersion`, `kind`, `metadata` and `spec`; an object with
other top-level fields (a Kueue WorkloadPriorityClass has `value` and `description`) is registered as the same
resource type (`kubernetes:<apiVersion>:<kind>`, which the provider applies as given) with the whole manifest as its
inputs, pinned to the same provider plugin version the SDK's own resources use.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

SPEC_FIELDS = {"apiVersion", "kind", "metadata", "spec"}


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
