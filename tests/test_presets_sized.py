"""Every shipped stack is sized to pass its own checks: anyone who copies a preset starts with what the plan calls
enough. Today's sizing check is the storage floor (storage.minThroughputPerAcceleratorMbps: Lustre throughput per
training accelerator at the pools' maximum); a sizing check added later reports into a section's `warnings` list and
is covered here without a change."""

from __future__ import annotations

import pytest

from helpers import shipped_report
from stacks.tools.plan.locate import shipped_stacks


def sizing_warnings(document: dict) -> list[str]:
    """Every `warnings` list of the plan's report sections (the resources' own inputs are not report sections)."""
    return [w for key, section in document.items() if key != "resources" and isinstance(section, dict) for w in section.get("warnings", [])]


@pytest.mark.parametrize("stack", shipped_stacks())
def test_a_shipped_stack_prints_no_sizing_warning(stack):
    document, lines = shipped_report(stack)
    assert sizing_warnings(document) == []
    assert [line for line in lines if "WARNING:" in line] == []


@pytest.mark.parametrize("stack", ["prod", "staging", "prod-platform", "train-p5", "trainium"])
def test_a_preset_with_training_accelerators_meets_the_storage_floor_with_headroom_stated(stack):
    document, _ = shipped_report(stack)
    (lustre,) = document["storage"]["fileSystems"]
    assert lustre["trainingAccelerators"] > 0
    assert lustre["throughputPerAcceleratorMbps"] >= lustre["minThroughputPerAcceleratorMbps"]
    assert lustre["belowFloor"] is False
