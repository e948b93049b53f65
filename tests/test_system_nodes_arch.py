"""The system node group's AMI type agrees with its instance types' architecture (EKS CreateNodegroup refuses an
AMI type whose architecture differs from the instance types': an ARM type needs AL2023_ARM_64_STANDARD)."""

from __future__ import annotations

import pytest

from helpers import plan, spec_of
from stacks.derive.capacity import system_ami_type
from stacks.spec import ConfigError

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _ami_type(*instance_types: str) -> str:
    return plan("dev", cluster={"systemNodeGroup": {"instanceTypes": list(instance_types)}}).one(NODE_GROUP).inputs["amiType"]


def test_graviton_system_nodes_get_the_arm_ami():
    assert _ami_type("m7g.xlarge") == "AL2023_ARM_64_STANDARD"


def test_x86_system_nodes_get_the_x86_ami():
    assert _ami_type("m7i.xlarge") == "AL2023_x86_64_STANDARD"


def test_the_ami_type_comes_from_the_catalog_architecture():
    assert system_ami_type(["c7g.2xlarge", "m7g.xlarge"]) == "AL2023_ARM_64_STANDARD"
    assert system_ami_type(["m7i.xlarge"]) == "AL2023_x86_64_STANDARD"


def test_a_mix_of_architectures_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", cluster={"systemNodeGroup": {"instanceTypes": ["m7i.xlarge", "m7g.xlarge"]}})
    problems = [p for p in caught.value.problems if p.path == "crucible:cluster.systemNodeGroup.instanceTypes"]
    assert len(problems) == 1, caught.value.render()
    assert "m7g.xlarge" in problems[0].message and "arm64" in problems[0].message and "amd64" in problems[0].message


def test_plan_settings_show_the_system_nodes_ami_type():
    from helpers import shipped_report

    document, lines = shipped_report("dev")
    (group,) = document["settings"]["nodeGroups"]
    assert group["amiType"] == "AL2023_x86_64_STANDARD"
    assert any(line.startswith("  system ") and line.endswith(", AL2023_x86_64_STANDARD") for line in lines), lines
