"""Serving as the platform runs it: what the load balancer reaches, how Kueue admits RayServices, and Pod Security
for every workload Crucible hands to teams (one prod plan with GPU and Neuron serving pools, shared)."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from stacks.tools.examples import render_examples
from addons.kueue import KueueArgs, kueue_values
from helpers import plan, shipped_report, spec_of
from components.catalog import load_catalog

POOLS = [
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": "v20251108"},
    {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
    {"name": "inf", "kind": "neuron", "workload": "serving", "instanceTypes": ["inf2.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
    # Ray heads and the prompt app: a cpu pool (the system nodes are tainted for platform pods only)
    {"name": "cpu", "kind": "cpu", "workload": "serving", "instanceTypes": ["m7i.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
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
    return render_examples(spec_of("prod", **CONFIG), load_catalog())


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
                if not peer or (
                    block and addr in ipaddress.ip_network(block["cidr"]) and not any(addr in ipaddress.ip_network(c) for c in block.get("except", []))
                ):
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
    bare = plan("prod", addons={"loadBalancerController": {"enabled": False}}, **CONFIG)
    names = {p.inputs["metadata"]["name"] for p in bare.of_type(NETPOL)}
    assert not [n for n in names if n.startswith("allow-load-balancer")]


# ---- defect 2: Kueue admits the RayServices, on the serving flavors ---------------------------------------------

SERVING_EXAMPLES = ("serve/llm-gpu.yaml", "serve/llm-neuron.yaml")


def rayservice(examples, path: str) -> dict:
    (service,) = [m for m in examples[path] if m["kind"] == "RayService"]
    return service


# The refusal of a RayService's RayCluster when ray.io/rayservice is not an enabled integration is specified with the
# rest of Kueue's rules in tests/test_admitted.py (stacks/tools/plan/admitted.py models Kueue for every workload).


@pytest.mark.parametrize("path", SERVING_EXAMPLES)
def test_kueue_admits_each_rayservice_as_an_elastic_workload_of_the_teams_queue(path):
    document, _ = shipped_report("prod")
    service = path.split("/")[-1].rsplit(".", 1)[0]
    groups = [e for e in document["workloads"]["workloads"] if e["name"].startswith(f"{path}: RayService {service}")]
    assert {g["name"].rsplit(" ", 1)[-1] for g in groups} >= {"head"} and len(groups) == 2
    for group in groups:
        verdict = group["checks"]["admitted"]
        assert verdict["ok"] and verdict["summary"].startswith("default -> "), (group["name"], verdict)
    assert all(g["kueue"]["annotations"].get("kueue.x-k8s.io/elastic-job") == "true" for g in groups)


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
            (f["name"], r["name"]): r["nominalQuota"] for group in queue.inputs["spec"]["resourceGroups"] for f in group["flavors"] for r in f["resources"]
        }
        requested = worker["containers"][0]["resources"]["requests"][resource]
        assert int(quotas[(pool, resource)]) >= int(requested), team["name"]


# ---- defect 4: Pod Security, for every workload Crucible registers or hands to teams ---------------------------

from stacks.tools.plan.pod_security import PSA_ENFORCE, pod_templates, violations, workload_violations  # noqa: E402

COMPLIANT = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "c", "image": "i:1", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
}


def with_container(**security) -> dict:
    spec = {**COMPLIANT, "containers": [{**COMPLIANT["containers"][0], "securityContext": {**COMPLIANT["containers"][0]["securityContext"], **security}}]}
    return spec


def test_the_checker_admits_a_restricted_pod_and_the_default_pod_at_baseline():
    assert violations(COMPLIANT, "restricted") == []
    assert violations({"containers": [{"name": "c", "image": "i:1"}]}, "baseline") == []
    assert violations({"hostNetwork": True, "containers": []}, "privileged") == []


@pytest.mark.parametrize(
    "spec,reason",
    [
        ({"hostNetwork": True, "containers": []}, "hostNetwork"),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers": []}, "hostPath"),
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "privileged"),
        ({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["IPC_LOCK"]}}}]}, "IPC_LOCK"),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 22, "hostPort": 22}]}]}, "hostPort"),
        ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}, "containers": []}, "kernel.msgmax"),
        ({"containers": [{"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}]}, "Unconfined"),
    ],
)
def test_baseline_refuses_known_privilege_escalations(spec, reason):
    assert any(reason in v for v in violations(spec, "baseline")), violations(spec, "baseline")


@pytest.mark.parametrize(
    "spec,reason",
    [
        ({**COMPLIANT, "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}, "runAsNonRoot"),
        ({**COMPLIANT, "securityContext": {"runAsNonRoot": True}}, "seccompProfile"),
        (with_container(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        (with_container(capabilities={"drop": ["NET_RAW"]}), "drop must include ALL"),
        (with_container(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}), "CHOWN"),
        (with_container(runAsNonRoot=False), "runAsNonRoot"),
        (with_container(runAsUser=0), "runAsUser 0"),
        ({**COMPLIANT, "volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}]}, "nfs"),
        ({**COMPLIANT, "initContainers": [{"name": "init", "image": "i:1"}]}, "initContainers[init]"),
    ],
)
def test_restricted_refuses_what_the_standard_names_on_every_container(spec, reason):
    assert violations(spec, "baseline") == []  # each of these is baseline-clean: only restricted refuses it
    assert any(reason in v for v in violations(spec, "restricted")), violations(spec, "restricted")


def test_kuberay_adds_an_autoscaler_sidecar_and_a_worker_init_container_that_admission_sees():
    cluster = {
        "kind": "RayCluster",
        "metadata": {"name": "r"},
        "spec": {
            "enableInTreeAutoscaling": True,
            "headGroupSpec": {"template": {"spec": COMPLIANT}},
            "workerGroupSpecs": [{"groupName": "w", "template": {"spec": COMPLIANT}}],
        },
    }
    (_, head), (_, worker) = pod_templates(cluster)
    assert [c["name"] for c in head["spec"]["containers"]] == ["c", "autoscaler"]
    assert [c["name"] for c in worker["spec"]["initContainers"]] == ["wait-gcs-ready"]
    # the sidecar takes no securityContext from the head's containers: restricted refuses it until autoscalerOptions gives one
    assert [v for v in workload_violations(cluster, "restricted") if "autoscaler" in v]
    cluster["spec"]["autoscalerOptions"] = {"securityContext": COMPLIANT["containers"][0]["securityContext"]}
    assert workload_violations(cluster, "restricted") == []


def enforce_levels(run) -> dict[str, str]:
    """namespace -> Pod Security enforce level; a namespace the plan does not label enforces privileged."""
    return {
        n.inputs["metadata"]["name"]: (n.inputs["metadata"].get("labels") or {}).get(PSA_ENFORCE, "privileged")
        for n in run.of_type("kubernetes:core/v1:Namespace")
    }


def team_levels(run) -> dict[str, str]:
    levels = enforce_levels(run)
    return {t["name"]: levels[t["name"]] for t in TEAMS}


SERVING_FILES = ("serve/llm-gpu.yaml", "serve/llm-neuron.yaml", "serve/prompt-lab.yaml")


@pytest.mark.parametrize("path", SERVING_FILES)
def test_serving_workloads_pass_pod_security_in_every_team_namespace(run, examples, path):
    # serving teams' namespaces enforce restricted (no training share): the strictest level any team has
    levels = team_levels(run)
    assert "restricted" in levels.values()
    for manifest in examples[path]:
        for team, level in levels.items():
            assert workload_violations(manifest, level) == [], (team, manifest["kind"])


def test_training_workloads_pass_pod_security_in_the_training_teams_namespaces(run, examples):
    levels = {t["name"]: team_levels(run)[t["name"]] for t in TEAMS if t["shares"].get("train")}
    assert levels == {"llm": "baseline"}
    for path, manifests in examples.items():
        if path.startswith("train/"):
            for manifest in manifests:
                for team, level in levels.items():
                    assert workload_violations(manifest, level) == [], (path, team)


def test_every_pod_the_plan_registers_passes_its_namespaces_pod_security(run):
    levels = enforce_levels(run)
    checked = 0
    for r in run.resources:
        if not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm.sh"):
            continue
        kind = r.type.split(":")[-1]
        manifest = {"kind": kind, "metadata": r.inputs.get("metadata") or {}, "spec": r.inputs.get("spec") or {}}
        if not pod_templates(manifest):
            continue
        namespace = manifest["metadata"].get("namespace")
        if namespace is None:  # a cluster-scoped runtime: its pods run in the training teams' namespaces
            targets = [team_levels(run)[t["name"]] for t in TEAMS if t["shares"].get("train")]
        else:
            targets = [levels.get(namespace, "privileged")]
        for level in targets:
            assert workload_violations(manifest, level) == [], (r.name, level)
        checked += 1
    assert checked >= 3  # the MPI operator, the neuron monitor, the EFA training runtime


# ---- defect 11: why training namespaces enforce baseline -------------------------------------------------------


def test_training_pods_need_baseline_because_they_run_as_root_not_for_ipc_lock(examples):
    # What restricted refuses in the shipped training pods is running as root with the default capabilities
    # (the images, mpirun --allow-run-as-root, MPI's sshd); none adds IPC_LOCK, which baseline would refuse anyway.
    # (the GPU smoke Job needs no privilege and states restricted: it is not among them)
    trained = [m for path, ms in examples.items() if path.startswith("train/") for m in ms if pod_templates(m) and workload_violations(m, "restricted")]
    assert {m["kind"] for m in trained} >= {"MPIJob", "RayJob"}  # a TrainJob's pods come from its runtime
    for manifest in trained:
        refused = workload_violations(manifest, "restricted")
        assert any("runAsNonRoot" in v for v in refused) and any("drop must include ALL" in v for v in refused), manifest["kind"]
        assert not [v for v in refused if "IPC_LOCK" in v]
        assert workload_violations(manifest, "baseline") == []


def test_the_stated_reason_for_baseline_is_the_real_one():
    import addons.tenancy
    from stacks.spec.teams import TeamSpec
    import dataclasses

    doc = addons.tenancy.__doc__
    setting_doc = next(f for f in dataclasses.fields(TeamSpec) if f.name == "pod_security").metadata
    for text in (doc, str(setting_doc)):
        assert "need IPC_LOCK" not in text and "needs IPC_LOCK" not in text
        assert "root" in text
    assert "baseline refuses that capability too" in doc


SHIPPED = ("dev", "staging", "prod", "prod-core", "prod-platform", "inference", "research", "train-p5", "trainium")


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_example_of_a_shipped_stack_passes_pod_security_where_teams_run_it(stack):
    # serving examples may run in any team's namespace; training examples in the training teams' (their share
    # of a training pool is what makes them training teams)
    from stacks.tools.plan.locate import config_path
    from stacks.spec.loader import load_stack_file
    from stacks.spec.teams import is_training_team, pod_security_level

    spec, _, _ = load_stack_file(config_path(stack))
    levels = {t.name: pod_security_level(t, spec) for t in spec.teams} or {"(a restricted team)": "restricted"}
    training = {t.name: pod_security_level(t, spec) for t in spec.teams if is_training_team(t, spec)} or {"(a training team)": "baseline"}
    for path, manifests in render_examples(spec).items():
        where = training if path.startswith("train/") else levels
        for manifest in manifests:
            for team, level in where.items():
                assert workload_violations(manifest, level) == [], (stack, path, team, level)


def test_the_serving_queue_setting_labels_every_rayservice():
    rendered = render_examples(spec_of("prod", serving={"examples": {"queue": "serving"}}, **CONFIG), load_catalog())
    services = [m for path in SERVING_EXAMPLES for m in rendered[path] if m["kind"] == "RayService"]
    assert services and all(s["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "serving" for s in services)


def test_a_serving_queue_that_is_not_a_kubernetes_name_is_refused_naming_the_key():
    from stacks.spec import ConfigError

    with pytest.raises(ConfigError) as caught:
        spec_of("prod", serving={"examples": {"queue": "Serving_Queue"}}, **CONFIG)
    found = {p.path: p.message for p in caught.value.problems}
    assert "Serving_Queue" in found["crucible:serving.examples.queue"] and "Kubernetes name" in found["crucible:serving.examples.queue"]
