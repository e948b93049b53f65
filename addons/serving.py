"""vLLM serving: each model of `serving.models` as a workload with its endpoint, autoscaler and disruption budget, plus
KEDA (the autoscaler) and the image pre-pull DaemonSets of the serving pools. ComponentResources only: the platform
layer (stacks/layers/platform/serving.py) derives every value from the spec.

One model (:class:`VllmModel`), in its team's namespace:

- **The server.** vLLM's OpenAI-compatible server (`vllm serve`, port 8000: /v1/chat/completions, /v1/models,
  /health, /metrics). A replica on one node is a **Deployment**; a replica spanning nodes is a **LeaderWorkerSet**
  group of `nodes` pods (leader + workers), started the way vLLM documents its LWS deployment with Ray
  (docs.vllm.ai deployment/frameworks/lws: `examples/online_serving/multi-node-serving.sh leader
  --ray_cluster_size=$(LWS_GROUP_SIZE)` then `vllm serve … --tensor-parallel-size T --pipeline-parallel-size P` on
  the leader; `multi-node-serving.sh worker --ray_address=$(LWS_LEADER_ADDRESS)` on the workers), each pod taking a
  whole node with its EFA interfaces, so NCCL's tensor- and pipeline-parallel traffic crosses nodes over EFA.
- **Pod Security `restricted`** (the team namespaces enforce it, or baseline): non-root (uid 1000), no privilege
  escalation, every capability dropped, seccomp RuntimeDefault; the caches vLLM, Ray and Hugging Face write to
  are memory-backed or node-local emptyDirs (HOME=/home/vllm, HF_HOME, /tmp), /dev/shm sized for NCCL.
- **Weights, never from a hub at start in prod** (the spec refuses `weights: hub` there): `s3` mounts the bucket
  prefix read-only through the Mountpoint for S3 CSI driver (a static PersistentVolume + claim per model, with
  Mountpoint's local cache in an emptyDir of the node's storage, the instance store's RAID0 where the pool has
  one); `lustre` reads the team's `lustre` claim; `hub` downloads at start (dev and staging only). `HF_HUB_OFFLINE=1`
  unless the weights come from the hub, so a misnamed path fails at once instead of downloading.
- **Autoscaling** by a KEDA ScaledObject on the server's own load, through the Prometheus scaler: requests
  waiting (`vllm:num_requests_waiting`) and, on GPUs, KV-cache use (`vllm:kv_cache_usage_perc`), per replica,
  queried from kube-prometheus-stack's Prometheus, which scrapes each server through a PodMonitor. Why KEDA and
  not the HPA with prometheus-adapter: the adapter turns every metric into a cluster-wide custom-metrics API whose
  rules are one shared ConfigMap (a mistake there breaks every HPA); a ScaledObject carries its own PromQL and
  creates the HPA itself. Never to zero: the signals are the server's own metrics, gone with its last replica, so
  nothing would scale it back up (the spec refuses minReplicas 0). Karpenter brings the nodes the new replicas ask for.
- **A PodDisruptionBudget** (maxUnavailable 1 while a model runs more than one replica, minAvailable 1 for a
  single one: consolidation leaves its node alone, and an expired or drifted node drains until the serving
  pool's terminationGracePeriod, components/node_pool.py, then Karpenter deletes the pod) keeps serving capacity
  while Karpenter consolidates. For a LeaderWorkerSet it covers the leader pods.
- **Exposure.** A ClusterIP Service for the cluster; `internal` adds an internal NLB (the load balancer
  controller, IP targets, `aws-load-balancer-scheme: internal`); `public` an internet-facing ALB Ingress,
  HTTPS only with the ACM certificate, and OIDC authentication at the ALB or vLLM's own API key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from addons.storage_drivers import S3_VOLUME_SIZE
from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import NODEPOOL_LABEL, POOL_LABEL, QUEUE_LABEL, pod_security
from components.manifests import as_api

KEDA = versions.chart("keda")
KEDA_NAMESPACE = "keda"
KEDA_API = "keda.sh/v1alpha1"
LWS_API = "leaderworkerset.x-k8s.io/v1"
PREPULL_NAMESPACE = "serving-system"
PAUSE_IMAGE = versions.image("pause").ref
PORT = 8000
MODEL_LABEL = "crucible.io/model"
APP_LABEL = "app.kubernetes.io/name"
APP = "vllm"
UID = 1000
MODELS_MOUNT = "/models"
NEURON_ARTIFACTS = "/home/vllm/neuron-compiled-artifacts"  # in the home emptyDir: writable, the pod's own
# vLLM's multi-node launcher for its LWS example (in the vllm-openai image's /vllm-workspace/examples).
MULTI_NODE_SCRIPT = "/vllm-workspace/examples/online_serving/multi-node-serving.sh"
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class KedaArgs:
    system_pool: str
    namespace: str = KEDA_NAMESPACE
    version: str = field(default=KEDA.version, kw_only=True)


def keda_values(args: KedaArgs) -> dict:
    """Values of the keda chart (kedacore/charts 2.20.x values.yaml keys): operator, metrics API server and
    admission webhooks on the system nodes; the chart's default security contexts meet `restricted`."""
    return merge_values(on_system_nodes_at(args.system_pool, ()), {"crds": {"install": True}})


class Keda(pulumi.ComponentResource):
    """KEDA (namespace `keda`, Pod Security `restricted`): the ScaledObject API and its HPA-backed scaler."""

    def __init__(self, name: str, args: KedaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:Keda", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={"crucible.io/purpose": "autoscaling", **pod_security("restricted")}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        chart = HelmChart.of(KEDA, namespace=self.namespace.metadata.name, version=args.version)
        self.release = helm_release(self, name, chart, keda_values(args), skip_crds=False)
        self.register_outputs({"version": args.version, "namespace": args.namespace})


@dataclass(frozen=True)
class PrePullArgs:
    """One pre-pull DaemonSet per serving pool: an init container of each serving image (exits at once), then a pause
    container, so every node of the pool has the images before the first replica lands there."""

    pool: str
    images: Sequence[str]
    toleration: Optional[dict]  # the pool's accelerator taint


def prepull_daemon_set(args: PrePullArgs) -> dict:
    labels = {APP_LABEL: "vllm-image-prepull", POOL_LABEL: args.pool}
    tiny = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
    return {
        "selector": {"matchLabels": labels},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "nodeSelector": {POOL_LABEL: args.pool},
                "tolerations": [args.toleration] if args.toleration else [],
                "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "seccompProfile": {"type": "RuntimeDefault"}},
                "automountServiceAccountToken": False,
                "initContainers": [
                    {"name": f"pull-{i}", "image": image, "command": ["/bin/sh", "-c", "true"], "resources": tiny, "securityContext": RESTRICTED_CONTAINER}
                    for i, image in enumerate(args.images)
                ],
                "containers": [{"name": "pause", "image": PAUSE_IMAGE, "resources": tiny, "securityContext": RESTRICTED_CONTAINER}],
            },
        },
    }


class ImagePrePull(pulumi.ComponentResource):
    """The `serving-system` namespace and a pre-pull DaemonSet per serving pool."""

    def __init__(self, name: str, pools: Sequence[PrePullArgs], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:ImagePrePull", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PREPULL_NAMESPACE, labels={"crucible.io/purpose": "serving", **pod_security("restricted")}),
            opts=child,
        )
        for pool in pools:
            k8s.apps.v1.DaemonSet(
                f"{name}-{pool.pool}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"vllm-prepull-{pool.pool}", namespace=self.namespace.metadata.name),
                spec=as_api(prepull_daemon_set(pool)),
                opts=child,
            )
        self.register_outputs({"pools": [p.pool for p in pools]})


# ---- one model ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingTrigger:
    metric: str  # a vLLM gauge (tests check it against the pinned list)
    target: float  # per replica

    def query(self, model_name: str, namespace: str) -> str:
        # Per replica: the scaler divides by the replica count (metricType AverageValue); a LeaderWorkerSet's
        # metrics come from its leader, the one pod that serves the API.
        return f'sum({self.metric}{{namespace="{namespace}",{MODEL_LABEL.replace(".", "_").replace("/", "_")}="{model_name}"}})'


@dataclass(frozen=True)
class VllmModelArgs:
    name: str
    namespace: str
    model: str  # the model id clients send
    image: str
    kind: Literal["gpu", "neuron"]
    resource: str  # nvidia.com/gpu | aws.amazon.com/neuron
    devices_per_node: int
    nodes: int  # 1: Deployment; more: LeaderWorkerSet group size
    efa_per_node: int
    cpu: int
    memory_gib: int
    pool: str  # crucible.io/pool of the serving pool
    toleration: Optional[dict]  # the pool's accelerator taint
    tensor_parallel_size: int
    pipeline_parallel_size: int
    dtype: str
    max_model_len: int
    min_replicas: int
    max_replicas: int
    triggers: Sequence[ScalingTrigger]
    prometheus_url: Optional[str]  # None: no autoscaler (fixed minReplicas… there is always one with monitoring)
    weights: Literal["s3", "lustre", "hub"]
    weights_folder: str
    weights_gib: float
    region: str
    bucket_name: Optional[pulumi.Input[str]] = None  # weights: s3
    lustre_claim: Optional[str] = None  # weights: lustre
    max_num_seqs: Optional[int] = None  # --max-num-seqs (None: vLLM's default)
    preload: bool = False
    exposure: Literal["cluster", "internal", "public"] = "internal"
    certificate_arn: Optional[str] = None
    auth: Literal["none", "oidc", "api-key"] = "none"
    oidc_issuer: Optional[str] = None
    oidc_client_id: Optional[str] = None
    public_cidrs: Sequence[str] = ()
    depends_on: Sequence[pulumi.Resource] = ()  # the LWS/KEDA releases, the load balancer controller, the team namespace
    service_monitor: bool = True  # kube-prometheus-stack is installed (the PodMonitor CRD exists)
    protect: bool = False  # the weight volume and claim are protected (and retained) like the stack's other volumes
    # The team's Kueue LocalQueue: the served pods take the team's accelerator quota, so they say which queue admits
    # them (kueue.x-k8s.io/queue-name on the Deployment's pod template; on the LeaderWorkerSet, whose Kueue webhook
    # copies it to both templates and admits each group as one workload). None: no label.
    queue: Optional[str] = None

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1

    @property
    def labels(self) -> dict[str, str]:
        return {APP_LABEL: APP, MODEL_LABEL: self.name}

    @property
    def queue_labels(self) -> dict[str, str]:
        return {QUEUE_LABEL: self.queue} if self.queue else {}

    @property
    def model_path(self) -> str:
        return self.model if self.weights == "hub" else f"{MODELS_MOUNT}"


def _cache_gib(args: VllmModelArgs) -> int:
    return int(args.weights_gib * 1.2) + 10


def serve_args(args: VllmModelArgs) -> list[str]:
    """`vllm serve` arguments (vLLM's engine arguments at the pinned version)."""
    out = [
        args.model_path,
        "--served-model-name",
        args.model,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--tensor-parallel-size",
        str(args.tensor_parallel_size),
        "--pipeline-parallel-size",
        str(args.pipeline_parallel_size),
        "--max-model-len",
        str(args.max_model_len),
    ]
    if args.max_num_seqs is not None:
        out += ["--max-num-seqs", str(args.max_num_seqs)]
    if args.dtype == "fp8":
        out += ["--dtype", "bfloat16", "--quantization", "fp8"]
    else:
        out += ["--dtype", args.dtype]
    if args.kind == "neuron":
        out += ["--device", "neuron"]
    if args.multi_node:
        out += ["--distributed-executor-backend", "ray"]
    return out


def _env(args: VllmModelArgs) -> list[dict]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/home/vllm"},
        {"name": "HF_HOME", "value": "/home/vllm/.cache/huggingface"},
        {"name": "VLLM_CACHE_ROOT", "value": "/home/vllm/.cache/vllm"},
    ]
    if args.weights != "hub":
        env.append({"name": "HF_HUB_OFFLINE", "value": "1"})
    else:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}})
    if args.auth == "api-key":
        env.append({"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": f"{args.name}-api-key", "key": "key"}}})
    if args.kind == "neuron":
        env.append({"name": "VLLM_NEURON_FRAMEWORK", "value": "neuronx-distributed-inference"})
        # Without it the backend writes its compiled model under the model's folder, read-only here (vLLM Neuron docs,
        # "Loading pre-compiled models"): it compiles into the writable home volume at start instead.
        env.append({"name": "NEURON_COMPILED_ARTIFACTS", "value": NEURON_ARTIFACTS})
    if args.multi_node:
        env += [{"name": "NCCL_DEBUG", "value": "INFO"}, {"name": "FI_EFA_USE_HUGE_PAGE", "value": "0"}]
    return env


def _volumes(args: VllmModelArgs) -> tuple[list[dict], list[dict]]:
    volumes: list[dict[str, Any]] = [
        {"name": "home", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "home", "mountPath": "/home/vllm"},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    if args.weights == "s3":
        volumes.append({"name": "weights", "persistentVolumeClaim": {"claimName": f"{args.name}-weights", "readOnly": True}})
        mounts.append({"name": "weights", "mountPath": MODELS_MOUNT, "readOnly": True})
    elif args.weights == "lustre":
        volumes.append({"name": "weights", "persistentVolumeClaim": {"claimName": args.lustre_claim, "readOnly": True}})
        mounts.append({"name": "weights", "mountPath": MODELS_MOUNT, "subPath": args.weights_folder, "readOnly": True})
    return volumes, mounts


def _resources(args: VllmModelArgs) -> dict:
    amounts = {"cpu": str(args.cpu), "memory": f"{args.memory_gib}Gi", args.resource: str(args.devices_per_node)}
    if args.efa_per_node:
        amounts["vpc.amazonaws.com/efa"] = str(args.efa_per_node)
    return {"requests": dict(amounts), "limits": {k: v for k, v in amounts.items() if k != "cpu"}}


# A replica going away (rollout, scale-in, drain) keeps serving while the load balancer stops sending to it. When the
# pod starts terminating it leaves the Service's endpoints; the load balancer controller sees that and deregisters
# the target (a few seconds: CONTROLLER_LAG_SECONDS); the target then drains for the deregistration delay (300 s by
# default, here DEREGISTRATION_SECONDS), keeping the connections it has (an ALB closes them when the delay ends, an NLB
# only with connection_termination; either way vLLM's SIGTERM ends them after the sleep). The
# pod sleeps in preStop for all of that, so vLLM gets SIGTERM only once no request can reach it, and the grace period
# leaves vLLM SHUTDOWN_SECONDS to finish what it holds and exit before the kubelet kills it.
CONTROLLER_LAG_SECONDS = 10
DEREGISTRATION_SECONDS = 40
PRE_STOP_SECONDS = DEREGISTRATION_SECONDS + CONTROLLER_LAG_SECONDS
SHUTDOWN_SECONDS = 40
GRACE_SECONDS = PRE_STOP_SECONDS + SHUTDOWN_SECONDS
TARGET_GROUP_ATTRIBUTES = f"deregistration_delay.timeout_seconds={DEREGISTRATION_SECONDS}"


def _probes(leader: bool) -> dict:
    if not leader:
        return {}
    health = {"httpGet": {"path": "/health", "port": PORT}}
    return {
        # Loading weights and compiling take minutes: the startup probe allows 30 min before liveness applies.
        "startupProbe": {**health, "periodSeconds": 10, "failureThreshold": 180},
        "readinessProbe": {**health, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**health, "periodSeconds": 15, "failureThreshold": 4},
    }


def pod_spec(args: VllmModelArgs, role: Literal["server", "leader", "worker"]) -> dict:
    volumes, mounts = _volumes(args)
    if role == "worker":
        command = ["/bin/bash", "-c", f"bash {MULTI_NODE_SCRIPT} worker --ray_address=$(LWS_LEADER_ADDRESS)"]
    elif role == "leader":
        serve = " ".join(["vllm", "serve", *serve_args(args)])
        command = ["/bin/bash", "-c", f"bash {MULTI_NODE_SCRIPT} leader --ray_cluster_size=$(LWS_GROUP_SIZE); exec {serve}"]
    else:
        command = ["vllm", "serve", *serve_args(args)]
    container = {
        "name": "vllm",
        "image": args.image,
        "command": command,
        "env": _env(args),
        "ports": [{"name": "http", "containerPort": PORT}] if role != "worker" else [],
        "resources": _resources(args),
        "volumeMounts": mounts,
        "securityContext": RESTRICTED_CONTAINER,
        **_probes(role != "worker"),
    }
    if role != "worker":  # what a load balancer sends to
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}}  # the sleep action: Kubernetes 1.30+
    if not container["ports"]:
        del container["ports"]
    return {
        # karpenter.sh/nodepool, the key of the pools' Kueue ResourceFlavors: in a team namespace Kueue's pod
        # integration queues these pods, and its flavor assignment skips a flavor whose nodeLabels disagree with the
        # pod's selector on the same key (with crucible.io/pool it could not tell, admitted them on the team's first
        # GPU flavor and they landed nowhere: the research preset's notebook GPUs).
        "nodeSelector": {NODEPOOL_LABEL: args.pool},
        "tolerations": [args.toleration] if args.toleration else [],
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": GRACE_SECONDS,
        "containers": [container],
        "volumes": volumes,
    }


def deployment_spec(args: VllmModelArgs) -> dict:
    # Autoscaled, the replica count is the ScaledObject's HPA's: the manifest leaves it out (Kubernetes starts at 1),
    # so a `pulumi up` never resets what KEDA scaled to; without an autoscaler it is minReplicas.
    fixed = {} if args.prometheus_url is not None else {"replicas": max(args.min_replicas, 1)}
    return {
        **fixed,
        "selector": {"matchLabels": args.labels},
        # One replica at a time and never fewer than asked: a new replica loads its weights before an old one goes.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {"metadata": {"labels": {**args.labels, **args.queue_labels}}, "spec": pod_spec(args, "server")},
    }


def leader_worker_set(args: VllmModelArgs) -> dict:
    """A LeaderWorkerSet (leaderworkerset.x-k8s.io/v1 at lws v0.8.0): `replicas` groups of `size` pods."""
    return {
        "apiVersion": LWS_API,
        "kind": "LeaderWorkerSet",
        "metadata": {"name": args.name, "namespace": args.namespace, "labels": {**args.labels, **args.queue_labels}},
        "spec": {
            **({} if args.prometheus_url is not None else {"replicas": max(args.min_replicas, 1)}),  # as for a Deployment
            # startupPolicy stays LeaderCreated (the default): the workers start with the leader. LeaderReady would
            # wait for the leader's readiness (`vllm serve` answering /health), which needs the workers' GPUs in
            # its Ray cluster first: the group would never start.
            "leaderWorkerTemplate": {
                "size": args.nodes,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {"metadata": {"labels": {**args.labels, "role": "leader"}}, "spec": pod_spec(args, "leader")},
                "workerTemplate": {"metadata": {"labels": {**args.labels, "role": "worker"}}, "spec": pod_spec(args, "worker")},
            },
        },
    }


def scaled_object(args: VllmModelArgs) -> dict:
    """A KEDA ScaledObject (keda.sh/v1alpha1 at v2.20.2) on the server's load, through the Prometheus scaler."""
    target = (
        {"apiVersion": LWS_API, "kind": "LeaderWorkerSet", "name": args.name}
        if args.multi_node
        else {"apiVersion": "apps/v1", "kind": "Deployment", "name": args.name}
    )
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": {"name": args.name, "namespace": args.namespace, "labels": args.labels},
        "spec": {
            "scaleTargetRef": target,
            "minReplicaCount": args.min_replicas,
            "maxReplicaCount": args.max_replicas,
            "pollingInterval": 15,
            # A replica that took minutes to start is not dropped on a lull: 10 minutes at low load first.
            "cooldownPeriod": 600,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 600}}}},
            "triggers": [
                {
                    "type": "prometheus",
                    "name": t.metric.split(":", 1)[-1].replace("_", "-"),
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": args.prometheus_url,
                        "query": t.query(args.name, args.namespace),
                        "threshold": f"{t.target:g}",
                        "activationThreshold": "0",
                    },
                }
                for t in args.triggers
            ],
        },
    }


def pod_monitor(args: VllmModelArgs) -> dict:
    labels = {**args.labels, "role": "leader"} if args.multi_node else args.labels
    return {
        "selector": {"matchLabels": labels},
        "podMetricsEndpoints": [
            {
                "port": "http",
                "path": "/metrics",
                "interval": "15s",
                # The model name as a label, so a query selects one model's servers (ScalingTrigger.query).
                "relabelings": [
                    {
                        "sourceLabels": [f"__meta_kubernetes_pod_label_{MODEL_LABEL.replace('.', '_').replace('/', '_')}"],
                        "targetLabel": MODEL_LABEL.replace(".", "_").replace("/", "_"),
                    }
                ],
            }
        ],
    }


def pdb_spec(args: VllmModelArgs) -> dict:
    selector = {"matchLabels": {**args.labels, "role": "leader"} if args.multi_node else args.labels}
    budget = {"maxUnavailable": 1} if args.max_replicas > 1 and args.min_replicas > 1 else {"minAvailable": 1}
    return {**budget, "selector": selector}


def service_spec(args: VllmModelArgs) -> dict:
    selector = {**args.labels, "role": "leader"} if args.multi_node else args.labels
    return {"type": "ClusterIP", "selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}]}


def internal_lb(args: VllmModelArgs) -> tuple[dict, dict]:
    """An internal NLB (load balancer controller: IP targets, health check on /health)."""
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/health",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": TARGET_GROUP_ATTRIBUTES,
    }
    selector = {**args.labels, "role": "leader"} if args.multi_node else args.labels
    spec = {
        "type": "LoadBalancer",
        "loadBalancerClass": "service.k8s.aws/nlb",
        "selector": selector,
        "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}],
    }
    return annotations, spec


def public_ingress(args: VllmModelArgs) -> tuple[dict, dict]:
    """An internet-facing ALB: HTTPS only (the ACM certificate, TLS 1.3 policy, HTTP redirected), OIDC at the ALB
    when auth is oidc, and only the allowed source CIDRs."""
    annotations = {
        "alb.ingress.kubernetes.io/scheme": "internet-facing",
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTPS": 443}]),
        "alb.ingress.kubernetes.io/certificate-arn": str(args.certificate_arn),
        "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "alb.ingress.kubernetes.io/healthcheck-path": "/health",
        "alb.ingress.kubernetes.io/target-group-attributes": TARGET_GROUP_ATTRIBUTES,
        "alb.ingress.kubernetes.io/inbound-cidrs": ",".join(args.public_cidrs),
    }
    if args.auth == "oidc":
        annotations["alb.ingress.kubernetes.io/auth-type"] = "oidc"
        issuer = str(args.oidc_issuer).rstrip("/")
        annotations["alb.ingress.kubernetes.io/auth-idp-oidc"] = json.dumps(
            {
                "issuer": issuer,
                "authorizationEndpoint": f"{issuer}/authorize",
                "tokenEndpoint": f"{issuer}/token",
                "userInfoEndpoint": f"{issuer}/userinfo",
                "secretName": f"{args.name}-oidc",
            }
        )
        annotations["alb.ingress.kubernetes.io/auth-on-unauthenticated-request"] = "deny"
    spec = {
        "ingressClassName": "alb",
        "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": args.name, "port": {"number": 80}}}}]}}],
    }
    return annotations, spec


def s3_weights_pv(args: VllmModelArgs, bucket: pulumi.Input[str]) -> dict:
    """A static, read-only Mountpoint for S3 volume of the weights' prefix, cached on the node (emptyDir)."""
    return {
        "capacity": {"storage": S3_VOLUME_SIZE},
        "accessModes": ["ReadOnlyMany"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "mountOptions": ["read-only", "allow-other", f"region {args.region}", f"prefix {args.weights_folder}/", "metadata-ttl indefinite"],
        "claimRef": {"namespace": args.namespace, "name": f"{args.name}-weights"},
        "csi": {
            "driver": "s3.csi.aws.com",
            "volumeHandle": f"s3-model-{args.namespace}-{args.name}",
            "readOnly": True,
            "volumeAttributes": {"bucketName": bucket, "cache": "emptyDir", "cacheEmptyDirSizeLimit": f"{_cache_gib(args)}Gi"},
        },
    }


def preload_job(args: VllmModelArgs) -> dict:
    """Reads every weight file once, so Lustre imports them from its linked S3 repository (lazy load) before the first
    replica starts. A batch Job of the team namespace: Kueue admits it on the team's CPU capacity."""
    volumes, mounts = _volumes(args)
    return {
        "backoffLimit": 2,
        "ttlSecondsAfterFinished": 3600,
        "template": {
            "metadata": {"labels": {**args.labels, "role": "preload"}},
            "spec": {
                "restartPolicy": "OnFailure",
                "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "preload",
                        "image": args.image,
                        "command": ["/bin/sh", "-c", f"find {MODELS_MOUNT} -type f -exec cat {{}} + > /dev/null"],
                        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                        "volumeMounts": mounts,
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
                "volumes": volumes,
            },
        },
    }


class VllmModel(pulumi.ComponentResource):
    """One served model: its workload, Service (+ load balancer), PodDisruptionBudget, ScaledObject, PodMonitor and
    weight volume."""

    def __init__(self, name: str, args: VllmModelArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:VllmModel", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        stateful = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), protect=args.protect, retain_on_delete=args.protect)
        meta = k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=args.namespace, labels=args.labels)
        after: list[pulumi.Resource] = []
        if args.weights == "s3":
            if args.bucket_name is None:
                raise ValueError(f"served model {args.name}: weights from s3 need the models bucket (bucket_name)")
            pv = k8s.core.v1.PersistentVolume(
                f"{name}-weights-pv",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{args.namespace}-{args.name}-weights", labels=args.labels),
                spec=as_api(s3_weights_pv(args, args.bucket_name)),
                opts=stateful,
            )
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-weights",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{args.name}-weights", namespace=args.namespace, labels=args.labels),
                spec=as_api(
                    {
                        "accessModes": ["ReadOnlyMany"],
                        "storageClassName": "",
                        "volumeName": pv.metadata.name,
                        "resources": {"requests": {"storage": S3_VOLUME_SIZE}},
                    }
                ),
                opts=stateful,
            )
            after.append(claim)
        wait = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *after])
        if args.multi_node:
            lws = leader_worker_set(args)
            self.workload: pulumi.Resource = k8s.apiextensions.CustomResource(
                f"{name}-lws",
                api_version=lws["apiVersion"],
                kind=lws["kind"],
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=args.namespace, labels=lws["metadata"]["labels"]),
                spec=lws["spec"],
                opts=wait,
            )
        else:
            self.workload = k8s.apps.v1.Deployment(f"{name}-deployment", metadata=meta, spec=as_api(deployment_spec(args)), opts=wait)
        k8s.core.v1.Service(f"{name}-service", metadata=meta, spec=as_api(service_spec(args)), opts=child)
        k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta, spec=as_api(pdb_spec(args)), opts=child)
        if args.service_monitor:
            k8s.apiextensions.CustomResource(
                f"{name}-podmonitor", api_version="monitoring.coreos.com/v1", kind="PodMonitor", metadata=meta, spec=pod_monitor(args), opts=child
            )
        if args.prometheus_url is not None:
            scaled = scaled_object(args)
            k8s.apiextensions.CustomResource(
                f"{name}-scaledobject",
                api_version=scaled["apiVersion"],
                kind=scaled["kind"],
                metadata=meta,
                spec=scaled["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.workload]),
            )
        if args.exposure == "internal":
            annotations, spec = internal_lb(args)
            k8s.core.v1.Service(
                f"{name}-nlb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{args.name}-internal", namespace=args.namespace, labels=args.labels, annotations=annotations),
                spec=as_api(spec),
                opts=child,
            )
        elif args.exposure == "public":
            annotations, spec = public_ingress(args)
            k8s.networking.v1.Ingress(
                f"{name}-ingress",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=args.namespace, labels=args.labels, annotations=annotations),
                spec=as_api(spec),
                opts=child,
            )
        if args.preload and args.weights == "lustre":
            k8s.batch.v1.Job(
                f"{name}-preload",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{args.name}-preload", namespace=args.namespace, labels=args.labels),
                spec=as_api(preload_job(args)),
                opts=wait,
            )
        self.register_outputs({"name": args.name, "namespace": args.namespace})
