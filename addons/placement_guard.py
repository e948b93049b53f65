"""The admission rule that keeps tenant pods off the system node group, whatever they ask for.

The system nodes are tainted `CriticalAddonsOnly=true:NoSchedule` (components/labels.py SYSTEM_TAINT) and every
platform pod tolerates it; a tenant could add the same toleration (or a catch-all one) to a pod, a Job, a RayCluster
or a notebook-like Deployment and take the nodes Karpenter, Kueue and CoreDNS need. The `admin`/`edit` roles teams
hold cannot forbid a pod field, so a ValidatingAdmissionPolicy does: pods created in a tenant namespace (by a
person or by a controller acting for a tenant's object: the Job controller, KubeRay, the training operators) may
not tolerate the system taint. ValidatingAdmissionPolicy is GA since Kubernetes 1.30.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.admission import denying_policy
from components.labels import SYSTEM_TAINT, TENANT_LABEL

PLACEMENT_GUARD = "crucible-tenant-placement"


def system_toleration_expression() -> str:
    """CEL, true when a pod's tolerations let it onto the system nodes: a toleration of the taint's key (or an empty
    key with operator Exists, which tolerates every taint) whose effect is empty or the taint's."""
    key, effect = SYSTEM_TAINT["key"], SYSTEM_TAINT["effect"]
    matches_key = f"((has(t.key) && t.key != '') ? t.key == '{key}' : (has(t.operator) && t.operator == 'Exists'))"
    matches_effect = f"(!has(t.effect) || t.effect == '' || t.effect == '{effect}')"
    return f"has(object.spec.tolerations) && object.spec.tolerations.exists(t, {matches_key} && {matches_effect})"


def placement_guard() -> dict:
    """The ValidatingAdmissionPolicy spec refusing tenant pods that tolerate the system nodes' taint."""
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]},
            "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}],
        },
        "validations": [
            {
                "expression": f"!({system_toleration_expression()})",
                "message": (
                    f"pods in team namespaces may not tolerate the system nodes' taint {SYSTEM_TAINT['key']} (nor every "
                    "taint): those nodes run the platform's controllers; run on a pool of crucible:pools instead."
                ),
                "reason": "Forbidden",
            }
        ],
    }


class PlacementGuard(pulumi.ComponentResource):
    """The policy and its binding (Deny)."""

    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:PlacementGuard", name, None, opts)
        self.policy, self.binding = denying_policy(name, PLACEMENT_GUARD, placement_guard(), self)
        self.register_outputs({"policies": [PLACEMENT_GUARD]})
