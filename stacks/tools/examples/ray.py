"""Ray training examples, rendered from the spec (pure functions returning manifest dicts).

- ``finetune_rayjob``: a RayJob (ray.io/v1) fine-tuning a small causal LM with Ray Train's TorchTrainer across every
  GPU of ``nodes`` nodes of the training pool, checkpointing to Lustre; its script ships as a ConfigMap.
- ``neuron_raycluster``: a RayCluster on a Trainium pool for interactive distributed work (submit jobs to it with
  `ray job submit`, or attach from a notebook), every Neuron device of each node.

Both are Kueue workloads: labelled with the team's LocalQueue, created suspended, admitted whole (Kueue unsuspends
them when the quota is there; no in-tree autoscaling, which Kueue allows only for elastic workloads). The RayJob
deletes its cluster when the job ends (`shutdownAfterJobFinishes`, required by Kueue) and builds its own cluster
(never `clusterSelector`). Workers are cut to the node: nodeSelector on the pool and instance type, the accelerator
toleration, all accelerators, and on EFA pools every EFA device (never huge pages: stacks/tools/examples/shapes.py) with
`FI_EFA_USE_HUGE_PAGE=0`, cpu and memory the node can spare (NodeShape.resources). The head has no accelerators and runs beside a worker on the
workers' pool; Ray pods carry karpenter.sh/do-not-disrupt. Heads use KubeRay token
authentication (`authOptions.mode: token`, Ray >= 2.52): KubeRay generates a Secret named after the cluster
(key `auth_token`) and gives it to every Ray container and to the job submitter; the dashboard and job API refuse
calls without it (SEC-RAY-001). Heads stay on ClusterIP: reach them with `kubectl port-forward`.
"""

from __future__ import annotations

from typing import Optional

import yaml

from stacks.tools.examples.shapes import NodeShape
from stacks.tools.examples.training import CHECKPOINT_MOUNT, EFA_ENV, checkpoint_volume
from components.labels import EXAMPLE_LABEL, NODEPOOL_LABEL, QUEUE_LABEL, WORKLOAD_LABEL

RAY_API = "ray.io/v1"
CODE_MOUNT = "/code"
DASHBOARD_PORT, CLIENT_PORT, GCS_PORT = 8265, 10001, 6379
HEAD_RESOURCES = {"cpu": "4", "memory": "16Gi"}
# Karpenter never voluntarily disrupts (consolidates, drifts, expires) a node running a pod with this annotation.
DO_NOT_DISRUPT = {"karpenter.sh/do-not-disrupt": "true"}

# Libraries the fine-tuning job adds to the Ray image through its runtime_env (pinned; PyTorch 2.8 wheels on PyPI
# are built for CUDA 12.8, matching the -cu128 Ray image).
FINETUNE_PIP = ("torch==2.8.0", "transformers==4.56.2", "datasets==4.1.1")


def _labels(queue: str, workload: str) -> dict[str, str]:
    return {QUEUE_LABEL: queue, EXAMPLE_LABEL: "true", WORKLOAD_LABEL: workload}


def hf_token_env() -> list[dict]:
    # Gated models (Llama, some Mistral) need a Hugging Face token: `kubectl create secret generic hf-token
    # --from-literal=token=...`; optional, so open models start without it.
    return [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}}]


def _volumes(checkpoint_claim: Optional[str]) -> list[dict]:
    # /dev/shm in memory: the Ray object store and NCCL/PyTorch data loaders use it (the default is 64 MiB).
    return [{"name": "dshm", "emptyDir": {"medium": "Memory"}}, checkpoint_volume(checkpoint_claim)]


def _mounts() -> list[dict]:
    return [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT}]


def _head_ports() -> list[dict]:
    return [
        {"name": "gcs-server", "containerPort": GCS_PORT},
        {"name": "dashboard", "containerPort": DASHBOARD_PORT},
        {"name": "client", "containerPort": CLIENT_PORT},
    ]


def _worker_resources(shape: NodeShape) -> dict:
    amounts = shape.resources()  # the whole node: cpu and memory it can spare, accelerators, EFA devices
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _cluster_spec(
    *,
    ray_version: str,
    head: dict,
    group: str,
    shape: NodeShape,
    nodes: int,
    worker_container: dict,
    extra_volumes: tuple[dict, ...] = (),
    checkpoint_claim: Optional[str],
) -> dict:
    """A RayCluster spec Kueue can admit whole: fixed worker count, no autoscaling, token auth, ClusterIP head."""
    return {
        "rayVersion": ray_version,
        "authOptions": {"mode": "token"},
        "enableInTreeAutoscaling": False,
        "headGroupSpec": {
            "serviceType": "ClusterIP",
            # The head coordinates and runs the driver; no training tasks land on it.
            "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
            # On the workers' pool (beside a worker: the workers leave room for it), never on a pool Karpenter
            # consolidates: losing the head (GCS) ends the job.
            "template": {
                "metadata": {"annotations": dict(DO_NOT_DISRUPT)},
                "spec": {
                    "nodeSelector": {NODEPOOL_LABEL: shape.pool},
                    "tolerations": shape.tolerations(),
                    "containers": [head],
                    "volumes": [*_volumes(checkpoint_claim), *extra_volumes],
                },
            },
        },
        "workerGroupSpecs": [
            {
                "groupName": group,
                "replicas": nodes,
                "minReplicas": nodes,
                "maxReplicas": nodes,
                "rayStartParams": {},
                "template": {
                    "metadata": {"labels": shape.pod_labels(), "annotations": dict(DO_NOT_DISRUPT)},
                    "spec": {
                        "nodeSelector": shape.node_selector(),
                        "tolerations": shape.tolerations(),
                        "containers": [{**worker_container, "resources": _worker_resources(shape), "volumeMounts": _mounts()}],
                        "volumes": _volumes(checkpoint_claim),
                    },
                },
            }
        ],
    }


# ---- RayJob: distributed fine-tuning on GPUs -----------------------------------------------------------

_FINETUNE = '''\
"""Fine-tune a causal LM with Ray Train (DDP over every GPU of the cluster); checkpoints go to Lustre."""
import os
import tempfile

import torch
import ray.train
import ray.train.torch
from ray.train import Checkpoint, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

MODEL = os.environ["MODEL_ID"]


def train_loop(config):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    data = load_dataset("tatsu-lab/alpaca", split=f"train[:{config['samples']}]")

    def collate(rows):
        text = [f"{r['instruction']}\\n{r['input']}\\n### Response:\\n{r['output']}{tokenizer.eos_token}" for r in rows]
        batch = tokenizer(text, truncation=True, max_length=512, padding=True, return_tensors="pt")
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return dict(batch)

    loader = torch.utils.data.DataLoader(data, batch_size=config["batch_size"], shuffle=True, collate_fn=collate)
    loader = ray.train.torch.prepare_data_loader(loader)  # DistributedSampler + batches on this worker's GPU
    model = ray.train.torch.prepare_model(AutoModelForCausalLM.from_pretrained(MODEL, torch_dtype=torch.bfloat16))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"])
    context = ray.train.get_context()
    for epoch in range(config["epochs"]):
        if context.get_world_size() > 1:
            loader.sampler.set_epoch(epoch)
        model.train()
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if context.get_world_rank() == 0:
                (model.module if hasattr(model, "module") else model).save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                checkpoint = Checkpoint.from_directory(tmp)
            ray.train.report({"epoch": epoch, "loss": loss.item()}, checkpoint=checkpoint)


trainer = TorchTrainer(
    train_loop,
    train_loop_config={"lr": 2e-5, "epochs": 1, "batch_size": 8, "samples": 4000},
    scaling_config=ScalingConfig(num_workers=int(os.environ["NUM_WORKERS"]), use_gpu=True),
    run_config=RunConfig(name=os.environ["RUN_NAME"], storage_path=os.environ["CHECKPOINT_DIR"]),
)
result = trainer.fit()
print(f"final metrics {result.metrics}; checkpoint {result.checkpoint}")
'''


def finetune_runtime_env(*, model: str, workers: int, name: str) -> str:
    env = {
        "MODEL_ID": model,
        "NUM_WORKERS": str(workers),
        "RUN_NAME": name,
        "CHECKPOINT_DIR": CHECKPOINT_MOUNT,
        **dict(EFA_ENV),
    }
    return yaml.safe_dump({"pip": list(FINETUNE_PIP), "env_vars": env}, sort_keys=False)


def finetune_rayjob(
    shape: NodeShape,
    *,
    name: str = "ray-finetune",
    queue: str,
    nodes: int,
    checkpoint_claim: Optional[str],
    image: str,
    ray_version: str,
    model: str,
) -> list[dict]:
    """The script's ConfigMap and a RayJob fine-tuning ``model`` on every GPU of ``nodes`` nodes of ``shape``."""
    code = f"{name}-code"
    head = {
        "name": "ray-head",
        "image": image,
        "env": hf_token_env(),
        "ports": _head_ports(),
        "resources": {"requests": dict(HEAD_RESOURCES), "limits": dict(HEAD_RESOURCES)},
        # The driver (this script) runs on the head and writes the run's state under /checkpoints too.
        "volumeMounts": [*_mounts(), {"name": "code", "mountPath": CODE_MOUNT, "readOnly": True}],
    }
    worker = {"name": "ray-worker", "image": image, "env": hf_token_env()}
    cluster = _cluster_spec(
        ray_version=ray_version,
        head=head,
        group="gpu",
        shape=shape,
        nodes=nodes,
        worker_container=worker,
        extra_volumes=({"name": "code", "configMap": {"name": code}},),
        checkpoint_claim=checkpoint_claim,
    )
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": code, "labels": {EXAMPLE_LABEL: "true"}}, "data": {"finetune.py": _FINETUNE}},
        {
            "apiVersion": RAY_API,
            "kind": "RayJob",
            "metadata": {"name": name, "labels": _labels(queue, "training")},
            "spec": {
                # Kueue admits the job by setting suspend to false once the team's quota has room for all of it.
                "suspend": True,
                "entrypoint": f"python {CODE_MOUNT}/finetune.py",
                "runtimeEnvYAML": finetune_runtime_env(model=model, workers=nodes * shape.accelerators, name=name),
                "submissionMode": "K8sJobMode",
                # Required by Kueue: the cluster (and the quota it holds) goes when the job ends.
                "shutdownAfterJobFinishes": True,
                # Five minutes to read a failed job's logs and dashboard before the cluster goes (Kueue releases
                # the quota when the job finishes; the nodes go with the cluster).
                "ttlSecondsAfterFinished": 300,
                "rayClusterSpec": cluster,
            },
        },
    ]


# ---- RayCluster: interactive distributed work on Trainium -----------------------------------------------


def _install_ray(ray_version: str) -> str:
    # KubeRay runs `bash -c "<the container's command and args> && ulimit ...; ray start ..."`: install Ray first
    # unless the image has exactly this version (the Neuron images ship without Ray; an older Ray would ignore
    # token authentication).
    check = f"import ray, sys; sys.exit(ray.__version__ != '{ray_version}')"
    return f'python3 -c "{check}" 2>/dev/null || pip install --no-cache-dir "ray[default]=={ray_version}"'


def neuron_raycluster(
    shape: NodeShape,
    *,
    name: str = "ray-trainium",
    queue: str,
    nodes: int,
    checkpoint_claim: Optional[str],
    image: str,
    ray_version: str,
) -> dict:
    """A RayCluster on ``shape``'s Trainium pool: ``nodes`` workers, each with every Neuron device of its node."""
    head = {
        "name": "ray-head",
        "image": image,
        "args": [_install_ray(ray_version)],
        "env": hf_token_env(),
        "ports": _head_ports(),
        "resources": {"requests": dict(HEAD_RESOURCES), "limits": dict(HEAD_RESOURCES)},
        "volumeMounts": _mounts(),
    }
    # Neuron collectives run over libfabric's EFA provider too: no huge pages on the nodes, so none for its buffers.
    worker = {"name": "ray-worker", "image": image, "args": [_install_ray(ray_version)], "env": [*hf_token_env(), *shape.efa_env()]}
    return {
        "apiVersion": RAY_API,
        "kind": "RayCluster",
        "metadata": {"name": name, "labels": _labels(queue, "training")},
        "spec": {
            # Kueue unsuspends it when admitted; it holds the quota until deleted: delete it when done.
            "suspend": True,
            **_cluster_spec(
                ray_version=ray_version,
                head=head,
                group="neuron",
                shape=shape,
                nodes=nodes,
                worker_container=worker,
                checkpoint_claim=checkpoint_claim,
            ),
        },
    }
