"""Reaches with objects the charts render (passed as ``extra_objects``, as stacks/tools/plan/helm.py `rendered_objects`
gives them): their NetworkPolicies join the analysis, webhook Services and monitors become flow ends, and a rendered
z2jh singleuser policy replaces the one modelled from values."""

from __future__ import annotations

import pytest

pytest.importorskip("nca", reason="network-config-analyzer (test extra) is not installed")

from stacks.tools.plan.lands import evaluate, workloads_of  # noqa: E402
from stacks.tools.plan import reaches  # noqa: E402

VPC = {"type": "aws:ec2/vpc:Vpc", "name": "vpc", "inputs": {"cidrBlock": "10.0.0.0/16"}}
LABELS = {"app.kubernetes.io/name": "hooks"}


def _deployment(namespace="hooks", port=9443):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "hooks", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "x", "ports": [{"name": "webhook", "containerPort": port}, {"name": "metrics", "containerPort": 8080}]}
                    ]
                },
            },
        },
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "hooks", "namespace": "hooks", "labels": LABELS},
    "spec": {"selector": LABELS, "ports": [{"name": "https", "port": 443, "targetPort": "webhook"}, {"name": "metrics", "port": 8080, "targetPort": 8080}]},
}
HOOK = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "hooks"},
    "webhooks": [{"name": "v.hooks.io", "clientConfig": {"service": {"namespace": "hooks", "name": "hooks"}}}],
}
MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "hooks", "namespace": "hooks"},
    "spec": {"selector": {"matchLabels": LABELS}, "endpoints": [{"port": "metrics"}]},
}
DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny", "namespace": "hooks"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
}
FROM_VPC = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "from-api", "namespace": "hooks"},
    "spec": {
        "podSelector": {"matchLabels": LABELS},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [{"port": "webhook"}]}],
    },
}
RELEASE = {"type": "kubernetes:helm.sh/v3:Release", "name": "kps", "inputs": {"chart": "kube-prometheus-stack", "namespace": "monitoring", "values": {}}}


def _reaches(extra):
    objects = [_deployment(), *extra]
    block = evaluate([VPC, RELEASE], workloads_of([o for o in objects if o["kind"] == "Deployment"], source="chart"), objects)
    (entry,) = block["workloads"]
    return {row["flow"]: row for row in entry["checks"]["reaches"]["flows"]}, block


def test_the_api_server_reaches_a_rendered_webhook_on_its_target_port():
    flows, _ = _reaches([SERVICE, HOOK])
    assert flows["API server → webhook"]["checked"] == 1 and not flows["API server → webhook"]["failed"]


def test_a_rendered_default_deny_cuts_the_webhook_off_and_names_the_flow():
    flows, block = _reaches([SERVICE, HOOK, DENY])
    (failed,) = flows["API server → webhook"]["failed"]
    assert failed["from"] == "10.0.0.0/16" and failed["ports"] == ["TCP/9443"]
    assert any(v["check"] == "reaches" and "API server → webhook" in v["message"] for v in block["violations"])


def test_a_rendered_allow_from_the_vpc_lets_the_api_server_in_again():
    flows, _ = _reaches([SERVICE, HOOK, MONITOR, DENY, FROM_VPC])
    assert not flows["API server → webhook"]["failed"]
    # Prometheus (monitoring namespace) is still denied on the metrics port.
    assert flows["Prometheus → exporter"]["failed"][0]["ports"] == ["TCP/8080"]


def test_a_rendered_singleuser_policy_replaces_the_modelled_one():
    hub = {"chart": "jupyterhub", "name": "jupyterhub", "namespace": "jupyterhub", "values": {"singleuser": {}}}
    resources = [{"type": "kubernetes:helm.sh/v3:Release", "name": "jupyterhub", "inputs": hub}]
    modelled = reaches.policies_of(resources, [])
    assert [p["metadata"]["name"] for p in modelled] == ["singleuser"]
    rendered = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "singleuser", "namespace": "jupyterhub"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    }
    found = reaches.policies_of(resources, [rendered])
    assert len(found) == 1 and "annotations" not in found[0]["metadata"]


def test_prometheus_reaches_a_monitored_service_when_nothing_denies_it():
    flows, _ = _reaches([SERVICE, MONITOR])
    row = flows["Prometheus → exporter"]
    assert row["checked"] == 1 and not row["failed"]
