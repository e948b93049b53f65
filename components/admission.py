"""A ValidatingAdmissionPolicy and the binding that enforces it (Deny): the shape every admission rule of Crucible
takes (the tenant guards, burn-in's own-node rule). The binding depends on the policy, so it is deleted first."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.manifests import as_api


def denying_policy(
    resource_name: str, policy_name: str, spec: dict, parent: pulumi.Resource, metadata: Optional[k8s.meta.v1.ObjectMetaArgs] = None
) -> tuple[k8s.admissionregistration.v1.ValidatingAdmissionPolicy, k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding]:
    """The policy ``policy_name`` with ``spec`` and its Deny binding, both registered as ``resource_name`` under
    ``parent`` (``metadata``: the objects' metadata, default just the name)."""
    admission = k8s.admissionregistration.v1
    meta = metadata or k8s.meta.v1.ObjectMetaArgs(name=policy_name)
    policy = admission.ValidatingAdmissionPolicy(resource_name, metadata=meta, spec=as_api(spec), opts=pulumi.ResourceOptions(parent=parent))
    binding = admission.ValidatingAdmissionPolicyBinding(
        resource_name,
        metadata=meta,
        spec=as_api({"policyName": policy_name, "validationActions": ["Deny"]}),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
    )
    return policy, binding
