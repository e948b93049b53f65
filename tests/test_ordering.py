"""Order of creation and destruction, as the program registers it: the load balancer controller's chart serves no
cluster-wide Service webhook, what the controller reconciles depends on it (destroyed first), and the controller
outlives nothing it needs (the network and cluster are destroyed after it).

The dependency closure follows Pulumi: a resource waits for its dependencies (a dependency on a component is one on
every resource under it) and for its parents' dependencies. The same closure is the policy pack's
(policies/support/ordering.py), whose rules judge every shipped stack in tests/test_plan_policies.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import shared_dir, shipped_report, spec_of
from policies.support.ordering import waits_for_in
from stacks.spec import ConfigError

RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = "aws-load-balancer-controller-3.5.0"
LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"


def _resources(stack: str) -> list[dict]:
    return shipped_report(stack)[0]["resources"]


def _release(resources: list[dict], chart_suffix: str) -> dict:
    return next(r for r in resources if r["type"] == RELEASE and r["inputs"]["chart"].rsplit("/", 1)[-1] == chart_suffix)


def _waits_for(resources: list[dict], subject: dict) -> set[str]:
    return waits_for_in(resources, subject["urn"])


# --- B5: the Service mutator webhook -----------------------------------------------------------------------------
def _chart() -> Path:
    return Path(shared_dir(), "upstream", "charts", CHART)


def test_the_chart_enables_a_fail_closed_service_webhook_by_default_behind_the_key_crucible_sets():
    values = yaml.safe_load((_chart() / "values.yaml").read_text())
    assert values["enableServiceMutatorWebhook"] is True
    assert values["serviceMutatorWebhookConfig"]["failurePolicy"] == "Fail"
    assert values["serviceMutatorWebhookConfig"]["operations"] == ["CREATE"]
    template = (_chart() / "templates" / "webhook.yaml").read_text()
    guarded = template[template.index("{{- if .Values.enableServiceMutatorWebhook }}") :]
    webhook = guarded[: guarded.index("{{- end }}\n- clientConfig")]  # the block the key renders or drops
    assert "name: mservice.elbv2.k8s.aws" in webhook
    assert "failurePolicy: {{ .Values.serviceMutatorWebhookConfig.failurePolicy }}" in webhook
    assert "- services" in webhook


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-platform"])
def test_the_controller_is_installed_without_the_service_webhook(stack):
    values = _release(_resources(stack), "aws-load-balancer-controller")["inputs"]["values"]
    assert values["enableServiceMutatorWebhook"] is False


def test_services_crucible_asks_a_load_balancer_for_name_the_controller_themselves():
    # Without the mutator the controller takes a LoadBalancer Service only when it says so (type external); EKS's
    # legacy cloud provider skips those, so no Classic Load Balancer appears either.
    service = _release(_resources("staging"), "jupyterhub")["inputs"]["values"]["proxy"]["service"]
    assert service["type"] == "LoadBalancer"
    assert service["annotations"][LB_TYPE] == "external"
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"


# --- B6: what the controller reconciles is destroyed before it ---------------------------------------------------
def test_the_hubs_load_balancer_release_depends_on_the_controller():
    resources = _resources("staging")  # exposure internal-lb: an NLB Service
    controller = _release(resources, "aws-load-balancer-controller")
    assert controller["urn"] in _waits_for(resources, _release(resources, "jupyterhub"))


def test_a_private_hub_does_not_wait_for_the_controller():
    resources = _resources("prod")  # exposure private: a ClusterIP Service
    controller = _release(resources, "aws-load-balancer-controller")
    assert controller["urn"] not in _waits_for(resources, _release(resources, "jupyterhub"))


@pytest.mark.parametrize("stack", ["prod", "prod-platform"])
def test_tenant_namespaces_where_teams_apply_ingresses_are_deleted_before_the_controller(stack):
    resources = _resources(stack)
    controller = _release(resources, "aws-load-balancer-controller")
    tenants = [r for r in resources if r["type"] == "kubernetes:core/v1:Namespace" and "crucible.io/tenant" in r["inputs"]["metadata"].get("labels", {})]
    assert tenants
    for namespace in tenants:
        assert controller["urn"] in _waits_for(resources, namespace), namespace["name"]


def test_the_controller_outlives_nothing_it_needs_network_and_cluster_go_after_it():
    resources = _resources("prod")
    waits = _waits_for(resources, _release(resources, "aws-load-balancer-controller"))
    needed = {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/route:Route",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
    }
    for r in resources:
        if r["type"] in needed:
            assert r["urn"] in waits, r["name"]


def test_a_hub_load_balancer_without_the_controller_is_a_config_error_naming_the_key():
    hub = {"enabled": True, "authenticator": "dummy", "exposure": "internal-lb"}
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", addons={"jupyterhub": hub, "loadBalancerController": {"enabled": False}})
    (problem,) = [p for p in caught.value.problems if p.path == "crucible:addons.jupyterhub.exposure"]
    assert "'internal-lb'" in problem.message and "loadBalancerController.enabled" in problem.message


@pytest.mark.parametrize("stack", ["staging", "prod", "inference"])  # the stacks whose examples include the app's Ingress
def test_example_workloads_that_want_a_load_balancer_name_the_controller(stack):
    # With the Service mutator off, a LoadBalancer Service or an Ingress reaches the controller only by saying so.
    from stacks.tools.examples import render_examples
    from components.catalog import load_catalog
    from stacks.tools.plan.locate import config_path
    from stacks.spec.loader import load_stack_file

    spec, _, _ = load_stack_file(config_path(stack))
    ingress_class = _release(_resources("prod"), "aws-load-balancer-controller")["inputs"]["values"].get(
        "ingressClass", "alb"
    )  # unset: the chart default (values.yaml ingressClass: alb)
    ingresses = 0
    for path, manifests in render_examples(spec, load_catalog()).items():
        for m in manifests:
            if m["kind"] == "Ingress":
                ingresses += 1
                assert m["spec"]["ingressClassName"] == ingress_class, path
            if m["kind"] == "Service" and m["spec"].get("type") == "LoadBalancer":
                assert m["metadata"]["annotations"][LB_TYPE] == "external", path
    assert ingresses


# --- Kueue's batch Job webhook (the same class: a fail-closed webhook other releases' objects meet) ----------------
def test_kueues_fail_closed_job_webhook_takes_the_namespace_selector_crucible_sets():
    template = Path(shared_dir(), "upstream", "charts", "kueue-0.19.2", "templates", "webhook", "manifests.yaml").read_text()
    start = template.index("path: /mutate-batch-v1-job")
    job = template[start : template.index("- jobs", start)]  # the mjob.kb.io webhook
    assert "failurePolicy: Fail" in job
    assert '{{- if (hasKey $managerConfig "managedJobsNamespaceSelector") }}' in job
    assert "- kube-system" in job  # the default: every namespace but kube-system and Kueue's own


def test_kueue_takes_jobs_only_in_the_namespaces_it_queues_so_other_releases_hook_jobs_never_meet_its_webhook():
    resources = _resources("prod")
    config = yaml.safe_load(_release(resources, "kueue")["inputs"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {"crucible.io/queued": "true"}}
    namespaces = {r["inputs"]["metadata"]["name"]: r["inputs"]["metadata"].get("labels", {}) for r in resources if r["type"] == "kubernetes:core/v1:Namespace"}
    queued = sorted(name for name, labels in namespaces.items() if labels.get("crucible.io/queued") == "true")
    # the teams', and the two the platform submits queued jobs to (crucible verify's probes, the health canary's MPIJobs)
    platform = [n for n in ("crucible-canary", "crucible-verify") if n in namespaces]
    assert "crucible-verify" in platform
    assert queued == sorted([*(n for n, labels in namespaces.items() if "crucible.io/tenant" in labels), *platform])
    assert "monitoring" not in queued
