"""What Kueue 0.19's webhooks do with a workload submitted to a team namespace, as a pure model (no cluster).

For a manifest (and the objects its operator creates from it: a RayService's RayCluster) it answers which object
Kueue manages as the workload, the LocalQueue it lands in, whether it is elastic, and what a Kueue webhook refuses.
The rules, from kubernetes-sigs/kueue v0.19.2:

* an integration's webhooks run only when it is enabled (`integrations.frameworks`; else a no-op webhook);
* default LocalQueue (pkg/controller/jobframework/defaults.go `defaultLocalQueueApplies`): an object without the
  `kueue.x-k8s.io/queue-name` label, in a namespace with a LocalQueue named `default`, is labelled with it unless
  its owner is managed by Kueue; an object owned by a *non-enabled* integration (a RayService when
  `ray.io/rayservice` is off) is therefore labelled too;
* elastic jobs (pkg/workloadslicing `Enabled`): feature gate `ElasticJobsViaWorkloadSlices` (beta, on by default
  since 0.18) and the annotation `kueue.x-k8s.io/elastic-job: "true"`; the defaulting webhook of an elastic Ray
  object adds the `kueue.x-k8s.io/elastic-job` scheduling gate to its head and worker templates;
* Ray validation (pkg/controller/jobs/raycluster/common.go `ValidateCreate`, used by the RayJob and RayService
  webhooks; raycluster_webhook.go `validateCreate`): for a labelled object, in-tree autoscaling is refused unless
  the object is elastic; an elastic RayCluster needs the scheduling gate on every template; at most 18 pod sets;
  no worker group named `head`.

KubeRay 1.7 (ray-operator/controllers/ray/rayservice_controller.go `constructRayClusterForRayService`) copies a
RayService's labels and annotations to the RayCluster it creates, with `spec.rayClusterConfig` as its spec.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Mapping, Optional

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
DEFAULT_LOCAL_QUEUE = "default"
ELASTIC_ANNOTATION = "kueue.x-k8s.io/elastic-job"
ELASTIC_GATE = "kueue.x-k8s.io/elastic-job"  # kueue.ElasticJobSchedulingGate
MAX_POD_SETS = 18  # jobframework.MaxPodSets (0.19)
# Kueue 0.19's defaults for the gates this model reads (pkg/features/kube_features.go).
DEFAULT_FEATURE_GATES = {"ElasticJobsViaWorkloadSlices": True}

FRAMEWORKS = {
    ("batch", "Job"): "batch/job",
    ("ray.io", "RayJob"): "ray.io/rayjob",
    ("ray.io", "RayCluster"): "ray.io/raycluster",
    ("ray.io", "RayService"): "ray.io/rayservice",
    ("kubeflow.org", "MPIJob"): "kubeflow.org/mpijob",
    ("trainer.kubeflow.org", "TrainJob"): "trainer.kubeflow.org/trainjob",
    ("jobset.x-k8s.io", "JobSet"): "jobset.x-k8s.io/jobset",
}


@dataclass(frozen=True)
class KueueSetup:
    """Kueue's configuration as it bears on admission, and the LocalQueues of the namespace."""

    integrations: frozenset[str]
    local_queues: frozenset[str] = frozenset({DEFAULT_LOCAL_QUEUE})
    feature_gates: Mapping[str, bool] = field(default_factory=dict)  # overrides of DEFAULT_FEATURE_GATES
    manage_jobs_without_queue_name: bool = False

    def gate(self, name: str) -> bool:
        return {**DEFAULT_FEATURE_GATES, **self.feature_gates}.get(name, False)


@dataclass(frozen=True)
class Verdict:
    """What Kueue makes of one object: ``workload`` (it is a Kueue workload of its own; False: not managed, or part of
    its managed owner's workload), its ``queue``, ``elastic``, and ``problems``: what a webhook refuses,
    or what keeps it from ever being admitted."""

    kind: str
    name: str
    workload: bool
    queue: Optional[str]
    elastic: bool
    problems: tuple[str, ...]
    pod_sets: tuple[str, ...] = ()


def framework_of(manifest: Mapping) -> Optional[str]:
    group = str(manifest.get("apiVersion", "")).rpartition("/")[0]
    return FRAMEWORKS.get((group, manifest.get("kind")))


def _meta(manifest: Mapping) -> Mapping:
    return manifest.get("metadata") or {}


def _ray_spec(manifest: Mapping) -> Optional[dict]:
    """The RayCluster spec a Ray object carries (a RayCluster's own spec)."""
    spec = manifest.get("spec") or {}
    kind = manifest.get("kind")
    if kind == "RayCluster":
        return spec
    if kind == "RayService":
        return spec.get("rayClusterConfig")
    if kind == "RayJob":
        return spec.get("rayClusterSpec")
    return None


def _templates(ray_spec: Mapping) -> list[tuple[str, dict]]:
    head = ("headGroupSpec", (ray_spec.get("headGroupSpec") or {}).get("template") or {})
    workers = [(f"workerGroupSpecs[{i}]", g.get("template") or {}) for i, g in enumerate(ray_spec.get("workerGroupSpecs") or [])]
    return [head, *workers]


def _gated(template: Mapping) -> bool:
    return any(g.get("name") == ELASTIC_GATE for g in (template.get("spec") or {}).get("schedulingGates") or [])


def children(manifest: Mapping) -> list[dict]:
    """The objects an operator creates from ``manifest`` that Kueue's webhooks see: a RayService's RayCluster."""
    if manifest.get("kind") != "RayService" or _ray_spec(manifest) is None:
        return []
    meta = _meta(manifest)
    return [
        {
            "apiVersion": manifest["apiVersion"],
            "kind": "RayCluster",
            "metadata": {
                "name": f"{meta.get('name', '')}-<hash>",
                "labels": dict(meta.get("labels") or {}),
                "annotations": dict(meta.get("annotations") or {}),
            },
            "spec": copy.deepcopy(_ray_spec(manifest)),
        }
    ]


def _ray_problems(obj: Mapping, elastic: bool) -> list[str]:
    kind, spec = obj["kind"], _ray_spec(obj) or {}
    path = {"RayCluster": "spec", "RayService": "spec.rayClusterConfig", "RayJob": "spec.rayClusterSpec"}[kind]
    out = []
    autoscaling = bool(spec.get("enableInTreeAutoscaling"))
    if kind == "RayCluster" and elastic:
        out += [f"{path}.{where}.template.spec.schedulingGates: an elastic job must have the ElasticJobSchedulingGate" for where, t in _templates(spec) if not _gated(t)]
    elif autoscaling and not elastic:
        out.append(
            f"{path}.enableInTreeAutoscaling: a kueue-managed {kind} can use autoscaling only as an elastic job "
            f"(feature gate ElasticJobsViaWorkloadSlices and annotation {ELASTIC_ANNOTATION}: \"true\")"
        )
    groups = spec.get("workerGroupSpecs") or []
    if 1 + len(groups) > MAX_POD_SETS:
        out.append(f"{path}.workerGroupSpecs: {1 + len(groups)} pod sets, at most {MAX_POD_SETS}")
    out += [f"{path}.workerGroupSpecs[{i}].groupName: 'head' is reserved for the head group" for i, g in enumerate(groups) if g.get("groupName") == "head"]
    return out


def _default(obj: dict, setup: KueueSetup, owner_managed: bool, elastic: bool) -> None:
    """The mutating webhook: default LocalQueue, and the elastic scheduling gate on Ray templates."""
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    if not labels.get(QUEUE_LABEL) and DEFAULT_LOCAL_QUEUE in setup.local_queues and not owner_managed:
        labels[QUEUE_LABEL] = DEFAULT_LOCAL_QUEUE
    spec = _ray_spec(obj)
    if elastic and spec is not None:
        for _, template in _templates(spec):
            gates = template.setdefault("spec", {}).setdefault("schedulingGates", [])
            if not _gated(template):
                gates.append({"name": ELASTIC_GATE})


def admit(manifest: Mapping, setup: KueueSetup) -> list[Verdict]:
    """Verdicts for ``manifest`` and the objects created from it, in creation order (owner first)."""
    out: list[Verdict] = []

    def visit(source: Mapping, owner_managed: bool) -> None:
        obj = copy.deepcopy(dict(source))
        framework = framework_of(obj)
        enabled = framework in setup.integrations
        elastic = setup.gate("ElasticJobsViaWorkloadSlices") and (_meta(obj).get("annotations") or {}).get(ELASTIC_ANNOTATION) == "true"
        if enabled:
            _default(obj, setup, owner_managed, elastic)
        queue = (_meta(obj).get("labels") or {}).get(QUEUE_LABEL) or None
        problems: list[str] = []
        if enabled and (queue or setup.manage_jobs_without_queue_name) and _ray_spec(obj) is not None:
            problems = _ray_problems(obj, elastic)
        if enabled and queue and queue not in setup.local_queues:
            problems.append(f"metadata.labels.{QUEUE_LABEL}: LocalQueue {queue!r} does not exist in the namespace (the workload stays pending)")
        managed = enabled and bool(queue or setup.manage_jobs_without_queue_name)
        spec = _ray_spec(obj)
        pod_sets = ("head", *[g.get("groupName", "") for g in (spec or {}).get("workerGroupSpecs") or []]) if spec is not None else ()
        out.append(Verdict(obj.get("kind", ""), _meta(obj).get("name", ""), managed and not owner_managed, queue, elastic and enabled, tuple(problems), pod_sets))
        for child in children(obj):
            visit(child, owner_managed=managed or owner_managed)

    visit(manifest, owner_managed=False)
    return out
