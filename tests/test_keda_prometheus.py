"""KEDA → Prometheus (issue 16, item 2): the served models' ScaledObjects query the in-cluster Prometheus, so

- the Prometheus trigger's `serverAddress` names the real Service: the name, namespace and port kube-prometheus-stack
  renders (the vendored chart, rendered by the real helm binary), and that Service selects the Prometheus pods the
  flow table's `prometheus` endpoint stands for;
- the plan's reaches check proves KEDA's operator pod reaches Prometheus' port given the NetworkPolicies the platform
  renders (network-config-analyzer), as the flow table's "KEDA → Prometheus" row. Both ends are platform pods no
  workload row shows, so the result is the plan check `reaches (platform pods)`; a policy that cuts it is a
  mandatory violation.
"""

from __future__ import annotations

import copy
from urllib.parse import urlsplit

import pytest

pytest.importorskip("nca", reason="network-config-analyzer (test extra) is not installed")

from helpers import plan, shipped_report, spec_of  # noqa: E402
from rendered import objects, release_of  # noqa: E402
from stacks.tools.plan import flows  # noqa: E402
from stacks.tools.plan.lands import evaluate, failures  # noqa: E402

SCALED = "kubernetes:keda.sh/v1alpha1:ScaledObject"
FLOW = "KEDA → Prometheus"
CHECK = "reaches (platform pods)"


def _triggers(document: dict) -> list[dict]:
    found = [t for r in document["resources"] if r["type"] == SCALED for t in r["inputs"]["spec"]["triggers"]]
    assert found, "the stack autoscales no model"
    return found


def _flow_rows(block: dict) -> list[dict]:
    return [f for f in (block.get("flows") or {}).get(CHECK, []) if f["flow"] == FLOW]


def _endpoint(name: str) -> dict:
    return next(e for e in flows.SYSTEM_ENDPOINTS if e["name"] == name)


# The shipped stacks whose models autoscale (research serves with addons.observability off: a fixed replica count).
AUTOSCALED = ["inference"]


def test_research_has_no_autoscaler_to_check():
    document, _ = shipped_report("research")
    assert not [r for r in document["resources"] if r["type"] == SCALED] and not _flow_rows(document["workloads"])


@pytest.mark.parametrize("stack", AUTOSCALED)
def test_every_prometheus_trigger_names_the_service_kube_prometheus_stack_renders(stack):
    document, _ = shipped_report(stack)
    services = objects(release_of(stack, "kube-prometheus-stack"), "Service")
    prometheus = _endpoint("prometheus")
    for trigger in _triggers(document):
        assert trigger["type"] == "prometheus"
        address = urlsplit(trigger["metadata"]["serverAddress"])
        name, namespace, svc = address.hostname.split(".")
        assert (address.scheme, svc) == ("http", "svc")
        (service,) = [s for s in services if s["metadata"]["name"] == name and s["metadata"]["namespace"] == namespace]
        (port,) = [p for p in service["spec"]["ports"] if p["port"] == address.port]
        # the Service sends that port to the Prometheus pods' web port, and selects the pods the flow table means
        web = {p["containerPort"] for p in prometheus["ports"]}
        assert port["targetPort"] in web, (port, web)
        assert service["spec"]["selector"].items() <= prometheus["labels"].items()
        assert flows.REQUIRED and any(f["flow"] == FLOW and f["ports"] == [f"TCP/{port['targetPort']}"] for f in flows.REQUIRED)


@pytest.mark.parametrize("stack", AUTOSCALED)
def test_the_keda_operator_reaches_prometheus_in_the_shipped_stacks(stack):
    document, _ = shipped_report(stack)
    namespace = urlsplit(_triggers(document)[0]["metadata"]["serverAddress"]).hostname.split(".")[1]
    rows = _flow_rows(document["workloads"])
    assert rows == [
        {"flow": FLOW, "kind": "required", "from": "keda/keda-operator", "to": f"{namespace}/prometheus", "ports": ["TCP/9090"], "ok": True, "reason": None}
    ]


def test_a_network_policy_cutting_keda_off_prometheus_is_a_mandatory_violation():
    document, _ = shipped_report("inference")
    block = document["workloads"]
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-ingress", "namespace": "monitoring"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    edited = evaluate(
        copy.deepcopy(document["resources"]),
        copy.deepcopy(block["workloads"]),
        [*copy.deepcopy(block.get("objects") or []), deny],
        block.get("assumedResources") or [],
        block.get("deployNetwork"),
    )
    (row,) = _flow_rows(edited)
    assert not row["ok"] and "not allowed" in row["reason"]
    assert any(v["check"] == CHECK and v["message"].startswith(f"{FLOW}: keda/keda-operator → monitoring/prometheus") for v in failures(edited))


def test_the_trigger_and_the_flow_follow_the_observability_namespace():
    from stacks.tools.plan.workloads import workloads_block

    config = dict(
        pools=[{"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 2}],
        teams=[{"name": "llm", "memberGroups": ["llm-users"]}],
        serving={"models": [{"name": "qwen", "model": "Qwen/Qwen2.5-7B-Instruct", "pool": "serve", "weights": "hub", "maxReplicas": 2}]},
        addons={"observability": {"enabled": True, "namespace": "metrics"}},
    )
    run = plan("dev", **config)
    resources = run.to_json()["resources"]
    addresses = {t["metadata"]["serverAddress"] for t in _triggers({"resources": resources})}
    assert addresses == {"http://kube-prometheus-stack-prometheus.metrics.svc:9090"}
    (row,) = _flow_rows(workloads_block(spec_of("dev", **config), resources))
    assert (row["from"], row["to"], row["ok"]) == ("keda/keda-operator", "metrics/prometheus", True)
