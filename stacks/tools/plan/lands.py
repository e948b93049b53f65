"""Lands: for each pod template, the pools and instance types it fits, decided the way Karpenter and the scheduler
decide. PURE functions over plan resources (the `resources` of a plan document) and plain Kubernetes objects, so
`crucible check` re-evaluates a saved plan without the program.

A pod fits an instance type of a pool when

- its node selector and required node affinity match the labels the pool's nodes carry: the NodePool template's
  labels, its requirements (`In` gives the values Karpenter may pick), `karpenter.sh/nodepool`, and the labels of
  the instance type (instance-type, family, size, arch, os, gpu count); a key none of these defines never matches,
  as Karpenter refuses to launch for a label it does not know;
- it tolerates every NoSchedule/NoExecute taint of the NodePool template (startup taints are removed by an agent
  and do not count, as in Karpenter's simulation);
- its requests — per container `requests`, else `limits` (API server defaulting), else its namespace's LimitRange
  `defaultRequest` (`default`, then `max`, when unset), summed over containers and sidecars, at least the largest
  init container, plus one pod slot — fit the node's allocatable (stacks/derive/allocatable.py:
  :func:`node_allocatable`, from the registered EC2NodeClass) minus the requests of every DaemonSet whose pods run
  on that node (registered, or rendered from charts: ``extra_objects``), and the node fits the NodePool's limits.

Huge pages are zero unless a NodeOverlay (karpenter.sh/v1alpha1) gives the pool's nodes that capacity, the Karpenter
release turns the `nodeOverlay` feature gate on, and the pool's EC2NodeClass user data reserves them
(`nr_hugepages`): an overlay without the node reserving them advertises pages that do not exist.

Managed node groups (the system nodes) are pools too, with their labels and taints as registered.

Entry points: :func:`workloads_of` turns objects (examples, registered resources, rendered charts) into workload
entries with their pod templates; :func:`hub_profile_workloads` does so for JupyterHub profiles;
:func:`evaluate` runs every check in CHECKS over the entries (other checks — admitted, reaches — add themselves to
CHECKS) and returns the plan's `workloads` block with its violations.
"""

from __future__ import annotations

import copy
import re
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from components.accelerators import GPU
from components.catalog import load_catalog
from stacks.derive.allocatable import (
    HUGEPAGES_PREFIX,
    NodeConfig,
    format_quantity,
    node_allocatable,
    node_resources,
    parse_quantity,
)
from stacks.derive.capacity import max_pods

NODEPOOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS_TYPE = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODEOVERLAY_KIND = "NodeOverlay"
NODEGROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"

NODEPOOL_LABEL = "karpenter.sh/nodepool"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ARCH_LABEL = "kubernetes.io/arch"
OS_LABEL = "kubernetes.io/os"
ZONE_LABEL = "topology.kubernetes.io/zone"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
FAMILY_LABEL = "karpenter.k8s.aws/instance-family"
SIZE_LABEL = "karpenter.k8s.aws/instance-size"
GPU_COUNT_LABEL = "karpenter.k8s.aws/instance-gpu-count"
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
HUGEPAGES_RESERVED_MARK = "nr_hugepages"

_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
_CAPACITY_TYPES = {"ON_DEMAND": "on-demand", "SPOT": "spot", "CAPACITY_BLOCK": "reserved"}


# ---- kubernetes objects: kinds, pod templates -----------------------------------------------------------------


def _kind(obj: Mapping) -> str:
    return str(obj.get("kind") or "")


def _meta(obj: Mapping) -> dict:
    return obj.get("metadata") or {}


def objects_of(resources: Iterable[Mapping]) -> list[dict]:
    """The Kubernetes objects among plan resources (their inputs, with kind and apiVersion)."""
    out = []
    for r in resources:
        token = str(r.get("type", ""))
        if not token.startswith("kubernetes:") or token == RELEASE_TYPE:
            continue
        inputs = r.get("inputs") or {}
        if not isinstance(inputs, dict):
            continue
        obj = dict(inputs)
        obj.setdefault("kind", token.rsplit(":", 1)[-1])
        out.append(obj)
    return out


def _merge(base: Any, patch: Any) -> Any:
    """A strategic-merge-like patch: maps merge, lists of named maps merge by name, other lists append."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list):
        if all(isinstance(i, dict) and "name" in i for i in [*base, *patch]):
            out = [dict(i) for i in base]
            for item in patch:
                at = next((n for n, b in enumerate(out) if b["name"] == item["name"]), None)
                if at is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[at] = _merge(out[at], item)
            return out
        return [*copy.deepcopy(base), *copy.deepcopy(patch)]
    return copy.deepcopy(patch)


@dataclass(frozen=True)
class PodGroup:
    role: Optional[str]
    replicas: int
    template: dict  # {"metadata": ..., "spec": ...}


# KubeRay (ray-operator/controllers/ray/common/pod.go, BuildAutoscalerContainer) adds this sidecar to the head pod
# when in-tree autoscaling is on; `autoscalerOptions.resources` replaces its resources and
# `autoscalerOptions.securityContext` is its securityContext.
RAY_AUTOSCALER_RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


def _ray_groups(cluster: Mapping) -> list[PodGroup]:
    groups = []
    head = cluster.get("headGroupSpec") or {}
    if head.get("template"):
        template = copy.deepcopy(head["template"])
        if cluster.get("enableInTreeAutoscaling") in (True, "true"):
            options = cluster.get("autoscalerOptions") or {}
            sidecar = {"name": "autoscaler", "resources": copy.deepcopy(options.get("resources") or RAY_AUTOSCALER_RESOURCES)}
            if options.get("securityContext"):
                sidecar["securityContext"] = copy.deepcopy(options["securityContext"])
            spec = template.setdefault("spec", {})
            spec["containers"] = [*(spec.get("containers") or []), sidecar]
        groups.append(PodGroup("head", 1, template))
    for worker in cluster.get("workerGroupSpecs") or []:
        if worker.get("template"):
            replicas = max(int(worker.get("replicas") or 0), int(worker.get("minReplicas") or 0), 1) * int(worker.get("numOfHosts") or 1)
            groups.append(PodGroup(f"worker {worker.get('groupName', '')}".strip(), replicas, worker["template"]))
    return groups


# KubeRay's default submitter container (ray-operator/controllers/ray/common/job.go GetDefaultSubmitterContainer;
# Kueue 0.19 rayjob_controller.go defaultSubmitterResources counts the same).
RAY_SUBMITTER_RESOURCES = {"requests": {"cpu": "500m", "memory": "200Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def _rayjob_groups(spec: Mapping) -> list[PodGroup]:
    """A RayJob's cluster pods and its submitter: in K8sJobMode (the CRD's default) a Job of one pod from
    `submitterPodTemplate` or KubeRay's default (the head's image, RAY_SUBMITTER_RESOURCES, no placement); in
    SidecarMode a submitter container in the head pod."""
    cluster = spec.get("rayClusterSpec") or {}
    groups = _ray_groups(cluster)
    mode = spec.get("submissionMode") or "K8sJobMode"
    if mode == "K8sJobMode" and cluster:
        template = copy.deepcopy(spec.get("submitterPodTemplate") or {})
        if not template:
            head = (((cluster.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
            template = {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "ray-job-submitter", "image": head[0].get("image", ""), "resources": copy.deepcopy(RAY_SUBMITTER_RESOURCES)}],
                }
            }
        groups.append(PodGroup("submitter", 1, template))
    elif mode == "SidecarMode" and groups and groups[0].role == "head":
        spec_ = groups[0].template.setdefault("spec", {})
        spec_["containers"] = [*(spec_.get("containers") or []), {"name": "ray-job-submitter", "resources": copy.deepcopy(RAY_SUBMITTER_RESOURCES)}]
    return groups


def _trainjob_groups(obj: Mapping, runtimes: Mapping[str, Mapping]) -> list[PodGroup]:
    """A TrainJob's node pods: the runtime's `node` replicated job, with the job's runtimePatches and its trainer
    (image, command, env, resourcesPerNode) applied to the `node` container, as the Trainer controller builds it."""
    spec = obj.get("spec") or {}
    runtime = runtimes.get(((spec.get("runtimeRef") or {}).get("name")) or "")
    if runtime is None:
        return []
    rt_spec = copy.deepcopy(runtime.get("spec") or {})
    for patch in spec.get("runtimePatches") or []:
        if patch.get("trainingRuntimeSpec"):
            rt_spec = _merge(rt_spec, patch["trainingRuntimeSpec"])
    groups = []
    trainer = spec.get("trainer") or {}
    for job in ((rt_spec.get("template") or {}).get("spec") or {}).get("replicatedJobs") or []:
        if job.get("name") != "node":
            continue
        template = copy.deepcopy(((job.get("template") or {}).get("spec") or {}).get("template") or {})
        for container in (template.get("spec") or {}).get("containers") or []:
            if container.get("name") == "node":
                for key in ("image", "command", "args"):
                    if trainer.get(key):
                        container[key] = trainer[key]
                if trainer.get("env"):
                    container["env"] = _merge(container.get("env") or [], trainer["env"])
                if trainer.get("resourcesPerNode"):
                    container["resources"] = copy.deepcopy(trainer["resourcesPerNode"])
        nodes = int(trainer.get("numNodes") or (rt_spec.get("mlPolicy") or {}).get("numNodes") or 1)
        groups.append(PodGroup("node", nodes, template))
    return groups


def pod_groups(obj: Mapping, runtimes: Mapping[str, Mapping] = {}) -> list[PodGroup]:
    """The pod templates an object makes pods from, by role, with how many pods each."""
    kind, spec = _kind(obj), obj.get("spec") or {}
    if kind == "Pod":
        return [PodGroup(None, 1, {"metadata": _meta(obj), "spec": spec})]
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "Job", "DaemonSet") and spec.get("template"):
        replicas = 1 if kind in ("Job", "DaemonSet") else int(spec.get("replicas", 1) or 0)
        if kind == "Job":
            replicas = int(spec.get("parallelism", 1) or 1)
        return [PodGroup(None, replicas, spec["template"])] if replicas else []
    if kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
        return [PodGroup(None, 1, template)] if template else []
    if kind == "MPIJob":
        return [
            PodGroup(role, int(replica.get("replicas", 1) or 0), replica["template"])
            for role, replica in (spec.get("mpiReplicaSpecs") or {}).items()
            if replica.get("template") and int(replica.get("replicas", 1) or 0)
        ]
    if kind == "RayJob":
        return _rayjob_groups(spec)
    if kind == "RayCluster":
        return _ray_groups(spec)
    if kind == "RayService":
        return _ray_groups(spec.get("rayClusterConfig") or {})
    if kind == "TrainJob":
        return _trainjob_groups(obj, runtimes)
    if kind == "LeaderWorkerSet":
        return _lws_groups(spec)
    return []


def _lws_groups(spec: Mapping) -> list[PodGroup]:
    """A LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): `replicas` groups of one leader and size-1 workers; without
    a leaderTemplate the leader uses the workerTemplate."""
    template = spec.get("leaderWorkerTemplate") or {}
    groups = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    size = int(template.get("size", 1) or 1)
    worker = template.get("workerTemplate")
    leader = template.get("leaderTemplate") or worker
    out = [PodGroup("leader", groups, leader)] if leader and groups else []
    if worker and size > 1 and groups:
        out.append(PodGroup("worker", groups * (size - 1), worker))
    return out


def _runtimes(objects: Iterable[Mapping]) -> dict[str, dict]:
    return {_meta(o).get("name"): o for o in objects if _kind(o) in ("ClusterTrainingRuntime", "TrainingRuntime")}


# (key, function): more of an object kept on each of its workload entries, for checks that read beyond the pod
# template (stacks/tools/plan/admitted.py: what Kueue's webhooks read).
ENTRY_FACTS: list[tuple[str, Callable[[Mapping], Any]]] = []


def workloads_of(
    objects: Iterable[Mapping],
    *,
    source: str,
    namespaces: Sequence[str] = (),
    runtime_objects: Iterable[Mapping] = (),
    file: Optional[str] = None,
) -> list[dict]:
    """Workload entries (JSON) for every pod template of ``objects``. An object without a namespace runs in each of
    ``namespaces`` (the team namespaces an example is submitted to; `default` when none)."""
    objects = list(objects)
    runtimes = _runtimes([*runtime_objects, *objects])
    out = []
    for obj in objects:
        for group in pod_groups(obj, runtimes):
            meta = _meta(obj)
            where = [meta["namespace"]] if meta.get("namespace") else list(namespaces) or ["default"]
            name = f"{_kind(obj)} {meta.get('name')}" + (f" {group.role}" if group.role else "")
            entry = {
                "name": f"{file}: {name}" if file else (f"{where[0]}/{name}" if meta.get("namespace") else name),
                "source": source,
                "kind": _kind(obj),
                "object": meta.get("name"),
                "role": group.role,
                "namespaces": where,
                "replicas": group.replicas,
                "template": copy.deepcopy(group.template),
            }
            if file:
                entry["file"] = file
            for key, facts in ENTRY_FACTS:
                entry[key] = facts(obj)
            out.append(entry)
    return out


# ---- JupyterHub profiles: the pod KubeSpawner makes -------------------------------------------------------------

# KubeSpawner's ByteSpecification: K, M, G, T are powers of 1024.
_SPAWNER_BYTES = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
# z2jh scheduling.userPods.tolerations default: user pods tolerate the dedicated-user-node taints.
Z2JH_USER_TOLERATIONS = (
    {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"},
    {"key": "hub.jupyter.org_dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"},
)


def _spawner_bytes(value) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    if text and text[-1] in _SPAWNER_BYTES:
        return str(int(float(text[:-1]) * _SPAWNER_BYTES[text[-1]]))
    return text


def _notebook_security(values: Mapping, singleuser: Mapping, o: Mapping) -> tuple[dict, dict, list[dict]]:
    """(pod securityContext, container securityContext, init containers) KubeSpawner gives a notebook pod under z2jh
    (kubespawner/objects.py make_pod: fs_gid -> fsGroup, uid -> runAsUser, allow_privilege_escalation, then
    pod_security_context / container_security_context over them; the chart's block-cloud-metadata init container,
    privileged with NET_ADMIN, when singleuser.cloudMetadata.blockWithIptables is on)."""
    spawner = ((values.get("hub") or {}).get("config") or {}).get("KubeSpawner") or {}
    pod_sc: dict = {}
    fs_gid = o.get("fs_gid", singleuser.get("fsGid", 100))
    if fs_gid is not None:
        pod_sc["fsGroup"] = int(fs_gid)
    pod_sc.update(o.get("pod_security_context", spawner.get("pod_security_context")) or {})
    container_sc: dict = {}
    uid = o.get("uid", singleuser.get("uid", 1000))
    if uid is not None:
        container_sc["runAsUser"] = int(uid)
    escalation = o.get("allow_privilege_escalation", singleuser.get("allowPrivilegeEscalation", False))
    if escalation is not None:
        container_sc["allowPrivilegeEscalation"] = bool(escalation)
    container_sc.update(o.get("container_security_context", spawner.get("container_security_context")) or {})
    init = []
    if ((singleuser.get("cloudMetadata") or {}).get("blockWithIptables", True)) is True:
        init.append({"name": "block-cloud-metadata", "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}}})
    return pod_sc, container_sc, init


def hub_profile_workloads(release_inputs: Mapping) -> list[dict]:
    """One workload per notebook profile of a JupyterHub release (`singleuser` values with each profile's
    `kubespawner_override`), as KubeSpawner builds the notebook pod: in the profile's namespace (a team's, with
    teams; else the hub's), with its labels (the team's LocalQueue), resources, placement and security context."""
    from addons.jupyterhub import profile_entries

    values = release_inputs.get("values")
    if not isinstance(values, dict):
        return []  # values hidden as a secret: the profiles are not known
    singleuser = values.get("singleuser") or {}
    hub_namespace = release_inputs.get("namespace") or "default"
    scheduling = (values.get("scheduling") or {}).get("userPods") or {}
    base_tolerations = list(scheduling.get("tolerations", Z2JH_USER_TOLERATIONS))
    profiles = list(profile_entries(values)) or [(None, {"display_name": "default", "slug": "default"})]
    out = []
    for team, profile in profiles:
        o = profile.get("kubespawner_override") or {}

        def pick(override: str, section: str, key: str):
            return o[override] if override in o else (singleuser.get(section) or {}).get(key)

        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        for name, value in (("cpu", pick("cpu_guarantee", "cpu", "guarantee")), ("memory", _spawner_bytes(pick("mem_guarantee", "memory", "guarantee")))):
            if value is not None:
                requests[name] = str(value)
        for name, value in (("cpu", pick("cpu_limit", "cpu", "limit")), ("memory", _spawner_bytes(pick("mem_limit", "memory", "limit")))):
            if value is not None:
                limits[name] = str(value)
        extra = singleuser.get("extraResource") or {}
        requests.update({k: str(v) for k, v in (o.get("extra_resource_guarantees", extra.get("guarantees")) or {}).items()})
        limits.update({k: str(v) for k, v in (o.get("extra_resource_limits", extra.get("limits")) or {}).items()})
        selector = {**(singleuser.get("nodeSelector") or {}), **(o.get("node_selector") or {})}
        tolerations = [*base_tolerations, *(singleuser.get("extraTolerations") or []), *(o.get("tolerations") or [])]
        pod_sc, container_sc, init = _notebook_security(values, singleuser, o)
        container: dict = {
            "name": "notebook",
            "image": str((singleuser.get("image") or {}).get("name", "")),
            "resources": {"requests": requests, "limits": limits},
        }
        container["ports"] = [{"name": "notebook-port", "containerPort": 8888}]
        if container_sc:
            container["securityContext"] = container_sc
        spec: dict = {"containers": [container]}
        if init:
            spec["initContainers"] = init
        if pod_sc:
            spec["securityContext"] = pod_sc
        if selector:
            spec["nodeSelector"] = selector
        if tolerations:
            spec["tolerations"] = tolerations
        affinity = o.get("node_affinity_required") or singleuser.get("extraNodeAffinity", {}).get("required")
        if affinity:
            spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(affinity)}}}
        # A profile's extra_labels replaces singleuser.extraLabels (KubeSpawner applies overrides trait by trait).
        labels = {"component": "singleuser-server", **((o["extra_labels"] if "extra_labels" in o else singleuser.get("extraLabels")) or {})}
        slug = profile.get("slug") or profile.get("display_name")
        out.append(
            {
                "name": f"notebook profile {slug}",
                "source": "notebook",
                "kind": "NotebookProfile",
                "object": slug,
                "role": None,
                "team": team,
                "namespaces": [o.get("namespace") or hub_namespace],
                "replicas": 1,
                "template": {"metadata": {"labels": labels}, "spec": spec},
                # What Kueue's pod webhook reads: KubeSpawner puts the profile's extra_labels on the pod.
                "kueue": {"labels": {k: str(v) for k, v in labels.items()}, "annotations": {}},
            }
        )
    return out


# ---- pools: what Karpenter and the node groups offer ------------------------------------------------------------


@dataclass(frozen=True)
class NodeType:
    """One instance type of a pool: the labels its nodes can carry and what a pod can count on."""

    name: str
    labels: dict[str, frozenset]  # key -> the values a node may carry (zones, capacity types: any of several)
    allocatable: dict[str, int]
    capacity: dict[str, int]  # for the NodePool limits
    huge_pages_note: Optional[str] = None  # why huge pages are (not) there


@dataclass(frozen=True)
class Pool:
    name: str
    provider: str  # karpenter | nodegroup
    taints: tuple[dict, ...]
    types: tuple[NodeType, ...]
    limits: dict[str, int] = field(default_factory=dict)
    unknown_types: tuple[str, ...] = ()
    # Labels its nodes register with from user data (kubelet --node-labels), unknown to the NodePool template: a
    # DaemonSet's pods see them on the node; Karpenter's provisioning (workloads, DaemonSet overhead) does not.
    boot_labels: dict[str, frozenset] = field(default_factory=dict)


def _by_name(objects: Iterable[Mapping], kind: str) -> dict[str, dict]:
    return {_meta(o).get("name"): o for o in objects if _kind(o) == kind}


def _requirement_values(requirements: Sequence[Mapping], key: str) -> Optional[list[str]]:
    for req in requirements:
        if req.get("key") == key and req.get("operator") == "In":
            return [str(v) for v in req.get("values") or []]
    return None


def _type_labels(it) -> dict[str, frozenset]:
    labels = {
        INSTANCE_TYPE_LABEL: {it.name},
        FAMILY_LABEL: {it.family},
        SIZE_LABEL: {it.size},
        ARCH_LABEL: {it.kube_arch},
        OS_LABEL: {"linux"},
    }
    if it.kind == GPU.kind:  # Karpenter's instance-gpu-count is for NVIDIA GPUs
        labels[GPU_COUNT_LABEL] = {str(it.accelerator_count)}
    return {k: frozenset(v) for k, v in labels.items()}


def _allows(requirements: Sequence[Mapping], labels: Mapping[str, frozenset]) -> dict[str, frozenset]:
    """Narrow a node's label domain by a NodePool's requirements; a key a requirement excludes entirely is empty."""
    out = dict(labels)
    for req in requirements:
        key, op, values = req.get("key"), req.get("operator"), frozenset(str(v) for v in req.get("values") or [])
        if op == "In":
            out[key] = (out[key] & values) if key in out else values
        elif op == "NotIn" and key in out:
            out[key] = out[key] - values
        elif op == "Exists" and key not in out:
            out[key] = frozenset({"*"})
        elif op in ("Gt", "Lt") and key in out and values:
            bound = int(next(iter(values)))
            out[key] = frozenset(v for v in out[key] if v.lstrip("-").isdigit() and (int(v) > bound if op == "Gt" else int(v) < bound))
    return out


def _node_config(node_class: Mapping, huge_pages: Mapping[str, int]) -> NodeConfig:
    spec = node_class.get("spec") or {}
    alias = next((t.get("alias") for t in spec.get("amiSelectorTerms") or [] if t.get("alias")), "al2023@latest")
    family = {"al2023": "AL2023", "bottlerocket": "Bottlerocket"}.get(str(alias).split("@")[0], str(alias).split("@")[0])
    kubelet = spec.get("kubelet") or {}
    root = next((b for b in spec.get("blockDeviceMappings") or [] if b.get("rootVolume")), None)
    root_size = (root.get("ebs") or {}).get("volumeSize") if root else None
    return NodeConfig(
        ami_family=family,
        max_pods=kubelet.get("maxPods"),
        network_interfaces=spec.get("networkInterfaces"),
        root_volume_bytes=parse_quantity(root_size) if root_size else None,
        instance_store_raid0=spec.get("instanceStorePolicy") == "RAID0",
        kube_reserved=kubelet.get("kubeReserved") or {},
        system_reserved=kubelet.get("systemReserved") or {},
        eviction_hard=kubelet.get("evictionHard") or {},
        huge_pages=dict(huge_pages),
    )


def _node_overlay_gate(resources: Iterable[Mapping]) -> bool:
    """Karpenter's `nodeOverlay` feature gate, as the registered Karpenter release sets it (off by default)."""
    for r in resources:
        if r.get("type") == RELEASE_TYPE and str((r.get("inputs") or {}).get("chart", "")).rsplit("/", 1)[-1] == "karpenter":
            values = (r.get("inputs") or {}).get("values")
            gates = (((values or {}).get("settings") or {}).get("featureGates") or {}) if isinstance(values, dict) else {}
            if gates.get("nodeOverlay") in (True, "true"):
                return True
    return False


def _overlay_huge_pages(overlays: Sequence[Mapping], labels: Mapping[str, frozenset]) -> dict[str, int]:
    """Huge pages the NodeOverlays whose requirements the node matches add to its capacity (the heaviest wins)."""
    found: dict[str, tuple[int, int]] = {}
    for overlay in overlays:
        spec = overlay.get("spec") or {}
        if not _terms_match([{"matchExpressions": spec.get("requirements") or []}], labels):
            continue
        weight = int(spec.get("weight") or 0)
        for name, value in (spec.get("capacity") or {}).items():
            if name.startswith(HUGEPAGES_PREFIX) and (name not in found or weight > found[name][0]):
                found[name] = (weight, parse_quantity(value, name))
    return {name: value for name, (_, value) in found.items()}


_NODE_LABELS_FLAG = re.compile(r"--node-labels=(\S+)")
_BOTTLEROCKET_LABELS = re.compile(r"^\[settings\.kubernetes\.node-labels\]\s*$(.*?)(?=^\[|\Z)", re.MULTILINE | re.DOTALL)


def boot_labels(user_data: str) -> dict[str, frozenset]:
    """The node labels an EC2NodeClass's user data adds at registration: kubelet `--node-labels=k=v,...` (an AL2023
    NodeConfig flag) or Bottlerocket's `[settings.kubernetes.node-labels]` table."""
    out: dict[str, frozenset] = {}
    for flag in _NODE_LABELS_FLAG.findall(user_data or ""):
        for pair in flag.split(","):
            key, _, value = pair.partition("=")
            out[key] = frozenset({value})
    for table in _BOTTLEROCKET_LABELS.findall(user_data or ""):
        for key, value in re.findall(r'^\s*"([^"]+)"\s*=\s*"([^"]*)"', table, flags=re.MULTILINE):
            out[key] = frozenset({value})
    return out


def pools_of(resources: Sequence[Mapping], extra_objects: Sequence[Mapping] = ()) -> list[Pool]:
    """Every pool the plan registers: Karpenter NodePools (with their EC2NodeClass and the NodeOverlays that apply)
    and EKS managed node groups."""
    catalog = load_catalog()
    objects = [*objects_of(resources), *extra_objects]
    classes = _by_name(objects, "EC2NodeClass")
    overlays = [o for o in objects if _kind(o) == NODEOVERLAY_KIND]
    gate = _node_overlay_gate(resources)
    pools = []
    for pool in (o for o in objects if _kind(o) == "NodePool"):
        name = _meta(pool).get("name")
        spec = pool.get("spec") or {}
        template = spec.get("template") or {}
        tspec = template.get("spec") or {}
        requirements = tspec.get("requirements") or []
        node_class = classes.get((tspec.get("nodeClassRef") or {}).get("name")) or {}
        labels = {k: frozenset({str(v)}) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
        labels[NODEPOOL_LABEL] = frozenset({name})
        wanted = _requirement_values(requirements, INSTANCE_TYPE_LABEL)
        candidates = [catalog.get(n) for n in wanted if n in catalog] if wanted is not None else list(catalog)
        unknown = tuple(n for n in wanted or () if n not in catalog)
        reserves = HUGEPAGES_RESERVED_MARK in str((node_class.get("spec") or {}).get("userData") or "")
        types = []
        for it in candidates:
            domain = _allows(requirements, {**_type_labels(it), **labels})
            if any(not v for v in domain.values()):
                continue  # a requirement excludes this type (family, arch, gpu count…)
            huge = _overlay_huge_pages(overlays, domain)
            note = None
            if huge and not gate:
                note, huge = "a NodeOverlay gives huge pages but Karpenter's nodeOverlay feature gate is off", {}
            elif huge and not reserves:
                note, huge = (
                    f"a NodeOverlay gives huge pages but EC2NodeClass {node_class and _meta(node_class).get('name')} does not reserve them ({HUGEPAGES_RESERVED_MARK})",
                    {},
                )
            config = _node_config(node_class, huge)
            allocatable = node_allocatable(it, config)
            capacity = node_resources(it, config).capacity
            types.append(NodeType(it.name, domain, allocatable, capacity, note))
        limits = {k: parse_quantity(v, k) for k, v in (spec.get("limits") or {}).items()}
        booted = boot_labels(str((node_class.get("spec") or {}).get("userData") or ""))
        pools.append(Pool(name, "karpenter", tuple(t for t in tspec.get("taints") or []), tuple(types), limits, unknown, booted))
    for r in resources:
        if r.get("type") != NODEGROUP_TYPE:
            continue
        inputs = r.get("inputs") or {}
        name = inputs.get("nodeGroupName") or r.get("name")
        labels = {k: frozenset({str(v)}) for k, v in (inputs.get("labels") or {}).items()}
        labels[NODEGROUP_LABEL] = frozenset({str(name)})
        labels[CAPACITY_TYPE_LABEL] = frozenset({_CAPACITY_TYPES.get(str(inputs.get("capacityType", "ON_DEMAND")), "on-demand")})
        taints = tuple(
            {"key": t.get("key"), "value": t.get("value"), "effect": _TAINT_EFFECTS.get(t.get("effect"), t.get("effect"))} for t in inputs.get("taints") or []
        )
        types = []
        for type_name in inputs.get("instanceTypes") or []:
            if type_name not in catalog:
                continue
            it = catalog.get(type_name)
            # EKS sets a managed node group's maxPods itself (its max-pods calculator, prefix delegation on).
            config = NodeConfig(ami_family="Bottlerocket" if "BOTTLEROCKET" in str(inputs.get("amiType", "")) else "AL2023", max_pods=max_pods(it))
            types.append(NodeType(type_name, {**_type_labels(it), **labels}, node_allocatable(it, config), node_resources(it, config).capacity))
        pools.append(Pool(str(name), "nodegroup", taints, tuple(types)))
    return pools


# ---- matching: selectors, affinity, taints ----------------------------------------------------------------------


def _expression_matches(expr: Mapping, labels: Mapping[str, frozenset]) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    have = labels.get(key)
    if op == "In":
        return have is not None and bool(have & set(values))
    if op == "NotIn":
        return have is None or bool(have - set(values))
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and values:
        try:
            bound = int(values[0])
            return any((int(v) > bound) if op == "Gt" else (int(v) < bound) for v in have if v.lstrip("-").isdigit())
        except ValueError:
            return False
    return False


def _terms_match(terms: Sequence[Mapping], labels: Mapping[str, frozenset]) -> bool:
    """Node selector terms: any term whose expressions all match (an empty list of terms matches nothing)."""
    return any(all(_expression_matches(e, labels) for e in term.get("matchExpressions") or []) for term in terms)


def _selector_problem(spec: Mapping, labels: Mapping[str, frozenset]) -> Optional[str]:
    for key, value in (spec.get("nodeSelector") or {}).items():
        have = labels.get(key)
        if have is None:
            return f"node selector {key}={value}: its nodes have no label {key}"
        if str(value) not in have:
            return f"node selector {key}={value}: its nodes have {key}={'|'.join(sorted(have))}"
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms")
    if terms is not None and not _terms_match(terms, labels):
        return "required node affinity matches none of its nodes' labels"
    return None


def tolerates(tolerations: Sequence[Mapping], taint: Mapping) -> bool:
    for t in tolerations or ():
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if not t.get("key"):
            if t.get("operator") == "Exists":
                return True
            continue
        if t.get("key") != taint.get("key"):
            continue
        if t.get("operator") == "Exists" or str(t.get("value") or "") == str(taint.get("value") or ""):
            return True
    return False


def _untolerated(spec: Mapping, taints: Sequence[Mapping]) -> Optional[dict]:
    for taint in taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(spec.get("tolerations") or [], taint):
            return taint
    return None


def _taint_text(taint: Mapping) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


# ---- requests ---------------------------------------------------------------------------------------------------


def limit_ranges_of(objects: Iterable[Mapping]) -> dict[str, list[dict]]:
    """Container LimitRange items by namespace, with the API server's defaulting of the LimitRange itself
    (`default` from `max`, `defaultRequest` from `default`)."""
    out: dict[str, list[dict]] = {}
    for obj in objects:
        if _kind(obj) != "LimitRange":
            continue
        for item in (obj.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            default = {**(item.get("max") or {}), **(item.get("default") or {})}
            default_request = {**default, **(item.get("defaultRequest") or {})}
            out.setdefault(_meta(obj).get("namespace") or "default", []).append({"default": default, "defaultRequest": default_request})
    return out


def container_requests(container: Mapping, limit_ranges: Sequence[Mapping] = ()) -> dict[str, int]:
    """A container's requests as admitted: its requests, else its limits, else the LimitRange's defaultRequest."""
    resources = container.get("resources") or {}
    requests = dict(resources.get("requests") or {})
    limits = dict(resources.get("limits") or {})
    for name, value in limits.items():
        requests.setdefault(name, value)
    for item in limit_ranges:
        for name, value in item["defaultRequest"].items():
            requests.setdefault(name, value)
    return {name: parse_quantity(value, name) for name, value in requests.items()}


def limit_refusals(spec: Mapping, limit_ranges: Sequence[Mapping] = ()) -> list[str]:
    """Why the API server refuses the pod for its containers' requests and limits, as it decides them: a request
    not given is the limit given (API defaulting), then the LimitRanger admission plugin fills a limit not given
    from the LimitRange's `default` and a request from its `defaultRequest`, and validation refuses a request above
    its limit (Kubernetes: "Limit Ranges", a request above the namespace's default limit makes the pod invalid)."""
    out = []
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        resources = c.get("resources") or {}
        limits = dict(resources.get("limits") or {})
        requests = {**limits, **(resources.get("requests") or {})}
        defaulted: set[str] = set()
        for item in limit_ranges:
            for name, value in item["default"].items():
                if name not in limits:
                    limits[name] = value
                    defaulted.add(name)
            for name, value in item["defaultRequest"].items():
                requests.setdefault(name, value)
        for name, value in requests.items():
            if name in limits and parse_quantity(value, name) > parse_quantity(limits[name], name):
                source = " (the namespace's LimitRange default)" if name in defaulted else ""
                out.append(
                    f"the API server refuses the pod: container {c.get('name')} requests {name} {value}, above its limit {limits[name]}{source}; "
                    "a request must not exceed its limit"
                )
    return out


def pod_requests(spec: Mapping, limit_ranges: Sequence[Mapping] = ()) -> dict[str, int]:
    """The pod's effective requests as the scheduler computes them: containers and sidecars summed, at least the
    largest init container (with the sidecars started before it), plus the pod overhead and one pod slot."""
    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        for name, value in container_requests(c, limit_ranges).items():
            total[name] = total.get(name, 0) + value
    sidecars: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for c in spec.get("initContainers") or []:
        req = container_requests(c, limit_ranges)
        if c.get("restartPolicy") == "Always":
            for name, value in req.items():
                sidecars[name] = sidecars.get(name, 0) + value
            current = dict(sidecars)
        else:
            current = {name: req.get(name, 0) + sidecars.get(name, 0) for name in {*req, *sidecars}}
        for name, value in current.items():
            init_max[name] = max(init_max.get(name, 0), value)
    for name, value in sidecars.items():
        total[name] = total.get(name, 0) + value
    for name, value in init_max.items():
        total[name] = max(total.get(name, 0), value)
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0) + parse_quantity(value, name)
    total["pods"] = total.get("pods", 0) + 1
    return {name: value for name, value in total.items() if value}


# ---- the check ---------------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every workload is checked against, built once per plan."""

    resources: Sequence[Mapping]
    objects: list[dict]  # registered Kubernetes objects and rendered chart objects
    pools: list[Pool]
    limit_ranges: dict[str, list[dict]]
    daemonsets: list[dict]  # DaemonSet objects
    workloads: Sequence[Mapping] = ()  # every entry checked (a check may look at an object's other pod sets)
    deploy_network: Optional[dict] = None  # the declared cluster.apiAccess (the security-group flows)
    extra_objects: list = field(default_factory=list)  # the objects beyond the resources (rendered charts), as handed
    assumed_resources: list = field(default_factory=list)  # what a lower stack registers (among ``resources`` too)

    @classmethod
    def build(cls, resources: Sequence[Mapping], extra_objects: Sequence[Mapping] = ()) -> "Context":
        objects = [*objects_of(resources), *[dict(o) for o in extra_objects]]
        return cls(
            resources=resources,
            objects=objects,
            pools=pools_of(resources, extra_objects),
            limit_ranges=limit_ranges_of(objects),
            daemonsets=[o for o in objects if _kind(o) == "DaemonSet"],
        )

    @functools.cached_property
    def _daemon_load(self) -> dict[tuple[str, str], tuple[dict[str, int], list[str]]]:
        """Per (pool, instance type): the requests of the DaemonSet pods that run there, and their names."""
        out = {}
        for pool in self.pools:
            for node in pool.types:
                load: dict[str, int] = {}
                names = []
                for ds in self.daemonsets:
                    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
                    if _selector_problem(spec, node.labels) or _untolerated(spec, pool.taints):
                        continue
                    namespace = _meta(ds).get("namespace") or "default"
                    for name, value in pod_requests(spec, self.limit_ranges.get(namespace, [])).items():
                        load[name] = load.get(name, 0) + value
                    names.append(f"{namespace}/{_meta(ds).get('name')}")
                out[(pool.name, node.name)] = (load, names)
        return out

    def daemon_load(self, pool: Pool, node: NodeType) -> tuple[dict[str, int], list[str]]:
        return self._daemon_load[(pool.name, node.name)]


def _shortfall(requests: Mapping[str, int], free: Mapping[str, int]) -> list[tuple[str, int, int]]:
    return [(name, value, free.get(name, 0)) for name, value in sorted(requests.items()) if value > free.get(name, 0)]


def _over_limits(node: NodeType, limits: Mapping[str, int]) -> Optional[str]:
    for name, limit in limits.items():
        if node.capacity.get(name, 0) > limit:
            return f"one {node.name} node ({name} {format_quantity(node.capacity[name], name)}) exceeds the NodePool limit {format_quantity(limit, name)}"
    return None


def lands_in_namespace(ctx: Context, template: Mapping, namespace: str, daemonset: Optional[str] = None) -> dict:
    """Where one pod template lands in ``namespace``: {"ok", "pools": [{"pool", "instanceTypes"}], "reasons"}.

    ``daemonset`` ("namespace/name"): the template is that DaemonSet's, which runs only where it selects and must
    fit beside the other DaemonSets there; a DaemonSet no pool selects is fine (it runs nowhere by design)."""
    spec = template.get("spec") or {}
    requests = pod_requests(spec, ctx.limit_ranges.get(namespace, []))
    refused = limit_refusals(spec, ctx.limit_ranges.get(namespace, []))
    if refused:
        return {"ok": False, "pools": [], "reasons": refused, "requests": {k: format_quantity(v, k) for k, v in requests.items()}}
    landed: list[dict] = []
    close: list[str] = []  # pools it is scheduled to but where no node has room
    far: list[str] = []  # pools its selectors or tolerations rule out
    for pool in ctx.pools:
        taint = _untolerated(spec, pool.taints)
        if taint is not None:
            far.append(f"pool {pool.name}: does not tolerate taint {_taint_text(taint)}")
            continue
        if not pool.types:
            far.append(f"pool {pool.name}: no instance type of it is in the catalog" + (f" ({', '.join(pool.unknown_types)})" if pool.unknown_types else ""))
            continue
        # A DaemonSet's pods are placed on the registered node, its boot labels included.
        seen = (lambda n: {**n.labels, **pool.boot_labels}) if daemonset is not None else (lambda n: n.labels)
        matching = [n for n in pool.types if _selector_problem(spec, seen(n)) is None]
        if not matching:
            far.append(f"pool {pool.name}: {_selector_problem(spec, seen(pool.types[0]))}")
            continue
        fits, misses = [], []
        short_by: dict[str, list[tuple[str, int, list[str], Optional[str]]]] = {}  # resource -> (type, free, daemons, note)
        for node in matching:
            limit = _over_limits(node, pool.limits) if pool.provider == "karpenter" else None
            if limit:
                misses.append(limit)
                continue
            load, daemons = ctx.daemon_load(pool, node)
            if daemonset is not None and daemonset in daemons:
                load = {name: value - requests.get(name, 0) for name, value in load.items()}
                daemons = [d for d in daemons if d != daemonset]
            free = {name: value - load.get(name, 0) for name, value in node.allocatable.items()}
            short = _shortfall(requests, free)
            if not short:
                fits.append(node.name)
                continue
            name, _, have = short[0]
            short_by.setdefault(name, []).append((node.name, have, daemons if load.get(name) else [], node.huge_pages_note))
        for name, nodes in short_by.items():
            has = ", ".join(f"{t} has {format_quantity(max(h, 0), name)}" for t, h, _, _ in nodes)
            text = f"{name} requests {format_quantity(requests[name], name)}, {has} allocatable"
            daemons = sorted({d for _, _, ds, _ in nodes for d in ds})
            if daemons:
                text += f" after DaemonSets ({', '.join(daemons)})"
            if name.startswith(HUGEPAGES_PREFIX):
                notes = sorted({n for _, _, _, n in nodes if n}) or ["Karpenter models no huge pages unless a NodeOverlay provides them"]
                text += f"; {'; '.join(notes)}"
            misses.append(text)
        if fits:
            landed.append({"pool": pool.name, "instanceTypes": fits})
        else:
            close.append(f"pool {pool.name}: " + "; ".join(dict.fromkeys(misses)))
    if not ctx.pools:
        close.append("the plan registers no pool (NodePool or node group)")
    shown = {k: format_quantity(v, k) for k, v in requests.items()}
    if daemonset is not None:  # it must fit every node it selects
        return {"ok": not close, "pools": landed, "reasons": close, "requests": shown}
    return {"ok": bool(landed), "pools": landed, "reasons": [] if landed else (close or far), "requests": shown}


def reasons_by_namespace(failed: Mapping[str, Mapping], several: bool) -> list[str]:
    """The reasons of a check that failed in some of a workload's namespaces, each set said once with the namespaces
    it holds for (``several``: the workload runs in more than one namespace, so say which)."""
    by_reasons: dict[tuple[str, ...], list[str]] = {}
    for ns, r in failed.items():
        by_reasons.setdefault(tuple(r["reasons"]), []).append(ns)
    reasons = []
    for found, where in by_reasons.items():
        prefix = f"in {', '.join(where)}: " if several else ""
        reasons.extend(prefix + reason for reason in found)
    return reasons


def lands(ctx: Context, workload: Mapping) -> dict:
    """The lands check for one workload entry: it must land in every namespace it runs in."""
    namespaces = workload.get("namespaces") or ["default"]
    daemonset = f"{namespaces[0]}/{workload.get('object')}" if workload.get("kind") == "DaemonSet" else None
    results = {ns: lands_in_namespace(ctx, workload.get("template") or {}, ns, daemonset) for ns in namespaces}
    first = next(iter(results.values()))
    failed = {ns: r for ns, r in results.items() if not r["ok"]}
    if not failed:
        summary = "; ".join(f"{p['pool']} ({', '.join(p['instanceTypes'])})" for p in first["pools"]) or "no pool selects it (runs nowhere)"
        return {"ok": True, "summary": summary, "pools": first["pools"], "requests": first["requests"], "reasons": []}
    reasons = reasons_by_namespace(failed, several=len(results) > 1)
    return {"ok": False, "summary": "lands nowhere", "pools": [], "requests": next(iter(failed.values()))["requests"], "reasons": reasons}


Check = Callable[[Context, Mapping], dict]
# (name, column title, function): each returns {"ok", "summary", "reasons", ...} for one workload. The admitted
# and reaches checks add themselves here.
CHECKS: list[tuple[str, str, Check]] = [("lands", "lands on", lands)]
# The order of the checks in a workload's results and the report's columns: declared, never the order in which the
# modules that add themselves happened to be imported (a test importing admitted first used to swap two columns).
CHECK_ORDER = ("lands", "admitted", "podSecurity", "reaches")


def ordered_checks() -> list[tuple[str, str, Check]]:
    """CHECKS in CHECK_ORDER (a check not named there after them, by name)."""
    rank = {name: i for i, name in enumerate(CHECK_ORDER)}
    return sorted(CHECKS, key=lambda c: (rank.get(c[0], len(rank)), c[0]))


# (name, function): checks of the whole plan rather than of one workload (the AWS side of reaches); each returns
# flow results {"flow", "from", "to", "ports", "ok", "reason"}, kept under the block's `flows`.
PLAN_CHECKS: list[tuple[str, Callable[[Context], list[dict]]]] = []


# Called with the Context before any workload is checked: a check that looks at the whole plan may start its work
# ahead (reaches hands its analysis to the command's second core, stacks/tools/second_core.py). Each is idempotent.
STARTS: list[Callable[[Context], None]] = []


def context(
    resources: Sequence[Mapping],
    workloads: Sequence[Mapping],
    extra_objects: Sequence[Mapping] = (),
    assumed_resources: Sequence[Mapping] = (),
    deploy_network: Optional[Mapping] = None,
) -> Context:
    """The Context the checks read: the plan's resources, the objects checked with them beyond those (rendered charts;
    ``assumed_resources``: what a lower stack registers, e.g. its system node group) and the workloads."""
    ctx = Context.build([*resources, *assumed_resources], extra_objects)
    ctx.workloads = list(workloads)  # checks that look across workloads (reaches) read them all
    ctx.deploy_network = dict(deploy_network) if deploy_network else None  # declared cluster.apiAccess
    ctx.extra_objects = list(extra_objects)
    ctx.assumed_resources = list(assumed_resources)
    return ctx


def start(ctx: Context) -> None:
    """Let the checks of STARTS begin their work on ``ctx`` (before :func:`judge`; judge calls it too)."""
    for begin in STARTS:
        begin(ctx)


def evaluate(
    resources: Sequence[Mapping],
    workloads: Sequence[Mapping],
    extra_objects: Sequence[Mapping] = (),
    assumed_resources: Sequence[Mapping] = (),
    deploy_network: Optional[Mapping] = None,
) -> dict:
    """The plan's `workloads` block: every entry with its check results, the objects it was checked with beyond the
    plan's resources (rendered charts; ``assumed_resources``: what a lower stack registers, e.g. its system node
    group), and a mandatory violation per failed check."""
    return judge(context(resources, workloads, extra_objects, assumed_resources, deploy_network))


def judge(ctx: Context) -> dict:
    """The `workloads` block of a :func:`context`."""
    start(ctx)
    workloads, checks = ctx.workloads, ordered_checks()
    # check by check, each over every workload: the checks begun ahead (STARTS) are asked for last
    results = {(name, i): check(ctx, workload) for name, _, check in checks for i, workload in enumerate(workloads)}
    entries, violations = [], []
    for i, workload in enumerate(workloads):
        entry = {k: v for k, v in workload.items() if k != "checks"}
        entry["checks"] = {}
        for name, _, _ in checks:
            result = results[name, i]
            entry["checks"][name] = result
            if not result["ok"]:
                violations.append(
                    {
                        "check": name,
                        "level": "mandatory",
                        "workload": workload.get("name"),
                        "message": f"{workload.get('name')} {result['summary']}: {'; '.join(result['reasons'])}",
                    }
                )
            if result.get("advisories"):
                violations.append(
                    {
                        "check": name,
                        "level": "advisory",
                        "workload": workload.get("name"),
                        "message": f"{workload.get('name')}: {'; '.join(result['advisories'])}",
                    }
                )
        entries.append(entry)
    flows: dict[str, list[dict]] = {}
    for name, plan_check in PLAN_CHECKS:
        flows[name] = plan_check(ctx)
        for f in flows[name]:
            if not f["ok"]:
                violations.append(
                    {"check": name, "level": "mandatory", "workload": None, "message": f"{f['flow']}: {f['from']} → {f['to']} {f['ports']} — {f['reason']}"}
                )
    block = {"workloads": entries, "objects": [dict(o) for o in ctx.extra_objects], "violations": violations}
    if flows:
        block["flows"] = flows
    if ctx.deploy_network:
        block["deployNetwork"] = dict(ctx.deploy_network)
    if ctx.assumed_resources:
        block["assumedResources"] = [dict(r) for r in ctx.assumed_resources]
    return block


def reevaluate(document: Mapping) -> dict:
    """The `workloads` block of a saved plan document evaluated again (e.g. after editing the plan)."""
    block = document.get("workloads") or {}
    return evaluate(
        document.get("resources") or [],
        block.get("workloads") or [],
        block.get("objects") or [],
        block.get("assumedResources") or [],
        block.get("deployNetwork"),
    )


def failures(block: Mapping) -> list[dict]:
    return [v for v in (block or {}).get("violations", []) if v.get("level") == "mandatory"]


def render(block: Mapping) -> list[str]:
    """One line per workload: where it lands (and the other checks' columns), then each failure's reasons."""
    rows = []
    for entry in block.get("workloads", []):
        cells = [entry.get("name", "")]
        for name, _, _ in ordered_checks():
            result = (entry.get("checks") or {}).get(name) or {}
            cells.append(("OK " if result.get("ok") else "FAIL ") + str(result.get("summary", "")))
        rows.append(cells)
    if not rows:
        return ["no workloads"]
    header = ["workload", *[title for _, title, _ in ordered_checks()]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(widths[i]) for i, c in enumerate(header[:-1])), header[-1]])]
    lines.extend("  ".join([*(c.ljust(widths[i]) for i, c in enumerate(r[:-1])), r[-1]]) for r in rows)
    bad = failures(block)
    for name, found in (block.get("flows") or {}).items():
        failed = [f for f in found if not f["ok"]]
        lines.append(f"{name}: {len(found) - len(failed)} of {len(found)} flows OK")
    advisory = [v for v in block.get("violations", []) if v.get("level") == "advisory"]
    lines.append(f"{len(rows)} workloads: {len(bad)} mandatory violations" + (f", {len(advisory)} advisory" if advisory else ""))
    for v in bad:
        lines.append(f"mandatory {v['check']}: {v['message']}")
    for check in sorted({v["check"] for v in advisory}):
        named = sorted({v["workload"] for v in advisory if v["check"] == check})
        lines.append(
            f"advisory {check}: {len(named)} workloads reach pods of system namespaces only through address blocks covering "
            "the pods' range (the VPC CNI matches ipBlocks against pod addresses); JSON workloads.violations lists each flow"
        )
    return lines


# The checks that add themselves to CHECKS (imported last: they build on this module).
from stacks.tools.plan import admitted as _admitted  # noqa: E402,F401
from stacks.tools.plan import pod_security as _pod_security  # noqa: E402

CHECKS.append(("podSecurity", "pod security", _pod_security.pod_security_check))
