"""The Crucible policy pack's contents, importable without starting the analyzer server.

``__main__.py`` hands ``all_policies()`` to ``PolicyPack`` (which serves them over gRPC to the Pulumi engine);
``offline.py`` hands the same list to the SDK's analyzer servicer in-process. One list, one code path.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from policies.rules import (
    accelerators,
    delivery,
    efa,
    eks,
    fsx,
    helm,
    iam,
    jupyterhub,
    karpenter,
    kms,
    kubernetes,
    kueue,
    logs,
    network,
    nodes,
    ordering,
    pulumi_options,
    ray,
    s3,
    serving,
)

PACK_NAME = "crucible"
# Rules carry their own catalogue level (advisory rules say so); per-environment levels and thresholds come from
# policies/config/<env>.json, never from code branches.
PACK_ENFORCEMENT = EnforcementLevel.MANDATORY

_MODULES = (
    eks,
    nodes,
    accelerators,
    karpenter,
    efa,
    fsx,
    s3,
    iam,
    kms,
    logs,
    network,
    kubernetes,
    jupyterhub,
    ray,
    serving,
    helm,
    kueue,
    pulumi_options,
    ordering,
    delivery,
)


def all_policies() -> list[Policy]:
    """Every policy of the pack, in catalogue order; names are unique."""
    policies: list[Policy] = []
    for module in _MODULES:
        policies.extend(module.POLICIES)
    names = [p.name for p in policies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate policy names: {', '.join(duplicates)}")
    return policies
