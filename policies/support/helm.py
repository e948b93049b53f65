"""Helm releases (``kubernetes:helm.sh/v3:Release``): which chart a release installs and its values.

Policies see a release's ``chart``, ``version``, ``repositoryOpts``, ``namespace``, ``name`` and ``values`` --
never the objects it renders.
"""

from __future__ import annotations

from typing import Optional

from policies.support.rule import Res, Stack
from policies.support.tokens import HELM_RELEASE
from policies.support.values import known


def chart_name(release: Res) -> Optional[str]:
    """``oci://public.ecr.aws/karpenter/karpenter`` -> ``karpenter``; ``jupyterhub/jupyterhub`` -> ``jupyterhub``."""
    chart = release.get("chart")
    if not isinstance(chart, str) or not chart:
        return None
    return chart.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]


def releases(stack: Stack, chart: str) -> list[Res]:
    return [r for r in stack.of(HELM_RELEASE) if chart_name(r) == chart]


def values(release: Res) -> dict:
    """The release's values; raises the SDK's unknown error when they are computed during preview."""
    value = known(release.get("values", default={}))
    return value if isinstance(value, dict) else {}
