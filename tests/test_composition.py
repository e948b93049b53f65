"""Layers compose: one stack builds everything, or a platform stack reads a core stack's outputs."""

from __future__ import annotations

from helpers import shipped_plan

REF = "acme/crucible/prod-core"


def test_core_stack_builds_only_network_and_cluster():
    core = shipped_plan("prod-core").run
    assert core.of_type("aws:ec2/vpc:Vpc") and core.of_type("aws:eks/cluster:Cluster")
    assert set(core.outputs) >= {"network", "cluster", "kubeconfig"}


def test_platform_stack_reads_the_core_stack_and_builds_no_network_or_cluster():
    platform = shipped_plan("prod-platform").run
    (ref,) = platform.of_type("pulumi:pulumi:StackReference")
    assert ref.inputs["name"] == REF
    assert not platform.of_type("aws:ec2/vpc:Vpc") and not platform.of_type("aws:eks/cluster:Cluster")
    k8s = platform.one("pulumi:providers:kubernetes")
    assert k8s.inputs["kubeconfig"] == "[secret]"  # the core stack's kubeconfig, still a secret here
    assert ref.urn in k8s.property_dependencies["kubeconfig"]
