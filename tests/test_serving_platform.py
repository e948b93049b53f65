"""Serving as the platform runs it: what the load balancer reaches, how Kueue admits RayServices, and Pod Security
for every workload Crucible hands to teams (one prod plan with GPU and Neuron serving pools, shared)."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from addons.examples import render_examples
from addons.kueue import FEATURE_GATES, KueueArgs, kueue_values, manager_config
from helpers import plan, spec_of
from stacks.derive.capacity import catalog_facts
from stacks.plan.kueue_admission import KueueSetup, admit

POOLS = [
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": "v20251108"},
    {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
    {"name": "inf", "kind": "neuron", "workload": "serving", "instanceTypes": ["inf2.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
]
TEAMS = [
    {"name": "llm", "adminGroups": ["llm-admins"], "shares": {"train": 50, "serve": 50, "inf": 50}},
    {"name": "apps", "memberGroups": ["apps-users"], "shares": {"train": 0, "serve": 50, "inf": 50}},
]
CONFIG = dict(pools=POOLS, teams=TEAMS)
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@pytest.fixture(scope="module")
def run():
    return plan("prod", **CONFIG)


@pytest.fixture(scope="module")
def examples():
    return render_examples(spec_of("prod", **CONFIG), catalog_facts)


def policies_in(run, namespace: str) -> list[dict]:
    return [p.inputs["spec"] for p in run.of_type(NETPOL) if p.inputs["metadata"].get("namespace") == namespace]


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()) and not selector.get("matchExpressions")


def ingress_allowed(policies: list[dict], pod_labels: dict, source_ip: str, port: int) -> bool:
    """NetworkPolicy ingress semantics for a connection from an address outside the cluster's pods (a load
    balancer node): some Ingress policy selecting the pod has a rule whose ipBlock holds the source and whose
    ports admit ``port``/TCP."""
    addr = ipaddress.ip_address(source_ip)
    for policy in policies:
        if "Ingress" not in policy["policyTypes"] or not _selects(policy["podSelector"], pod_labels):
            continue
        for rule in policy.get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("protocol", "TCP") == "TCP" and p["port"] == port for p in ports):
                continue
            for peer in rule.get("from") or [{}]:
                block = peer.get("ipBlock")
                if not peer or (block and addr in ipaddress.ip_network(block["cidr"]) and not any(addr in ipaddress.ip_network(c) for c in block.get("except", []))):
                    return True
    return False


def _target(manifests: list[dict]) -> tuple[dict, int]:
    """The pod labels and container port the prompt app's ALB targets (target-type ip): Ingress -> Service port ->
    targetPort -> the Deployment's container port."""
    by_kind = {m["kind"]: m for m in manifests}
    ingress, service, deployment = by_kind["Ingress"], by_kind["Service"], by_kind["Deployment"]
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] == "ip"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    (service_port,) = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
    template = deployment["spec"]["template"]
    assert _selects({"matchLabels": service["spec"]["selector"]}, template["metadata"]["labels"])
    (port,) = [p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"] if p["name"] == service_port["targetPort"]]
    return template["metadata"]["labels"], port


# ---- defect 5: the ALB reaches the app it targets -------------------------------------------------------------


def test_the_alb_reaches_the_prompt_app_in_every_team_namespace(run, examples):
    labels, port = _target(examples["serve/prompt-lab.yaml"])
    vpc = ipaddress.ip_network(run.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    alb_node = str(vpc.network_address + 4242)  # an ALB node's address in one of the VPC's subnets
    for team in TEAMS:
        assert ingress_allowed(policies_in(run, team["name"]), labels, alb_node, port), team["name"]


def test_the_load_balancer_rule_admits_only_the_vpc_on_the_app_port_of_the_app(run, examples):
    labels, port = _target(examples["serve/prompt-lab.yaml"])
    vpc = ipaddress.ip_network(run.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    inside = str(vpc.network_address + 4242)
    policies = policies_in(run, "llm")
    assert not ingress_allowed(policies, labels, "203.0.113.7", port)  # not from outside the VPC
    assert not ingress_allowed(policies, labels, inside, 22)  # not on another port
    assert not ingress_allowed(policies, {"app.kubernetes.io/name": "something-else"}, inside, port)  # not to other pods


def test_no_load_balancer_rule_without_the_controller():
    bare = plan("prod", serving={"loadBalancerController": {"enabled": False}}, **CONFIG)
    names = {p.inputs["metadata"]["name"] for p in bare.of_type(NETPOL)}
    assert not [n for n in names if n.startswith("allow-load-balancer")]


# ---- defect 2: Kueue admits the RayServices, on the serving flavors ---------------------------------------------

SERVING_EXAMPLES = ("serve/llm-gpu.yaml", "serve/llm-neuron.yaml")


def crucible_kueue() -> KueueSetup:
    """Kueue as Crucible configures it, in a team namespace (LocalQueue `default`)."""
    config = manager_config()
    return KueueSetup(
        integrations=frozenset(config["integrations"]["frameworks"]),
        feature_gates=dict(FEATURE_GATES),
        manage_jobs_without_queue_name=config["manageJobsWithoutQueueName"],
    )


def rayservice(examples, path: str) -> dict:
    (service,) = [m for m in examples[path] if m["kind"] == "RayService"]
    return service


def test_the_model_reproduces_the_refusal_when_rayservice_is_not_an_enabled_integration(examples):
    # Kueue 0.19 labels the RayCluster of a RayService it does not manage with the namespace's `default` LocalQueue,
    # then refuses it for in-tree autoscaling (it is not an elastic job of its own).
    service = rayservice(examples, "serve/llm-gpu.yaml")
    setup = crucible_kueue()
    without = KueueSetup(integrations=setup.integrations - {"ray.io/rayservice"}, manage_jobs_without_queue_name=False)
    bare = {**service, "metadata": {"name": service["metadata"]["name"]}}  # no queue label, no elastic annotation
    owner, cluster = admit(bare, without)
    assert not owner.workload and cluster.kind == "RayCluster" and cluster.queue == "default" and cluster.workload
    assert any("enableInTreeAutoscaling" in p for p in cluster.problems)


@pytest.mark.parametrize("path", SERVING_EXAMPLES)
def test_kueue_admits_each_rayservice_as_an_elastic_workload_of_the_teams_queue(examples, path):
    service, cluster = admit(rayservice(examples, path), crucible_kueue())
    assert (service.kind, service.workload, service.queue, service.elastic) == ("RayService", True, "default", True)
    assert service.problems == () and cluster.problems == ()
    assert not cluster.workload  # part of the RayService's workload, not a second one
    assert service.pod_sets[0] == "head" and len(service.pod_sets) == 2


def test_kueue_enables_the_rayservice_integration_and_elastic_jobs():
    values = kueue_values(KueueArgs(system_pool="system", flavors=(), cohort={}, cluster_queues=()))
    assert {"name": "ElasticJobsViaWorkloadSlices", "enabled": True} in values["controllerManager"]["featureGates"]
    config = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert "ray.io/rayservice" in config["integrations"]["frameworks"]


@pytest.mark.parametrize("path,pool,resource", [("serve/llm-gpu.yaml", "serve", "nvidia.com/gpu"), ("serve/llm-neuron.yaml", "inf", "aws.amazon.com/neuron")])
def test_the_serving_workers_are_admitted_on_the_serving_pools_flavor_with_the_teams_quota(run, examples, path, pool, resource):
    # Kueue assigns a pod set only a flavor whose nodeLabels its nodeSelector agrees with: the serving worker's is
    # its pool's flavor, so that flavor's quota (the team's share of the serving pool) is what admits it.
    worker = rayservice(examples, path)["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]
    flavors = {f.inputs["metadata"]["name"]: f.inputs["spec"] for f in run.of_type("kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor")}
    agreeing = [n for n, f in flavors.items() if all(worker["nodeSelector"].get(k, v) == v for k, v in f["nodeLabels"].items())]
    assert agreeing == [pool]
    for team in TEAMS:
        (queue,) = [q for q in run.of_type("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue") if q.inputs["metadata"]["name"] == team["name"]]
        quotas = {
            (f["name"], r["name"]): r["nominalQuota"]
            for group in queue.inputs["spec"]["resourceGroups"]
            for f in group["flavors"]
            for r in f["resources"]
        }
        requested = worker["containers"][0]["resources"]["requests"][resource]
        assert int(quotas[(pool, resource)]) >= int(requested), team["name"]
