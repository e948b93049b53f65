"""The example workloads can run: what they ask of a node exists there, their launchers start every rank, they land
off the system nodes, and `crucible examples` writes files a team can read and submit on every shipped stack."""

from __future__ import annotations

import functools
import json

import pytest
import yaml

from stacks.tools.examples import render_examples
from addons.training_operators import torch_efa_runtime
from helpers import spec_of
from stacks.derive.quotas import plan_queues
from stacks.tools.plan.locate import config_path
from stacks.spec.loader import load_stack_file

SHIPPED = ["dev", "staging", "prod", "prod-platform", "inference", "research", "train-p5", "trainium"]
EFA_STACKS = ["staging", "prod", "prod-platform", "train-p5", "trainium"]


@functools.lru_cache(maxsize=None)
def shipped_spec(stack: str):
    spec, _, _ = load_stack_file(config_path(stack))
    return spec


@functools.lru_cache(maxsize=None)
def shipped_examples(stack: str) -> dict[str, list[dict]]:
    return render_examples(shipped_spec(stack))


def walk(node):
    """Every dict inside a manifest, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def resource_maps(manifest: dict) -> list[dict]:
    """Every requests/limits map of a manifest: containers' resources and a TrainJob's resourcesPerNode."""
    return [d[key] for d in walk(manifest) for key in ("requests", "limits") if isinstance(d.get(key), dict)]


def env_of(node: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in node.get("env") or []}


# ---- defect 1: no huge pages (Karpenter models none), libfabric told not to use them ---------------------------


@pytest.mark.parametrize("stack", EFA_STACKS)
def test_no_example_asks_for_huge_pages_karpenter_never_provides(stack):
    """aws/karpenter-provider-aws#3315, kubernetes-sigs/karpenter#751: Karpenter's instance types have no
    hugepages-* capacity, so a pod requesting them is never given a node (Pending for ever, admitted by Kueue)."""
    rendered = shipped_examples(stack)
    assert rendered, f"{stack} renders examples"
    for path, manifests in rendered.items():
        for amounts in (m for manifest in manifests for m in resource_maps(manifest)):
            assert not [k for k in amounts if k.startswith("hugepages-")], (stack, path, amounts)


def test_the_deployed_efa_training_runtime_asks_for_no_huge_pages_and_disables_them_in_libfabric():
    runtime = torch_efa_runtime("img:1")
    assert not [k for m in resource_maps(runtime) for k in m if k.startswith("hugepages-")]
    (container,) = [c for d in walk(runtime) for c in d.get("containers") or []]
    assert env_of(container)["FI_EFA_USE_HUGE_PAGE"] == "0"


def efa_users(manifest: dict) -> list[dict]:
    """Containers (and TrainJob trainers) asking for EFA devices."""
    out = []
    for d in walk(manifest):
        for container in d.get("containers") or []:
            if "vpc.amazonaws.com/efa" in ((container.get("resources") or {}).get("limits") or {}):
                out.append(container)
        trainer = d.get("trainer")
        if isinstance(trainer, dict) and "vpc.amazonaws.com/efa" in trainer.get("resourcesPerNode", {}).get("limits", {}):
            out.append(trainer)
    return out


@pytest.mark.parametrize("stack", EFA_STACKS)
def test_every_example_pod_using_efa_tells_libfabric_not_to_take_buffers_from_huge_pages(stack):
    """libfabric's EFA provider allocates its internal buffers from huge pages unless FI_EFA_USE_HUGE_PAGE=0 (the
    preset for libfabric >= 1.18 / aws-ofi-nccl >= 1.7 in aws-samples/awsome-distributed-training
    1.architectures/efa-cheatsheet.md); the nodes reserve none. A TrainJob's trainer gets it from its runtime; a
    RayJob's workers from the job's runtime_env."""
    checked = 0
    for path, manifests in shipped_examples(stack).items():
        for manifest in manifests:
            users = efa_users(manifest)
            if not users:
                continue
            if manifest["kind"] == "TrainJob":
                checked += 1  # its container env comes from the runtime (tested above)
                continue
            if manifest["kind"] == "RayJob":
                runtime_env = yaml.safe_load(manifest["spec"]["runtimeEnvYAML"])
                assert runtime_env["env_vars"]["FI_EFA_USE_HUGE_PAGE"] == "0", path
                checked += 1
                continue
            for container in users:
                assert env_of(container).get("FI_EFA_USE_HUGE_PAGE") == "0", (path, container["name"])
                checked += 1
    assert checked


@pytest.mark.parametrize("stack", EFA_STACKS)
def test_no_queue_covers_huge_pages_so_kueue_never_admits_a_workload_asking_for_them(stack):
    spec = shipped_spec(stack)
    plan = plan_queues(spec.teams, spec.pools)
    assert not [r for r in plan.covered if r.startswith("hugepages-")]
    assert "hugepages" not in json.dumps(plan.cluster_queues)


# ---- defect 6: the nccl-tests launcher starts every rank with what NCCL, the OFI plugin and Open MPI need ------


def mpi_launcher(stack: str = "prod") -> dict:
    (job,) = shipped_examples(stack)["train/mpi-nccl-allreduce.yaml"]
    (container,) = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"]
    return container


def mpirun_argv(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def forwarded(argv: list[str]) -> set[str]:
    return {argv[i + 1].split("=", 1)[0] for i, arg in enumerate(argv[:-1]) if arg == "-x"}


def test_the_launcher_calls_mpirun_by_its_full_path():
    """Ranks are started through sshd with a bare environment: a bare `mpirun` relies on the launcher's PATH, and
    only an absolute mpirun makes Open MPI start its daemons from the same prefix on every node (the AWS
    nccl-tests MPIJob calls /opt/amazon/openmpi/bin/mpirun)."""
    argv = mpirun_argv(mpi_launcher())
    assert argv[0] == "/opt/amazon/openmpi/bin/mpirun"


def test_the_launcher_forwards_the_search_paths_of_nccl_the_ofi_plugin_open_mpi_and_libfabric():
    container = mpi_launcher()
    argv, env = mpirun_argv(container), env_of(container)
    assert {"PATH", "LD_LIBRARY_PATH", "OPAL_PREFIX"} <= forwarded(argv)
    libraries = env["LD_LIBRARY_PATH"].split(":")
    for needed in ("/opt/amazon/openmpi/lib", "/opt/nccl/build/lib", "/opt/amazon/efa/lib", "/opt/aws-ofi-nccl/install/lib"):
        assert needed in libraries
    assert "/opt/amazon/openmpi/bin" in env["PATH"].split(":")


def test_every_variable_the_launcher_forwards_is_set_on_it_with_a_literal_value():
    """`-x NAME` forwards the launcher's value: each must be set there, and with no shell `$VAR` in it
    (Kubernetes expands only $(VAR) of the same container; `$PATH:...` would reach the ranks verbatim)."""
    container = mpi_launcher()
    env = env_of(container)
    for name in forwarded(mpirun_argv(container)):
        assert env.get(name), name
        assert "$" not in env[name], (name, env[name])


def test_the_launcher_forwards_the_efa_and_nccl_environment_of_the_workers():
    job = shipped_examples("prod")["train/mpi-nccl-allreduce.yaml"][0]
    (worker,) = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    argv = mpirun_argv(mpi_launcher())
    assert {"NCCL_DEBUG", "FI_EFA_USE_HUGE_PAGE", "NCCL_SOCKET_IFNAME"} <= forwarded(argv)
    # what the worker container states is what the ranks get (they are children of sshd, not of the container)
    assert set(env_of(worker)) <= forwarded(argv)


def test_open_mpi_wires_up_over_tcp_on_the_pod_network_not_ucx():
    argv = mpirun_argv(mpi_launcher())
    mca = {argv[i + 1]: argv[i + 2] for i, arg in enumerate(argv[:-2]) if arg == "--mca"}
    assert mca["pml"] == "^ucx" and mca["btl"] == "tcp,self"
    assert "lo" in mca["btl_tcp_if_exclude"].split(",")


def test_workers_run_sshd_in_the_foreground_for_the_launcher_to_reach():
    job = shipped_examples("prod")["train/mpi-nccl-allreduce.yaml"][0]
    (worker,) = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    assert worker["command"] == ["/usr/sbin/sshd", "-De"]


# ---- defect 8: tenant pods never land on the system nodes; CPU work has a pool of its own -----------------------

SYSTEM_TOLERATION = {"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}


@functools.lru_cache(maxsize=None)
def shipped_plan(stack: str) -> dict:
    from helpers import shipped_report

    return shipped_report(stack)[0]


def tolerates(tolerations, taint: dict) -> bool:
    """Kubernetes' rule: a toleration matches a taint by key (or an empty key with Exists), effect (or none), and
    value unless the operator is Exists."""
    for t in tolerations or []:
        if t.get("key") not in (None, "", taint["key"]) or (not t.get("key") and t.get("operator") != "Exists"):
            continue
        if t.get("effect") not in (None, "", taint["effect"]):
            continue
        if t.get("operator", "Equal") == "Exists" or t.get("value") == taint.get("value"):
            return True
    return False


def system_node_group(stack: str) -> dict:
    (group,) = [r for r in shipped_plan(stack)["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup"]
    return group


def test_the_system_node_group_is_tainted_for_platform_pods_only():
    group = system_node_group("prod")
    assert group["inputs"]["labels"] == {"crucible.io/pool": "system"}
    assert {"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"} in group["inputs"]["taints"]


@pytest.mark.parametrize("stack", ["dev", "prod", "trainium"])
def test_every_platform_pod_placed_on_the_system_nodes_tolerates_their_taint(stack):
    """Whatever Crucible pins to the system node group (chart values and its own Deployments) must tolerate the
    taint, or it would stay Pending: each nodeSelector on crucible.io/pool=system has tolerations beside it."""
    taint = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}
    placed = []
    for resource in shipped_plan(stack)["resources"]:
        for d in walk(resource["inputs"]):
            if (d.get("nodeSelector") or {}).get("crucible.io/pool") == "system":
                placed.append(resource["name"])
                assert tolerates(d.get("tolerations"), taint), (resource["type"], resource["name"], d)
    # the controllers of a full stack: Karpenter, Kueue, KubeRay, the training operators, the load balancer controller
    assert {"karpenter", "kueue", "kuberay-operator", "mpi-operator-controller", "kubeflow-trainer", "aws-load-balancer-controller"} <= set(placed)


@pytest.mark.parametrize("stack", SHIPPED)
def test_no_example_pod_may_land_on_the_system_nodes_or_float_without_a_pool(stack):
    """Every example pod names the Karpenter pool it runs on, and none selects or tolerates the system nodes."""
    for path, manifests in shipped_examples(stack).items():
        for pod in (d for m in manifests for d in walk(m) if "containers" in d):
            selector = pod.get("nodeSelector") or {}
            assert selector.get("karpenter.sh/nodepool"), (stack, path, [c["name"] for c in pod["containers"]])
            assert "crucible.io/pool" not in selector
            assert not tolerates(pod.get("tolerations"), {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"})


@pytest.mark.parametrize("stack", ["prod", "inference"])
def test_ray_serve_heads_and_the_prompt_app_run_on_a_cpu_pool_not_an_accelerator_node(stack):
    spec = shipped_spec(stack)
    cpu = {p.name for p in spec.pools if p.kind == "cpu"}
    rendered = shipped_examples(stack)
    services = [m for path, ms in rendered.items() if path.startswith("serve/llm-") for m in ms]
    assert services
    for service in services:
        head = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
        assert head["nodeSelector"]["karpenter.sh/nodepool"] in cpu
        assert not head.get("tolerations")
    (deployment,) = [m for m in rendered["serve/prompt-lab.yaml"] if m["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["nodeSelector"]["karpenter.sh/nodepool"] in cpu


def test_serving_examples_without_a_cpu_pool_are_skipped_saying_so(capsys, tmp_path):
    from stacks.tools.examples import EXAMPLES

    spec = spec_of("dev", pools=[{"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 2}])
    assert not [p for p in render_examples(spec) if p.startswith("serve/")]
    assert all("cpu pool" in e.needs for e in EXAMPLES if e.path.startswith("serve/"))


@pytest.mark.parametrize("stack", [s for s in SHIPPED if s != "prod-core"])
def test_every_notebook_profile_of_a_shipped_hub_selects_a_pool(stack):
    from stacks.derive.profiles import notebook_profiles

    spec = shipped_spec(stack)
    hub = spec.addons.jupyterhub
    if not hub.enabled:
        pytest.skip(f"{stack} has no JupyterHub")
    profiles = notebook_profiles(spec.pools, which=hub.accelerator_profiles, default_pool=hub.default_pool)
    for profile in profiles:
        assert profile.node_selector.get("karpenter.sh/nodepool") in {p.name for p in spec.pools}, profile.slug


def test_a_hub_without_a_cpu_pool_is_refused_naming_the_key_and_what_to_add():
    from stacks.spec import ConfigError

    pools = [{"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 2}]
    with pytest.raises(ConfigError) as raised:
        spec_of("dev", pools=pools, addons={"jupyterhub": {"enabled": True}})
    (problem,) = [p for p in raised.value.problems if p.path == "crucible:addons.jupyterhub.enabled"]
    assert "no cpu pool" in problem.message and "serve (gpu)" in problem.message and "kind: cpu" in problem.message


# ---- `crucible examples` on every shipped stack: files a team can read, submit and trust -----------------------


@functools.lru_cache(maxsize=None)
def written(stack: str, out: str) -> tuple[int, str, tuple[str, ...]]:
    """(exit code, stderr, paths relative to out) of `crucible examples <stack> --out <out>`."""
    import contextlib
    import io
    from pathlib import Path

    from stacks.tools.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["examples", stack, "--out", out])
    return code, err.getvalue(), tuple(sorted(p.relative_to(out).as_posix() for p in Path(out).rglob("*.yaml")))


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("examples")


def files_of(stack: str, out_dir) -> dict[str, str]:
    target = out_dir / stack
    code, _, paths = written(stack, str(target))
    assert code == 0
    return {rel: (target / rel).read_text() for rel in paths}


@pytest.mark.parametrize("stack", [s for s in SHIPPED])
def test_examples_writes_something_to_run_on_every_shipped_stack_with_pools(stack, out_dir):
    files = files_of(stack, out_dir)
    assert files, f"`crucible examples {stack}` wrote nothing"
    if shipped_spec(stack).pools and any(p.kind == "gpu" for p in shipped_spec(stack).pools):
        assert "train/gpu-smoke.yaml" in files  # dev and research included: a one-node GPU check


def test_a_stack_without_pools_writes_nothing_and_says_why(out_dir):
    code, err, paths = written("prod-core", str(out_dir / "prod-core"))
    assert code == 0 and paths == ()
    assert "not compute" in err and "no pools" in err


@pytest.mark.parametrize("stack", SHIPPED)
def test_each_file_opens_with_how_to_submit_it_and_what_it_needs(stack, out_dir):
    teams = [t.name for t in shipped_spec(stack).teams]
    for rel, text in files_of(stack, out_dir).items():
        head = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            head.append(line)
        comment = "\n".join(head)
        assert head, rel
        assert f"kubectl apply -n {teams[0]} -f {rel}" in comment, (stack, rel, comment)
        assert "# Needs: " in comment and ", ".join(teams) in comment
        assert yaml.safe_load_all(text)  # the comment keeps the file valid YAML


def scalars(node):
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from scalars(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalars(key)
            yield from scalars(value)


@pytest.mark.parametrize("stack", SHIPPED)
def test_scripts_and_embedded_configs_are_block_literals_not_escaped_one_liners(stack, out_dir):
    for rel, text in files_of(stack, out_dir).items():
        for document in yaml.compose_all(text):
            for scalar in scalars(document):
                if "\n" in scalar.value:
                    assert scalar.style == "|", (rel, scalar.value[:60])


def test_the_scripts_a_team_reads_are_written_line_by_line(out_dir):
    files = files_of("prod", out_dir)
    assert "    - |\n      cat > /tmp/train.py <<'EOF'\n" in files["train/pytorch-efa.yaml"]
    assert "  finetune.py: |\n" in files["train/ray-finetune.yaml"]
    assert "  serveConfigV2: |\n" in files["serve/llm-gpu.yaml"]


def images(manifest: dict) -> list[str]:
    out = [c["image"] for d in walk(manifest) for c in (d.get("containers") or []) if "image" in c]
    out += [d["image"] for d in walk(manifest) if isinstance(d.get("image"), str) and "containers" not in d and "name" not in d]
    return out


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_example_image_is_pinned_to_a_version(stack):
    from stacks.spec.checks import image_ref

    for path, manifests in shipped_examples(stack).items():
        for image in (i for m in manifests for i in images(m)):
            assert image_ref(image) is None, (path, image)


def test_the_deployed_training_runtime_image_is_pinned():
    from stacks.spec.checks import image_ref

    for image in images(torch_efa_runtime(shipped_spec("prod").addons.trainer.runtime_image)):
        assert image_ref(image) is None, image


@pytest.mark.parametrize("image", ["public.ecr.aws/hpc-cloud/nccl-tests:latest", "python", "rayproject/ray"])
def test_an_unpinned_image_in_the_config_is_refused_naming_the_key(image):
    from stacks.spec import ConfigError

    with pytest.raises(ConfigError) as raised:
        spec_of("dev", training={"examples": {"mpiImage": image}})
    (problem,) = [p for p in raised.value.problems if p.path == "crucible:training.examples.mpiImage"]
    assert "pinned" in problem.message and "latest" in problem.message


def test_a_digest_or_a_version_tag_is_a_pinned_image():
    from stacks.spec.checks import image_ref

    assert image_ref("public.ecr.aws/hpc-cloud/nccl-tests:cuda12.8.1-efa1.43.2-ofiv1.16.3-ncclv2.27.7-1-testsv2.16.9") is None
    assert image_ref("registry.example.com:5000/team/app@sha256:" + "a" * 64) is None
    assert image_ref("registry.example.com:5000/team/app") is not None  # the port is not a tag


@pytest.mark.parametrize("stack", SHIPPED)
def test_what_examples_install_at_start_is_pinned_too(stack):
    """pip installs at run time (the prompt app, the Neuron Ray pods, the RayJob's runtime_env) name exact versions."""
    import re

    strings = [
        v
        for m in shipped_examples(stack).values()
        for d in walk(m)
        for v in [*d.values(), *[x for x in d.values() if isinstance(x, list) for x in x]]
        if isinstance(v, str)
    ]
    for install in (i for text in strings for i in re.findall(r"pip install[^&|;\n]*", text)):
        for requirement in install.split()[2:]:
            if not requirement.startswith("-"):
                assert "==" in requirement, (stack, install)
    for _path, manifests in shipped_examples(stack).items():
        for manifest in manifests:
            if manifest["kind"] == "RayJob":
                assert all("==" in r for r in yaml.safe_load(manifest["spec"]["runtimeEnvYAML"])["pip"])


def test_the_research_preset_has_a_jupyterhub_with_its_small_gpu_profile():
    from stacks.derive.profiles import notebook_profiles

    spec = shipped_spec("research")
    hub = spec.addons.jupyterhub
    assert hub.enabled and hub.authenticator == "github"
    slugs = {p.slug: p for p in notebook_profiles(spec.pools, which=hub.accelerator_profiles, default_pool=hub.default_pool)}
    assert slugs["cpu"].pool == "notebooks-cpu"
    assert slugs["notebooks-gpu"].accelerator_resource == "nvidia.com/gpu" and slugs["notebooks-gpu"].accelerators == 1


def test_the_gpu_smoke_job_takes_one_whole_node_of_the_gpu_pool_through_kueue():
    from components.catalog import load_catalog

    (job,) = shipped_examples("dev")["train/gpu-smoke.yaml"]
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default" and job["spec"]["suspend"] is True
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["karpenter.sh/nodepool"] == "gpu-dev"
    facts = load_catalog().get(pod["nodeSelector"]["node.kubernetes.io/instance-type"])
    (container,) = pod["containers"]
    limits = container["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == str(facts.accelerator_count) and "vpc.amazonaws.com/efa" not in limits
    assert container["resources"]["requests"] == limits
    assert f"--nproc-per-node={facts.accelerator_count}" in container["command"][-1]


# ---- and no tenant can opt in: the placement guard ------------------------------------------------------------


def _admits(pod_spec: dict) -> bool:
    """Evaluate the placement guard's CEL validation as the API server would for a pod with ``pod_spec``."""
    import celpy

    from addons.placement_guard import placement_guard

    (validation,) = placement_guard()["validations"]
    env = celpy.Environment()
    return bool(env.program(env.compile(validation["expression"])).evaluate({"object": celpy.json_to_cel({"spec": pod_spec})}))


@pytest.mark.parametrize(
    "tolerations",
    [
        [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        [{"key": "CriticalAddonsOnly", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
        [{"operator": "Exists"}],  # tolerates every taint
        [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, {"operator": "Exists", "effect": "NoSchedule"}],
    ],
    ids=["key", "key-value-effect", "catch-all", "catch-all-noschedule"],
)
def test_a_tenant_pod_tolerating_the_system_taint_is_refused(tolerations):
    assert not _admits({"containers": [{"name": "x", "image": "x:1"}], "tolerations": tolerations})


@pytest.mark.parametrize(
    "tolerations",
    [
        None,
        [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        [{"operator": "Exists", "effect": "NoExecute"}],  # every NoExecute taint, not the NoSchedule system taint
    ],
    ids=["none", "accelerator", "not-ready", "catch-all-noexecute"],
)
def test_tenant_pods_with_their_pools_tolerations_are_admitted(tolerations):
    spec = {"containers": [{"name": "x", "image": "x:1"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    assert _admits(spec)


@pytest.mark.parametrize("stack", ["prod", "trainium"])
def test_every_example_and_notebook_pod_passes_the_placement_guard(stack):
    from stacks.derive.profiles import notebook_profiles

    pods = [d for ms in shipped_examples(stack).values() for m in ms for d in walk(m) if "containers" in d]
    spec = shipped_spec(stack)
    pods += [{"containers": [], "tolerations": list(p.tolerations)} for p in notebook_profiles(spec.pools, which="all")]
    assert pods
    for pod in pods:
        assert _admits(pod), pod.get("tolerations")


def test_the_guard_covers_pods_of_every_team_namespace_in_the_plan():
    guards = [
        r
        for r in shipped_plan("prod")["resources"]
        if r["type"] == "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
        and r["inputs"]["metadata"]["name"] == "crucible-tenant-placement"
    ]
    (guard,) = guards
    spec = guard["inputs"]["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["namespaceSelector"] == {"matchExpressions": [{"key": "crucible.io/tenant", "operator": "Exists"}]}
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["pods"] and set(rule["operations"]) == {"CREATE", "UPDATE"}
    (binding,) = [
        r
        for r in shipped_plan("prod")["resources"]
        if r["type"].endswith("ValidatingAdmissionPolicyBinding") and r["inputs"]["metadata"]["name"] == "crucible-tenant-placement"
    ]
    assert binding["inputs"]["spec"]["validationActions"] == ["Deny"]
    namespaces = [
        r
        for r in shipped_plan("prod")["resources"]
        if r["type"] == "kubernetes:core/v1:Namespace" and "crucible.io/tenant" in (r["inputs"]["metadata"].get("labels") or {})
    ]
    assert {n["inputs"]["metadata"]["name"] for n in namespaces} == {"llm", "vision", "search"}
