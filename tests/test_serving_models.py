"""serving.models as the platform registers them: vLLM on one node (Deployment) and across nodes (LeaderWorkerSet
over EFA), on GPU and Neuron; each object strictly valid against its CRD or the core schemas; lands, admitted and
reaches pass for every model; autoscaling on metrics the pinned server exports; a PodDisruptionBudget per model;
the weights never from a hub at start (one prod plan, shared)."""

from __future__ import annotations

import functools
import json

import pytest

from addons.serving import MULTI_NODE_SCRIPT, PORT
from components.versions import IMAGES
from observability_data import metric_list
from stacks.tools.plan.lands import failures
from stacks.tools.plan.workloads import rendered_charts, workloads_block
from helpers import plan, spec_of
from upstream import assert_valid

AMI = "v20251108"
POOLS = [
    {"name": "l40s", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge", "g6e.2xlarge"], "maxNodes": 4, "amiVersion": AMI},
    {"name": "p5", "kind": "gpu", "workload": "serving", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": AMI},
    {"name": "inf2", "kind": "neuron", "workload": "serving", "instanceTypes": ["inf2.xlarge", "inf2.8xlarge"], "maxNodes": 4, "amiVersion": AMI},
    {"name": "cpu", "kind": "cpu", "workload": "serving", "instanceTypes": ["m7i.xlarge"], "maxNodes": 4, "amiVersion": AMI},
]
TEAMS = [{"name": "llm", "memberGroups": ["llm-users"]}]
CERT = "arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"
MODELS = [
    # 70B across two p5 nodes: TP 8 within a node, PP 2 across (a LeaderWorkerSet group of 2 over EFA), from Lustre,
    # pre-loaded by a Job
    {
        "name": "llama-70b",
        "model": "meta-llama/Llama-3.1-70B-Instruct",
        "pool": "p5",
        "tensorParallelSize": 8,
        "pipelineParallelSize": 2,
        "weights": "lustre",
        "maxReplicas": 2,
        "preload": True,
    },
    # 7B on one L40S, one to four replicas on its load, public behind an ALB with TLS and OIDC
    {
        "name": "mistral",
        "model": "mistralai/Mistral-7B-Instruct-v0.3",
        "pool": "l40s",
        "weightsBucket": "datasets",
        "minReplicas": 1,
        "maxReplicas": 4,
        "exposure": "public",
        "certificateArn": CERT,
        "auth": "oidc",
        "oidcIssuer": "https://login.acme.example",
        "oidcClientId": "crucible-llm",
    },
    # 8B on Inferentia2 from S3, reachable in the cluster only
    {
        "name": "llama-8b-neuron",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "pool": "inf2",
        "tensorParallelSize": 2,
        "weightsBucket": "datasets",
        "maxReplicas": 2,
        "exposure": "cluster",
        "minReplicas": 1,
    },
]
CONFIG = dict(pools=POOLS, teams=TEAMS, serving={"models": MODELS, "exposure": "public", "certificateArn": CERT})
LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
SCALED = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture(scope="module")
def run():
    return plan("prod", **CONFIG)


@functools.lru_cache(maxsize=None)
def _block(run_json: str) -> dict:
    resources = json.loads(run_json)
    spec = spec_of("prod", **CONFIG)
    objects, _ = rendered_charts({"resources": resources, "kubernetesVersion": spec.cluster.version})
    return workloads_block(spec, resources, objects)


@pytest.fixture(scope="module")
def block(run):
    return _block(json.dumps(run.to_json()["resources"]))


def manifest(resource) -> dict:
    """A registered Kubernetes object as the API server receives it."""
    obj = dict(resource.inputs)
    group_version, kind = resource.type.removeprefix("kubernetes:").rsplit(":", 1)
    obj.setdefault("apiVersion", group_version.removeprefix("core/"))
    obj.setdefault("kind", kind)
    return obj


def models_of(run, type_token: str) -> list[dict]:
    return [manifest(r) for r in run.of_type(type_token) if ((r.inputs.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name") == "vllm"]


def by_name(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects}


# ---- the workloads -------------------------------------------------------------------------------------------------


def test_a_replica_spanning_nodes_is_a_leader_worker_set_group_over_efa(run):
    lws = by_name(models_of(run, LWS))["llama-70b"]
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    for role in ("leaderTemplate", "workerTemplate"):
        limits = template[role]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "8" and limits["vpc.amazonaws.com/efa"] == "32", role
    leader = " ".join(template["leaderTemplate"]["spec"]["containers"][0]["command"])
    worker = " ".join(template["workerTemplate"]["spec"]["containers"][0]["command"])
    # vLLM's documented LWS launch with Ray: the leader starts the Ray head for the group, then `vllm serve`
    assert f"{MULTI_NODE_SCRIPT} leader --ray_cluster_size=$(LWS_GROUP_SIZE)" in leader and "--tensor-parallel-size 8 --pipeline-parallel-size 2" in leader
    assert f"{MULTI_NODE_SCRIPT} worker --ray_address=$(LWS_LEADER_ADDRESS)" in worker


def test_lustre_weights_are_mounted_from_the_directory_linked_to_their_bucket(run):
    # the team's `lustre` claim mounts the file system's root; the datasets bucket is linked at /datasets
    lws = by_name(models_of(run, LWS))["llama-70b"]
    (mount,) = [m for m in lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "weights"]
    paths = [r.inputs["fileSystemPath"] for r in run.of_type("aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation")]
    assert mount["subPath"] == "datasets/models/meta-llama/Llama-3.1-70B-Instruct"
    assert any(mount["subPath"].startswith(p.strip("/") + "/") for p in paths), paths


def test_the_workers_of_a_group_start_with_its_leader_not_after_it_is_ready(run):
    # LWS v0.8 startupPolicy LeaderReady creates the workers' StatefulSet only once the leader pod is Ready; the
    # leader is Ready when `vllm serve` answers /health, after multi-node-serving.sh has seen the whole Ray cluster
    # (the workers): a deadlock. LeaderCreated (the default) starts them together, as vLLM's LWS example does.
    lws = by_name(models_of(run, LWS))["llama-70b"]
    assert lws["spec"].get("startupPolicy", "LeaderCreated") == "LeaderCreated"
    leader = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    assert leader["readinessProbe"]["httpGet"]["path"] == "/health"


def test_a_replica_on_one_node_is_a_deployment(run):
    deployments = by_name(models_of(run, DEPLOYMENT))
    assert set(deployments) == {"mistral", "llama-8b-neuron"}
    mistral = deployments["mistral"]["spec"]["template"]["spec"]["containers"][0]
    assert mistral["command"][:2] == ["vllm", "serve"] and mistral["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_a_neuron_model_runs_the_neuron_backend_on_neuron_devices(run):
    neuron = by_name(models_of(run, DEPLOYMENT))["llama-8b-neuron"]["spec"]["template"]["spec"]
    container = neuron["containers"][0]
    assert container["image"].startswith("public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:")
    assert container["resources"]["limits"]["aws.amazon.com/neuron"] == "1"  # TP 2 NeuronCores = one Inferentia2 device
    assert "--device" in container["command"] and {"name": "VLLM_NEURON_FRAMEWORK", "value": "neuronx-distributed-inference"} in container["env"]
    assert {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"} in neuron["tolerations"]


def test_every_leader_worker_set_and_scaled_object_is_strictly_valid_against_its_crd(run):
    found = models_of(run, LWS) + models_of(run, SCALED)
    assert {o["kind"] for o in found} == {"LeaderWorkerSet", "ScaledObject"}
    for obj in found:
        assert_valid(obj)


def test_every_core_object_of_a_model_is_valid_against_the_kubernetes_schemas(run):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    spec = spec_of("prod", **CONFIG)
    core = [
        manifest(r)
        for r in run.resources
        if r.type.split(":")[1].split("/")[0] in ("core", "apps", "policy", "batch", "networking.k8s.io")
        and "vllm" in json.dumps((r.inputs.get("metadata") or {}).get("labels") or {}) + json.dumps((r.inputs.get("metadata") or {}).get("name") or "")
    ]
    kinds = {o["kind"] for o in core}
    assert {"Deployment", "Service", "PodDisruptionBudget", "PersistentVolume", "PersistentVolumeClaim", "Ingress", "Job", "DaemonSet"} <= kinds, kinds
    for obj in core:
        kubernetes_validate.validate(obj, f"{spec.cluster.version}.0", strict=True)


def test_lands_admitted_and_reaches_pass_for_every_model(block):
    entries = [w for w in block["workloads"] if w["source"] == "platform" and w["kind"] in ("Deployment", "LeaderWorkerSet") and w["namespaces"] == ["llm"]]
    assert {(w["object"], w["role"]) for w in entries} == {("llama-70b", "leader"), ("llama-70b", "worker"), ("mistral", None), ("llama-8b-neuron", None)}
    mine = [f for f in failures(block) if any(f["workload"].startswith(f"llm/{kind} ") for kind in ("Deployment", "LeaderWorkerSet", "Job"))]
    assert not mine, mine
    for w in entries:
        assert all(w["checks"][check]["ok"] for check in ("lands", "admitted", "reaches", "podSecurity")), w["name"]


def test_the_leader_and_workers_of_a_group_must_reach_each_other(block):
    leader = next(w for w in block["workloads"] if w["kind"] == "LeaderWorkerSet" and w["role"] == "leader")
    assert "job pod ↔ pod of the same job" in json.dumps(leader["checks"]["reaches"], ensure_ascii=False), leader["checks"]["reaches"]


def test_the_load_balancer_reaches_the_server_of_an_exposed_model(block):
    mistral = next(w for w in block["workloads"] if w["kind"] == "Deployment" and w["object"] == "mistral")
    assert {"port": PORT, "protocol": "TCP", "via": "Ingress mistral"} in mistral["exposes"]
    assert mistral["checks"]["reaches"]["ok"]


# ---- autoscaling, disruption, exposure, weights ----------------------------------------------------------------------


# The known-metric list of each pinned vLLM server image (tests/data/metrics/: vllm.txt is vLLM 0.10.2 of
# vllm/vllm-openai:v0.10.2, vllm-neuron.txt the Neuron image's vLLM 0.9.1).
SERVER_METRICS = {IMAGES["vllm-openai"].ref: "vllm", IMAGES["vllm-neuron"].ref: "vllm-neuron"}


def server_image(run, scaled: dict) -> str:
    target = scaled["spec"]["scaleTargetRef"]
    kind = LWS if target.get("kind") == "LeaderWorkerSet" else DEPLOYMENT
    workload = by_name(models_of(run, kind))[target["name"]]
    pod = workload["spec"]["leaderWorkerTemplate"]["leaderTemplate"] if kind == LWS else workload["spec"]["template"]
    return pod["spec"]["containers"][0]["image"]


def test_autoscaling_references_only_metrics_the_pinned_server_exports(run):
    for scaled in models_of(run, SCALED):
        exported = metric_list(SERVER_METRICS[server_image(run, scaled)])
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["type"] == "prometheus"
            query = trigger["metadata"]["query"]
            metric = query.split("(", 1)[1].split("{", 1)[0]
            assert metric in exported and exported[metric] == "gauge", (scaled["metadata"]["name"], metric)


def test_the_neuron_server_does_not_export_the_kv_cache_gauge_the_gpu_models_scale_on():
    # Why a Neuron model scales on the queue only: vLLM 0.9.1 has no vllm:kv_cache_usage_perc (vLLM 0.10 added it).
    assert "vllm:kv_cache_usage_perc" in metric_list("vllm") and "vllm:kv_cache_usage_perc" not in metric_list("vllm-neuron")
    assert metric_list("vllm-neuron")["vllm:num_requests_waiting"] == "gauge"


def test_gpu_models_scale_on_queue_and_kv_cache_and_neuron_on_the_queue(run):
    metrics = {o["metadata"]["name"]: [t["metadata"]["query"].split("(", 1)[1].split("{")[0] for t in o["spec"]["triggers"]] for o in models_of(run, SCALED)}
    assert metrics["mistral"] == ["vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"]
    assert metrics["llama-8b-neuron"] == ["vllm:num_requests_waiting"]


def test_scale_to_zero_is_per_model_and_the_autoscaled_replica_count_is_left_to_keda(run):
    scaled = by_name(models_of(run, SCALED))
    assert scaled["mistral"]["spec"]["minReplicaCount"] == 1 and scaled["llama-8b-neuron"]["spec"]["minReplicaCount"] == 1
    assert scaled["llama-70b"]["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    assert "replicas" not in by_name(models_of(run, DEPLOYMENT))["mistral"]["spec"]  # a `pulumi up` never undoes a scale


def test_every_model_has_a_disruption_budget_over_its_serving_pods(run):
    budgets = by_name(models_of(run, "kubernetes:policy/v1:PodDisruptionBudget"))
    assert set(budgets) == {m["name"] for m in MODELS}
    assert budgets["llama-70b"]["spec"]["selector"]["matchLabels"]["role"] == "leader"
    assert budgets["llama-8b-neuron"]["spec"] == {
        "minAvailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "vllm", "crucible.io/model": "llama-8b-neuron"}},
    }


def test_a_public_model_is_https_only_behind_oidc_and_an_internal_one_gets_an_internal_nlb(run):
    ingress = by_name(models_of(run, "kubernetes:networking.k8s.io/v1:Ingress"))["mistral"]["metadata"]["annotations"]
    assert ingress["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS": 443}]' and ingress["alb.ingress.kubernetes.io/certificate-arn"] == CERT
    assert ingress["alb.ingress.kubernetes.io/auth-type"] == "oidc"
    nlb = by_name(models_of(run, "kubernetes:core/v1:Service"))["llama-70b-internal"]
    assert nlb["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert "llama-8b-neuron-internal" not in by_name(models_of(run, "kubernetes:core/v1:Service"))


def test_weights_come_read_only_from_s3_through_mountpoint_cached_on_the_node(run):
    pv = by_name(models_of(run, "kubernetes:core/v1:PersistentVolume"))["llm-mistral-weights"]["spec"]
    assert pv["csi"]["driver"] == "s3.csi.aws.com" and pv["csi"]["readOnly"] and "read-only" in pv["mountOptions"]
    assert "prefix models/mistralai/Mistral-7B-Instruct-v0.3/" in pv["mountOptions"] and pv["csi"]["volumeAttributes"]["cache"] == "emptyDir"
    env = by_name(models_of(run, DEPLOYMENT))["mistral"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in env  # never a hub download at start


def test_the_serving_image_is_pre_pulled_on_every_serving_pool_with_a_model(run):
    pulls = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in run.of_type("kubernetes:apps/v1:DaemonSet")
        if r.inputs["metadata"]["name"].startswith("vllm-prepull-")
    }
    assert set(pulls) == {"vllm-prepull-p5", "vllm-prepull-l40s", "vllm-prepull-inf2"}
    images = [c["image"] for c in pulls["vllm-prepull-inf2"]["template"]["spec"]["initContainers"]]
    assert images == [by_name(models_of(run, DEPLOYMENT))["llama-8b-neuron"]["spec"]["template"]["spec"]["containers"][0]["image"]]


def test_the_leader_worker_set_operator_is_installed_from_its_pinned_chart(run):
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == "lws"]
    assert release.inputs["chart"] == "oci://registry.k8s.io/lws/charts/lws" and release.inputs["version"] == "0.8.0"
    assert release.inputs["values"]["image"]["manager"]["tag"] == "v0.8.0"


def test_no_leader_worker_set_operator_without_a_model_spanning_nodes():
    run = plan("prod", pools=POOLS, teams=TEAMS, serving={"models": [MODELS[1]], "exposure": "public", "certificateArn": CERT})
    assert not [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == "lws"]


def test_the_flow_table_has_keda_reading_prometheus_between_endpoints_it_knows():
    from stacks.tools.plan import flows

    (flow,) = [f for f in flows.REQUIRED if f["flow"] == "KEDA → Prometheus"]
    known = {e["name"]: e for e in flows.SYSTEM_ENDPOINTS}
    assert known[flow["from"]["endpoint"]]["when"] == "keda" and flow["to"]["endpoint"] in known and flow["ports"] == ["TCP/9090"]


def test_a_replica_going_away_drains_from_its_load_balancer_within_its_grace_period(run):
    # the target group's deregistration delay (300 s by default) would outlive the pod; a preStop sleep keeps it
    # serving while the load balancer controller deregisters it (annotation names: aws-load-balancer-controller
    # v3.5.0 pkg/annotations/constants.go, SvcLBSuffixTargetGroupAttributes, IngressSuffixTargetGroupAttributes)
    from addons.serving import CONTROLLER_LAG_SECONDS, DEREGISTRATION_SECONDS, PRE_STOP_SECONDS, SHUTDOWN_SECONDS

    attributes = f"deregistration_delay.timeout_seconds={DEREGISTRATION_SECONDS}"
    ingress = by_name(models_of(run, "kubernetes:networking.k8s.io/v1:Ingress"))["mistral"]["metadata"]["annotations"]
    assert ingress["alb.ingress.kubernetes.io/target-group-attributes"] == attributes
    services = [s for s in models_of(run, "kubernetes:core/v1:Service") if s["spec"].get("type") == "LoadBalancer"]
    assert services and all(
        s["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"] == attributes for s in services
    )
    served = [by_name(models_of(run, DEPLOYMENT))["mistral"]["spec"]["template"]["spec"]]
    served.append(by_name(models_of(run, LWS))["llama-70b"]["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"])
    for spec in served:
        (container,) = spec["containers"]
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": PRE_STOP_SECONDS}}
        # SIGTERM comes only after the target has drained: the pod keeps answering while the controller notices the
        # endpoint change and deregisters it, and then for the whole delay (its open streams end with the delay,
        # not with vLLM's shutdown) ...
        assert PRE_STOP_SECONDS >= DEREGISTRATION_SECONDS + CONTROLLER_LAG_SECONDS
        # ... and vLLM still has time to finish what it holds and exit before the kubelet kills it
        assert spec["terminationGracePeriodSeconds"] >= PRE_STOP_SECONDS + SHUTDOWN_SECONDS


def test_served_replicas_get_no_target_health_readiness_gate_that_would_let_kueue_evict_them(run, block):
    # The load balancer controller's pod webhook (chart 3.5.0, mpod.elbv2.k8s.aws) injects its target-health readiness
    # gate into the pods of namespaces labelled elbv2.k8s.aws/pod-readiness-gate-inject=enabled, and sets it False
    # whenever the target is unhealthy (v3.5.0 pkg/targetgroupbinding/resource_manager.go). Kueue manages the team
    # namespaces' pods and its waitForPodsReady reads their Ready condition (0.19.2 pkg/controller/jobs/pod): a load
    # balancer that cannot reach a replica for recoveryTimeout would have Kueue evict it, and after backoffLimitCount
    # requeues deactivate the model, for in-cluster callers too. The team namespaces are not selected; a rollout leans
    # on the preStop drain instead (test above).
    from components.labels import READINESS_GATE_LABEL
    from stacks.tools.plan.admitted import selector_matches

    hooks = [w for o in block["objects"] if o["kind"] == "MutatingWebhookConfiguration" for w in o.get("webhooks") or []]
    (mpod,) = [w for w in hooks if w["name"] == "mpod.elbv2.k8s.aws"]
    assert mpod["namespaceSelector"]["matchExpressions"][0]["key"] == READINESS_GATE_LABEL  # the label it selects by
    (team,) = [r.inputs["metadata"] for r in run.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "llm"]
    assert not selector_matches(mpod["namespaceSelector"], {**team["labels"], "kubernetes.io/metadata.name": "llm"})
    assert "waitForPodsReady" in json.dumps(run.one("kubernetes:helm.sh/v3:Release", "kueue").inputs["values"])  # what would act on it


def test_a_neuron_model_compiles_into_a_writable_folder_for_a_batch_its_device_holds(run):
    # vLLM's Neuron backend writes its compiled model under the model folder (read-only here) unless
    # NEURON_COMPILED_ARTIFACTS names another, and compiles its KV cache for max-num-seqs x max-model-len
    from addons.serving import NEURON_ARTIFACTS
    from stacks.derive.serving import NEURON_MAX_NUM_SEQS

    pod = by_name(models_of(run, DEPLOYMENT))["llama-8b-neuron"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "NEURON_COMPILED_ARTIFACTS", "value": NEURON_ARTIFACTS} in container["env"]
    home = next(m for m in container["volumeMounts"] if m["name"] == "home")
    assert NEURON_ARTIFACTS.startswith(home["mountPath"] + "/") and not home.get("readOnly")
    command = container["command"]
    assert command[command.index("--max-num-seqs") + 1] == str(NEURON_MAX_NUM_SEQS)
    gpu = by_name(models_of(run, DEPLOYMENT))["mistral"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--max-num-seqs" not in gpu  # vLLM's own default on GPUs


def test_a_neuron_replica_gets_host_memory_for_the_weights_the_backend_loads_there_first(run):
    # NxD Inference loads the checkpoint into host memory before sharding it onto the device: 8B bf16 is 15 GiB,
    # more than inf2.xlarge's share (16 GiB x 0.7), so the replica goes to inf2.8xlarge
    from stacks.derive.serving import NEURON_HOST_LOAD

    pod = by_name(models_of(run, DEPLOYMENT))["llama-8b-neuron"]["spec"]["template"]["spec"]
    memory = int(pod["containers"][0]["resources"]["requests"]["memory"].removesuffix("Gi"))
    assert memory >= 8.03e9 * 2 / 2**30 * NEURON_HOST_LOAD
