"""Every Helm release a shipped stack registers, rendered by Helm 3.17.3 from the vendored upstream charts with
exactly the release's values, namespace and the cluster's Kubernetes version (stacks/plan/helm.py)."""

from __future__ import annotations

import pytest

from helpers import shipped_report
from rendered import objects, pod_spec, release_of, rendered_stack, require_helm, tolerates
from stacks.plan import helm
from stacks.plan.locate import shipped_stacks

PLATFORM_STACKS = [s for s in shipped_stacks() if any(r["type"] == helm.RELEASE_TYPE for r in shipped_report(s)[0]["resources"])]
NOT_VENDORED = {"neuron-helm-chart"}  # ../shared/upstream/SOURCES.md: the Neuron chart could not be obtained

# API groups the API server serves without a CRD (Kubernetes 1.34).
BUILT_IN_GROUPS = {
    "", "apps", "batch", "policy", "autoscaling", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "apiregistration.k8s.io", "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "rbac.authorization.k8s.io",
    "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
}


def test_the_helm_binary_is_the_pinned_version():
    require_helm()
    binary = helm.helm_binary()
    assert binary.is_file() and helm._version_of(binary) == helm.HELM_VERSION == "3.17.3"


@pytest.mark.parametrize("stack", PLATFORM_STACKS)
def test_every_release_renders_or_is_skipped_only_because_its_chart_is_not_vendored(stack):
    for rendered in rendered_stack(stack):
        if rendered.release.chart_name in NOT_VENDORED:
            assert rendered.skipped and "not vendored" in rendered.skipped, rendered.release.label
            continue
        assert rendered.skipped is None, rendered.skipped
        assert rendered.objects, f"{rendered.release.label} rendered nothing"
        assert rendered.kube_version == shipped_report(stack)[0]["kubernetesVersion"]


@pytest.mark.parametrize("stack", PLATFORM_STACKS)
def test_every_rendered_object_is_of_an_api_the_cluster_serves_when_helm_installs_it(stack):
    """Helm maps every object to a served API before it creates any: a kind whose CRD comes from a release installed
    later (or never) fails the install ("no matches for kind")."""
    for rendered in rendered_stack(stack):
        served = set(rendered.api_versions)
        for obj in rendered.objects:
            group, _, version = obj["apiVersion"].rpartition("/")
            if group in BUILT_IN_GROUPS:
                continue
            assert f"{group}/{version}/{obj['kind']}" in served, (
                f"{rendered.release.label}: {obj['kind']} {obj['metadata'].get('name')} needs {obj['apiVersion']}, "
                "which no release it waits for installs"
            )


def test_a_service_monitor_is_rendered_only_where_its_crd_is_installed_first():
    """KubeRay's chart renders its ServiceMonitor unguarded; Crucible enables it only with observability on, after
    kube-prometheus-stack (which installs monitoring.coreos.com)."""
    prod = release_of("prod", "kuberay-operator")
    assert objects(prod, "ServiceMonitor") and "monitoring.coreos.com/v1" in prod.api_versions
    dev = release_of("dev", "kuberay-operator")
    assert not objects(dev, "ServiceMonitor") and "monitoring.coreos.com/v1" not in dev.api_versions


def test_rendered_objects_are_plain_dicts_carrying_their_namespace():
    document, _ = shipped_report("prod")
    require_helm()
    found = helm.rendered_objects(document)
    assert found and all(isinstance(o, dict) for o in found)
    deployments = [o for o in found if o["kind"] == "Deployment"]
    assert deployments and all(o["metadata"].get("namespace") for o in deployments)
    assert all(not o["metadata"].get("namespace") for o in found if o["kind"] in ("ClusterRole", "CustomResourceDefinition"))
    hub = next(o for o in found if o["kind"] == "Deployment" and o["metadata"]["name"] == "hub")
    assert hub["metadata"]["namespace"] == "jupyterhub"


def test_the_cluster_version_of_a_stack_on_a_stack_reference_comes_from_its_spec():
    document, _ = shipped_report("prod-platform")
    assert not [r for r in document["resources"] if r["type"] == helm.CLUSTER_TYPE]
    assert helm.kube_version_of(document) == document["kubernetesVersion"] == "1.34"


def test_a_release_whose_chart_is_not_vendored_is_skipped_with_the_reason(tmp_path):
    require_helm()
    document = {
        "kubernetesVersion": "1.34",
        "resources": [
            {"urn": "urn:x", "type": helm.RELEASE_TYPE, "name": "neuron", "inputs": {"name": "neuron", "chart": "oci://public.ecr.aws/neuron/neuron-helm-chart", "version": "1.10.0", "namespace": "kube-system", "values": {}}}
        ],
    }
    (rendered,) = helm.render_releases(document)
    assert rendered.skipped and "neuron-helm-chart 1.10.0" in rendered.skipped and not rendered.objects
