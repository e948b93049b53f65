"""Admitted: what Kueue (and its admission webhooks) decide for each workload, as PURE functions over the plan's
resources and the workload entries of stacks/tools/plan/lands.py. Added to lands' CHECKS (column "admitted").

Everything is read from what the plan registers, not from the spec: the Kueue release's values (the Configuration in
`managerConfig.controllerManagerConfigYaml`: `integrations.frameworks`, `manageJobsWithoutQueueName`,
`managedJobsNamespaceSelector`, `resources.excludeResourcePrefixes`; the chart's `controllerManager.featureGates`),
the Namespaces, LocalQueues, ClusterQueues, Cohorts and ResourceFlavors. Rules, from kubernetes-sigs/kueue v0.19.2:

* **Which object is the workload.** An integration's webhooks and reconciler run only when it is enabled
  (jobframework/setup.go: a no-op webhook otherwise). Walking from the submitted object down to what its operator
  creates (RayService -> RayCluster, CronJob -> Job, TrainJob -> JobSet, Deployment -> Pod), the first object of an
  enabled integration that has a queue is the Kueue workload; an object of a non-enabled integration is ignored by
  Kueue (it runs unqueued) and its children are looked at in turn.
* **Its LocalQueue** (jobframework/defaults.go `defaultLocalQueueApplies`,
  `ApplyDefaultLocalQueueWithManagedJobsNamespaceSelector`): the `kueue.x-k8s.io/queue-name` label, else — in a
  namespace with a LocalQueue named `default` that `managedJobsNamespaceSelector` matches (default: not
  kube-system and not Kueue's namespace, apis/config/v1beta2/defaults.go) — `default`, unless the object's
  controller owner is of an *enabled* integration (integrationmanager.go `IsOwnerManagedByKueueForObject`). An
  object owned by a NON-enabled integration (a RayService's RayCluster when `ray.io/rayservice` is off) is labelled
  too. KubeRay copies a RayService's labels and annotations to its RayCluster.
* **Webhook refusals** (pkg/controller/jobs/raycluster/raycluster_webhook.go `validateCreate`, raycluster/common.go
  `ValidateCreate` used by the RayJob and RayService webhooks, rayjob_webhook.go, jobframework/validation.go): a
  queued Ray object with `enableInTreeAutoscaling` that is not an elastic job (gate `ElasticJobsViaWorkloadSlices`,
  beta and on by default since 0.18, and annotation `kueue.x-k8s.io/elastic-job: "true"`); the elastic annotation on
  a kind that does not support it (Job, RayCluster, RayJob, RayService only); more than 18 pod sets; a worker group
  named `head`; a queued RayJob that does not shut its cluster down after it finishes, uses `clusterSelector`
  together with `rayClusterSpec`, or has neither; a queue name that is not a DNS subdomain.
* **Admission** (pkg/scheduler/flavorassigner/flavorassigner.go `findFlavorForPodSets`, `checkFlavorForPodSets`):
  per pod set, its total requests (count x per-pod requests as the scheduler computes them, LimitRange defaults
  included), resource by resource group: a requested resource no resource group covers blocks admission ("resource
  X unavailable in ClusterQueue", quota check strategy BlockUndeclared) unless `excludeResourcePrefixes` drops it;
  flavors are tried in their order, skipping one whose `nodeTaints` the pod does not tolerate or whose `nodeLabels`
  its node selector / required affinity (restricted to the flavor's label keys) contradicts; the first flavor where
  every resource fits nominal quota plus what it may borrow (`borrowingLimit`, within what the cohort's other
  ClusterQueues lend: their `lendingLimit`, else their nominal quota) is assigned (flavorFungibility default
  `whenCanBorrow: MayStopSearch`). The ClusterQueue's `namespaceSelector` must match the workload's namespace and
  every flavor it names must exist, else it admits nothing.
* **Then it must land there**: the flavor's `nodeLabels` become node selectors and its `tolerations` (Crucible's
  flavors state their pool's taints as `nodeTaints` instead) are added to the pod (podset.Merge on admission), and
  lands' per-pool fit (stacks/tools/plan/lands.py `lands_in_namespace`) must place
  it on the flavor's pool.
* **Priority class** (pkg/controller/jobframework/reconciler.go `ExtractPriority`): a `kueue.x-k8s.io/priority-class`
  label naming a WorkloadPriorityClass the plan does not register keeps Kueue from creating the workload (never
  admitted); the class's value is the workload's priority (no label: 0).
* **Topology-aware flavors** (pkg/scheduler/flavorassigner/tas_flavorassigner.go `checkPodSetAndFlavorMatchForTAS`):
  a pod set without a topology annotation (`kueue.x-k8s.io/podset-{required,preferred,unconstrained}-topology` on
  its template) is refused by a flavor with `topologyName` ("supports only TopologyAwareScheduling") unless every
  flavor of the ClusterQueue has one; a pod set with one is refused by a flavor without `topologyName` that covers
  what it requests ("does not support TopologyAwareScheduling"), by a flavor whose Topology the plan does not
  register, and by one whose Topology lacks the requested level. Topology-aware admission counts the pool's
  standing nodes (not modelled: the summary says so).
* **Preemption within a team** (:func:`preempts`): the ClusterQueue's `withinClusterQueue` against the two
  workloads' priorities, read from the registered WorkloadPriorityClasses.
* **CPU-only work on an accelerator flavor** is a violation unless the pool is meant for it: a pod set that requests
  no accelerator (`nvidia.com/gpu`, `aws.amazon.com/neuron*`, `vpc.amazonaws.com/efa`) assigned to a flavor whose
  pool has only accelerator instance types makes Karpenter launch an accelerator node for it.

The check is of one workload in an empty cluster: quota used by other workloads is not modelled (it delays
admission, it does not refuse it).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import yaml

from components.accelerators import DEVICE_RESOURCES, from_resource
from components.labels import EFA_RESOURCE, NODEPOOL_LABEL, POOL_LABEL
from stacks.derive.allocatable import format_quantity, parse_quantity
from stacks.tools.plan import lands as _lands
from stacks.tools.plan.lands import RELEASE_TYPE, Context, lands_in_namespace, pod_requests, reasons_by_namespace, tolerates

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
TOPOLOGY_ANNOTATIONS = (
    "kueue.x-k8s.io/podset-required-topology",
    "kueue.x-k8s.io/podset-preferred-topology",
    "kueue.x-k8s.io/podset-unconstrained-topology",
)
DEFAULT_LOCAL_QUEUE = "default"
ELASTIC_ANNOTATION = "kueue.x-k8s.io/elastic-job"  # pkg/constants ElasticJobAnnotation, value "true"
ELASTIC_GATE = "ElasticJobsViaWorkloadSlices"
MAX_POD_SETS = 18  # jobframework.MaxPodSets (0.19)
NAME_LABEL = "kubernetes.io/metadata.name"
# Kueue 0.19's defaults of the gates read here (pkg/features/kube_features.go).
TAS_GATE = "TopologyAwareScheduling"  # beta, on by default since 0.14
DEFAULT_FEATURE_GATES = {ELASTIC_GATE: True, TAS_GATE: True}
# jobframework/validation.go supportedElasticJobGVKs
ELASTIC_KINDS = frozenset({"Job", "RayCluster", "RayJob", "RayService"})
ACCELERATOR_PREFIXES = (*DEVICE_RESOURCES, EFA_RESOURCE)  # aws.amazon.com/neuron covers neuroncore too

# kind -> Kueue integration name (Configuration integrations.frameworks)
FRAMEWORKS = {
    "Job": "batch/job",
    "RayJob": "ray.io/rayjob",
    "RayCluster": "ray.io/raycluster",
    "RayService": "ray.io/rayservice",
    "MPIJob": "kubeflow.org/mpijob",
    "TrainJob": "trainer.kubeflow.org/trainjob",
    "JobSet": "jobset.x-k8s.io/jobset",
    "Pod": "pod",
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "LeaderWorkerSet": "leaderworkerset.x-k8s.io/leaderworkerset",
}
# What an operator creates from an object, with it as controller owner (the chain the webhooks see). KubeRay copies a
# RayService's labels and annotations to its RayCluster; the other operators do not copy the queue label.
CHILDREN = {
    "NotebookProfile": "Pod",
    "RayService": "RayCluster",
    "RayJob": "RayCluster",
    "CronJob": "Job",
    "TrainJob": "JobSet",
    "Deployment": "Pod",
    "LeaderWorkerSet": "StatefulSet",  # the LWS controller's leader StatefulSet (and a worker StatefulSet per group)
    "StatefulSet": "Pod",
    "Job": "Pod",
    "DaemonSet": "Pod",
    "ReplicaSet": "Pod",
}
# KubeSpawner creates the notebook pod itself, with the profile's labels (extra_labels: the team's LocalQueue).
COPIES_METADATA = {("RayService", "RayCluster"), ("NotebookProfile", "Pod")}
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# ---- what the submitted object says that Kueue reads (kept on each workload entry) ------------------------------


def kueue_facts(obj: Mapping) -> dict:
    """The parts of a workload's object Kueue's webhooks read, beyond its pod templates: labels, annotations and,
    for Ray objects, the cluster spec's autoscaling and worker group names (JSON, kept on the workload entry)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    facts: dict[str, Any] = {"labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {})}
    kind = obj.get("kind")
    ray = {"RayCluster": spec, "RayService": spec.get("rayClusterConfig"), "RayJob": spec.get("rayClusterSpec")}.get(kind)
    if kind in ("RayCluster", "RayService", "RayJob"):
        facts["rayCluster"] = (
            None
            if ray is None
            else {
                "enableInTreeAutoscaling": bool((ray or {}).get("enableInTreeAutoscaling") in (True, "true")),
                "workerGroups": [str(g.get("groupName", "")) for g in (ray or {}).get("workerGroupSpecs") or []],
            }
        )
    if kind == "RayJob":
        facts["shutdownAfterJobFinishes"] = bool(spec.get("shutdownAfterJobFinishes"))
        facts["clusterSelector"] = dict(spec.get("clusterSelector") or {})
    return facts


# ---- Kueue as the plan configures it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KueueConfig:
    integrations: frozenset[str]
    feature_gates: Mapping[str, bool]
    manage_jobs_without_queue_name: bool
    namespace_selector: Mapping  # managedJobsNamespaceSelector, defaulted
    exclude_prefixes: tuple[str, ...]
    namespace: str

    def gate(self, name: str) -> bool:
        return bool({**DEFAULT_FEATURE_GATES, **self.feature_gates}.get(name, False))


def kueue_release(resources: Sequence[Mapping]) -> Optional[Mapping]:
    for r in resources:
        inputs = r.get("inputs") or {}
        if r.get("type") == RELEASE_TYPE and str(inputs.get("chart", "")).rstrip("/").rsplit("/", 1)[-1] == "kueue":
            return inputs
    return None


def kueue_config(release_inputs: Mapping) -> KueueConfig:
    """Kueue's Configuration from the registered release's values (the chart's manager config and feature gates),
    with Kueue's own defaults for what it leaves out. Raises ValueError when the values are not readable."""
    values = release_inputs.get("values")
    if not isinstance(values, dict):
        raise ValueError("the Kueue release's values are not in the plan (a secret?)")
    manager = values.get("managerConfig") or {}
    text = manager.get("controllerManagerConfigYaml")
    if text is None:  # the chart's own default Configuration (values.yaml): its framework list
        config: dict = {
            "integrations": {
                "frameworks": [
                    "batch/job",
                    "kubeflow.org/mpijob",
                    "ray.io/rayjob",
                    "ray.io/rayservice",
                    "ray.io/raycluster",
                    "jobset.x-k8s.io/jobset",
                    "workload.codeflare.dev/appwrapper",
                    "trainer.kubeflow.org/trainjob",
                    "pod",
                    "deployment",
                    "statefulset",
                    "leaderworkerset.x-k8s.io/leaderworkerset",
                ]
            }
        }
    else:
        config = yaml.safe_load(text) if isinstance(text, str) else dict(text)
    namespace = str(config.get("namespace") or release_inputs.get("namespace") or "kueue-system")
    selector = config.get("managedJobsNamespaceSelector") or {
        "matchExpressions": [{"key": NAME_LABEL, "operator": "NotIn", "values": ["kube-system", namespace]}]
    }
    gates = {str(g.get("name")): g.get("enabled") in (True, "true") for g in ((values.get("controllerManager") or {}).get("featureGates") or [])}
    return KueueConfig(
        integrations=frozenset((config.get("integrations") or {}).get("frameworks") or []),
        feature_gates=gates,
        manage_jobs_without_queue_name=bool(config.get("manageJobsWithoutQueueName", False)),
        namespace_selector=selector,
        exclude_prefixes=tuple((config.get("resources") or {}).get("excludeResourcePrefixes") or []),
        namespace=namespace,
    )


def selector_matches(selector: Mapping, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector against labels (an empty selector matches everything)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), [str(v) for v in e.get("values") or []]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass
class Queues:
    """The Kueue objects of the plan."""

    config: Optional[KueueConfig]
    config_problem: Optional[str]
    namespaces: dict[str, dict[str, str]]  # name -> labels (with kubernetes.io/metadata.name)
    local_queues: dict[tuple[str, str], dict]  # (namespace, name) -> LocalQueue
    cluster_queues: dict[str, dict]
    flavors: dict[str, dict]
    priority_classes: dict[str, int] = field(default_factory=dict)  # WorkloadPriorityClass name -> value
    topologies: dict[str, tuple[str, ...]] = field(default_factory=dict)  # Topology name -> its levels' node labels

    @classmethod
    def build(cls, ctx: Context) -> "Queues":
        config, problem = None, None
        release = kueue_release(ctx.resources)
        if release is not None:
            try:
                config = kueue_config(release)
            except (ValueError, yaml.YAMLError) as error:
                problem = str(error)
        namespaces: dict[str, dict[str, str]] = {}
        local, cqs, flavors = {}, {}, {}
        classes: dict[str, int] = {}
        topologies: dict[str, tuple[str, ...]] = {}
        for obj in ctx.objects:
            meta = obj.get("metadata") or {}
            kind = obj.get("kind")
            if kind == "Namespace" and meta.get("name"):
                namespaces[meta["name"]] = {**{k: str(v) for k, v in (meta.get("labels") or {}).items()}, NAME_LABEL: meta["name"]}
            elif kind == "LocalQueue":
                local[(meta.get("namespace") or "default", meta.get("name"))] = obj
            elif kind == "ClusterQueue":
                cqs[meta.get("name")] = obj
            elif kind == "ResourceFlavor":
                flavors[meta.get("name")] = obj
            elif kind == "WorkloadPriorityClass":
                classes[meta.get("name")] = int(obj.get("value") or 0)
            elif kind == "Topology":
                topologies[meta.get("name")] = tuple(str(level.get("nodeLabel")) for level in ((obj.get("spec") or {}).get("levels") or []))
        return cls(config, problem, namespaces, local, cqs, flavors, classes, topologies)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return self.namespaces.get(namespace) or {NAME_LABEL: namespace}


def _queues(ctx: Context) -> Queues:
    cached = ctx.__dict__.get("_admitted_queues")
    if cached is None:
        cached = ctx.__dict__["_admitted_queues"] = Queues.build(ctx)
    return cached


# ---- which object is the workload, its queue, the webhook rules -------------------------------------------------


@dataclass
class Routing:
    """What Kueue makes of a submitted object in one namespace."""

    managed_kind: Optional[str] = None  # the kind Kueue manages as the workload (None: not managed)
    queue: Optional[str] = None
    chain: list[str] = field(default_factory=list)  # what happened on the way, for the summary
    refusals: list[str] = field(default_factory=list)
    outside: bool = False  # the namespace is not one Kueue manages (managedJobsNamespaceSelector)


# Controllers whose pods are made from the object's pod template, with the template's labels (the queue label a
# Deployment's or StatefulSet's author puts there is what Kueue's pod webhook reads).
TEMPLATE_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def route(kind: str, facts: Mapping, namespace: str, queues: Queues, pod_labels: Optional[Mapping] = None) -> Routing:
    """Walk the object and what its operator creates to the Kueue workload, applying the defaulting and validating
    webhooks of the enabled integrations. ``pod_labels``: the labels of the workload's pod template (its pods')."""
    config = queues.config
    out = Routing()
    labels = dict(facts.get("labels") or {})
    annotations = dict(facts.get("annotations") or {})
    owner_enabled = False
    owner: Optional[str] = None
    current: Optional[str] = kind
    default_lq = (namespace, DEFAULT_LOCAL_QUEUE) in queues.local_queues
    if not selector_matches(config.namespace_selector, queues.namespace_labels(namespace)):
        # Kueue 0.19 jobframework/reconciler.go: the reconciler skips every job of a namespace the selector does not
        # match, labelled or not (ManagedJobsNamespaceSelectorAlwaysRespected: GA, locked on), and the chart scopes
        # the webhooks to it: nothing there is queued, and a job submitted suspended stays suspended.
        out.outside = True
        out.chain.append(f"namespace {namespace} is outside Kueue's managedJobsNamespaceSelector: Kueue manages nothing there")
        return out
    while current is not None:
        framework = FRAMEWORKS.get(current)
        enabled = framework is not None and framework in config.integrations
        if enabled:
            queue = labels.get(QUEUE_LABEL) or None
            if not queue and default_lq and not owner_enabled:
                queue = DEFAULT_LOCAL_QUEUE
                out.chain.append(
                    f"{current} labelled with the namespace's LocalQueue default" + (f" (its owner {owner} is not an enabled integration)" if owner else "")
                )
            if queue or (config.manage_jobs_without_queue_name and not owner_enabled):
                out.managed_kind, out.queue = current, queue
                out.refusals = _refusals(current, facts if current == kind or (kind, current) in COPIES_METADATA else {}, labels, annotations, config, queue)
                return out
        elif framework is not None:
            out.chain.append(f"{current}: integration {framework or 'none'} not enabled, Kueue ignores it")
        child = CHILDREN.get(current)
        if child == "Pod" and current in TEMPLATE_OWNERS:
            labels, annotations = {k: str(v) for k, v in (pod_labels or {}).items()}, {}
        elif child is not None and (current, child) not in COPIES_METADATA:
            labels, annotations = {}, {}
        owner_enabled, owner = enabled, current
        current = child
    return out


def _refusals(kind: str, facts: Mapping, labels: Mapping, annotations: Mapping, config: KueueConfig, queue: Optional[str]) -> list[str]:
    out = []
    if queue and not _DNS_SUBDOMAIN.match(queue):
        out.append(f"label {QUEUE_LABEL}={queue!r} is not a DNS subdomain")
    elastic = config.gate(ELASTIC_GATE) and annotations.get(ELASTIC_ANNOTATION) == "true"
    if elastic and kind not in ELASTIC_KINDS:
        out.append(f"annotation {ELASTIC_ANNOTATION}: elastic job is not supported for {kind}")
    ray = facts.get("rayCluster", {}) if kind in ("RayCluster", "RayJob", "RayService") else {}
    if kind == "RayJob":
        selector, has_spec = facts.get("clusterSelector"), facts.get("rayCluster") is not None
        if selector and has_spec:
            out.append("spec.clusterSelector: a kueue managed job should not use an existing cluster")
        elif not selector and not has_spec:
            out.append("spec.rayClusterSpec is required for Kueue-managed jobs that don't use clusterSelector")
        if has_spec and not facts.get("shutdownAfterJobFinishes"):
            out.append("spec.shutdownAfterJobFinishes: a kueue managed job should delete the cluster after finishing")
    if ray:
        if ray.get("enableInTreeAutoscaling") and not elastic:
            gate = "" if config.gate(ELASTIC_GATE) else f"feature gate {ELASTIC_GATE} and "
            out.append(
                f'enableInTreeAutoscaling: a kueue-managed {kind} can use autoscaling only as an elastic job ({gate}annotation {ELASTIC_ANNOTATION}: "true")'
            )
        groups = ray.get("workerGroups") or []
        if 1 + len(groups) > MAX_POD_SETS:
            out.append(f"{1 + len(groups)} pod sets, at most {MAX_POD_SETS}")
        if "head" in groups:
            out.append("worker group name 'head' is reserved for the head group")
    return out


# ---- quota and flavors ------------------------------------------------------------------------------------------


def _quantity(entry: Mapping, key: str, resource: str) -> Optional[int]:
    value = entry.get(key)
    return None if value is None else parse_quantity(value, resource)


def _lendable(cq: Mapping, flavor: str, resource: str) -> int:
    for group in (cq.get("spec") or {}).get("resourceGroups") or []:
        for f in group.get("flavors") or []:
            if f.get("name") != flavor:
                continue
            for r in f.get("resources") or []:
                if r.get("name") == resource:
                    lending = _quantity(r, "lendingLimit", resource)
                    return lending if lending is not None else (_quantity(r, "nominalQuota", resource) or 0)
    return 0


def available(queues: Queues, cq_name: str, flavor: str, resource: str, entry: Mapping) -> tuple[int, int]:
    """(nominal, most the ClusterQueue can use) for one flavor and resource in an empty cluster: nominal quota plus
    what it may borrow from the other ClusterQueues of its cohort (their lending limit, else nominal quota)."""
    nominal = _quantity(entry, "nominalQuota", resource) or 0
    cohort = ((queues.cluster_queues.get(cq_name) or {}).get("spec") or {}).get("cohortName")
    if not cohort:
        return nominal, nominal
    lent = sum(
        _lendable(cq, flavor, resource)
        for name, cq in queues.cluster_queues.items()
        if name != cq_name and ((cq.get("spec") or {}).get("cohortName") == cohort)
    )
    limit = _quantity(entry, "borrowingLimit", resource)
    return nominal, nominal + (lent if limit is None else min(limit, lent))


def _flavor_matches(spec: Mapping, flavor: Mapping) -> Optional[str]:
    fspec = flavor.get("spec") or {}
    name = (flavor.get("metadata") or {}).get("name")
    tolerations = [*(spec.get("tolerations") or []), *(fspec.get("tolerations") or [])]
    for taint in fspec.get("nodeTaints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            key = taint.get("key")
            asked = {r for c in spec.get("containers") or [] for part in ("requests", "limits") for r in ((c.get("resources") or {}).get(part) or {})}
            asks = any(from_resource(r).resource == key for r in asked)  # aws.amazon.com/neuroncore is the neuron taint's too
            hint = f" (the pods ask for {key}: tolerate it, {{key: {key}, operator: Exists, effect: {taint.get('effect')}}})" if asks else ""
            return f"untolerated taint {key} in flavor {name}{hint}"
    node_labels = {k: str(v) for k, v in (fspec.get("nodeLabels") or {}).items()}
    keys = set(node_labels)
    for key, value in (spec.get("nodeSelector") or {}).items():
        if key in keys and node_labels[key] != str(value):
            return f"flavor {name} doesn't match node affinity ({key}={node_labels[key]}, the pod selects {value})"
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = []
    for term in required.get("nodeSelectorTerms") or []:
        kept = [e for e in term.get("matchExpressions") or [] if e.get("key") in keys]
        if not kept:
            terms = []  # a term with no relevant key matches any flavor
            break
        terms.append({"matchExpressions": kept})
    if terms and not _lands._terms_match(terms, {k: frozenset({v}) for k, v in node_labels.items()}):
        return f"flavor {name} doesn't match node affinity"
    return None


def topology_request(template: Mapping) -> Optional[tuple[str, str]]:
    """(annotation, level) of a pod template's topology request (level "" for unconstrained), or None."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    for key in TOPOLOGY_ANNOTATIONS:
        if key in annotations:
            return key, "" if key.endswith("unconstrained-topology") else str(annotations[key])
    return None


def _tas_mismatch(queues: Queues, template: Mapping, flavor: Mapping, tas_only: bool, overlaps: bool) -> Optional[str]:
    """Why a topology-aware rule keeps a pod set off ``flavor`` (None: it does not)."""
    if queues.config is not None and not queues.config.gate(TAS_GATE):
        return None
    name = (flavor.get("metadata") or {}).get("name")
    topology = (flavor.get("spec") or {}).get("topologyName")
    request = topology_request(template)
    if request is None and not tas_only:
        return (
            f"flavor {name} supports only TopologyAwareScheduling (the pod template asks for no topology: annotation {TOPOLOGY_ANNOTATIONS[1]})"
            if topology
            else None
        )
    if topology is None:
        return f"flavor {name} does not support TopologyAwareScheduling (the pod template asks for {request[0]})" if request and overlaps else None
    levels = queues.topologies.get(topology)
    if levels is None:
        return f"flavor {name} references Topology {topology}, which the plan does not register"
    if request and request[1] and request[1] not in levels:
        return f"flavor {name}'s Topology {topology} has no level {request[1]} (levels: {', '.join(levels)})"
    return None


def _is_accelerator_request(name: str) -> bool:
    return any(name.startswith(p) for p in ACCELERATOR_PREFIXES)


def admitted_template(template: Mapping, flavor: Mapping) -> dict:
    """The pod template as Kueue starts it on ``flavor``: its nodeLabels added as node selectors, its tolerations
    appended (podset.Merge)."""
    out = copy.deepcopy(dict(template))
    spec = out.setdefault("spec", {})
    fspec = flavor.get("spec") or {}
    if fspec.get("nodeLabels"):
        spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **{k: str(v) for k, v in fspec["nodeLabels"].items()}}
    if fspec.get("tolerations"):
        spec["tolerations"] = [*(spec.get("tolerations") or []), *copy.deepcopy(fspec["tolerations"])]
    return out


def _accelerator_pool(ctx: Context, flavor: Mapping) -> Optional[str]:
    """The pool a flavor's nodeLabels select when every instance type of it has an accelerator (None otherwise)."""
    labels = {k: str(v) for k, v in ((flavor.get("spec") or {}).get("nodeLabels") or {}).items()}
    for pool in ctx.pools:
        if not pool.types or not all(str(v) in (pool.types[0].labels.get(k) or ()) for k, v in labels.items()):
            continue
        if all(any(_is_accelerator_request(r) and q > 0 for r, q in t.allocatable.items()) for t in pool.types):
            return pool.name
    return None


def _selects_pool(template: Mapping, pool: str) -> bool:
    """The pod asks for this pool by name itself (nodeSelector karpenter.sh/nodepool or crucible.io/pool): CPU work
    meant to run there (`crucible verify`'s Lustre writers measure from a node of the pool that uses the file system),
    not CPU work Kueue's flavor order happened to put on an accelerator pool."""
    selector = ((template.get("spec") or {}).get("nodeSelector")) or {}
    return any(str(selector.get(key)) == pool for key in (NODEPOOL_LABEL, POOL_LABEL))


def _fits_beside(ctx: Context, flavor: Mapping, namespace: str, cpu_set: Mapping, accel_sets: Sequence[Mapping]) -> Optional[str]:
    """Where CPU-only pods of a workload pack beside its own accelerator pods on the flavor's pool (the nodes those
    need anyway): the instance type they share, "" when it cannot tell (the accelerator pods land nowhere: that is
    reported by itself), else None (Karpenter would launch a node for the CPU-only pods)."""
    limit_ranges = ctx.limit_ranges.get(namespace, [])
    cpu_req = pod_requests(((cpu_set.get("template") or {}).get("spec") or {}), limit_ranges)
    cpu_count = int(cpu_set.get("replicas") or 1)
    unknown = False
    for accel in accel_sets:
        template = admitted_template(accel.get("template") or {}, flavor)
        landed = lands_in_namespace(ctx, template, namespace)
        unknown = unknown or not landed["ok"]
        accel_req = pod_requests((template.get("spec") or {}), limit_ranges)
        count = int(accel.get("replicas") or 1)
        for placed in landed["pools"]:
            pool = next(p for p in ctx.pools if p.name == placed["pool"])
            for node in (t for t in pool.types if t.name in placed["instanceTypes"]):
                load, _ = ctx.daemon_load(pool, node)
                free = {r: v - load.get(r, 0) for r, v in node.allocatable.items()}
                per_node = min((free.get(r, 0) // v for r, v in accel_req.items() if v), default=0)
                if per_node < 1:
                    continue
                nodes = -(-count // per_node)
                left = {r: free.get(r, 0) - per_node * accel_req.get(r, 0) for r in free}
                beside = min((left.get(r, 0) // v for r, v in cpu_req.items() if v), default=0)
                if beside * nodes >= cpu_count:
                    return node.name
    return "" if unknown else None


def assign(ctx: Context, queues: Queues, cq_name: str, namespace: str, pod_sets: Sequence[Mapping]) -> dict:
    """First-fit flavor assignment of the workload's pod sets ({"role", "replicas", "template"}) in ClusterQueue
    ``cq_name``, then lands on the assigned flavor: {"ok", "flavors": {role: flavor}, "reasons": [...],
    "byRole": {role: [reasons]}} (``reasons``: what keeps the whole workload out)."""
    cq = queues.cluster_queues[cq_name]
    spec = cq.get("spec") or {}
    by_role: dict[str, list[str]] = {}
    ns_selector = spec.get("namespaceSelector")
    if ns_selector is not None and not selector_matches(ns_selector, queues.namespace_labels(namespace)):
        return {
            "ok": False,
            "admitted": False,
            "flavors": {},
            "byRole": {},
            "placed": {},
            "reasons": [f"ClusterQueue {cq_name}'s namespaceSelector does not match namespace {namespace}"],
        }
    groups = spec.get("resourceGroups") or []
    missing = sorted({f.get("name") for g in groups for f in g.get("flavors") or [] if f.get("name") not in queues.flavors})
    if missing:
        return {
            "ok": False,
            "admitted": False,
            "flavors": {},
            "byRole": {},
            "placed": {},
            "reasons": [f"ClusterQueue {cq_name} is inactive: ResourceFlavor {', '.join(missing)} not found"],
        }
    limit_ranges = ctx.limit_ranges.get(namespace, [])
    used: dict[tuple[str, str], int] = {}
    chosen: dict[str, str] = {}
    exclude = queues.config.exclude_prefixes if queues.config else ()
    covered = {r: g for g in groups for r in g.get("coveredResources") or []}
    tas_only = bool(groups) and all((queues.flavors[f.get("name")].get("spec") or {}).get("topologyName") for g in groups for f in g.get("flavors") or [])
    requests = {}
    for ps in pod_sets:
        pspec = (ps.get("template") or {}).get("spec") or {}
        requests[ps.get("role") or "main"] = {k: v for k, v in pod_requests(pspec, limit_ranges).items() if k != "pods"}
    for ps in pod_sets:
        role = ps.get("role") or "main"
        problems = by_role.setdefault(role, [])
        pspec = (ps.get("template") or {}).get("spec") or {}
        per_pod = requests[role]
        count = int(ps.get("replicas") or 1)
        total = {k: v * count for k, v in per_pod.items() if not any(k.startswith(p) for p in exclude)}
        if "pods" in covered:
            total["pods"] = count
        uncovered = sorted(r for r in total if r not in covered)
        if uncovered:
            problems.append(f"resource {', '.join(uncovered)} unavailable in ClusterQueue {cq_name}")
            continue
        for group in {id(g): g for r, g in covered.items() if r in total}.values():
            wanted = {r: v for r, v in total.items() if r in (group.get("coveredResources") or [])}
            tried = []
            assigned = None
            for f in group.get("flavors") or []:
                fname = f.get("name")
                mismatch = _flavor_matches(pspec, queues.flavors[fname]) or _tas_mismatch(
                    queues, ps.get("template") or {}, queues.flavors[fname], tas_only, bool(wanted)
                )
                if mismatch:
                    tried.append(mismatch)
                    continue
                short = []
                quotas = {r.get("name"): r for r in f.get("resources") or []}
                for r, v in sorted(wanted.items()):
                    nominal, most = available(queues, cq_name, fname, r, quotas.get(r) or {})
                    need = used.get((fname, r), 0) + v
                    if need > most:
                        short.append(
                            f"{r} {format_quantity(need, r)} > {format_quantity(most, r)} (nominal {format_quantity(nominal, r)} + borrowable {format_quantity(most - nominal, r)})"
                        )
                if short:
                    tried.append(f"flavor {fname}: {'; '.join(short)}")
                    continue
                assigned = fname
                break
            if assigned is None:
                shown = ", ".join(f"{k} {format_quantity(v, k)}" for k, v in sorted(per_pod.items()))
                problems.append(f"{count} x ({shown}): no flavor of ClusterQueue {cq_name} admits it: " + "; ".join(tried or ["it has no flavors"]))
                continue
            for r, v in wanted.items():
                used[(assigned, r)] = used.get((assigned, r), 0) + v
            chosen[role] = assigned
    placed: dict[str, list[str]] = {}  # admitted, but it would not run as meant there
    # Where they run, once every pod set has its flavor: on the flavor's pool, and CPU-only pod sets on an
    # accelerator pool only beside the workload's own accelerator pods of the same flavor.
    for ps in pod_sets:
        role = ps.get("role") or "main"
        if role not in chosen:
            continue
        assigned = chosen[role]
        flavor = queues.flavors[assigned]
        problems = placed.setdefault(role, [])
        if not any(_is_accelerator_request(k) for k in requests[role]):
            pool = _accelerator_pool(ctx, flavor)
            if pool is not None:
                accel = [
                    p
                    for p in pod_sets
                    if chosen.get(p.get("role") or "main") == assigned and any(_is_accelerator_request(k) for k in requests[p.get("role") or "main"])
                ]
                chosen_pool = not accel and _selects_pool(ps.get("template") or {}, pool)  # CPU work that asks for the pool itself
                if not chosen_pool and _fits_beside(ctx, flavor, namespace, ps, accel) is None:
                    beside = (
                        "they do not fit beside the workload's own accelerator pods"
                        if accel
                        else "the workload has no accelerator pods there to share nodes with"
                    )
                    problems.append(
                        f"CPU-only pods assigned flavor {assigned}, an accelerator pool ({pool}), and {beside}: "
                        "Karpenter would launch an accelerator node for them (give CPU work a cpu pool, first in the flavor order)"
                    )
        landed = lands_in_namespace(ctx, admitted_template(ps.get("template") or {}, flavor), namespace)
        if not landed["ok"]:
            problems.append(f"admitted on flavor {assigned} but lands nowhere there: " + "; ".join(landed["reasons"]))
    admitted = not any(by_role.values())
    ok = admitted and not any(placed.values())
    reasons = [f"{role}: {p}" for source in (by_role, placed) for role, ps in source.items() for p in ps]
    return {"ok": ok, "admitted": admitted, "flavors": chosen, "byRole": by_role, "placed": placed, "reasons": reasons}


# ---- the check ---------------------------------------------------------------------------------------------------


def _siblings(ctx: Context, workload: Mapping) -> list[Mapping]:
    """Every entry of the same object (its pod sets), this one included, in order."""
    key = (workload.get("file"), workload.get("source"), workload.get("kind"), workload.get("object"), tuple(workload.get("namespaces") or ()))
    found = [
        w
        for w in getattr(ctx, "workloads", ()) or ()
        if (w.get("file"), w.get("source"), w.get("kind"), w.get("object"), tuple(w.get("namespaces") or ())) == key
    ]
    return found or [workload]


def admitted_in_namespace(ctx: Context, workload: Mapping, namespace: str) -> dict:
    queues = _queues(ctx)
    if queues.config is None:
        if queues.config_problem:
            return {"ok": False, "summary": "Kueue config unknown", "reasons": [queues.config_problem]}
        return {"ok": True, "summary": "not queued (no Kueue in the plan)", "reasons": []}
    kind = str(workload.get("kind") or "")
    facts = workload.get("kueue") or {}
    routing = route(kind, facts, namespace, queues, ((workload.get("template") or {}).get("metadata") or {}).get("labels"))
    if routing.managed_kind is None:
        label = (facts.get("labels") or {}).get(QUEUE_LABEL)
        if label:  # the author meant it to be queued: Kueue ignoring it runs it outside the team's quota
            return {
                "ok": False,
                "summary": "ignored by Kueue",
                "reasons": [
                    *routing.chain,
                    f"labelled {QUEUE_LABEL}={label} but Kueue does not manage it: it runs outside the queue and its quota, "
                    "or, submitted suspended, never starts"
                    if routing.outside
                    else f"labelled {QUEUE_LABEL}={label} but no integration of it is enabled: it runs outside the queue and its quota",
                ],
            }
        return {"ok": True, "summary": "not queued" + (f" ({routing.chain[-1]})" if routing.chain else ""), "reasons": []}
    via = f" as {routing.managed_kind}" if routing.managed_kind != kind else ""
    if kind == "LeaderWorkerSet" and routing.managed_kind == "Pod":
        return {
            "ok": False,
            "summary": "queued pod by pod",
            "reasons": [
                *routing.chain,
                "a group's leader and workers are admitted one by one (integration leaderworkerset.x-k8s.io/leaderworkerset not enabled): "
                "a group can hold part of its accelerators while its other pods wait",
            ],
        }
    if routing.refusals:
        return {"ok": False, "summary": f"refused by Kueue's {routing.managed_kind} webhook", "reasons": [*routing.chain, *routing.refusals]}
    if not routing.queue:
        return {
            "ok": False,
            "summary": "never admitted",
            "reasons": [f"managed{via} without a queue name (manageJobsWithoutQueueName) and no LocalQueue default in {namespace}"],
        }
    wanted_class = (facts.get("labels") or {}).get(PRIORITY_CLASS_LABEL)
    if wanted_class and wanted_class not in queues.priority_classes:
        known = ", ".join(sorted(queues.priority_classes)) or "none registered"
        return {
            "ok": False,
            "summary": "never admitted",
            "reasons": [
                *routing.chain,
                f"label {PRIORITY_CLASS_LABEL}={wanted_class}: no such WorkloadPriorityClass ({known}); Kueue cannot create the workload",
            ],
        }
    lq = queues.local_queues.get((namespace, routing.queue))
    if lq is None:
        return {"ok": False, "summary": "never admitted", "reasons": [*routing.chain, f"LocalQueue {namespace}/{routing.queue} does not exist"]}
    cq_name = (lq.get("spec") or {}).get("clusterQueue")
    held = [(f"LocalQueue {namespace}/{routing.queue}", lq)]
    if cq_name in queues.cluster_queues:
        held.append((f"ClusterQueue {cq_name}", queues.cluster_queues[cq_name]))
    for what, obj in held:
        policy = (obj.get("spec") or {}).get("stopPolicy")
        if policy in ("Hold", "HoldAndDrain"):  # kueue v1beta2 StopPolicy: no new admissions
            return {"ok": False, "summary": "never admitted", "reasons": [f"{what} has stopPolicy {policy}: it admits nothing"]}
    if cq_name not in queues.cluster_queues:
        return {
            "ok": False,
            "summary": "never admitted",
            "reasons": [f"LocalQueue {namespace}/{routing.queue} points at ClusterQueue {cq_name}, which the plan does not register"],
        }
    # A RayService/RayJob's RayCluster is one workload with the same pod sets.
    pod_sets = [{"role": w.get("role"), "replicas": w.get("replicas"), "template": w.get("template")} for w in _siblings(ctx, workload)]
    result = assign(ctx, queues, cq_name, namespace, pod_sets)
    role = workload.get("role") or "main"
    mine = result["flavors"].get(role)
    path = f"{routing.queue} -> {cq_name}"
    if not result["admitted"]:
        own = result["byRole"].get(role) or []
        others = [r for r, ps in result["byRole"].items() if ps and r != role]
        reasons = [*routing.chain, *own] if result["byRole"] else [*routing.chain, *result["reasons"]]
        if others:
            reasons.append(f"the workload's pod set {', '.join(others)} is not admitted, so neither is this one (Kueue admits a workload whole)")
        return {"ok": False, "summary": f"{path}: not admitted", "reasons": reasons, "queue": routing.queue, "clusterQueue": cq_name}
    own = result["placed"].get(role) or []
    if own:
        return {
            "ok": False,
            "summary": f"{path} -> {mine}{via}: admitted, does not run as it should",
            "reasons": [*routing.chain, *own],
            "queue": routing.queue,
            "clusterQueue": cq_name,
            "flavor": mine,
        }
    topology = (queues.flavors.get(mine, {}).get("spec") or {}).get("topologyName") if mine else None
    request = topology_request(next((p["template"] or {} for p in pod_sets if (p.get("role") or "main") == role), {}))
    # topology-aware: placed within one domain of that level, counting the pool's standing nodes only
    placed_in = f" (TAS {(request[1] or 'unconstrained').rsplit('/', 1)[-1]})" if topology and request else ""
    return {
        "ok": True,
        "summary": f"{path} -> {mine}{via}{placed_in}",
        "reasons": [],
        "priority": {"class": wanted_class, "value": queues.priority_classes[wanted_class]} if wanted_class else {"class": None, "value": 0},
        "queue": routing.queue,
        "clusterQueue": cq_name,
        "flavor": mine,
        "flavors": result["flavors"],
    }


def preempts(queues: Queues, cq_name: str, incoming_class: Optional[str], victim_class: Optional[str]) -> bool:
    """Whether a pending workload of ``incoming_class`` may preempt an admitted one of ``victim_class`` in the same
    ClusterQueue when the queue's quota is used up (`withinClusterQueue`: Never, LowerPriority,
    LowerOrNewerEqualPriority; equal priority counts only for a newer victim, which the plan cannot know: not
    counted). A class the plan does not register raises KeyError; None is priority 0 (no label)."""
    policy = (((queues.cluster_queues.get(cq_name) or {}).get("spec") or {}).get("preemption") or {}).get("withinClusterQueue", "Never")
    value = lambda c: 0 if c is None else queues.priority_classes[c]  # noqa: E731
    return policy in ("LowerPriority", "LowerOrNewerEqualPriority") and value(incoming_class) > value(victim_class)


def admitted(ctx: Context, workload: Mapping) -> dict:
    """The admitted check for one workload entry, in every namespace it runs in."""
    namespaces = workload.get("namespaces") or ["default"]
    results = {ns: admitted_in_namespace(ctx, workload, ns) for ns in namespaces}
    failed = {ns: r for ns, r in results.items() if not r["ok"]}
    if not failed:
        routes: dict[tuple, list[str]] = {}
        for r in results.values():
            routes.setdefault((r.get("queue"), r.get("flavor"), r["summary"] if not r.get("queue") else r["summary"].rsplit(" -> ", 1)[-1]), []).append(
                r.get("clusterQueue") or ""
            )
        summaries = [f"{queue} -> {'|'.join(cqs)} -> {tail}" if queue else tail for (queue, _, tail), cqs in routes.items()]
        out = dict(next(iter(results.values())))
        out["summary"] = "; ".join(summaries)
        out["namespaces"] = {ns: {k: v for k, v in r.items() if k != "reasons"} for ns, r in results.items()} if len(results) > 1 else None
        return {k: v for k, v in out.items() if v is not None}
    reasons = reasons_by_namespace(failed, several=len(results) > 1)
    summaries = list(dict.fromkeys(r["summary"].split(": ", 1)[-1] for r in failed.values()))
    summary = f"{summaries[0]} in {', '.join(failed)}" if len(results) > 1 else next(iter(failed.values()))["summary"]
    return {"ok": False, "summary": summary, "reasons": reasons}


if not any(name == "admitted" for name, _, _ in _lands.CHECKS):
    _lands.CHECKS.append(("admitted", "admitted (queue -> ClusterQueue -> flavor)", admitted))
if not any(name == "kueue" for name, _ in _lands.ENTRY_FACTS):
    _lands.ENTRY_FACTS.append(("kueue", kueue_facts))
