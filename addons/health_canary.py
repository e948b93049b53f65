"""The fleet health canary: a scheduled, lowest-priority two-node NCCL all-reduce and Lustre write per EFA GPU pool,
admitted by Kueue on idle capacity only, its results exported as Prometheus metrics beside the catalog's figure and
recorded on the nodes it measured.

What it creates (namespace ``crucible-canary``):

- the WorkloadPriorityClass ``crucible-canary`` at :data:`CANARY_PRIORITY`, below every class a team uses (Kueue's
  default priority is 0), and a ClusterQueue ``crucible-canary`` in the teams' cohort with a nominal quota of 0 on
  the EFA pools' flavors: every run borrows what the teams leave unused, never preempts anything itself
  (``withinClusterQueue``/``reclaimWithinCohort``: Never), and the teams' queues reclaim it (their
  ``reclaimWithinCohort``) the moment they need the nodes back; a LocalQueue ``canary`` (not ``default``: the
  driver Job itself is not a Kueue workload);
- per pool, a CronJob whose Job runs the driver (addons/canary_driver.py) on the system nodes: it submits the pool's
  MPIJob (nccl-tests' all_reduce_perf over two nodes, the line `crucible verify` runs, after a dd write to the
  canary's own static claim on the Lustre file system), suspended, in a namespace labelled for Kueue
  (``crucible.io/queued``: Kueue 0.19 ignores every job outside its managedJobsNamespaceSelector, labelled or not;
  its reconciler unsuspends the MPIJob when it admits it), reads the
  result with the parsers of components/benchmarks.py (shipped beside it in the ConfigMap), and records it;
- where it records: the results ConfigMap ``crucible-canary-results`` (Prometheus text per pool), served by a small
  metrics Deployment and scraped through a ServiceMonitor (there is no Pushgateway, and a node-exporter textfile
  would need a hostPath write from the driver on every node: a ConfigMap needs neither and keeps the last result
  across runs, for `crucible verify health` too); and the nodes it ran on (label ``crucible.io/canary``, annotation
  ``crucible.io/canary-result``). Below ``minRatio`` the nodes get the NoSchedule taint ``crucible.io/canary-failed``:
  no new work lands there, running work is not disturbed, and a person replaces the node (``kubectl delete node``:
  Karpenter drains it and launches another). Karpenter's node repair acts on node conditions only, so the taint
  does not trigger it; saying otherwise would be a lie. The measurement cannot tell which of the two nodes is slow:
  both are marked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from addons.storage_drivers import LUSTRE_CLAIM, LustreVolumeArgs, lustre_pv_spec, lustre_volume_name, static_claim
from addons.training_operators import MPI_LAUNCHER_ENV, efa_env, nccl_allreduce_argv, shm_volume
from components.accelerators import GPU
from components.kueue_objects import KUEUE_API, workload_priority_class
from components.manifests import as_api, custom_resource
from components.labels import (
    EFA_RESOURCE,
    NODEPOOL_LABEL,
    QUEUE_LABEL,
    RESTRICTED_CONTAINER_SECURITY,
    RESTRICTED_POD_SECURITY,
    on_system_nodes,
    pod_security,
    queued_namespace,
)

NAMESPACE = "crucible-canary"
PRIORITY_CLASS = "crucible-canary"
CANARY_PRIORITY = -1000  # below Kueue's default of 0 and every class Crucible ships for teams
CLUSTER_QUEUE = "crucible-canary"
LOCAL_QUEUE = "canary"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
RESULTS = "crucible-canary-results"
CODE = "crucible-canary"
SERVICE_ACCOUNT = "crucible-canary"
METRICS_PORT = 9400
LUSTRE_MOUNT = "/mnt/lustre"
_HERE = Path(__file__).resolve().parent
SHIPPED_FILES = {"canary_driver.py": _HERE / "canary_driver.py", "crucible_benchmarks.py": _HERE.parent / "components" / "benchmarks.py"}

METRICS_SERVER = """\
import glob, http.server, sys
sys.path.insert(0, "/canary")
from canary_driver import merge_exposition


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/metrics":
            self.send_error(404)
            return
        texts = []
        for path in sorted(glob.glob("/results/*.prom")):
            with open(path) as f:
                texts.append(f.read())
        body = merge_exposition(texts).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("", @PORT@), Handler).serve_forever()
""".replace("@PORT@", str(METRICS_PORT))


@dataclass(frozen=True)
class CanaryPool:
    name: str
    instance_type: str  # the pool's first type: the one the run asks for
    gpus: int
    efa: int
    network_gbps: Optional[float]  # the catalog's figure for the type
    tolerations: tuple[dict, ...]


@dataclass(frozen=True)
class HealthCanaryArgs:
    system_pool: str
    cohort: str
    covered: tuple[str, ...]  # the resources every flavor of the cohort lists, in order
    pools: tuple[CanaryPool, ...]
    schedule: str
    min_ratio: float
    nccl_image: str
    driver_image: str
    lustre: Optional[LustreVolumeArgs] = None
    lustre_write_mib: int = 1024
    lustre_expected_mbps: Optional[float] = None
    timeout_seconds: int = 1800
    admit_seconds: int = 900
    monitoring_namespace: Optional[str] = None  # observability on: the ServiceMonitor
    scrape_interval_seconds: int = 60
    protect: bool = False  # the stack protects stateful resources: the namespace and its Lustre claim, as the teams'
    flavors: tuple[str, ...] = ()  # every flavor of the cohort, in the teams' order (default: the EFA pools')
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)  # Kueue (its CRDs) and Monitoring


def priority_class() -> dict:
    return workload_priority_class(PRIORITY_CLASS, CANARY_PRIORITY, "fleet health canary: idle capacity only")


def cluster_queue(args: HealthCanaryArgs) -> dict:
    """Nominal 0 on every flavor of the cohort, in the teams' order (CPU work, such as `crucible verify`'s sample
    job, goes to a cpu pool first): all it runs on is borrowed, and reclaimed from it."""
    names = args.flavors or tuple(p.name for p in args.pools)
    flavors = [{"name": name, "resources": [{"name": r, "nominalQuota": "0"} for r in args.covered]} for name in names]
    return {
        "apiVersion": KUEUE_API,
        "kind": "ClusterQueue",
        "metadata": {"name": CLUSTER_QUEUE},
        "spec": {
            "cohortName": args.cohort,
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
            "queueingStrategy": "BestEffortFIFO",
            "preemption": {"withinClusterQueue": "Never", "reclaimWithinCohort": "Never", "borrowWithinCohort": {"policy": "Never"}},
            "resourceGroups": [{"coveredResources": list(args.covered), "flavors": flavors}],
        },
    }


def local_queue() -> dict:
    return {"apiVersion": KUEUE_API, "kind": "LocalQueue", "metadata": {"name": LOCAL_QUEUE, "namespace": NAMESPACE}, "spec": {"clusterQueue": CLUSTER_QUEUE}}


def canary_mpijob(pool: CanaryPool, args: HealthCanaryArgs) -> dict:
    """The pool's MPIJob template (the driver names each run): dd to Lustre, then the two-node all-reduce."""
    argv = nccl_allreduce_argv(2, pool.gpus)
    steps = []
    if args.lustre is not None:
        target = f"{LUSTRE_MOUNT}/.crucible-canary-{pool.name}-$(hostname)"
        steps.append(f"dd if=/dev/zero of={target} bs=1M count={args.lustre_write_mib} oflag=direct conv=fsync 2>&1; rm -f {target}")
    steps.append("exec " + " ".join(argv))
    placement = {
        "nodeSelector": {NODEPOOL_LABEL: pool.name, "node.kubernetes.io/instance-type": pool.instance_type},
        "tolerations": [dict(t) for t in pool.tolerations],
    }
    devices = {GPU.resource: str(pool.gpus), EFA_RESOURCE: str(pool.efa)}
    launcher_spec: dict = {
        **placement,
        "containers": [
            {
                "name": "launcher",
                "image": args.nccl_image,
                "command": ["bash", "-c", "\n".join(steps) + "\n"],
                "env": efa_env(dict(MPI_LAUNCHER_ENV)),
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
            }
        ],
    }
    if args.lustre is not None:
        launcher_spec["containers"][0]["volumeMounts"] = [{"name": "lustre", "mountPath": LUSTRE_MOUNT}]
        launcher_spec["volumes"] = [{"name": "lustre", "persistentVolumeClaim": {"claimName": LUSTRE_CLAIM}}]
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": f"canary-{pool.name}", "namespace": NAMESPACE, "labels": {QUEUE_LABEL: LOCAL_QUEUE, PRIORITY_LABEL: PRIORITY_CLASS}},
        "spec": {
            "slotsPerWorker": pool.gpus,
            "mpiImplementation": "OpenMPI",
            "launcherCreationPolicy": "WaitForWorkersReady",
            "runPolicy": {"suspend": True, "backoffLimit": 0, "cleanPodPolicy": "All", "activeDeadlineSeconds": args.timeout_seconds},
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": launcher_spec}},
                "Worker": {
                    "replicas": 2,
                    "template": {
                        "spec": {
                            **placement,
                            "containers": [
                                {
                                    "name": "worker",
                                    "image": args.nccl_image,
                                    "command": ["/usr/sbin/sshd", "-De"],
                                    "env": efa_env(),
                                    "resources": {"requests": dict(devices), "limits": dict(devices)},
                                    "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                                }
                            ],
                            "volumes": [shm_volume()],
                        }
                    },
                },
            },
        },
    }


def driver_config(pool: CanaryPool, args: HealthCanaryArgs) -> dict:
    return {
        "namespace": NAMESPACE,
        "pool": pool.name,
        "instanceType": pool.instance_type,
        "networkGbps": pool.network_gbps,
        "minRatio": args.min_ratio,
        "lustre": args.lustre is not None,
        "lustreExpectedMBps": args.lustre_expected_mbps,
        "timeoutSeconds": args.timeout_seconds,
        "admitSeconds": args.admit_seconds,
        "pollSeconds": 15,
        "resultsConfigMap": RESULTS,
        "mpijob": canary_mpijob(pool, args),
    }


def pool_config_key(pool: str) -> str:
    return f"pool-{pool}.json"


def code_data(args: HealthCanaryArgs) -> dict[str, str]:
    """The ConfigMap the driver and the metrics server run from: the two Python files, the server, one config per pool."""
    data = {name: path.read_text() for name, path in SHIPPED_FILES.items()}
    data["metrics_server.py"] = METRICS_SERVER
    for pool in args.pools:
        data[pool_config_key(pool.name)] = json.dumps(driver_config(pool, args), indent=2, sort_keys=True)
    return data


def pool_configs(data: Mapping[str, Any]) -> dict[str, dict]:
    """Pool -> the driver's config, read back from the code ConfigMap's ``data`` (what :func:`code_data` wrote)."""
    out = {}
    for key, value in data.items():
        if key.startswith("pool-") and key.endswith(".json") and isinstance(value, str):
            out[key[len("pool-") : -len(".json")]] = json.loads(value)
    return out


def submitted_mpijobs(data: Mapping[str, Any]) -> list[dict]:
    """The MPIJobs the driver submits at run time (one per pool, in its namespace), read out of the code ConfigMap's
    ``data``: the cluster runs them though the plan registers none of them. Each in the namespace the driver creates
    it in (canary_driver.py ``run``: the config's ``namespace``)."""
    jobs = []
    for _, cfg in sorted(pool_configs(data).items()):
        job = cfg.get("mpijob")
        if isinstance(job, dict):
            job = json.loads(json.dumps(job))
            job.setdefault("metadata", {})["namespace"] = cfg.get("namespace") or NAMESPACE
            jobs.append(job)
    return jobs


def driver_rules() -> list[dict]:
    """In its namespace: run MPIJobs, read their pods and logs, write the results ConfigMap."""
    return [
        {"apiGroups": ["kubeflow.org"], "resources": ["mpijobs"], "verbs": ["create", "get", "delete"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "patch"]},
    ]


def node_rules() -> list[dict]:
    """Cluster-wide: read and mark the nodes a run measured (labels, annotation, taint)."""
    return [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]


def cronjob(pool: CanaryPool, args: HealthCanaryArgs) -> dict:
    pod = {
        **on_system_nodes(args.system_pool),
        "serviceAccountName": SERVICE_ACCOUNT,
        "restartPolicy": "Never",
        "securityContext": dict(RESTRICTED_POD_SECURITY),
        "containers": [
            {
                "name": "driver",
                "image": args.driver_image,
                "command": ["python3", "/canary/canary_driver.py", f"/canary/pool-{pool.name}.json"],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "securityContext": {**RESTRICTED_CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                "volumeMounts": [{"name": "code", "mountPath": "/canary", "readOnly": True}],
            }
        ],
        "volumes": [{"name": "code", "configMap": {"name": CODE}}],
    }
    return {
        "schedule": args.schedule,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {"backoffLimit": 0, "activeDeadlineSeconds": args.timeout_seconds + 300, "template": {"spec": pod}}},
    }


def metrics_pod(args: HealthCanaryArgs) -> dict:
    return {
        **on_system_nodes(args.system_pool),
        "automountServiceAccountToken": False,
        "securityContext": dict(RESTRICTED_POD_SECURITY),
        "containers": [
            {
                "name": "metrics",
                "image": args.driver_image,
                "command": ["python3", "/canary/metrics_server.py"],
                "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
                "readinessProbe": {"httpGet": {"path": "/metrics", "port": "metrics"}},
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                "securityContext": {**RESTRICTED_CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                "volumeMounts": [{"name": "code", "mountPath": "/canary", "readOnly": True}, {"name": "results", "mountPath": "/results", "readOnly": True}],
            }
        ],
        # the driver creates the results on its first run; the kubelet fills the volume in when it appears
        "volumes": [{"name": "code", "configMap": {"name": CODE}}, {"name": "results", "configMap": {"name": RESULTS, "optional": True}}],
    }


class HealthCanary(pulumi.ComponentResource):
    """The canary's namespace, queue, priority class, RBAC, code, CronJobs, metrics Deployment and ServiceMonitor."""

    def __init__(self, name: str, args: HealthCanaryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:HealthCanary", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "crucible-canary", "app.kubernetes.io/managed-by": "crucible"}
        # baseline: the MPI workers run sshd as root (the nccl-tests image); the driver and the server are restricted
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        ns = self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels={**labels, **pod_security("baseline"), **queued_namespace()}),
            opts=stateful,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        after_kueue = pulumi.ResourceOptions(parent=self, depends_on=[ns, *args.depends_on])
        self.priority_class = custom_resource(f"{name}-priority", priority_class(), after_kueue)
        self.cluster_queue = custom_resource(f"{name}-cluster-queue", cluster_queue(args), after_kueue)
        self.local_queue = custom_resource(f"{name}-local-queue", local_queue(), pulumi.ResourceOptions(parent=self, depends_on=[ns, self.cluster_queue]))
        if args.lustre is not None:
            static_claim(
                f"{name}-lustre",
                lustre_volume_name(NAMESPACE),
                LUSTRE_CLAIM,
                NAMESPACE,
                lustre_pv_spec(args.lustre, NAMESPACE, LUSTRE_CLAIM),
                "ReadWriteMany",
                f"{args.lustre.capacity_gib}Gi",
                pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect, depends_on=[ns]),
            )
        meta = k8s.meta.v1.ObjectMetaArgs(name=SERVICE_ACCOUNT, namespace=NAMESPACE, labels=labels)
        k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta, opts=in_ns)
        role = k8s.rbac.v1.Role(f"{name}-role", metadata=meta, rules=as_api(driver_rules()), opts=in_ns)
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=meta,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=SERVICE_ACCOUNT, namespace=NAMESPACE)],
            opts=in_ns,
        )
        cluster_meta = k8s.meta.v1.ObjectMetaArgs(name="crucible-canary-nodes", labels=labels)
        nodes = k8s.rbac.v1.ClusterRole(f"{name}-nodes", metadata=cluster_meta, rules=as_api(node_rules()), opts=child)
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-nodes-binding",
            metadata=cluster_meta,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=nodes.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=SERVICE_ACCOUNT, namespace=NAMESPACE)],
            opts=child,
        )
        code = k8s.core.v1.ConfigMap(
            f"{name}-code", metadata=k8s.meta.v1.ObjectMetaArgs(name=CODE, namespace=NAMESPACE, labels=labels), data=code_data(args), opts=in_ns
        )
        after_code = pulumi.ResourceOptions(parent=self, depends_on=[ns, code, self.local_queue, self.priority_class])
        self.cronjobs = [
            k8s.batch.v1.CronJob(
                f"{name}-{pool.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"canary-{pool.name}", namespace=NAMESPACE, labels={**labels, "crucible.io/pool": pool.name}),
                spec=as_api(cronjob(pool, args)),
                opts=after_code,
            )
            for pool in args.pools
        ]
        server = {"app.kubernetes.io/name": "crucible-canary", "app.kubernetes.io/component": "metrics"}
        k8s.apps.v1.Deployment(
            f"{name}-metrics",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="crucible-canary-metrics", namespace=NAMESPACE, labels={**labels, **server}),
            spec=as_api(
                {"replicas": 1, "selector": {"matchLabels": server}, "template": {"metadata": {"labels": {**labels, **server}}, "spec": metrics_pod(args)}}
            ),
            # after Kueue: its pod webhook (fail-closed) takes every pod of this namespace, which Kueue queues
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, code, *args.depends_on]),
        )
        k8s.core.v1.Service(
            f"{name}-metrics-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="crucible-canary-metrics", namespace=NAMESPACE, labels={**labels, **server}),
            spec=k8s.core.v1.ServiceSpecArgs(selector=server, ports=[k8s.core.v1.ServicePortArgs(name="metrics", port=METRICS_PORT, target_port="metrics")]),
            opts=in_ns,
        )
        if args.monitoring_namespace is not None:
            custom_resource(
                f"{name}-service-monitor",
                {
                    "apiVersion": "monitoring.coreos.com/v1",
                    "kind": "ServiceMonitor",
                    "metadata": {"name": "crucible-canary", "namespace": NAMESPACE, "labels": {**labels, **server}},
                    "spec": {
                        "selector": {"matchLabels": server},
                        "namespaceSelector": {"matchNames": [NAMESPACE]},
                        "endpoints": [{"port": "metrics", "path": "/metrics", "interval": f"{args.scrape_interval_seconds}s"}],
                    },
                },
                after_kueue,
            )
        self.register_outputs({"namespace": NAMESPACE, "pools": [p.name for p in args.pools], "priorityClass": PRIORITY_CLASS})
