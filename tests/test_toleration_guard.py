"""The toleration guard (addons/toleration_guard.py): a team's job whose pod templates ask for accelerators without
tolerating their pool's taint is refused when it is created, since Kueue would never admit it (the accelerator
flavors state the taint as nodeTaints). Its CEL is evaluated with cel-python as the API server would."""

from __future__ import annotations

import copy
import functools

import pytest

from addons.toleration_guard import RESOURCES, TOLERATION_GUARD, toleration_guard
from helpers import plan, shipped_report
from test_examples_run import shipped_examples

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
NEURON_TOLERATION = {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"}


@functools.lru_cache(maxsize=None)
def _programs(kinds: tuple[str, ...] = ("gpu", "neuron")):
    import celpy

    env = celpy.Environment()
    return [(v["message"], env.program(env.compile(v["expression"]))) for v in toleration_guard(kinds)["validations"]]


def refusals(obj: dict, kinds: tuple[str, ...] = ("gpu", "neuron")) -> list[str]:
    """The messages of the validations ``obj`` fails, created as its kind, with the guard judging ``kinds``."""
    import celpy

    activation = {"object": celpy.json_to_cel(obj), "request": celpy.json_to_cel({"kind": {"kind": obj["kind"]}})}
    return [message for message, program in _programs(kinds) if not bool(program.evaluate(activation))]


def pod(resources: dict | None = None, tolerations: list | None = None) -> dict:
    container = {"name": "main", "image": "x:1", **({"resources": {"requests": resources, "limits": resources}} if resources else {})}
    return {"spec": {"containers": [container], **({"tolerations": tolerations} if tolerations is not None else {})}}


def job(template: dict) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": template}}


def test_a_gpu_job_that_does_not_tolerate_the_gpu_taint_is_refused_saying_what_to_add():
    (message,) = refusals(job(pod({"nvidia.com/gpu": "8"})))
    assert message.startswith("Job: ") and "{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}" in message


def test_a_gpu_job_that_tolerates_it_and_a_cpu_job_are_admitted():
    assert refusals(job(pod({"nvidia.com/gpu": "8"}, [GPU_TOLERATION]))) == []
    assert refusals(job(pod({"cpu": "1"}))) == []
    assert refusals(job(pod())) == []


def test_a_neuroncore_request_needs_the_neuron_taints_toleration():
    assert refusals(job(pod({"aws.amazon.com/neuroncore": "2"}, [GPU_TOLERATION])))
    assert refusals(job(pod({"aws.amazon.com/neuroncore": "2"}, [NEURON_TOLERATION]))) == []


def test_a_toleration_that_asks_for_a_value_the_taint_does_not_have_does_not_count():
    # the accelerator taints carry no value: {operator: Equal, value: x} does not tolerate them (the pod would wait)
    assert refusals(job(pod({"nvidia.com/gpu": "1"}, [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "x", "effect": "NoSchedule"}])))
    assert refusals(job(pod({"nvidia.com/gpu": "1"}, [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]))) == []


def test_an_init_container_asking_for_a_gpu_needs_the_toleration_too():
    # Kueue's pod set request is the larger of the init containers' and the containers' sum: a GPU init container
    # puts the pod set on an accelerator flavor
    template = pod({"cpu": "1"})
    template["spec"]["initContainers"] = [{"name": "warm", "image": "x:1", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]
    assert refusals(job(template))
    template["spec"]["tolerations"] = [GPU_TOLERATION]
    assert refusals(job(template)) == []


def test_a_guard_for_neuron_only_leaves_gpu_jobs_alone():
    assert refusals(job(pod({"nvidia.com/gpu": "8"})), ("neuron",)) == []
    (message,) = refusals(job(pod({"aws.amazon.com/neuron": "1"})), ("neuron",))
    assert "aws.amazon.com/neuron" in message and "nvidia.com/gpu" not in message


def test_a_guard_for_no_tainted_kind_is_refused():
    with pytest.raises(ValueError, match="accelerator kinds with a pool taint"):
        toleration_guard(("cpu",))


def _guards(run) -> list[dict]:
    return [
        r.inputs
        for r in run.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
        if r.inputs["metadata"]["name"] == TOLERATION_GUARD
    ]


EFA_TRAIN = {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2, "efa": True}
CPU_POOL = {"name": "cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.xlarge"], "maxNodes": 2}
TEAM = {"name": "llm", "memberGroups": ["llm-users"], "shares": {"train": 100}}


def test_gpu_jobs_are_not_judged_where_a_gpu_pool_is_topology_aware():
    # its flavor keeps tolerations (the CRD freezes them with topologyName) and adds them to the pods it admits, so
    # a GPU job stating none is admitted there: the guard would refuse what Kueue runs
    run = plan("dev", pools=[EFA_TRAIN, CPU_POOL], teams=[TEAM], queues={"topologyAwarePools": ["train"]})
    (guard,) = _guards(run)
    assert all("nvidia.com/gpu" not in v["expression"] and "aws.amazon.com/neuron" in v["expression"] for v in guard["spec"]["validations"])


def test_without_a_topology_aware_pool_gpu_jobs_are_judged():
    run = plan("dev", pools=[EFA_TRAIN, CPU_POOL], teams=[TEAM])
    (guard,) = _guards(run)
    assert all("nvidia.com/gpu" in v["expression"] for v in guard["spec"]["validations"])


def test_a_toleration_of_another_effect_does_not_count():
    assert refusals(job(pod({"nvidia.com/gpu": "1"}, [{**GPU_TOLERATION, "effect": "NoExecute"}])))


def test_a_ray_job_whose_gpu_worker_group_does_not_tolerate_is_refused_and_its_cpu_head_needs_nothing():
    cluster = {"headGroupSpec": {"template": pod({"cpu": "2"})}, "workerGroupSpecs": [{"groupName": "gpu", "template": pod({"nvidia.com/gpu": "1"})}]}
    ray_job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "r"}, "spec": {"entrypoint": "python x.py", "rayClusterSpec": cluster}}
    assert refusals(ray_job)
    fixed = copy.deepcopy(ray_job)
    fixed["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["tolerations"] = [GPU_TOLERATION]
    assert refusals(fixed) == []
    assert refusals({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "s"}, "spec": {"clusterSelector": {"a": "b"}}}) == []


def test_an_mpijob_whose_workers_do_not_tolerate_is_refused():
    specs = {"Launcher": {"replicas": 1, "template": pod({"cpu": "1"})}, "Worker": {"replicas": 2, "template": pod({"nvidia.com/gpu": "8"})}}
    assert refusals({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "m"}, "spec": {"mpiReplicaSpecs": specs}})


def test_only_creates_in_team_namespaces_of_the_kueue_kinds_are_judged():
    spec = toleration_guard()
    constraints = spec["matchConstraints"]
    assert constraints["namespaceSelector"] == {"matchExpressions": [{"key": "crucible.io/tenant", "operator": "Exists"}]}
    assert {op for rule in constraints["resourceRules"] for op in rule["operations"]} == {"CREATE"}  # Kueue's updates pass
    covered = {(group, plural) for rule in constraints["resourceRules"] for group in rule["apiGroups"] for plural in rule["resources"]}
    assert covered == set(RESOURCES.values())
    assert "pods" not in {p for _, p in covered}  # EKS's ExtendedResourceToleration tolerates pods themselves


def _objects_of_guarded_kinds(stack: str) -> list[dict]:
    return [m for manifests in shipped_examples(stack).values() for m in manifests if m.get("kind") in RESOURCES]


@pytest.mark.parametrize("stack", ["prod", "trainium", "research", "train-p5"])
def test_every_shipped_example_passes_the_guard(stack):
    found = _objects_of_guarded_kinds(stack)
    assert found, "the stack's examples include jobs of the guarded kinds"
    assert {m["metadata"]["name"]: refusals(m) for m in found if refusals(m)} == {}


def test_the_examples_would_be_refused_without_their_tolerations():
    # the check is not vacuous: the shipped accelerator examples pass because they tolerate, not because it skips them
    def strip(node):
        if isinstance(node, dict):
            node.pop("tolerations", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    stripped = [copy.deepcopy(m) for m in _objects_of_guarded_kinds("prod")]
    for m in stripped:
        strip(m)
    assert sum(1 for m in stripped if refusals(m)) >= 3


def test_the_guard_is_registered_with_a_deny_binding_in_a_stack_with_teams():
    resources = shipped_report("prod")[0]["resources"]
    names = {
        r["type"].rsplit(":", 1)[-1]: r["inputs"]
        for r in resources
        if r["type"].startswith("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy") and r["inputs"]["metadata"]["name"] == TOLERATION_GUARD
    }
    assert names["ValidatingAdmissionPolicyBinding"]["spec"] == {"policyName": TOLERATION_GUARD, "validationActions": ["Deny"]}
    assert names["ValidatingAdmissionPolicy"]["spec"]["failurePolicy"] == "Fail"
