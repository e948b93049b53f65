"""Training operators, the load balancer controller and the example jobs/services teams submit."""

from __future__ import annotations

import json

import pytest
import yaml

import upstream
from stacks.tools.examples import EXAMPLES, render_examples, write_examples
from stacks.tools.examples.serving import Exposure, app_ingress, llm_rayservice
from stacks.tools.examples.shapes import NodeShape
from components.catalog import load_catalog
from addons.training_operators import torch_efa_runtime
from stacks.tools.examples.training import OBSOLETE_EFA_ENV, mpi_nccl_job, pytorch_trainjob
from components.labels import QUEUE_LABEL
from addons.load_balancer_controller import controller_policy
from helpers import plan, spec_of
from stacks.spec import ConfigError

CERT = "arn:aws:acm:us-east-1:111122223333:certificate/0f0e0d0c-0b0a-4999-8888-777766665555"

POOLS = [
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": "v20251108"},
    {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
    {"name": "inf", "kind": "neuron", "workload": "serving", "instanceTypes": ["inf2.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
    # Ray heads and the prompt app: a cpu pool (the system nodes are tainted for platform pods only)
    {"name": "cpu", "kind": "cpu", "workload": "serving", "instanceTypes": ["m7i.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"},
]


@pytest.fixture
def catalog():
    return load_catalog()


SHAPE = NodeShape(pool="train", kind="gpu", instance_type="x.test", accelerators=3, efa_interfaces=5, vcpu=48, memory_gib=400)


def trainjob(**kw):
    return pytorch_trainjob(SHAPE, queue="team-a", nodes=2, checkpoint_claim="ckpt", image="img:1", **kw)


def mpijob():
    return mpi_nccl_job(SHAPE, queue="team-a", nodes=2, checkpoint_claim="ckpt", image="img:1")


def pod_specs(manifest: dict) -> list[dict]:
    """Every pod spec in a TrainJob patch, MPIJob or RayService."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "containers" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(manifest)
    return found


def env_names(manifest: dict) -> set[str]:
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for item in node.get("env") or []:
                names.add(item["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(manifest)
    return names


# ---- manifests are valid upstream, strictly ---------------------------------------------------------


@pytest.mark.parametrize(
    "manifest",
    [
        torch_efa_runtime("img:1"),
        trainjob(),
        mpijob(),
        llm_rayservice(SHAPE, head_pool="cpu", name="llm-gpu", model="m/x", image="i:1", min_replicas=1, max_replicas=3),
        llm_rayservice(
            NodeShape("inf", "neuron", "y.test", 1, 0, vcpu=4, memory_gib=16),
            head_pool="cpu",
            name="llm-neuron",
            model="m/x",
            image="i:1",
            min_replicas=0,
            max_replicas=2,
        ),
    ],
    ids=["runtime", "trainjob", "mpijob", "rayservice-gpu", "rayservice-neuron"],
)
def test_example_manifests_validate_strictly_against_the_upstream_crds(manifest):
    upstream.assert_valid(manifest)


def test_strict_validation_rejects_a_field_upstream_does_not_know():
    job = mpijob()
    job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["gpus"] = 8
    assert any("gpus" in e for e in upstream.errors(job))


# ---- the jobs: queue, placement, devices, env ---------------------------------------------------------


@pytest.mark.parametrize("job", [trainjob(), mpijob()], ids=["trainjob", "mpijob"])
def test_jobs_are_submitted_through_the_teams_local_queue(job):
    assert job["metadata"]["labels"][QUEUE_LABEL] == "team-a"


@pytest.mark.parametrize("job", [trainjob(), mpijob()], ids=["trainjob", "mpijob"])
def test_jobs_run_on_their_pool_and_tolerate_the_accelerator_taint(job):
    workers = [p for p in pod_specs(job) if "nodeSelector" in p]
    assert workers
    for pod in workers:
        assert pod["nodeSelector"]["karpenter.sh/nodepool"] == "train"
        assert pod["nodeSelector"]["node.kubernetes.io/instance-type"] == "x.test"
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_mpi_workers_ask_for_every_efa_device_and_all_gpus_but_no_huge_pages():
    worker = mpijob()["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    # cpu: 48 vCPUs less 1/16; memory: 85% of 400 GiB (the rest for the kubelet and DaemonSets); no huge pages:
    # Karpenter models none (tests/test_examples_run.py)
    assert worker["resources"]["limits"] == {"cpu": "45", "memory": "340Gi", "nvidia.com/gpu": "3", "vpc.amazonaws.com/efa": "5"}
    assert worker["resources"]["requests"] == worker["resources"]["limits"]
    assert mpijob()["spec"]["slotsPerWorker"] == 3


def test_trainjob_asks_for_every_efa_device_per_node_and_mounts_the_checkpoint_claim():
    spec = trainjob()["spec"]
    assert spec["trainer"]["resourcesPerNode"]["limits"]["vpc.amazonaws.com/efa"] == "5"
    assert spec["trainer"]["numNodes"] == 2
    pod = pod_specs(spec["runtimePatches"][0])[0]
    assert {"name": "checkpoints", "persistentVolumeClaim": {"claimName": "ckpt"}} in pod["volumes"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime", "name": "torch-distributed-efa"}


def test_mpi_workers_mount_the_checkpoint_claim():
    pod = mpijob()["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]
    assert {"name": "checkpoints", "persistentVolumeClaim": {"claimName": "ckpt"}} in pod["volumes"]


@pytest.mark.parametrize("manifest", [torch_efa_runtime("img:1"), trainjob(), mpijob()], ids=["runtime", "trainjob", "mpijob"])
def test_no_obsolete_efa_or_nccl_environment_is_set(manifest):
    names = env_names(manifest)
    assert names  # the walk sees the env at all
    assert not names & set(OBSOLETE_EFA_ENV)
    assert not any("FI_EFA_USE_DEVICE_RDMA" in arg or "FI_PROVIDER" in arg for arg in json.dumps(manifest).split('"'))


def test_efa_device_count_is_the_catalog_maximum_for_the_pools_instance_type():
    spec = spec_of("dev", pools=POOLS)
    facts = load_catalog().get("p5.48xlarge")
    (job,) = render_examples(spec)["train/mpi-nccl-allreduce.yaml"]
    limits = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert int(limits["vpc.amazonaws.com/efa"]) == facts.efa_interfaces
    assert int(limits["nvidia.com/gpu"]) == facts.accelerator_count


# ---- the registry `crucible examples` iterates --------------------------------------------------------


def test_examples_render_from_the_spec_with_its_queue_claim_and_pool(catalog, tmp_path):
    trainium = {
        "name": "trn",
        "kind": "neuron",
        "workload": "training",
        "instanceTypes": ["trn1.32xlarge"],
        "efa": True,
        "maxNodes": 2,
        "amiVersion": "v20251108",
    }
    spec = spec_of("dev", pools=[*POOLS, trainium], training={"examples": {"queue": "ml-team", "checkpointClaim": "team-lustre"}})
    written = write_examples(spec, tmp_path, catalog)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(e.path for e in EXAMPLES)
    (mpi,) = yaml.safe_load_all((tmp_path / "train/mpi-nccl-allreduce.yaml").read_text())
    assert mpi["metadata"]["labels"][QUEUE_LABEL] == "ml-team"
    assert mpi["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["volumes"][1]["persistentVolumeClaim"]["claimName"] == "team-lustre"
    for docs in render_examples(spec, catalog).values():
        for manifest in docs:
            if upstream.has_crd(manifest["apiVersion"], manifest["kind"]):
                upstream.assert_valid(manifest)


def test_examples_need_a_pool_to_run_on(catalog):
    assert render_examples(spec_of("dev"), catalog) == {}


def test_the_neuron_twin_requests_neuron_devices_on_the_neuron_pool(catalog):
    (service,) = render_examples(spec_of("dev", pools=POOLS), catalog)["serve/llm-neuron.yaml"]
    (worker,) = service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    pod = worker["template"]["spec"]
    assert pod["nodeSelector"] == {"karpenter.sh/nodepool": "inf", "node.kubernetes.io/instance-type": "inf2.xlarge"}
    assert pod["containers"][0]["resources"]["limits"]["aws.amazon.com/neuron"] == "1"
    assert {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert "device: neuron" in service["spec"]["serveConfigV2"]


def test_rayservice_autoscales_between_the_configured_replicas(catalog):
    spec = spec_of("dev", pools=POOLS, serving={"examples": {"minReplicas": 2, "maxReplicas": 6}})
    (service,) = render_examples(spec, catalog)["serve/llm-gpu.yaml"]
    assert service["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is True
    (worker,) = service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert (worker["minReplicas"], worker["maxReplicas"]) == (2, 6)
    autoscaling = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"][0]["args"]["llm_configs"][0]["deployment_config"]["autoscaling_config"]
    assert (autoscaling["min_replicas"], autoscaling["max_replicas"]) == (2, 6)


def test_the_gpu_llm_exports_the_vllm_engine_metrics_the_serving_dashboard_reads(catalog):
    # Ray 2.49.0 installs vLLM's RayPrometheusStatLogger (the ray_vllm:* series of crucible-serving and the
    # ServingKvCacheSaturated alert) only with log_engine_metrics, default false (ray/llm/_internal/serve/configs/
    # server_models.py); it is V1-only, so the Neuron twin (vLLM 0.9.1) does not set it.
    examples = render_examples(spec_of("dev", pools=POOLS), catalog)
    llm_config = {
        name: yaml.safe_load(service["spec"]["serveConfigV2"])["applications"][0]["args"]["llm_configs"][0]
        for name in ("serve/llm-gpu.yaml", "serve/llm-neuron.yaml")
        for service in examples[name]
    }
    assert llm_config["serve/llm-gpu.yaml"]["log_engine_metrics"] is True
    assert "log_engine_metrics" not in llm_config["serve/llm-neuron.yaml"]


# ---- exposure -----------------------------------------------------------------------------------------


def test_serving_examples_are_private_by_default(catalog):
    docs = render_examples(spec_of("prod", pools=POOLS), catalog)["serve/prompt-lab.yaml"]
    services = [d for d in docs if d["kind"] == "Service"]
    (ingress,) = [d for d in docs if d["kind"] == "Ingress"]
    assert services and all(s["spec"]["type"] == "ClusterIP" for s in services)
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert ingress["metadata"]["labels"]["crucible.io/exposure"] == "private"


def test_public_exposure_is_https_only_with_the_certificate_and_allowed_cidrs(catalog):
    spec = spec_of("prod", pools=POOLS, serving={"exposure": "public", "certificateArn": CERT, "publicCidrs": ["198.51.100.0/24"]})
    (ingress,) = [d for d in render_examples(spec, catalog)["serve/prompt-lab.yaml"] if d["kind"] == "Ingress"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == CERT
    assert json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTPS": 443}]
    assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "198.51.100.0/24"
    assert ingress["metadata"]["labels"]["crucible.io/exposure"] == "public"


def test_public_exposure_without_a_certificate_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError) as error:
        spec_of("prod", serving={"exposure": "public"})
    assert [p.path for p in error.value.problems] == ["crucible:serving.certificateArn"]


def test_the_renderer_refuses_public_exposure_without_a_certificate_too():
    with pytest.raises(ValueError, match="certificate"):
        app_ingress(Exposure(mode="public"))


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"serving": {"certificateArn": "arn:aws:iam::1:server-certificate/x"}}, "crucible:serving.certificateArn"),
        ({"serving": {"exposure": "internet"}}, "crucible:serving.exposure"),
        ({"training": {"examples": {"pool": "nope"}}}, "crucible:training.examples.pool"),
        ({"training": {"examples": {"pool": "serve"}}, "pools": POOLS}, "crucible:training.examples.pool"),
        ({"addons": {"trainer": {"enabled": False}}}, "crucible:training.runtimes"),
        ({"addons": {"mpiOperator": {"version": "latest"}}}, "crucible:addons.mpiOperator.version"),
        ({"serving": {"examples": {"minReplicas": 5, "maxReplicas": 2}}}, "crucible:serving.examples.minReplicas"),
        ({"serving": {"examples": {"model": "mistral"}}}, "crucible:serving.examples.model"),
    ],
)
def test_bad_training_and_serving_config_names_the_key(overrides, path):
    with pytest.raises(ConfigError) as error:
        spec_of("dev", **overrides)
    assert path in [p.path for p in error.value.problems]


def test_training_config_in_a_stack_without_the_platform_layer_is_an_error():
    with pytest.raises(ConfigError) as error:
        spec_of("prod", layers=["network", "cluster"], training={"resume": {"maxRestarts": 2}})
    assert [p.path for p in error.value.problems] == ["crucible:training"]


# ---- what the platform layer registers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_plan():
    return plan("dev")


def test_operators_and_controller_are_top_level_platform_components(dev_plan):
    for token in ("crucible:platform:MpiOperator", "crucible:platform:KubeflowTrainer", "crucible:platform:LoadBalancerController"):
        (component,) = dev_plan.of_type(token)
        assert "::pulumi:pulumi:Stack::" in component.parent, component.parent  # a direct child of the stack


def test_each_operator_is_a_toggle():
    run = plan(
        "dev",
        training={"runtimes": []},
        addons={"mpiOperator": {"enabled": False}, "trainer": {"enabled": False}, "loadBalancerController": {"enabled": False}, "kuberay": {"enabled": False}},
    )
    assert not [r for r in run.resources if r.type.startswith("crucible:platform:")]
    assert not [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if "crucible:platform:" in r.urn]


def test_trainer_chart_is_pinned_and_ships_the_efa_runtime_not_upstream_defaults(dev_plan):
    release = dev_plan.one("kubernetes:helm.sh/v3:Release", "kubeflow-trainer")
    assert release.inputs["chart"] == "oci://ghcr.io/kubeflow/charts/kubeflow-trainer"
    assert release.inputs["version"] == "2.3.0"
    from rendered import objects, release_of

    assert not objects(release_of("dev", "kubeflow-trainer"), "ClusterTrainingRuntime")  # no upstream runtimes
    runtime = dev_plan.one("kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime")
    assert runtime.inputs["metadata"]["name"] == "torch-distributed-efa"
    upstream.assert_valid({k: runtime.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")})


def runtime_image(run) -> str:
    runtime = run.one("kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime")
    (job,) = runtime.inputs["spec"]["template"]["spec"]["replicatedJobs"]
    (container,) = job["template"]["spec"]["template"]["spec"]["containers"]
    return container["image"]


def test_the_deployed_runtime_defaults_to_the_pytorch_image_of_the_examples(dev_plan):
    spec = spec_of("dev")
    assert runtime_image(dev_plan) == spec.addons.trainer.runtime_image == spec.training.examples.pytorch_image


def test_the_deployed_runtime_takes_its_own_image_setting_not_the_examples():
    # The ClusterTrainingRuntime is platform (deployed by `pulumi up`); the example TrainJob names its own image.
    addons = {"trainer": {"runtimeImage": "registry.example.com/ml/pytorch-efa:2.8.0"}}
    training = {"examples": {"pytorchImage": "registry.example.com/ml/job:1"}}
    assert runtime_image(plan("dev", pools=POOLS[:1], training=training, addons=addons)) == "registry.example.com/ml/pytorch-efa:2.8.0"
    (job,) = render_examples(spec_of("dev", pools=POOLS[:1], training=training, addons=addons))["train/pytorch-efa.yaml"]
    assert job["spec"]["trainer"]["image"] == "registry.example.com/ml/job:1"


def test_a_runtime_image_that_is_not_an_image_reference_is_refused():
    with pytest.raises(ConfigError) as error:
        spec_of("dev", addons={"trainer": {"runtimeImage": "not an image"}})
    (problem,) = error.value.problems
    assert problem.path == "crucible:addons.trainer.runtimeImage" and "not an image" in problem.message


def test_mpi_operator_is_pinned_runs_on_system_nodes_and_serves_mpijob_v2beta1(dev_plan):
    deployment = dev_plan.one("kubernetes:apps/v1:Deployment", "mpi-operator-controller")
    pod = deployment.inputs["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "mpioperator/mpi-operator:0.8.2"
    assert pod["nodeSelector"] == {"crucible.io/pool": "system"}
    crd = dev_plan.one("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert crd.inputs["spec"]["group"] == "kubeflow.org"
    assert [(v["name"], v["served"], v["storage"]) for v in crd.inputs["spec"]["versions"]] == [("v2beta1", True, True)]
    assert not [r for r in dev_plan.resources if "training-operator" in r.name or "PyTorchJob" in r.type]


def test_load_balancer_controller_role_is_trusted_by_pod_identity_only(dev_plan):
    controller = dev_plan.one("crucible:platform:LoadBalancerController")
    (role_component,) = [r for r in dev_plan.children_of(controller.urn) if r.type == "crucible:identity:PodIdentityRole"]
    role = [r for r in dev_plan.children_of(role_component.urn) if r.type == "aws:iam/role:Role"][0]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "pods.eks.amazonaws.com"}]
    association = [r for r in dev_plan.children_of(role_component.urn) if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"][0]
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("kube-system", "aws-load-balancer-controller")


def test_load_balancer_controller_values_need_no_instance_metadata(dev_plan):
    release = dev_plan.one("kubernetes:helm.sh/v3:Release", "aws-load-balancer-controller")
    values = release.inputs["values"]
    assert values["clusterName"] == "crucible-test"
    assert values["region"] == "us-west-2"
    assert values["vpcId"].endswith("-id")  # the network layer's VPC
    assert values["nodeSelector"] == {"crucible.io/pool": "system"}
    assert values["serviceAccount"]["name"] == "aws-load-balancer-controller"
    assert release.inputs["version"] == "3.5.0"
    assert release.inputs["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"


def test_private_exposure_makes_internal_the_default_and_enforces_it_on_the_ingress_class(dev_plan):
    values = dev_plan.one("kubernetes:helm.sh/v3:Release", "aws-load-balancer-controller").inputs["values"]
    assert values["defaultLoadBalancerScheme"] == "internal"
    assert values["ingressClassParams"]["spec"] == {"scheme": "internal"}


def test_public_exposure_lifts_the_ingress_class_enforcement_but_keeps_internal_default():
    run = plan("dev", serving={"exposure": "public", "certificateArn": CERT})
    values = run.one("kubernetes:helm.sh/v3:Release", "aws-load-balancer-controller").inputs["values"]
    assert values["defaultLoadBalancerScheme"] == "internal"
    assert "ingressClassParams" not in values  # the chart's IngressClassParams, with no scheme pinned
    assert run.outputs["workloads"]["exposure"] == "public"


def test_controller_policy_only_mutates_load_balancers_and_security_groups_tagged_for_this_cluster():
    policy = controller_policy(partition="aws", region="us-east-1", account="123456789012", cluster_name="c1", vpc_id="vpc-1")
    for statement in policy["Statement"]:
        actions = statement["Action"]
        destructive = [a for a in actions if a.split(":")[1].startswith(("Delete", "Modify", "Set")) and a != "elasticloadbalancing:SetRulePriorities"]
        if any(a.startswith("ec2:") for a in destructive) or any(
            a in ("elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DeleteTargetGroup") for a in destructive
        ):
            assert statement["Condition"]["StringEquals"]["aws:ResourceTag/elbv2.k8s.aws/cluster"] == "c1", statement["Sid"]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for arn in resources:
            assert arn == "*" or ":us-east-1:123456789012:" in arn, (statement["Sid"], arn)
    creates = [s for s in policy["Statement"] if "elasticloadbalancing:CreateLoadBalancer" in s["Action"]]
    assert creates[0]["Condition"] == {"StringEquals": {"aws:RequestTag/elbv2.k8s.aws/cluster": "c1"}}


def test_controller_policy_in_the_plan_is_attached_to_its_role(dev_plan):
    (policy,) = [r for r in dev_plan.of_type("aws:iam/rolePolicy:RolePolicy") if "load-balancer" in r.name]
    document = json.loads(policy.inputs["policy"])
    sids = {s["Sid"] for s in document["Statement"]}
    assert {"CreateOwnLoadBalancers", "ManageOwnLoadBalancers", "Targets"} <= sids


def test_examples_command_writes_nothing_for_a_stack_without_pools(tmp_path, capsys):
    from stacks.tools.cli import main

    # prod-core builds network and cluster only (dev, which has pools, gets a GPU check: tests/test_examples_run.py)
    assert main(["examples", "prod-core", "--out", str(tmp_path)]) == 0
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
    assert "no pools" in capsys.readouterr().err


def test_no_ingress_without_the_load_balancer_controller(catalog):
    spec = spec_of("dev", pools=POOLS, addons={"loadBalancerController": {"enabled": False}})
    docs = render_examples(spec, catalog)["serve/prompt-lab.yaml"]
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment", "Service"]


def test_a_pool_stated_by_family_is_cut_to_its_first_catalog_type():
    from stacks.tools.examples.shapes import shape_of

    pool = spec_of("dev", pools=[{**POOLS[0], "instanceTypes": ["p5"]}]).pools[0]
    shape = shape_of(pool)
    facts = load_catalog().get(shape.instance_type)
    assert shape.instance_type.startswith("p5.") and (shape.accelerators, shape.efa_interfaces) == (facts.accelerator_count, facts.efa_interfaces)


def _containers(manifests: list[dict]) -> list[dict]:
    return [c for m in manifests for pod in pod_specs(m) for c in pod["containers"]]


@pytest.mark.parametrize("stack", ["train-p5", "trainium", "inference", "prod"])
def test_every_example_pod_asking_for_devices_is_guaranteed_and_fits_its_node(stack):
    """A container without a memory limit would get the team LimitRange's small default: every device-using
    container states cpu and memory, requests equal to limits, within the instance type the pod is pinned to."""
    from stacks.tools.plan.locate import config_path
    from stacks.spec.loader import load_stack_file

    spec, _, _ = load_stack_file(config_path(stack))
    checked = 0
    for manifests in render_examples(spec).values():
        for pod in (p for m in manifests for p in pod_specs(m)):
            pinned = (pod.get("nodeSelector") or {}).get("node.kubernetes.io/instance-type")
            for container in pod["containers"]:
                resources = container.get("resources") or {}
                limits = resources.get("limits") or {}
                if not any(k in limits for k in ("nvidia.com/gpu", "aws.amazon.com/neuron", "vpc.amazonaws.com/efa", "hugepages-2Mi")):
                    continue
                assert resources.get("requests") == limits, container["name"]
                facts = load_catalog().get(pinned)  # a device-using pod is pinned to one instance type
                assert 0 < int(limits["cpu"]) < facts.vcpu and 0 < int(limits["memory"].removesuffix("Gi")) < facts.memory_gib
                checked += 1
    assert checked  # the stack renders device-using examples at all


def test_a_serving_replica_takes_one_accelerators_share_of_a_small_node():
    (service,) = render_examples(spec_of("dev", pools=POOLS))["serve/llm-gpu.yaml"]
    worker = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    facts = load_catalog().get("g6e.xlarge")  # 4 vCPUs, 1 GPU
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert int(worker["resources"]["limits"]["cpu"]) < facts.vcpu and int(worker["resources"]["limits"]["memory"].removesuffix("Gi")) < facts.memory_gib


def test_written_examples_carry_no_yaml_anchors(tmp_path):
    for path in write_examples(spec_of("dev", pools=POOLS), tmp_path):
        assert "&id" not in path.read_text() and "*id" not in path.read_text(), path.name


def test_a_serving_replica_lands_on_the_pools_roomiest_type_per_accelerator():
    # A served model's weights pass through host memory: prod's inf pool (inf2.xlarge, inf2.8xlarge) serves from
    # the type with the most memory per Neuron device, and the replica is pinned to it.
    spec = spec_of("dev", pools=[{**POOLS[2], "instanceTypes": ["inf2.xlarge", "inf2.8xlarge"]}, POOLS[3]])
    (service,) = render_examples(spec)["serve/llm-neuron.yaml"]
    pod = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]
    roomiest = max(("inf2.xlarge", "inf2.8xlarge"), key=lambda t: load_catalog().get(t).memory_gib / load_catalog().get(t).accelerator_count)
    assert pod["nodeSelector"]["node.kubernetes.io/instance-type"] == roomiest
    memory = int(pod["containers"][0]["resources"]["limits"]["memory"].removesuffix("Gi"))
    assert memory > load_catalog().get("inf2.xlarge").memory_gib  # more than the smallest type could hold at all


def test_without_a_file_system_the_jobs_checkpoint_to_scratch_not_to_a_claim_nobody_created():
    spec = spec_of("dev", pools=POOLS, storage={"lustre": {"enabled": False}})
    rendered = render_examples(spec)
    text = json.dumps(rendered)
    checkpoints = text.count('"name": "checkpoints", "emptyDir": {}}')
    assert checkpoints >= 4  # TrainJob, MPIJob workers, the RayJob's head and workers
    assert '"name": "checkpoints", "persistentVolumeClaim"' not in text
