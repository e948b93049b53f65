"""Kueue objects that several add-ons declare: one API version and one way to write a WorkloadPriorityClass.

The teams' classes (stacks/derive/admission.py), the fleet health canary's and verify's are the same kind of object;
only their name, value and description differ. A WorkloadPriorityClass carries `value` and `description` at the top
level (no `spec`), so it is registered through `components.manifests.custom_resource`.
"""

from __future__ import annotations

from typing import Any, Optional

KUEUE_API = "kueue.x-k8s.io/v1beta2"


def workload_priority_class(name: str, value: int, description: Optional[str] = None) -> dict[str, Any]:
    """A WorkloadPriorityClass manifest; `description` only when given (the API server stores no empty one)."""
    manifest: dict[str, Any] = {"apiVersion": KUEUE_API, "kind": "WorkloadPriorityClass", "metadata": {"name": name}, "value": value}
    if description:
        manifest["description"] = description
    return manifest
