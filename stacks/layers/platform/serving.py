"""Serving models from config (serving.models): the LeaderWorkerSet operator (when a replica spans nodes), KEDA, the
image pre-pull DaemonSets of the serving pools and one `VllmModel` per model, its values derived by
stacks/derive/serving.py from the spec and the instance catalog."""

from __future__ import annotations

from typing import Optional

import pulumi

from addons.leader_worker_set import LeaderWorkerSetArgs, LeaderWorkerSetOperator
from addons.observability import PROMETHEUS_STACK
from addons.serving import PORT, ImagePrePull, Keda, KedaArgs, PrePullArgs, ScalingTrigger, VllmModel, VllmModelArgs
from addons.storage_drivers import LUSTRE_CLAIM
from components.accelerators import accelerator
from stacks.derive.quotas import LOCAL_QUEUE
from stacks.derive.serving import ReplicaShape, default_image, neuron_max_num_seqs, replica_shape, scaling_metrics
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.spec import PlatformSpec
from stacks.spec.serving import ServingModelSpec, lustre_weights_folder


def team_of(spec: PlatformSpec, model: ServingModelSpec) -> str:
    return model.team or spec.teams[0].name


def shape_of(spec: PlatformSpec, model: ServingModelSpec) -> ReplicaShape:
    pool = next(p for p in spec.pools if p.name == model.pool)
    return replica_shape(model, pool)


def image_of(spec: PlatformSpec, model: ServingModelSpec) -> str:
    pool = next(p for p in spec.pools if p.name == model.pool)
    return model.image or default_image(pool.kind)


def lws_enabled(spec: PlatformSpec) -> bool:
    return any(shape_of(spec, m).multi_node for m in spec.serving.models)


def prometheus_url(spec: PlatformSpec) -> Optional[str]:
    if not spec.addons.observability.enabled:
        return None
    # kube-prometheus-stack's Prometheus Service (release kube-prometheus-stack): <release>-prometheus:9090.
    return f"http://{PROMETHEUS_STACK.name}-prometheus.{spec.addons.observability.namespace}.svc:9090"


def build_lws(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    version = spec.addons.leader_worker_set.version
    operator = LeaderWorkerSetOperator("lws", LeaderWorkerSetArgs(system_pool=below.require_cluster().system_node_group_label, version=version), opts=opts)
    return AddonOutputs(export={"namespace": operator.namespace.metadata.name, "version": version}, lws=operator.release)


def model_args(spec: PlatformSpec, model: ServingModelSpec, below: AddonsBelow, depends: list) -> VllmModelArgs:
    pool = next(p for p in spec.pools if p.name == model.pool)
    shape = replica_shape(model, pool)
    team = team_of(spec, model)
    bucket = None
    if model.weights == "s3":
        storage = below.storage
        if storage is None or model.weights_bucket not in storage.buckets:
            known = ", ".join(storage.buckets) if storage is not None else "no storage layer"
            raise ValueError(f"serving.models: bucket {model.weights_bucket!r} of model {model.name!r} is not a bucket of the storage layer ({known})")
        bucket = storage.buckets[model.weights_bucket].name
    # A model whose replica count cannot change (minReplicas = maxReplicas) gets no autoscaler: a fixed count.
    url = prometheus_url(spec) if model.max_replicas > model.min_replicas else None
    return VllmModelArgs(
        name=model.name,
        namespace=team,
        model=model.model,
        image=image_of(spec, model),
        kind="neuron" if pool.kind == "neuron" else "gpu",
        resource=shape.resource,
        devices_per_node=shape.devices_per_node,
        nodes=shape.nodes,
        efa_per_node=shape.efa_per_node,
        cpu=shape.cpu,
        memory_gib=shape.memory_gib,
        pool=pool.name,
        toleration=accelerator(pool.kind).toleration,
        tensor_parallel_size=model.tensor_parallel_size,
        pipeline_parallel_size=model.pipeline_parallel_size,
        dtype=model.dtype,
        max_model_len=model.max_model_len,
        max_num_seqs=neuron_max_num_seqs(model) if pool.kind == "neuron" else model.max_num_seqs,
        min_replicas=model.min_replicas,
        max_replicas=model.max_replicas,
        triggers=[ScalingTrigger(metric, target) for metric, target in scaling_metrics(model, pool.kind)],
        prometheus_url=url,
        weights=model.weights,
        weights_folder=(lustre_weights_folder(spec, model) or model.weights_folder) if model.weights == "lustre" else model.weights_folder,
        weights_gib=shape.weights_gib,
        region=spec.region,
        bucket_name=bucket,
        lustre_claim=LUSTRE_CLAIM if model.weights == "lustre" else None,
        preload=model.preload,
        exposure=model.exposure,
        certificate_arn=model.certificate_arn,
        auth=model.auth,
        oidc_issuer=model.oidc_issuer,
        oidc_client_id=model.oidc_client_id,
        public_cidrs=spec.serving.public_cidrs,
        depends_on=tuple(depends),
        service_monitor=below.monitoring is not None,
        protect=spec.protect,
        queue=LOCAL_QUEUE,  # the team's LocalQueue: the model's pods are admitted on the team's quota
    )


def build_serving(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    system = below.require_cluster().system_node_group_label
    autoscaler = prometheus_url(spec) is not None and spec.addons.keda.enabled
    keda = Keda("keda", KedaArgs(system_pool=system, version=spec.addons.keda.version), opts=opts) if autoscaler else None
    pools: dict[str, list[str]] = {}
    for m in spec.serving.models:
        images = pools.setdefault(m.pool, [])
        if image_of(spec, m) not in images:
            images.append(image_of(spec, m))
    by_name = {p.name: p for p in spec.pools}
    ImagePrePull(
        "vllm-prepull",
        [PrePullArgs(pool=name, images=images, toleration=accelerator(by_name[name].kind).toleration) for name, images in pools.items()],
        opts=opts,
    )
    exports = {}
    for m in spec.serving.models:
        team = team_of(spec, m)
        depends: list = [*below.controller()]
        namespace = next((t.namespace for t in spec.teams if t.name == team), None)
        if namespace is not None and namespace in below.namespaces:
            depends.append(below.namespaces[namespace])
        if namespace is not None and namespace in below.quotas:  # the weight claim counts against it (REL-ORD-008)
            depends.append(below.quotas[namespace])
        if keda is not None:
            depends.append(keda.release)
        if below.monitoring is not None:
            depends.append(below.monitoring.release)
        if below.kueue is not None:  # its webhooks take the team namespaces' Jobs (the pre-load Job)
            depends.append(below.kueue.release)
        shape = shape_of(spec, m)
        if shape.multi_node:
            if below.lws is None:
                raise RuntimeError("a multi-node model was built before the LeaderWorkerSet operator (registry order)")
            depends.append(below.lws)
        VllmModel(f"model-{team}-{m.name}", model_args(spec, m, below, depends), opts=opts)
        exports[f"{team}/{m.name}"] = {
            "model": m.model,
            "service": f"http://{m.name}.{team}.svc/v1",
            "port": PORT,
            "workload": "LeaderWorkerSet" if shape.multi_node else "Deployment",
            "replicaShape": shape.describe(),
        }
    return AddonOutputs(export=exports)


LWS = Entry(
    name="lws",
    components=("crucible:platform:LeaderWorkerSetOperator",),
    enabled=lambda spec: bool(spec.serving.models) and bool(spec.teams) and spec.addons.leader_worker_set.enabled and lws_enabled(spec),
    build=build_lws,
    output="workloads",
    key="leaderWorkerSet",
    summary="LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): vLLM replicas spanning nodes",
)
SERVING = Entry(
    name="serving",
    components=("crucible:platform:Keda", "crucible:platform:ImagePrePull", "crucible:platform:VllmModel"),
    enabled=lambda spec: bool(spec.serving.models) and bool(spec.teams),
    build=build_serving,
    output="workloads",
    key="models",
    after=("aws-load-balancer-controller", "monitoring", "kueue", "lws", "teams"),
    summary="serving.models: vLLM Deployments/LeaderWorkerSets, Services, PodDisruptionBudgets, KEDA ScaledObjects",
)
