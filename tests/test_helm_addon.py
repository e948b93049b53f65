"""One Helm add-on contract (components/helm_addon.py): every `helm.v3.Release` Crucible registers is made by
`helm_release` from a `HelmChart`, atomic, a child of its add-on component, and places its pods on the system nodes
the same way."""

from __future__ import annotations

import ast

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import POOL_LABEL, SYSTEM_TOLERATION
from helpers import REPO, shipped_report
from stacks.tools.harness import run_program
from stacks.tools.plan.locate import shipped_stacks

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
BASE = "components/helm_addon.py"


def _release_constructions(path) -> list[int]:
    """Lines where a module calls `<...>.helm.v3.Release(` or `Release(` directly."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name == "Release":
                lines.append(node.lineno)
    return lines


def test_no_module_but_the_base_constructs_a_helm_release():
    found = {}
    for folder in ("addons", "components", "stacks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = str(path.relative_to(REPO))
            if relative != BASE and _release_constructions(path):
                found[relative] = _release_constructions(path)
    assert found == {}, "create releases with components.helm_addon.helm_release"
    assert _release_constructions(REPO / BASE)  # the scan sees the one that is there


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_release_of_a_shipped_stack_is_atomic_and_a_child_of_its_add_on_component(stack):
    document, _ = shipped_report(stack)
    types = {r["urn"]: r["type"] for r in document["resources"]}
    for release in (r for r in document["resources"] if r["type"] == RELEASE_TYPE):
        assert release["inputs"].get("atomic") is True, release["name"]
        assert types.get(release["parent"], "").startswith("crucible:"), f"{release['name']}: parent {release['parent']}"
        assert release["inputs"].get("skipAwait") in (None, False), release["name"]


class _Addon(pulumi.ComponentResource):
    def __init__(self, name: str, version: str):
        super().__init__("crucible:test:Addon", name, None)
        self.namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": "kuberay-system"}, opts=pulumi.ResourceOptions(parent=self))
        first = k8s.core.v1.ConfigMap(f"{name}-first", metadata={"name": "first", "namespace": "kuberay-system"}, opts=pulumi.ResourceOptions(parent=self))
        chart = HelmChart.of(versions.chart("kuberay-operator"), release="kuberay-operator", namespace=self.namespace.metadata.name, version=version)
        self.release = helm_release(self, name, chart, {"replicas": 1}, timeout=900, depends_on=[first])
        self.oci = helm_release(self, f"{name}-oci", HelmChart.of(versions.chart("kueue"), namespace="kueue-system"), create_namespace=True, skip_crds=True)


@pytest.fixture(scope="module")
def base_run():
    return run_program(lambda: _Addon("ray", "1.6.0"), stack="test", config={})


def test_a_release_takes_its_name_chart_repository_and_namespace_from_the_helm_chart(base_run):
    release = base_run.one(RELEASE_TYPE, "ray")
    assert release.inputs["name"] == "kuberay-operator"
    assert release.inputs["chart"] == "kuberay-operator"
    assert release.inputs["repositoryOpts"] == {"repo": versions.chart("kuberay-operator").repository}
    assert release.inputs["namespace"] == "kuberay-system"


def test_the_version_given_overrides_the_pin_and_the_pin_is_the_default(base_run):
    assert base_run.one(RELEASE_TYPE, "ray").inputs["version"] == "1.6.0"
    assert base_run.one(RELEASE_TYPE, "ray-oci").inputs["version"] == versions.chart("kueue").version


def test_a_release_is_atomic_with_the_options_its_add_on_asks_for(base_run):
    ray, oci = base_run.one(RELEASE_TYPE, "ray"), base_run.one(RELEASE_TYPE, "ray-oci")
    assert (ray.inputs["atomic"], ray.inputs["timeout"], ray.inputs["values"]) == (True, 900, {"replicas": 1})
    assert "createNamespace" not in ray.inputs and "skipCrds" not in ray.inputs
    assert (oci.inputs["atomic"], oci.inputs["createNamespace"], oci.inputs["skipCrds"]) == (True, True, True)
    assert "repositoryOpts" not in oci.inputs and oci.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"


def test_a_release_is_a_child_of_its_component_after_its_namespace_and_what_it_depends_on(base_run):
    component = base_run.one("crucible:test:Addon", "ray")
    release = base_run.one(RELEASE_TYPE, "ray")
    assert release.parent == component.urn
    assert release.urn.endswith("crucible:test:Addon$kubernetes:helm.sh/v3:Release::ray")
    assert base_run.one("kubernetes:core/v1:ConfigMap", "ray-first").urn in release.dependencies
    assert base_run.one("kubernetes:core/v1:Namespace", "ray-namespace").urn in release.property_dependencies.get("namespace", [])


def test_system_node_placement_is_written_at_each_path_a_chart_reads():
    placed = on_system_nodes_at("system", (), ("proxy", "chp"))
    expected = {"nodeSelector": {POOL_LABEL: "system"}, "tolerations": [SYSTEM_TOLERATION]}
    assert {k: placed[k] for k in expected} == expected
    assert placed["proxy"]["chp"] == expected


def test_merging_values_keeps_both_layers_and_changes_neither():
    own = {"proxy": {"chp": {"networkPolicy": {"enabled": True}}}, "cull": {"enabled": True}}
    placement = on_system_nodes_at("system", ("proxy", "chp"))
    merged = merge_values(own, placement)
    assert merged["proxy"]["chp"] == {"networkPolicy": {"enabled": True}, **placement["proxy"]["chp"]}
    assert merged["cull"] == {"enabled": True}
    assert own == {"proxy": {"chp": {"networkPolicy": {"enabled": True}}}, "cull": {"enabled": True}}
    merged["proxy"]["chp"]["tolerations"].append({"key": "x"})
    assert placement["proxy"]["chp"]["tolerations"] == [SYSTEM_TOLERATION]
