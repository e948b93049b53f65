"""Lands on the real charts: the shipped stacks' workloads, with every Helm release rendered by the real Helm
(stacks/tools/plan/helm.py, `rendered_objects`): the charts' DaemonSets (device plugins, exporters) take their requests off
the nodes they select, and the charts' own pods (controllers, exporters) must land too. Skips with the reason when
the renderer, Helm or ../shared is absent."""

from __future__ import annotations

import pytest

from helpers import shared_dir, shipped_report
from stacks.tools.plan.lands import evaluate
from stacks.tools.plan.workloads import PLATFORM_KINDS, workloads_of

helm = pytest.importorskip("stacks.tools.plan.helm", reason="the Helm renderer (stacks/tools/plan/helm.py) is not on this branch")


def _rendered(document: dict) -> list[dict]:
    shared_dir()
    try:
        return helm.rendered_objects(document)
    except (helm.HelmUnavailable, getattr(helm, "ChartsUnavailable", helm.HelmUnavailable)) as error:
        pytest.skip(f"cannot render the charts: {error}")


@pytest.mark.parametrize("stack", ["dev", "prod", "inference", "trainium"])
def test_shipped_workloads_land_beside_the_rendered_charts_daemonsets_and_the_charts_pods_land(stack):
    document = shipped_report(stack)[0]
    objects = _rendered(document)
    block = document["workloads"]
    chart = workloads_of([o for o in objects if o.get("kind") in PLATFORM_KINDS], source="chart")
    assert chart, "the charts render no pods"
    checked = evaluate(document["resources"], [*block["workloads"], *chart], objects, block.get("assumedResources", []))
    stranded = {e["name"]: e["checks"]["lands"]["reasons"] for e in checked["workloads"] if not e["checks"]["lands"]["ok"]}
    assert not stranded
    device_plugins = [e for e in checked["workloads"] if e["kind"] == "DaemonSet" and "device-plugin" in e["object"] and e["checks"]["lands"]["pools"]]
    assert device_plugins  # the NVIDIA/EFA device plugins run on the accelerator pools
