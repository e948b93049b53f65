"""The replica shape of each served model (serving.models[]), derived from the instance catalog; PURE.

How a replica is laid out (vLLM's documented rule for distributed serving: tensor parallelism within a node,
pipeline parallelism across nodes, https://docs.vllm.ai/en/stable/serving/parallelism_scaling.html):

- **One node** when tensorParallelSize × pipelineParallelSize accelerators fit one instance type of the pool: a
  Deployment whose pod asks for that many devices, on any type of the pool that has them.
- **Several nodes** otherwise: tensorParallelSize must be the accelerators of one node of a type of the pool and
  pipelineParallelSize is the number of nodes; the replica is one LeaderWorkerSet group (leader + size-1 workers),
  each pod taking a whole node with every EFA interface it has, so the pool must have `efa: true`.
- **Neuron** (aws.amazon.com/neuron devices): tensorParallelSize counts NeuronCores, so a replica asks for
  TP / cores-per-device devices; one node only (the pinned Neuron vLLM backend serves a model within one instance).

The fit check (weights at the chosen dtype vs the replica's accelerator memory): vLLM claims
``--gpu-memory-utilization`` (default 0.9) of each device for weights, activations and the KV cache; Crucible asks
that the weights plus :data:`KV_HEADROOM` (30 % more: KV cache and activations at a useful batch) fit that share:

    parameters × bytes_per_parameter(dtype) × 1.3  ≤  0.9 × accelerators × memory per accelerator

70B at bfloat16 is 130.4 GiB of weights: refused on one 48 GB L40S (43.2 GiB usable), planned on two p5 nodes
(16 × 80 GiB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from components import versions
from components.accelerators import accelerator
from components.catalog import InstanceType, load_catalog, select

BYTES_PER_PARAMETER = {"bfloat16": 2, "float16": 2, "fp8": 1}
GPU_MEMORY_UTILIZATION = 0.9  # vLLM's --gpu-memory-utilization default
KV_HEADROOM = 1.3  # weights × this must fit: the KV cache and activations need room beside the weights
GIB = 2**30
# The Neuron backend (NxD Inference) loads the checkpoint into the host's memory before it shards it onto the devices:
# a replica's memory request holds the weights with this headroom, or the loader is OOM-killed.
NEURON_HOST_LOAD = 1.2
# The Neuron backend compiles its KV cache for max-num-seqs sequences of max-model-len tokens (vLLM's default, 256, is
# far more than a device holds beside the weights): the batch a Neuron model is compiled for unless maxNumSeqs says.
NEURON_MAX_NUM_SEQS = 8

# Parameter counts of well-known open models (from their model cards), used when `parameters` is not set. A model
# outside this table must state `parameters`: Crucible never guesses a size from a name.
KNOWN_PARAMETERS: dict[str, float] = {
    "Qwen/Qwen2.5-0.5B-Instruct": 0.49e9,
    "Qwen/Qwen2.5-7B-Instruct": 7.6e9,
    "Qwen/Qwen2.5-72B-Instruct": 72.7e9,
    "mistralai/Mistral-7B-Instruct-v0.3": 7.25e9,
    "meta-llama/Llama-3.1-8B-Instruct": 8.0e9,
    "meta-llama/Llama-3.1-70B-Instruct": 70.6e9,
    "meta-llama/Llama-3.3-70B-Instruct": 70.6e9,
    "meta-llama/Llama-3.1-405B-Instruct": 405.9e9,
}

# The attention shape of the same models (their config.json: num_hidden_layers, num_key_value_heads, head_dim), for
# the KV cache a token takes: 2 (key and value) × layers × KV heads × head dim × 2 bytes (vLLM keeps it in 16-bit
# unless told otherwise). A model outside this table is not checked for it.
KNOWN_ATTENTION: dict[str, tuple[int, int, int]] = {
    "Qwen/Qwen2.5-0.5B-Instruct": (24, 2, 64),
    "Qwen/Qwen2.5-7B-Instruct": (28, 4, 128),
    "Qwen/Qwen2.5-72B-Instruct": (80, 8, 128),
    "mistralai/Mistral-7B-Instruct-v0.3": (32, 8, 128),
    "meta-llama/Llama-3.1-8B-Instruct": (32, 8, 128),
    "meta-llama/Llama-3.1-70B-Instruct": (80, 8, 128),
    "meta-llama/Llama-3.3-70B-Instruct": (80, 8, 128),
    "meta-llama/Llama-3.1-405B-Instruct": (126, 8, 128),
}
KV_BYTES = 2


def kv_bytes_per_token(model) -> Optional[int]:
    """Bytes of KV cache one token of ``model`` takes across a replica's devices; None when its attention shape is not
    known. Tensor parallelism splits the KV heads over its ranks; with more ranks than KV heads each rank holds a
    copy of one (vLLM and the Neuron backend replicate them), so the replica stores tensorParallelSize heads."""
    shape = KNOWN_ATTENTION.get(model.model)
    if shape is None:
        return None
    layers, kv_heads, head_dim = shape
    return 2 * layers * max(kv_heads, model.tensor_parallel_size) * head_dim * KV_BYTES


def neuron_max_num_seqs(model) -> int:
    """The batch a Neuron replica compiles its KV cache for: maxNumSeqs, or NEURON_MAX_NUM_SEQS."""
    return model.max_num_seqs if model.max_num_seqs is not None else NEURON_MAX_NUM_SEQS


def _kv_problem(model, kind: str, weights: float, usable: float, devices: int) -> Optional[ShapeError]:
    """The KV cache the server needs beside the weights, where it cannot have it: on Neuron the cache is compiled for
    maxNumSeqs sequences of maxModelLen tokens; vLLM on GPUs needs room for at least one such sequence."""
    per_token = kv_bytes_per_token(model)
    if per_token is None:
        return None
    free = usable - weights
    per_sequence = model.max_model_len * per_token / GIB
    why = f"{per_token // 1024} KiB of KV cache a token; {weights:.1f} GiB of weights leave {max(free, 0):.1f} GiB of the {devices} device(s)' {usable:.1f} GiB usable"
    if kind == "neuron":
        seqs = neuron_max_num_seqs(model)
        if seqs * per_sequence <= free:
            return None
        most = max(0, math.floor(free / per_sequence))
        return ShapeError(
            "maxNumSeqs",
            f"got {seqs}: the Neuron backend compiles its KV cache for {seqs} sequences of {model.max_model_len} tokens, "
            f"{seqs * per_sequence:.1f} GiB ({why}); allowed: at most {most} sequences at this maxModelLen, a shorter "
            "maxModelLen, or more tensorParallelSize",
        )
    if per_sequence <= free:
        return None
    longest = max(0, math.floor(free * GIB / per_token))
    return ShapeError(
        "maxModelLen",
        f"got {model.max_model_len}: vLLM starts only if its KV cache holds one sequence of {model.max_model_len} tokens, "
        f"{per_sequence:.1f} GiB ({why}); allowed: at most {longest} tokens, or more tensorParallelSize",
    )


# What a Deployment pod takes of a node beside its accelerators: this share of the node's vCPUs and memory per
# accelerator it asks for (the rest is kubelet/system reserve and the DaemonSets); a node-wide pod takes the share too.
CPU_SHARE = 0.75
MEMORY_SHARE = 0.7


@dataclass(frozen=True)
class ReplicaShape:
    kind: str  # gpu | neuron
    resource: str  # nvidia.com/gpu | aws.amazon.com/neuron
    nodes: int  # 1: a Deployment; more: a LeaderWorkerSet group of this size
    devices_per_node: int
    device_memory_gib: float
    instance_types: tuple[str, ...]  # the pool's types a pod of the replica fits
    efa_per_node: int  # vpc.amazonaws.com/efa per pod (multi-node only)
    cpu: int  # per pod
    memory_gib: int  # per pod
    weights_gib: float
    usable_gib: float  # GPU_MEMORY_UTILIZATION × the replica's accelerator memory
    tensor_parallel_size: int
    pipeline_parallel_size: int

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1

    @property
    def devices(self) -> int:
        return self.nodes * self.devices_per_node

    def describe(self) -> str:
        where = f"{self.nodes} nodes" if self.multi_node else "1 node"
        efa = f", {self.efa_per_node} EFA per node" if self.efa_per_node else ""
        return (
            f"{self.devices} × {self.resource} ({where}, TP {self.tensor_parallel_size} × PP {self.pipeline_parallel_size}{efa}; "
            f"weights {self.weights_gib:.1f} GiB of {self.usable_gib:.0f} GiB usable; on {', '.join(self.instance_types)})"
        )


class ShapeError(ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def parameters_of(model) -> Optional[float]:
    return model.parameters if model.parameters is not None else KNOWN_PARAMETERS.get(model.model)


def default_image(kind: str) -> str:
    return versions.image("vllm-neuron" if kind == "neuron" else "vllm-openai").ref


def _pool_types(pool) -> list[InstanceType]:
    return select(list(pool.instance_types), load_catalog())


def _memory_share(t: InstanceType, devices: int) -> int:
    """GiB of the node's memory a replica of ``devices`` of its accelerators asks for."""
    return max(4, math.floor(t.memory_gib * devices / t.accelerator_count * MEMORY_SHARE))


def replica_shape(model, pool) -> ReplicaShape:
    """The shape of one replica of ``model`` on ``pool``; :class:`ShapeError` (a key of the model and why) when it
    cannot be laid out or does not fit."""
    acc = accelerator(pool.kind)
    types = [t for t in _pool_types(pool) if t.accelerator_count > 0]
    if not types:
        raise ShapeError("pool", f"got {model.pool!r}: its instance types have no accelerators")
    tp, pp = model.tensor_parallel_size, model.pipeline_parallel_size
    if pool.kind == "neuron":
        cores = {t.neuron_cores // t.accelerator_count for t in types if t.neuron_cores}
        per_device = min(cores) if cores else 1
        if (tp * pp) % per_device:
            raise ShapeError("tensorParallelSize", f"got {tp}; on Neuron it counts NeuronCores: a multiple of {per_device} (the cores of one device)")
        devices = tp * pp // per_device
    else:
        devices = tp * pp
    if model.accelerators_per_replica is not None and model.accelerators_per_replica != devices:
        raise ShapeError(
            "acceleratorsPerReplica",
            f"got {model.accelerators_per_replica}; tensorParallelSize {tp} × pipelineParallelSize {pp} needs {devices} {str(acc.resource)} devices per replica",
        )
    most = max(t.accelerator_count for t in types)
    if devices <= most:
        hosts = [t for t in types if t.accelerator_count >= devices]
        nodes, per_node, efa = 1, devices, 0
    else:
        if pool.kind == "neuron":
            raise ShapeError(
                "pipelineParallelSize",
                f"got {pp}: {devices} Neuron devices span nodes ({most} per node at most on this pool); the pinned Neuron vLLM backend serves within one node",
            )
        whole = sorted({t.accelerator_count for t in types})
        if tp not in whole:
            raise ShapeError(
                "tensorParallelSize",
                f"got {tp}: {devices} GPUs do not fit one node of pool {model.pool!r} (at most {most}); a replica spanning nodes sets "
                f"tensorParallelSize to the GPUs of one node ({', '.join(map(str, whole))}) and pipelineParallelSize to the nodes",
            )
        if not pool.efa:
            raise ShapeError("pool", f"got {model.pool!r}: a replica spanning {pp} nodes needs a pool with efa: true (tensor/pipeline traffic over EFA)")
        hosts = [t for t in types if t.accelerator_count == tp]
        nodes, per_node = pp, tp
        efa = min(t.efa_interfaces for t in hosts)
    params = parameters_of(model)
    if params is None:
        raise ShapeError("parameters", f"required for {model.model!r}: it is not in Crucible's table of known models; state its parameter count (e.g. 8e9)")
    weights = params * BYTES_PER_PARAMETER[model.dtype] / GIB
    if pool.kind == "neuron":
        need = math.ceil(weights * NEURON_HOST_LOAD)
        roomy = [t for t in hosts if _memory_share(t, per_node) >= need]
        if not roomy:
            best = max(_memory_share(t, per_node) for t in hosts)
            raise ShapeError(
                "pool",
                f"got {model.pool!r}: {model.model} at {model.dtype} is {weights:.1f} GiB of weights, which the Neuron backend loads into the "
                f"host's memory first ({need} GiB with headroom); a replica of {per_node} device(s) gets at most {best} GiB of a node of this pool: "
                "add a larger instance type (e.g. inf2.8xlarge)",
            )
        hosts = roomy
    memory = min(t.accelerator_memory_gib for t in hosts)
    usable = GPU_MEMORY_UTILIZATION * nodes * per_node * memory
    if weights * KV_HEADROOM > usable:
        need = math.ceil(weights * KV_HEADROOM / (GPU_MEMORY_UTILIZATION * memory))
        raise ShapeError(
            "tensorParallelSize",
            f"{model.model} at {model.dtype} is {weights:.1f} GiB of weights; with {int((KV_HEADROOM - 1) * 100)} % KV-cache/activation headroom it needs "
            f"{weights * KV_HEADROOM:.1f} GiB, but {nodes * per_node} × {memory:g} GiB accelerators give {usable:.1f} GiB usable "
            f"(vLLM uses {GPU_MEMORY_UTILIZATION:.0%} of each); allowed: at least {need} accelerators per replica "
            f"(tensorParallelSize × pipelineParallelSize), a smaller dtype, or a pool with larger accelerators",
        )
    kv = _kv_problem(model, pool.kind, weights, usable, nodes * per_node)
    if kv is not None:
        raise kv
    cpu = min(max(1, math.floor(t.vcpu * per_node / t.accelerator_count * CPU_SHARE)) for t in hosts)
    mem = min(_memory_share(t, per_node) for t in hosts)
    return ReplicaShape(
        kind=pool.kind,
        resource=str(acc.resource),
        nodes=nodes,
        devices_per_node=per_node,
        device_memory_gib=memory,
        instance_types=tuple(t.name for t in hosts),
        efa_per_node=efa,
        cpu=cpu,
        memory_gib=mem,
        weights_gib=weights,
        usable_gib=usable,
        tensor_parallel_size=tp,
        pipeline_parallel_size=pp,
    )


# The load metrics KEDA scales on (tests/data/metrics/vllm.txt lists what the pinned server exports): requests
# waiting in the server's queue on every backend, and KV-cache use on GPUs (the pinned Neuron image's vLLM 0.9.1
# predates vllm:kv_cache_usage_perc).
WAITING = "vllm:num_requests_waiting"
KV_CACHE = "vllm:kv_cache_usage_perc"


def scaling_metrics(model, kind: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = [(WAITING, float(model.target_waiting))]
    if kind == "gpu":
        out.append((KV_CACHE, model.target_kv_cache))
    return out


def replica_problems(model, pool) -> list[tuple[str, str]]:
    try:
        replica_shape(model, pool)
    except ShapeError as error:
        return [(error.key, error.message)]
    return []


# ---- the start path --------------------------------------------------------------------------------------------

# Stated estimates of a cold start, to put a number on scale-to-zero: the image (compressed sizes of the pinned
# images: vLLM's CUDA image about 10 GB, the Neuron one about 8 GB) at an effective 100 MB/s with the default
# serial layer pull and 250 MB/s with parallel pull (Bottlerocket's SOCI parallel-pull-unpack, stacks/derive/image_pull.py); weights at about
# 500 MB/s from Mountpoint for S3 (cache cold) and 1 GB/s from Lustre; and the server's own start (CUDA graphs,
# model compile) of about 60 s.
IMAGE_GB = {"gpu": 10.0, "neuron": 8.0}
PULL_MBPS = {"serial": 100.0, "parallel": 250.0}
WEIGHTS_MBPS = {"s3": 500.0, "lustre": 1000.0, "hub": 150.0}
SERVER_START_S = 60


@dataclass(frozen=True)
class StartPath:
    image: str
    image_gb: float
    pull: str  # serial | parallel
    pull_mechanism: str  # how the pool's nodes pull, and why not faster (stacks/derive/image_pull.py)
    weights: str
    weights_gib: float
    seconds: int

    def describe(self) -> str:
        return (
            f"image {self.image} (~{self.image_gb:g} GB, {self.pull} pull, pre-pulled on the pool; {self.pull_mechanism}), weights {self.weights_gib:.0f} GiB "
            f"from {self.weights}; cold start ~{self.seconds // 60} min {self.seconds % 60} s"
        )


def start_path(model, shape: ReplicaShape, image: str, pull_mode) -> StartPath:
    """The start path of a replica of ``model``; ``pull_mode``: the pool's :class:`stacks.derive.image_pull.PullMode`."""
    pull = "parallel" if pull_mode.parallel else "serial"
    gb = IMAGE_GB[shape.kind]
    seconds = gb * 1000 / PULL_MBPS[pull] + shape.weights_gib * 1.074 * 1000 / WEIGHTS_MBPS[model.weights] / max(1, shape.nodes) + SERVER_START_S
    return StartPath(
        image=image, image_gb=gb, pull=pull, pull_mechanism=pull_mode.describe(), weights=model.weights, weights_gib=shape.weights_gib, seconds=int(seconds)
    )
