"""Observability (Prometheus, Grafana, DCGM and Neuron exporters) and the optional Argo Workflows engine."""

from __future__ import annotations

import json

import pytest

from helpers import addons_program, plan, spec_of
from stacks.tools.harness import run_program
from stacks.spec import ConfigError

RELEASE = "kubernetes:helm.sh/v3:Release"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
NEURON_TOLERATION = {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"}
GPU_POOL = {"name": "gpu", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2, "amiVersion": "v20251108"}
TRN_POOL = {"name": "trn", "kind": "neuron", "workload": "training", "instanceTypes": ["trn1.32xlarge"], "maxNodes": 2, "amiVersion": "v20251108"}
SSO = {"issuer": "https://idp.example.com", "clientId": "argo", "redirectUrl": "https://argo.example.com/oauth2/callback"}


def addons_run(env: str = "prod", **overrides):
    """Only the add-ons wiring, for pools the compute layer is not asked to build here."""
    spec = spec_of(env, **overrides)
    return run_program(addons_program(spec), stack="test", config={})


def problems(env: str, **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_of(env, **overrides)
    return {p.path: p.message for p in caught.value.problems}


def test_observability_is_on_in_prod_and_off_in_dev():
    assert plan("prod").of_type("crucible:platform:Monitoring")
    assert not plan("dev").of_type("crucible:platform:Monitoring")


def test_prometheus_is_pinned_keeps_its_retention_on_the_gp3_class_and_scrapes_every_service_monitor():
    run = plan("prod", addons={"observability": {"retentionDays": 45, "volumeGib": 300}})
    release = run.one(RELEASE, "monitoring")
    assert (release.inputs["chart"], release.inputs["version"]) == ("kube-prometheus-stack", "88.5.3")
    assert release.inputs["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    spec = release.inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "45d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "300Gi"
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in run.of_type("kubernetes:storage.k8s.io/v1:StorageClass")}
    assert classes[claim["storageClassName"]]["parameters"]["type"] == "gp3"
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False and spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["nodeSelector"] == {"crucible.io/pool": "system"}
    node_exporter = release.inputs["values"]["prometheus-node-exporter"]
    assert node_exporter["tolerations"] == [{"operator": "Exists"}]  # every node (tests/test_helm_render.py)
    assert release.inputs["values"]["grafana"] == {"enabled": False}


def test_grafana_needs_a_secret_password_that_stays_secret():
    found = problems("prod", addons={"observability": {"grafana": True}})
    assert "pulumi config set --secret" in found["crucible:grafanaAdminPassword"]
    run = plan("prod", grafanaAdminPassword="hunter2-grafana", addons={"observability": {"grafana": True}})
    grafana = run.one(RELEASE, "monitoring").inputs["values"]["grafana"]
    secret = run.one("kubernetes:core/v1:Secret", "monitoring-grafana-admin")
    assert grafana["admin"]["existingSecret"] == secret.inputs["metadata"]["name"]
    assert secret.inputs["stringData"] == "[secret]"
    assert "hunter2-grafana" not in json.dumps(run.to_json())


def test_dcgm_exporter_runs_on_gpu_nodes_only_and_is_scraped():
    run = addons_run(pools=[GPU_POOL])
    release = run.one(RELEASE, "dcgm-exporter")
    assert (release.inputs["chart"], release.inputs["version"]) == ("dcgm-exporter", "4.8.2")
    assert release.inputs["repositoryOpts"]["repo"] == "https://nvidia.github.io/dcgm-exporter/helm-charts"
    values = release.inputs["values"]
    assert values["tolerations"] == [GPU_TOLERATION]
    assert values["nodeSelector"] == {"crucible.io/accelerator": "nvidia"}
    assert values["serviceMonitor"].get("enabled", True) is True  # the chart's default: on
    prometheus = run.one(RELEASE, "monitoring")
    assert prometheus.urn in release.dependencies  # the ServiceMonitor CRD comes with kube-prometheus-stack
    assert not run.of_type("crucible:platform:NeuronMonitor")


def test_neuron_monitor_runs_on_neuron_nodes_with_a_service_monitor():
    run = addons_run(pools=[TRN_POOL])
    daemon_set = run.one("kubernetes:apps/v1:DaemonSet", "neuron-monitor")
    pod = daemon_set.inputs["spec"]["template"]["spec"]
    assert pod["tolerations"] == [NEURON_TOLERATION]
    assert pod["nodeSelector"] == {"crucible.io/accelerator": "neuron"}
    container = pod["containers"][0]
    assert container["image"].startswith("public.ecr.aws/neuron/neuron-monitor:")
    assert container["ports"] == [{"name": "metrics", "containerPort": 8000}]
    monitor = run.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "neuron-monitor")
    assert monitor.inputs["spec"]["selector"]["matchLabels"] == daemon_set.inputs["spec"]["selector"]["matchLabels"]
    assert monitor.inputs["spec"]["endpoints"][0]["port"] == "metrics"
    assert not run.of_type("crucible:platform:DcgmExporter")


def test_no_exporters_without_accelerator_pools():
    run = addons_run()
    assert run.of_type("crucible:platform:Monitoring")
    assert not run.of_type("crucible:platform:DcgmExporter") and not run.of_type("crucible:platform:NeuronMonitor")


# ---- Argo Workflows ------------------------------------------------------------------------------------


def test_argo_is_off_by_default():
    assert not plan("prod").of_type("crucible:platform:ArgoWorkflows")


def test_argo_server_is_private_with_client_auth_and_the_controller_on_system_nodes():
    run = plan("prod", addons={"argo": {"enabled": True}})
    release = run.one(RELEASE, "argo-workflows")
    assert (release.inputs["chart"], release.inputs["version"]) == ("argo-workflows", "1.0.18")
    assert release.inputs["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    values = release.inputs["values"]
    assert values["server"]["serviceType"] == "ClusterIP"
    assert values["server"]["authModes"] == ["client"]
    assert values["controller"]["nodeSelector"] == {"crucible.io/pool": "system"}


def test_argo_refuses_server_auth_mode_and_needs_sso_settings():
    found = problems("prod", addons={"argo": {"enabled": True, "authModes": ["server"]}})
    assert "crucible:addons.argo.authModes[0]" in found
    found = problems("prod", addons={"argo": {"enabled": True, "authModes": ["sso"]}})
    assert "crucible:addons.argo.sso" in found
    found = problems("prod", addons={"argo": {"enabled": True, "authModes": ["sso"], "sso": SSO}})
    assert "crucible:argoSsoClientSecret" in found


def test_argo_sso_reads_its_client_secret_from_a_secret():
    run = plan("prod", argoSsoClientSecret="argo-sso-s3cr3t", addons={"argo": {"enabled": True, "authModes": ["sso"], "sso": SSO}})
    sso = run.one(RELEASE, "argo-workflows").inputs["values"]["server"]["sso"]
    secret = run.one("kubernetes:core/v1:Secret", "argo-workflows-sso")
    assert sso["clientSecret"] == {"name": secret.inputs["metadata"]["name"], "key": "client-secret"}
    assert sso["issuer"] == SSO["issuer"]
    assert "argo-sso-s3cr3t" not in json.dumps(run.to_json())


def test_addon_settings_belong_to_the_platform_layer():
    found = problems("prod", layers=["network", "cluster"], addons={"argo": {"enabled": True}})
    assert "does not build the platform layer" in found["crucible:addons"]
