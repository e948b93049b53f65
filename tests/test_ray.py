"""KubeRay: the operator add-on, the Ray training examples (RayJob on GPUs, RayCluster on Trainium) and
`crucible examples`."""

from __future__ import annotations

import pytest
import yaml

import upstream
from stacks.tools.examples import EXAMPLES, render_examples
from stacks.tools.examples.ray import finetune_rayjob, neuron_raycluster
from stacks.tools.examples.shapes import NodeShape
from components.catalog import load_catalog
from stacks.tools.examples.training import CHECKPOINT_MOUNT
from components.labels import EFA_RESOURCE, HUGEPAGES_RESOURCE, QUEUE_LABEL
from components.labels import POOL_LABEL
from helpers import plan, spec_of
from policies.offline import evaluate
from stacks.tools.cli import main
from stacks.spec import ConfigError

RELEASE = "kubernetes:helm.sh/v3:Release"
AMI = "v20251108"
GPU_TRAIN = {
    "name": "train",
    "kind": "gpu",
    "workload": "training",
    "instanceTypes": ["p5.48xlarge"],
    "efa": True,
    "zones": ["us-west-2a"],
    "maxNodes": 4,
    "amiVersion": AMI,
}
TRN_TRAIN = {
    "name": "trn",
    "kind": "neuron",
    "workload": "training",
    "instanceTypes": ["trn1.32xlarge"],
    "efa": True,
    "zones": ["us-west-2a"],
    "maxNodes": 4,
    "amiVersion": AMI,
}
SERVE = {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4, "amiVersion": AMI}
# The Ray heads of serving run on a cpu pool (the system nodes are tainted for platform pods only).
CPU = {"name": "cpu", "kind": "cpu", "workload": "serving", "instanceTypes": ["m7i.xlarge"], "maxNodes": 4, "amiVersion": AMI}
POOLS = [GPU_TRAIN, TRN_TRAIN, SERVE, CPU]
RAY_EXAMPLES = ("train/ray-finetune.yaml", "train/ray-trainium.yaml", "serve/llm-gpu.yaml")

SHAPE = NodeShape(pool="train", kind="gpu", instance_type="x.test", accelerators=3, efa_interfaces=5, vcpu=48, memory_gib=400)
TRN_SHAPE = NodeShape(pool="trn", kind="neuron", instance_type="y.test", accelerators=4, efa_interfaces=2, vcpu=48, memory_gib=400)


def rayjob_docs():
    return finetune_rayjob(SHAPE, queue="team-a", nodes=2, checkpoint_claim="ckpt", image="ray:1", ray_version="2.52.0", model="m/x")


def rayjob():
    return next(d for d in rayjob_docs() if d["kind"] == "RayJob")


def raycluster():
    return neuron_raycluster(TRN_SHAPE, queue="team-a", nodes=2, checkpoint_claim="ckpt", image="neuron:1", ray_version="2.52.0")


def cluster_spec(manifest: dict) -> dict:
    return manifest["spec"]["rayClusterSpec"] if manifest["kind"] == "RayJob" else manifest["spec"]


def worker_pod(manifest: dict) -> dict:
    (group,) = cluster_spec(manifest)["workerGroupSpecs"]
    return group["template"]["spec"]


def head_pod(manifest: dict) -> dict:
    return cluster_spec(manifest)["headGroupSpec"]["template"]["spec"]


def rendered(stack_pools=POOLS, **overrides) -> dict[str, list[dict]]:
    return render_examples(spec_of("dev", pools=stack_pools, **overrides), load_catalog())


def ray_manifest(path: str, **overrides) -> dict:
    return next(d for d in rendered(**overrides)[path] if d["apiVersion"] == "ray.io/v1")


def problems(**overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", **overrides)
    return {p.path: p.message for p in caught.value.problems}


def as_plan_resource(manifest: dict) -> dict:
    """A rendered manifest in the plan-JSON shape the policy pack evaluates (as if created by Pulumi)."""
    api = manifest["apiVersion"]
    type_ = f"kubernetes:{api}:{manifest['kind']}"
    name = manifest["metadata"]["name"]
    return {
        "urn": f"urn:pulumi:test::crucible::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": "",
        "inputs": manifest,
        "protect": False,
        "retain_on_delete": False,
        "delete_before_replace": False,
        "ignore_changes": [],
        "aliases": [],
        "dependencies": [],
        "property_dependencies": {},
        "provider": "",
        "custom": True,
    }


# ---- every Ray manifest is valid KubeRay v1.7.0, strictly -------------------------------------------


@pytest.mark.parametrize("path", ["train/ray-finetune.yaml", "train/ray-trainium.yaml", "serve/llm-gpu.yaml"])
def test_ray_examples_validate_strictly_against_the_kuberay_crds(path):
    manifests = [d for d in rendered()[path] if d["apiVersion"] == "ray.io/v1"]
    assert manifests
    for manifest in manifests:
        upstream.assert_valid(manifest)


def test_strict_validation_catches_a_misspelt_ray_field():
    job = rayjob()
    job["spec"]["rayClusterSpec"]["authOption"] = {"mode": "token"}
    assert any("authOption" in e for e in upstream.errors(job))


# ---- Kueue: queue label and what its RayJob/RayCluster integrations require -------------------------


@pytest.mark.parametrize("make", [rayjob, raycluster], ids=["rayjob", "raycluster"])
def test_ray_workloads_are_submitted_suspended_through_the_teams_local_queue(make):
    manifest = make()
    assert manifest["metadata"]["labels"][QUEUE_LABEL] == "team-a"
    assert manifest["spec"]["suspend"] is True


def test_rayjob_deletes_its_cluster_when_done_and_never_reuses_one():
    spec = rayjob()["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] == 300  # time to read a failed job's logs before the cluster goes
    assert "clusterSelector" not in spec


@pytest.mark.parametrize("make", [rayjob, raycluster], ids=["rayjob", "raycluster"])
def test_ray_workloads_are_admitted_whole_without_autoscaling(make):
    cluster = cluster_spec(make())
    assert cluster["enableInTreeAutoscaling"] is False
    for group in cluster["workerGroupSpecs"]:
        assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 2
        assert group["groupName"] != "head"  # reserved by Kueue for the head pod set


def test_rendered_rayjob_uses_the_configured_queue_and_node_count():
    job = ray_manifest("train/ray-finetune.yaml", training={"examples": {"queue": "ml-team", "nodes": 3}})
    assert job["metadata"]["labels"][QUEUE_LABEL] == "ml-team"
    (group,) = job["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert group["replicas"] == 3


# ---- placement and resources: cut to the node, figures from the catalog ------------------------------


@pytest.mark.parametrize("path, pool", [("train/ray-finetune.yaml", GPU_TRAIN), ("train/ray-trainium.yaml", TRN_TRAIN)])
def test_workers_run_on_their_pool_and_instance_type_and_tolerate_its_taint(path, pool):
    pod = worker_pod(ray_manifest(path))
    resource = {"gpu": "nvidia.com/gpu", "neuron": "aws.amazon.com/neuron"}[pool["kind"]]
    assert pod["nodeSelector"] == {"karpenter.sh/nodepool": pool["name"], "node.kubernetes.io/instance-type": pool["instanceTypes"][0]}
    assert pod["tolerations"] == [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize("path, pool", [("train/ray-finetune.yaml", GPU_TRAIN), ("train/ray-trainium.yaml", TRN_TRAIN)])
def test_workers_request_every_accelerator_and_efa_device_of_the_catalog_entry(path, pool):
    facts = load_catalog().get(pool["instanceTypes"][0])
    resource = {"gpu": "nvidia.com/gpu", "neuron": "aws.amazon.com/neuron"}[pool["kind"]]
    limits = worker_pod(ray_manifest(path))["containers"][0]["resources"]["limits"]
    assert int(limits[resource]) == facts.accelerator_count
    assert int(limits[EFA_RESOURCE]) == facts.efa_interfaces
    assert HUGEPAGES_RESOURCE not in limits  # Karpenter models no huge pages (tests/test_examples_run.py)


@pytest.mark.parametrize("path, pool", [("train/ray-finetune.yaml", GPU_TRAIN), ("train/ray-trainium.yaml", TRN_TRAIN)])
def test_workers_cpu_and_memory_fit_the_node_and_requests_equal_limits(path, pool):
    facts = load_catalog().get(pool["instanceTypes"][0])
    resources = worker_pod(ray_manifest(path))["containers"][0]["resources"]
    assert resources["requests"] == resources["limits"]
    assert 0 < int(resources["limits"]["cpu"]) < facts.vcpu
    assert 0 < int(resources["limits"]["memory"].removesuffix("Gi")) < facts.memory_gib


def test_a_pool_without_efa_gets_no_efa_devices_or_huge_pages():
    shape = NodeShape(pool="trn", kind="neuron", instance_type="y.test", accelerators=4, efa_interfaces=0, vcpu=12, memory_gib=120)
    cluster = neuron_raycluster(shape, queue="q", nodes=1, checkpoint_claim="c", image="i:1", ray_version="2.52.0")
    limits = worker_pod(cluster)["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "11", "memory": "102Gi", "aws.amazon.com/neuron": "4"}  # 12 - 12//16 (at least 1); 85% of 120


@pytest.mark.parametrize("make", [rayjob, raycluster], ids=["rayjob", "raycluster"])
def test_the_head_has_no_accelerators_and_runs_no_training_tasks(make):
    manifest = make()
    (head,) = head_pod(manifest)["containers"]
    assert set(head["resources"]["limits"]) == {"cpu", "memory"}
    assert cluster_spec(manifest)["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


@pytest.mark.parametrize("make, shape", [(rayjob, SHAPE), (raycluster, TRN_SHAPE)], ids=["rayjob", "raycluster"])
def test_the_head_runs_on_the_workers_pool_and_no_ray_pod_is_disrupted_by_karpenter(make, shape):
    manifest = make()
    head = head_pod(manifest)
    # the workers' pool (not pinned to a type: it packs beside a worker), never a pool Karpenter consolidates
    assert head["nodeSelector"] == {"karpenter.sh/nodepool": shape.pool} and head["tolerations"] == shape.tolerations()
    templates = [cluster_spec(manifest)["headGroupSpec"]["template"], cluster_spec(manifest)["workerGroupSpecs"][0]["template"]]
    assert all(t["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"} for t in templates)


def test_the_rayjob_runs_one_training_worker_per_gpu_of_the_cluster():
    env = yaml.safe_load(rayjob()["spec"]["runtimeEnvYAML"])["env_vars"]
    assert env["NUM_WORKERS"] == str(2 * SHAPE.accelerators)


# ---- volumes: Lustre checkpoints, /dev/shm in memory, the script ---------------------------------------


@pytest.mark.parametrize("make", [rayjob, raycluster], ids=["rayjob", "raycluster"])
def test_the_checkpoint_claim_is_mounted_on_head_and_workers(make):
    manifest = make()
    for pod in (head_pod(manifest), worker_pod(manifest)):
        assert {"name": "checkpoints", "persistentVolumeClaim": {"claimName": "ckpt"}} in pod["volumes"]
        assert {"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT} in pod["containers"][0]["volumeMounts"]
        assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
        assert {"name": "dshm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]


def test_rendered_examples_mount_the_configured_claim():
    for path in ("train/ray-finetune.yaml", "train/ray-trainium.yaml"):
        pod = worker_pod(ray_manifest(path, training={"examples": {"checkpointClaim": "team-lustre"}}))
        assert {"name": "checkpoints", "persistentVolumeClaim": {"claimName": "team-lustre"}} in pod["volumes"]


def test_the_rayjob_ships_its_training_script_and_runs_it_on_the_head():
    config_map, job = rayjob_docs()
    assert config_map["kind"] == "ConfigMap"
    script = config_map["data"]["finetune.py"]
    compile(script, "finetune.py", "exec")  # valid Python
    assert "TorchTrainer" in script and "storage_path" in script
    assert job["spec"]["entrypoint"] == "python /code/finetune.py"
    assert {"name": "code", "configMap": {"name": config_map["metadata"]["name"]}} in head_pod(job)["volumes"]


# ---- security: token auth, private head, pinned images -------------------------------------------------


@pytest.mark.parametrize("make", [rayjob, raycluster], ids=["rayjob", "raycluster"])
def test_ray_heads_use_token_auth_and_stay_on_cluster_ip(make):
    cluster = cluster_spec(make())
    assert cluster["rayVersion"] == "2.52.0"
    assert cluster["authOptions"] == {"mode": "token"}
    assert cluster["headGroupSpec"]["serviceType"] == "ClusterIP"


def test_the_ray_examples_pass_the_ray_security_policy_in_prod():
    docs = [d for path in RAY_EXAMPLES for d in rendered()[path] if d["apiVersion"] == "ray.io/v1"]
    report = evaluate([as_plan_resource(d) for d in docs], "prod", None)
    assert report.of("sec-ray-001-ray-head-not-exposed") == []


def test_the_policy_would_catch_a_ray_example_without_token_auth():
    job = rayjob()
    del job["spec"]["rayClusterSpec"]["authOptions"]
    assert evaluate([as_plan_resource(job)], "prod", None).of("sec-ray-001-ray-head-not-exposed")


def test_ray_images_and_version_come_from_the_spec():
    overrides = {
        "training": {
            "examples": {"rayImage": "registry.example.com/ray:2.53.0-gpu", "rayNeuronImage": "registry.example.com/ray-neuron:2.53.0", "rayVersion": "2.53.0"}
        }
    }
    job = ray_manifest("train/ray-finetune.yaml", **overrides)
    cluster = ray_manifest("train/ray-trainium.yaml", **overrides)
    assert {c["image"] for pod in (head_pod(job), worker_pod(job)) for c in pod["containers"]} == {"registry.example.com/ray:2.53.0-gpu"}
    assert {c["image"] for pod in (head_pod(cluster), worker_pod(cluster)) for c in pod["containers"]} == {"registry.example.com/ray-neuron:2.53.0"}
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == cluster["spec"]["rayVersion"] == "2.53.0"


@pytest.mark.parametrize(
    "examples, path",
    [
        ({"rayVersion": "2.49.0"}, "crucible:training.examples.rayVersion"),
        ({"rayVersion": "latest"}, "crucible:training.examples.rayVersion"),
        ({"rayImage": "rayproject/ray"}, "crucible:training.examples.rayImage"),
        ({"rayNeuronImage": "neuron image"}, "crucible:training.examples.rayNeuronImage"),
        ({"rayModel": "qwen 0.5b"}, "crucible:training.examples.rayModel"),
    ],
)
def test_bad_ray_example_settings_name_the_key(examples, path):
    assert path in problems(training={"examples": examples})


# ---- which stacks render what ------------------------------------------------------------------------


def test_the_trainium_raycluster_needs_a_neuron_training_pool():
    assert "train/ray-trainium.yaml" not in rendered(stack_pools=[GPU_TRAIN, SERVE])
    assert "train/ray-finetune.yaml" not in rendered(stack_pools=[TRN_TRAIN])
    assert render_examples(spec_of("dev"), load_catalog()) == {}


@pytest.mark.parametrize("stack, path", [("train-p5", "train/ray-finetune.yaml"), ("trainium", "train/ray-trainium.yaml")])
def test_the_shipped_presets_render_their_ray_example(stack, path):
    from stacks.tools.plan.locate import config_path
    from stacks.spec.loader import load_stack_file

    spec, _, _ = load_stack_file(config_path(stack))
    docs = render_examples(spec)[path]
    for manifest in docs:
        if manifest["apiVersion"] == "ray.io/v1":
            upstream.assert_valid(manifest)


def test_with_kuberay_disabled_no_ray_example_renders():
    out = rendered(addons={"kuberay": {"enabled": False}})
    ray_paths = {p for p, docs in rendered().items() if any(d["apiVersion"] == "ray.io/v1" for d in docs)}
    assert ray_paths >= set(RAY_EXAMPLES)
    assert not ray_paths & set(out)
    assert "serve/prompt-lab.yaml" not in out  # the app talks to a RayService
    assert set(out) == {"train/gpu-smoke.yaml", "train/pytorch-efa.yaml", "train/mpi-nccl-allreduce.yaml"}


# ---- the operator add-on -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod_run():
    return plan("prod")


def test_the_operator_release_is_pinned_to_1_7_0_from_the_kuberay_helm_repo(prod_run):
    release = prod_run.one(RELEASE, "kuberay-operator")
    assert (release.inputs["chart"], release.inputs["version"]) == ("kuberay-operator", "1.7.0")
    assert release.inputs["repositoryOpts"]["repo"] == "https://ray-project.github.io/kuberay-helm/"


def test_helm_installs_the_crds_server_side_and_no_batch_scheduler_competes_with_kueue(prod_run):
    release = prod_run.one(RELEASE, "kuberay-operator")
    assert release.inputs.get("skipCrds", False) is False
    # no batch scheduler: the chart's default, as rendered (Helm 3.17.3 on the vendored chart)
    from rendered import objects, pod_spec, release_of

    (operator,) = objects(release_of("prod", "kuberay-operator"), "Deployment")
    args = [a for c in pod_spec(operator)["containers"] for a in c.get("args", [])]
    assert args and not [a for a in args if "batch-scheduler" in a]


def test_the_operator_runs_on_the_system_nodes_with_bounded_resources(prod_run):
    values = prod_run.one(RELEASE, "kuberay-operator").inputs["values"]
    assert set(values["nodeSelector"]) == {POOL_LABEL}
    assert values["resources"]["requests"] and values["resources"]["limits"]["memory"]


def test_the_operator_values_are_keys_the_chart_knows():
    from addons.kuberay import KubeRayOperatorArgs, kuberay_values

    known = {"nodeSelector", "tolerations", "resources", "metrics"}
    assert set(kuberay_values(KubeRayOperatorArgs(version="1.7.0", system_pool="system"))) <= known


def test_the_operator_namespace_enforces_restricted_pod_security(prod_run):
    ns = prod_run.one("kubernetes:core/v1:Namespace", "kuberay-operator-namespace")
    labels = ns.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    release = prod_run.one(RELEASE, "kuberay-operator")
    assert release.parent == prod_run.one("crucible:platform:KubeRayOperator").urn


def test_the_service_monitor_follows_the_observability_addon(prod_run):
    assert prod_run.one(RELEASE, "kuberay-operator").inputs["values"]["metrics"]["serviceMonitor"]["enabled"] is True
    dev = plan("dev")  # observability is off in dev
    assert dev.one(RELEASE, "kuberay-operator").inputs["values"]["metrics"]["serviceMonitor"]["enabled"] is False


def test_the_stack_exports_the_operator_version(prod_run):
    assert prod_run.outputs["addons"]["kuberay"] == {"namespace": "kuberay-system", "version": "1.7.0"}


def test_the_operator_passes_the_ray_policy(prod_run):
    release = prod_run.one(RELEASE, "kuberay-operator")
    report = evaluate([release.to_json()], "prod", None)
    assert report.of("sec-ray-001-ray-head-not-exposed") == []


def test_disabling_kuberay_removes_the_operator():
    run = plan("dev", addons={"kuberay": {"enabled": False}})
    assert not run.of_type("crucible:platform:KubeRayOperator")
    assert not [r for r in run.of_type(RELEASE) if r.inputs.get("chart") == "kuberay-operator"]


@pytest.mark.parametrize("version", ["latest", "v1.7.0", "1.7"])
def test_an_unpinned_kuberay_version_is_a_config_error_naming_the_key(version):
    assert "crucible:addons.kuberay.version" in problems(addons={"kuberay": {"version": version}})


# ---- crucible examples ---------------------------------------------------------------------------------


def test_crucible_examples_writes_the_train_p5_examples_and_lists_them(tmp_path, capsys):
    assert main(["examples", "train-p5", "--out", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml"))
    assert written == ["train/gpu-smoke.yaml", "train/mpi-nccl-allreduce.yaml", "train/pytorch-efa.yaml", "train/ray-finetune.yaml"]
    out, err = capsys.readouterr()
    assert all(str(tmp_path / p) in out for p in written)
    assert "skipped train/ray-trainium.yaml: needs a neuron training pool and the KubeRay operator" in err
    kinds = [d["kind"] for d in yaml.safe_load_all((tmp_path / "train/ray-finetune.yaml").read_text()) if d]
    assert kinds == ["ConfigMap", "RayJob"]


def test_crucible_examples_exits_2_on_an_unknown_stack(tmp_path, capsys):
    assert main(["examples", "nope", "--out", str(tmp_path)]) == 2
    assert "Pulumi.nope.yaml" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_crucible_examples_exits_2_on_bad_config_naming_the_key(tmp_path, capsys):
    from helpers import REPO

    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(
        (REPO / "stacks" / "Pulumi.train-p5.yaml")
        .read_text()
        .replace("crucible:pools:", "crucible:addons:\n    kuberay:\n      version: latest\n  crucible:pools:")
    )
    assert main(["examples", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "crucible:addons.kuberay.version" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_example_is_listed_once():
    paths = [e.path for e in EXAMPLES]
    assert len(paths) == len(set(paths)) and set(RAY_EXAMPLES) <= set(paths)


def test_trainium_pods_install_exactly_the_ray_version_unless_the_image_has_it():
    cluster = raycluster()
    containers = [cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0], worker_pod(cluster)["containers"][0]]
    for container in containers:
        (command,) = container["args"]
        check, install = command.split(" || ")
        assert "ray.__version__ != '2.52.0'" in check  # an older Ray in the image would ignore token auth
        assert install == 'pip install --no-cache-dir "ray[default]==2.52.0"'
