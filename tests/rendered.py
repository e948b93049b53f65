"""The Helm releases of the shipped stacks, rendered by the real Helm binary from the vendored charts
(stacks/tools/plan/helm.py), shared by every test that looks at rendered chart objects: each stack is rendered once per
session, and renders are cached by (chart, values, release, namespace, Kubernetes version, API versions).

Tests skip with the reason when ../shared (the charts) or Helm is absent."""

from __future__ import annotations

import functools
from typing import Iterable, Optional

import pytest

from helpers import shared_between_workers, shared_dir, shipped_report
from stacks.spec import load_stack_file
from stacks.tools.plan import helm
from stacks.tools.plan.locate import config_path, shipped_stacks

# The layers whose modules register Helm releases: compute (Karpenter) and platform (the add-ons).
HELM_LAYERS = frozenset({"compute", "platform"})
# The shipped stacks that register Helm releases (prod-core builds only network and cluster), read from their specs:
# collecting the tests plans nothing (tests/test_rendered_stacks.py holds this to the plans' resources).
PLATFORM_STACKS = [s for s in shipped_stacks() if HELM_LAYERS & set(load_stack_file(config_path(s))[0].layers)]


def require_helm() -> None:
    shared_dir()  # skips when ../shared is absent
    try:
        helm.helm_binary()
    except helm.HelmUnavailable as error:
        pytest.skip(f"Helm {helm.HELM_VERSION} unavailable: {error}")


@functools.lru_cache(maxsize=None)
def _rendered(stack: str) -> tuple[helm.RenderedRelease, ...]:
    document, _ = shipped_report(stack)
    shared = shared_dir()
    return shared_between_workers(f"rendered-{stack}", lambda: tuple(helm.rendered_releases(document, shared)))


def rendered_stack(stack: str) -> tuple[helm.RenderedRelease, ...]:
    """Every Helm release of a shipped stack, rendered (or skipped with the reason)."""
    require_helm()
    return _rendered(stack)


def release_of(stack: str, chart: str) -> helm.RenderedRelease:
    found = [r for r in rendered_stack(stack) if r.release.chart_name == chart]
    assert len(found) == 1, f"{stack}: expected one release of chart {chart}, found {[r.release.label for r in found]}"
    return found[0]


def objects(rendered: helm.RenderedRelease, kind: str, name: Optional[str] = None) -> list[dict]:
    return [o for o in rendered.objects if o.get("kind") == kind and (name is None or (o.get("metadata") or {}).get("name") == name)]


def pod_spec(workload: dict) -> dict:
    """The pod spec of a Deployment/DaemonSet/StatefulSet/Job."""
    return workload["spec"]["template"]["spec"]


def tolerates(tolerations: Iterable[dict], taint: dict) -> bool:
    """Whether a pod with ``tolerations`` tolerates ``taint`` (key, value, effect), as the scheduler decides: an
    empty key with Exists tolerates everything; an empty effect matches every effect."""
    for t in tolerations or ():
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        operator = t.get("operator", "Equal")
        if not t.get("key"):
            if operator == "Exists":
                return True
            continue
        if t["key"] != taint.get("key"):
            continue
        if operator == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False
