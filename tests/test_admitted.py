"""Admitted (stacks/tools/plan/admitted.py): what Kueue 0.19 and its admission webhooks decide for each workload —
its LocalQueue, which integration handles it, what a webhook refuses, the ClusterQueue's first-fit flavor within
quota and borrowing, and that the pods then land on that flavor's pool. Rules from kubernetes-sigs/kueue v0.19.2
(cited in the module docstring). Fixtures are workloads submitted against the shipped prod plan's resources, with
the plan's Kueue objects edited where a rule needs it."""

from __future__ import annotations

import json

import pytest
import yaml

from helpers import report_copy, shipped_report
from stacks.tools.cli import main
from stacks.tools.plan.admitted import kueue_config, kueue_release
from stacks.tools.plan.lands import evaluate, workloads_of

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _document(stack: str = "prod") -> dict:
    return report_copy(stack)


def _objects(document: dict, kind: str) -> dict[str, dict]:
    return {
        r["inputs"]["metadata"]["name"]: r["inputs"] for r in document["resources"] if r["type"].endswith(f":{kind}") and r["type"].startswith("kubernetes:")
    }


def _edit_kueue_config(document: dict, change) -> None:
    release = kueue_release(document["resources"])
    manager = release["values"]["managerConfig"]
    config = yaml.safe_load(manager["controllerManagerConfigYaml"])
    change(config, release["values"])
    manager["controllerManagerConfigYaml"] = yaml.safe_dump(config)


def _without_rayservice_integration() -> dict:
    """prod as it was before Crucible enabled ray.io/rayservice (issue 13 defect 2)."""
    document = _document()
    _edit_kueue_config(document, lambda c, _: c["integrations"]["frameworks"].remove("ray.io/rayservice"))
    return document


def _without_cpu_flavor() -> dict:
    """prod as it was before it had a cpu pool (issue 13 defect 8): no cpu flavor in any ClusterQueue."""
    document = _document()
    for r in document["resources"]:
        if r["type"].endswith(":ClusterQueue") and r["type"].startswith("kubernetes:"):
            for group in r["inputs"]["spec"]["resourceGroups"]:
                group["flavors"] = [f for f in group["flavors"] if f["name"] != "cpu"]
            r["inputs"]["spec"]["resourceGroups"] = [g for g in r["inputs"]["spec"]["resourceGroups"] if g["flavors"]]
    return document


def admitted(objects, *, document=None, namespaces=("llm",)) -> dict[str, dict]:
    """The admitted verdict of every pod set of ``objects`` submitted to ``namespaces``, by entry name."""
    document = document or _document()
    block = document["workloads"]
    entries = workloads_of(objects, source="test", namespaces=list(namespaces))
    result = evaluate(document["resources"], entries, block.get("objects") or [], block.get("assumedResources") or [])
    return {e["name"]: e["checks"]["admitted"] for e in result["workloads"]}


def gpu_job(name="train", *, pods=1, gpus=8, cpu="96", memory="1000Gi", labels=None, annotations=None, selector=None) -> dict:
    resources = {"cpu": cpu, "memory": memory, "nvidia.com/gpu": str(gpus)} if gpus else {"cpu": cpu, "memory": memory}
    spec = {"containers": [{"name": "main", "image": "busybox:1.36", "resources": {"requests": resources, "limits": resources}}]}
    if gpus:
        spec["tolerations"] = [GPU_TOLERATION]
    if selector:
        spec["nodeSelector"] = selector
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"kueue.x-k8s.io/queue-name": "default", **(labels or {})}, "annotations": annotations or {}},
        "spec": {"parallelism": pods, "completions": pods, "suspend": True, "template": {"spec": {"restartPolicy": "Never", **spec}}},
    }


def ray_service(name="serve", *, autoscaling=True, annotations=None, labels=None) -> dict:
    # The head (CPU-only) runs on the serve pool beside its GPU worker.
    head = {
        "nodeSelector": {"karpenter.sh/nodepool": "serve"},
        "tolerations": [GPU_TOLERATION],
        "containers": [
            {
                "name": "ray-head",
                "image": "rayproject/ray:2.49.0",
                "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
            }
        ],
    }
    worker = {
        "nodeSelector": {"karpenter.sh/nodepool": "serve"},
        "tolerations": [GPU_TOLERATION],
        "containers": [
            {
                "name": "ray-worker",
                "image": "rayproject/ray:2.49.0",
                "resources": {
                    "requests": {"cpu": "3", "memory": "16Gi", "nvidia.com/gpu": "1"},
                    "limits": {"cpu": "3", "memory": "16Gi", "nvidia.com/gpu": "1"},
                },
            }
        ],
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {
            "rayClusterConfig": {
                "enableInTreeAutoscaling": autoscaling,
                "headGroupSpec": {"template": {"spec": head}},
                "workerGroupSpecs": [{"groupName": "gpu", "replicas": 1, "minReplicas": 1, "maxReplicas": 2, "template": {"spec": worker}}],
            }
        },
    }


def _one(verdicts: dict, part: str) -> dict:
    (found,) = [v for k, v in verdicts.items() if part in k]
    return found


# ---- the Kueue configuration comes from the registered release ------------------------------------------------


def test_the_kueue_config_is_read_from_the_registered_release():
    config = kueue_config(kueue_release(_document()["resources"]))
    assert "ray.io/raycluster" in config.integrations and "kubeflow.org/mpijob" in config.integrations
    assert not config.manage_jobs_without_queue_name
    # Crucible's managedJobsNamespaceSelector (the namespaces labelled for it), not Kueue's default (not kube-system, not its own).
    assert config.namespace_selector == {"matchLabels": {"crucible.io/queued": "true"}}
    assert config.gate("ElasticJobsViaWorkloadSlices")  # beta, on by default since 0.18


# ---- the LocalQueue ---------------------------------------------------------------------------------------------


def test_a_labelled_job_goes_to_its_localqueue_its_clusterqueue_and_the_first_flavor_that_fits():
    verdict = _one(admitted([gpu_job()]), "Job train")
    assert verdict["ok"] and verdict["summary"] == "default -> llm -> train"
    assert verdict["queue"] == "default" and verdict["clusterQueue"] == "llm" and verdict["flavor"] == "train"


def test_a_job_labelled_for_a_localqueue_that_does_not_exist_is_never_admitted():
    verdict = _one(admitted([gpu_job(labels={"kueue.x-k8s.io/queue-name": "gpu"})]), "Job train")
    assert not verdict["ok"] and "LocalQueue llm/gpu does not exist" in verdict["reasons"]


def test_an_unlabelled_job_gets_the_namespaces_default_localqueue():
    job = gpu_job()
    del job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]
    assert _one(admitted([job]), "Job train")["summary"] == "default -> llm -> train"


def test_an_unlabelled_job_where_there_is_no_default_localqueue_is_not_queued():
    job = gpu_job()
    del job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]
    verdict = _one(admitted([job], namespaces=("monitoring",)), "Job train")
    assert verdict["ok"] and verdict["summary"].startswith("not queued")


def test_no_default_localqueue_outside_managed_jobs_namespace_selector():
    document = _document()
    _edit_kueue_config(
        document,
        lambda c, _: c.update(
            managedJobsNamespaceSelector={"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["llm"]}]}
        ),
    )
    job = gpu_job()
    del job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]
    assert _one(admitted([job], document=document), "Job train")["summary"].startswith("not queued")


def test_a_labelled_job_outside_managed_jobs_namespace_selector_is_never_started():
    # Kueue 0.19 reconciler.go (jobframework): a job whose namespace the selector does not match is skipped even
    # when labelled (ManagedJobsNamespaceSelectorAlwaysRespected, GA and locked in 0.19): a suspended job stays so.
    document = _document()
    _edit_kueue_config(
        document,
        lambda c, _: c.update(
            managedJobsNamespaceSelector={"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["llm"]}]}
        ),
    )
    verdict = _one(admitted([gpu_job()], document=document), "Job train")
    assert not verdict["ok"] and verdict["summary"] == "ignored by Kueue"
    assert any("managedJobsNamespaceSelector" in r and "llm" in r for r in verdict["reasons"])


# ---- frameworks and webhooks ----------------------------------------------------------------------------------


def test_a_rayservice_of_a_non_enabled_integration_has_its_raycluster_labelled_and_refused_for_autoscaling():
    # Kueue 0.19: ray.io/rayservice is off, so the RayService is ignored; its RayCluster (ray.io/raycluster on) has a
    # controller owner of no enabled integration, so it gets the default LocalQueue and the RayCluster webhook
    # refuses in-tree autoscaling without the elastic-job annotation.
    verdicts = admitted([ray_service()], document=_without_rayservice_integration())
    head = _one(verdicts, "head")
    assert not head["ok"] and head["summary"] == "refused by Kueue's RayCluster webhook"
    assert "RayService: integration ray.io/rayservice not enabled, Kueue ignores it" in head["reasons"]
    assert "RayCluster labelled with the namespace's LocalQueue default (its owner RayService is not an enabled integration)" in head["reasons"]
    assert any(r.startswith("enableInTreeAutoscaling: a kueue-managed RayCluster can use autoscaling only as an elastic job") for r in head["reasons"])


def test_a_rayservice_raycluster_without_autoscaling_is_admitted_as_a_raycluster():
    verdict = _one(admitted([ray_service(autoscaling=False)], document=_without_rayservice_integration()), "worker gpu")
    assert verdict["ok"] and verdict["summary"] == "default -> llm -> serve as RayCluster"


def test_an_elastic_rayservice_keeps_autoscaling_when_its_integration_is_enabled():
    document = _document()
    _edit_kueue_config(document, lambda c, _: c["integrations"]["frameworks"].append("ray.io/rayservice"))
    verdicts = admitted([ray_service(annotations={"kueue.x-k8s.io/elastic-job": "true"})], document=document)
    assert _one(verdicts, "worker gpu")["summary"] == "default -> llm -> serve"
    assert _one(verdicts, "head")["summary"] == "default -> llm -> serve"


def test_an_enabled_rayservice_with_autoscaling_and_no_elastic_annotation_is_refused():
    document = _document()
    _edit_kueue_config(document, lambda c, _: c["integrations"]["frameworks"].append("ray.io/rayservice"))
    verdict = _one(admitted([ray_service()], document=document), "worker gpu")
    assert verdict["summary"] == "refused by Kueue's RayService webhook"


def test_the_elastic_annotation_does_nothing_with_the_feature_gate_off():
    document = _document()
    _edit_kueue_config(
        document,
        lambda c, values: (
            c["integrations"]["frameworks"].append("ray.io/rayservice"),
            values["controllerManager"].__setitem__("featureGates", [{"name": "ElasticJobsViaWorkloadSlices", "enabled": False}]),
        ),
    )
    verdict = _one(admitted([ray_service(annotations={"kueue.x-k8s.io/elastic-job": "true"})], document=document), "worker gpu")
    assert not verdict["ok"] and any("feature gate ElasticJobsViaWorkloadSlices and annotation" in r for r in verdict["reasons"])


def test_the_elastic_annotation_on_a_kind_that_does_not_support_it_is_refused():
    job = {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": "mpi", "labels": {"kueue.x-k8s.io/queue-name": "default"}, "annotations": {"kueue.x-k8s.io/elastic-job": "true"}},
        "spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 1, "template": gpu_job()["spec"]["template"]}}},
    }
    verdict = _one(admitted([job]), "MPIJob mpi Worker")
    assert not verdict["ok"] and "annotation kueue.x-k8s.io/elastic-job: elastic job is not supported for MPIJob" in verdict["reasons"]


def _ray_job(**spec) -> dict:
    cluster = ray_service(autoscaling=False)["spec"]["rayClusterConfig"]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "rj", "labels": {"kueue.x-k8s.io/queue-name": "default"}},
        "spec": {"entrypoint": "python x.py", "rayClusterSpec": cluster, **spec},
    }


def test_a_queued_rayjob_must_delete_its_cluster_when_it_finishes():
    assert _one(admitted([_ray_job(shutdownAfterJobFinishes=True)]), "worker gpu")["ok"]
    verdict = _one(admitted([_ray_job()]), "worker gpu")
    assert "spec.shutdownAfterJobFinishes: a kueue managed job should delete the cluster after finishing" in verdict["reasons"]


def test_a_worker_group_named_head_is_refused():
    job = _ray_job(shutdownAfterJobFinishes=True)
    job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["groupName"] = "head"
    verdict = _one(admitted([job]), "worker head")
    assert "worker group name 'head' is reserved for the head group" in verdict["reasons"]


def test_a_labelled_job_of_a_framework_that_is_not_enabled_is_ignored_and_fails():
    document = _document()
    # batch/job off, and pod off too: with the pod integration on, Kueue would queue the Job's pods one by one instead
    _edit_kueue_config(document, lambda c, _: [c["integrations"]["frameworks"].remove(f) for f in ("batch/job", "pod")])
    verdict = _one(admitted([gpu_job()], document=document), "Job train")
    assert not verdict["ok"] and verdict["summary"] == "ignored by Kueue"
    assert "labelled kueue.x-k8s.io/queue-name=default but no integration of it is enabled: it runs outside the queue and its quota" in verdict["reasons"]


def _deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {"replicas": 1, "template": gpu_job(gpus=0, cpu="1", memory="1Gi")["spec"]["template"]},
    }


def test_an_unlabelled_deployment_of_a_team_namespace_is_queued_pod_by_pod():
    # Kueue 0.19's pod webhook (pod_webhook.go Default): a pod with no Kueue-managed ancestor in a managed namespace with
    # a LocalQueue `default` is labelled with it and gated; the pod integration is on for the notebooks (addons/kueue.py).
    verdict = _one(admitted([_deployment()]), "Deployment app")
    assert verdict["ok"] and verdict["summary"] == "default -> llm -> cpu as Pod"


def test_an_unlabelled_deployment_is_not_queued_without_the_pod_integration():
    document = _document()
    _edit_kueue_config(document, lambda c, _: c["integrations"]["frameworks"].remove("pod"))
    verdict = _one(admitted([_deployment()], document=document), "Deployment app")
    assert verdict["ok"] and verdict["summary"] == "not queued (Pod: integration pod not enabled, Kueue ignores it)"


# ---- quota, borrowing, flavors ----------------------------------------------------------------------------------


def test_quota_plus_borrowing_admits_and_one_node_more_does_not():
    # prod's train pool: 8 p5 nodes, 64 GPUs. llm: nominal 50% = 32; it may borrow what vision lends (its nominal,
    # 30% = 19) and search lends nothing (lendingLimit false): at most 51 GPUs.
    assert _one(admitted([gpu_job(pods=6, cpu="8", memory="64Gi")]), "Job train")["summary"] == "default -> llm -> train"
    verdict = _one(admitted([gpu_job(pods=7, cpu="8", memory="64Gi")]), "Job train")
    assert not verdict["ok"] and verdict["summary"] == "default -> llm: not admitted"
    assert any("nvidia.com/gpu 56 > 51 (nominal 32 + borrowable 19)" in r for r in verdict["reasons"])


def test_a_resource_no_resource_group_covers_blocks_admission():
    job = gpu_job()
    for where in ("requests", "limits"):
        job["spec"]["template"]["spec"]["containers"][0]["resources"][where]["example.com/fpga"] = "1"
    verdict = _one(admitted([job]), "Job train")
    assert not verdict["ok"] and "resource example.com/fpga unavailable in ClusterQueue llm" in verdict["reasons"]


def test_exclude_resource_prefixes_drops_a_resource_from_the_quota_check():
    document = _document()
    _edit_kueue_config(document, lambda c, _: c.update(resources={"excludeResourcePrefixes": ["example.com/"]}))
    job = gpu_job()
    for where in ("requests", "limits"):
        job["spec"]["template"]["spec"]["containers"][0]["resources"][where]["example.com/fpga"] = "1"
    verdict = _one(admitted([job], document=document), "Job train")
    assert "unavailable in ClusterQueue" not in " ".join(verdict["reasons"])


def test_a_node_selector_skips_the_flavors_it_contradicts():
    # First fit is train; a pod pinned to the serve pool skips it (flavor nodeLabels karpenter.sh/nodepool).
    job = gpu_job(gpus=1, cpu="3", memory="16Gi", selector={"karpenter.sh/nodepool": "serve"})
    assert _one(admitted([job]), "Job train")["summary"] == "default -> llm -> serve"


def test_a_flavor_node_taint_the_pod_does_not_tolerate_skips_the_flavor():
    document = _document()
    for name, flavor in _objects(document, "ResourceFlavor").items():
        if name == "train":
            flavor["spec"]["nodeTaints"] = [{"key": "dedicated", "value": "training", "effect": "NoSchedule"}]
    verdict = _one(admitted([gpu_job(gpus=1, cpu="3", memory="16Gi")], document=document), "Job train")
    assert verdict["summary"] == "default -> llm -> serve"


def test_a_clusterqueue_whose_namespace_selector_misses_the_namespace_admits_nothing():
    document = _document()
    _objects(document, "ClusterQueue")["llm"]["spec"]["namespaceSelector"] = {"matchLabels": {"crucible.io/tenant": "someone-else"}}
    verdict = _one(admitted([gpu_job()], document=document), "Job train")
    assert not verdict["ok"] and "ClusterQueue llm's namespaceSelector does not match namespace llm" in verdict["reasons"]


def test_a_clusterqueue_naming_a_missing_flavor_is_inactive():
    document = _document()
    document["resources"] = [r for r in document["resources"] if not (r["type"].endswith(":ResourceFlavor") and r["inputs"]["metadata"]["name"] == "inf")]
    verdict = _one(admitted([gpu_job()], document=document), "Job train")
    assert not verdict["ok"] and "ClusterQueue llm is inactive: ResourceFlavor inf not found" in verdict["reasons"]


def test_admitted_on_a_flavor_where_the_pod_lands_nowhere_fails():
    # Within quota (9 GPUs of llm's 51) but no p5 has 9 GPUs: Kueue admits it, the pod would stay Pending.
    verdict = _one(admitted([gpu_job(gpus=9, cpu="8", memory="64Gi")]), "Job train")
    assert not verdict["ok"] and any(
        r.startswith("admitted on flavor train but lands nowhere there: pool train: nvidia.com/gpu requests 9, p5.48xlarge has 8") for r in verdict["reasons"]
    )


# ---- CPU-only work on accelerator flavors ------------------------------------------------------------------------


def test_cpu_only_work_is_never_admitted_on_an_accelerator_flavor():
    # prod without its cpu pool: the accelerator flavors state their pools' taints (nodeTaints), which a CPU-only
    # pod set does not tolerate, so Kueue skips them (flavorassigner.go) instead of launching a p5 for it.
    verdict = _one(admitted([gpu_job(gpus=0, cpu="1", memory="1Gi")], document=_without_cpu_flavor()), "Job train")
    assert not verdict["ok"] and verdict["summary"] == "default -> llm: not admitted"
    assert any("untolerated taint nvidia.com/gpu in flavor train" in r for r in verdict["reasons"]), verdict["reasons"]


def test_cpu_only_work_that_outgrows_the_cpu_flavor_waits_instead_of_taking_an_accelerator_pool():
    # prod: more cores than the cpu pool's quota and borrowing; the train flavor has them, but the job does not
    # tolerate the GPU taint, so it is not admitted there (with flavor tolerations it was: a p5 for CPU work).
    verdict = _one(admitted([gpu_job(gpus=0, cpu="400", memory="100Gi")]), "Job train")
    assert verdict["summary"] == "default -> llm: not admitted"
    (reason,) = verdict["reasons"]
    assert "flavor cpu: cpu 400 >" in reason and "untolerated taint nvidia.com/gpu in flavor train" in reason


def test_gpu_work_that_does_not_tolerate_its_pools_taint_is_told_to():
    # the flavor adds no toleration: the pod template states it (EKS's ExtendedResourceToleration adds it to pods,
    # not to the job's template Kueue reads)
    job = gpu_job()
    job["spec"]["template"]["spec"].pop("tolerations", None)
    verdict = _one(admitted([job]), "Job train")
    assert not verdict["ok"]
    assert any("the pods ask for nvidia.com/gpu: tolerate it, {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}" in r for r in verdict["reasons"]), (
        verdict["reasons"]
    )


def test_cpu_only_work_that_tolerates_the_accelerator_taint_and_lands_on_its_pool_is_a_violation():
    # the branch an accelerator flavor is still reachable by for CPU work: it tolerates the taint, asks for no pool
    job = gpu_job(gpus=0, cpu="1", memory="1Gi")
    job["spec"]["template"]["spec"]["tolerations"] = [GPU_TOLERATION]
    verdict = _one(admitted([job], document=_without_cpu_flavor()), "Job train")
    assert not verdict["ok"]
    assert any(
        "CPU-only pods assigned flavor train, an accelerator pool (train), and the workload has no accelerator pods there to share nodes with" in r
        for r in verdict["reasons"]
    ), verdict["reasons"]


def test_a_neuroncore_request_is_told_to_tolerate_the_neuron_taint():
    from stacks.tools.plan.admitted import _flavor_matches

    flavor = {"metadata": {"name": "inf"}, "spec": {"nodeTaints": [{"key": "aws.amazon.com/neuron", "effect": "NoSchedule"}]}}
    pod = {"containers": [{"name": "m", "resources": {"requests": {"aws.amazon.com/neuroncore": "2"}, "limits": {"aws.amazon.com/neuroncore": "2"}}}]}
    assert "the pods ask for aws.amazon.com/neuron: tolerate it" in (_flavor_matches(pod, flavor) or "")


def test_cpu_only_work_that_asks_for_the_accelerator_pool_itself_is_what_it_asked_for():
    # crucible verify's Lustre writers measure from a node of the pool that uses the file system: they select it
    # and tolerate its taint
    job = gpu_job(gpus=0, cpu="1", memory="1Gi", selector={"karpenter.sh/nodepool": "train"})
    job["spec"]["template"]["spec"]["tolerations"] = [GPU_TOLERATION]
    verdict = _one(admitted([job], document=_without_cpu_flavor()), "Job train")
    assert verdict["ok"], verdict["reasons"]


def test_cpu_only_work_goes_to_the_cpu_flavor_where_there_is_one():
    verdict = _one(admitted([gpu_job(gpus=0, cpu="1", memory="1Gi")], document=_document("trainium"), namespaces=("pretrain",)), "Job train")
    assert verdict["ok"] and verdict["summary"] == "default -> pretrain -> cpu"


def _mpi(launcher_cpu: str) -> dict:
    worker = gpu_job(cpu="180", memory="1740Gi", selector={"karpenter.sh/nodepool": "train"})["spec"]["template"]
    launcher = gpu_job(gpus=0, cpu=launcher_cpu, memory="2Gi", selector={"karpenter.sh/nodepool": "train"})["spec"]["template"]
    launcher["spec"]["tolerations"] = [GPU_TOLERATION]
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": "nccl", "labels": {"kueue.x-k8s.io/queue-name": "default"}},
        "spec": {"mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": launcher}, "Worker": {"replicas": 2, "template": worker}}},
    }


def test_a_cpu_only_launcher_that_packs_beside_its_workers_on_the_accelerator_pool_is_fine():
    assert _one(admitted([_mpi("1")]), "Launcher")["ok"]


def test_a_cpu_only_launcher_too_big_to_share_a_worker_node_is_a_violation():
    verdict = _one(admitted([_mpi("16")]), "Launcher")
    assert not verdict["ok"] and any("they do not fit beside the workload's own accelerator pods" in r for r in verdict["reasons"])


# ---- the shipped stacks, the plan and crucible check ---------------------------------------------------------------

STACKS = ("dev", "staging", "prod", "prod-platform", "inference", "research", "train-p5", "trainium")
# Fixed on other branches of issue 13, which the lead merges: the EFA examples' huge pages (defect 1) and the
# RayServices' refused RayClusters (defect 2); the cpu pool of prod, prod-platform, staging and inference (defect 8),
# without which Kueue's first fit gives CPU-only work an accelerator flavor.
_ELSEWHERE = ("hugepages-2Mi", "refused by Kueue's RayCluster webhook", "can use autoscaling only as an elastic job", "CPU-only pods assigned flavor")


@pytest.mark.parametrize("stack", STACKS)
def test_the_shipped_workloads_are_admitted(stack):
    entries = shipped_report(stack)[0]["workloads"]["workloads"]
    failed = {e["name"]: e["checks"]["admitted"] for e in entries if not e["checks"]["admitted"]["ok"]}
    mine = {
        n: v
        for n, v in failed.items()
        if not any(m in " ".join([v["summary"], *v["reasons"]]) for m in _ELSEWHERE) and "is not admitted, so neither is this one" not in " ".join(v["reasons"])
    }
    assert not mine
    if failed:
        pytest.xfail(f"{len(failed)} workloads wait for defects 1, 2 and 8 (other branches of issue 13)")


def test_the_queued_examples_are_admitted_once_they_stop_requesting_huge_pages():
    document = _without_huge_pages(_document())
    block = document["workloads"]
    again = evaluate(document["resources"], block["workloads"], block["objects"], block.get("assumedResources") or [])
    verdicts = {e["name"]: e["checks"]["admitted"] for e in again["workloads"]}
    for name in (
        "TrainJob pytorch-efa node",
        "MPIJob nccl-allreduce Launcher",
        "MPIJob nccl-allreduce Worker",
        "RayJob ray-finetune head",
        "RayJob ray-finetune worker gpu",
    ):
        verdict = _one(verdicts, name)
        assert verdict["ok"] and verdict["summary"] == "default -> llm|search|vision -> train", name


def test_the_section_shows_queue_clusterqueue_and_flavor():
    lines = "\n".join(shipped_report("trainium")[1])
    assert "admitted (queue -> ClusterQueue -> flavor)" in lines
    assert "OK default -> pretrain -> cpu" in lines
    entry = next(e for e in shipped_report("trainium")[0]["workloads"]["workloads"] if e["source"] == "verify")
    assert entry["checks"]["admitted"]["flavor"] == "cpu" and entry["kueue"]["labels"] == {"kueue.x-k8s.io/queue-name": "default"}


def _without_huge_pages(document: dict) -> dict:
    for entry in document["workloads"]["workloads"]:
        for c in entry["template"]["spec"].get("containers", []):
            for where in ("requests", "limits"):
                for name in [n for n in (c.get("resources") or {}).get(where, {}) if n.startswith("hugepages-")]:
                    del c["resources"][where][name]
    return document


def test_check_fails_a_saved_plan_edited_so_a_workload_exceeds_its_teams_quota_and_borrowing(tmp_path, capsys):
    document = _without_huge_pages(_document())  # defect 1's fix, made on another branch
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document, default=str))
    main(["check", str(path)])
    assert "mandatory admitted: train/pytorch-efa.yaml: TrainJob pytorch-efa node" not in capsys.readouterr().out
    # 9 nodes x 8 GPUs = 72: more than the whole train pool (64), so more than any team's quota plus borrowing.
    next(e for e in document["workloads"]["workloads"] if e["kind"] == "TrainJob")["replicas"] = 9
    path.write_text(json.dumps(document, default=str))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "mandatory admitted: train/pytorch-efa.yaml: TrainJob pytorch-efa node" in ln)
    assert (
        "no flavor of ClusterQueue llm admits it" in line
        and "flavor train: cpu 1620 > 1229" in line
        and "nvidia.com/gpu 72 > 51 (nominal 32 + borrowable 19)" in line
    )


def test_a_rayjob_submitter_is_a_cpu_only_pod_set_kueue_places_by_first_fit():
    # Kueue 0.19 (rayjob_controller.go addSubmitterPodSet): in K8sJobMode the submitter Job is a pod set of its own,
    # KubeRay's default container (500m, 200Mi), no placement: first fit gives it the first flavor that has room.
    on_p5 = {e["name"]: e["checks"]["admitted"] for e in shipped_report("train-p5")[0]["workloads"]["workloads"]}
    assert _one(on_p5, "RayJob ray-finetune submitter")["summary"] == "default -> finetune|pretrain -> cpu-prep"
    verdicts = admitted([_ray_job(shutdownAfterJobFinishes=True)], document=_without_cpu_flavor())
    submitter = _one(verdicts, "RayJob rj submitter")
    # without a cpu flavor it has none: the accelerator flavors state taints it does not tolerate
    assert not submitter["ok"] and any("untolerated taint" in r for r in submitter["reasons"]), submitter["reasons"]


@pytest.mark.parametrize("kind", ["LocalQueue", "ClusterQueue"])
def test_a_held_queue_admits_nothing(kind):
    document = _document()
    queue = next(
        r["inputs"]
        for r in document["resources"]
        if r["type"].endswith(f":{kind}") and r["inputs"]["metadata"]["name"] in ("default", "llm") and r["inputs"]["metadata"].get("namespace", "llm") == "llm"
    )
    queue["spec"]["stopPolicy"] = "Hold"
    verdict = _one(admitted([gpu_job()], document=document), "Job train")
    assert not verdict["ok"] and verdict["reasons"][-1].endswith("has stopPolicy Hold: it admits nothing")


def test_with_the_pod_integration_on_a_deployments_pods_get_the_default_localqueue():
    # The pods' owner (a ReplicaSet) is no integration, so the pod webhook defaults their queue name.
    document = _document()
    _edit_kueue_config(document, lambda c, _: c["integrations"]["frameworks"].append("pod"))
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {"replicas": 2, "template": gpu_job(gpus=1, cpu="3", memory="16Gi", selector={"karpenter.sh/nodepool": "serve"})["spec"]["template"]},
    }
    verdict = _one(admitted([deployment], document=document), "Deployment app")
    assert verdict["ok"] and verdict["summary"] == "default -> llm -> serve as Pod"


def test_a_cronjobs_jobs_get_the_default_localqueue():
    job = gpu_job(gpus=1, cpu="3", memory="16Gi")
    del job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": job["spec"]}},
    }
    verdict = _one(admitted([cron]), "CronJob nightly")
    assert verdict["ok"] and verdict["summary"] == "default -> llm -> train as Job"
