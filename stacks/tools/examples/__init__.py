"""The example workloads a team submits, rendered from a stack's spec so they always carry the right values.

``EXAMPLES`` is the registry `crucible examples <stack> [--out DIR]` iterates: each entry names the file it
writes (relative to DIR), says what it is, and renders its manifests from the spec — an empty list when the
stack has no pool to run it on (or, for the Ray examples, no KubeRay operator: `addons.kuberay.enabled`).
``write_examples`` writes them (the command itself is stacks/tools/cli.py `cmd_examples`): each file opens with a
comment saying what it is, what it needs, how to submit it to a team namespace and how to follow it; scripts
and embedded configs are YAML block literals (`|`), readable and editable as they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import yaml

from components.catalog import Catalog
from components.labels import QUEUE_LABEL
from stacks.derive.admission import example_priority_class, topology_aware_pools
from stacks.derive.examples import cpu_pool, kuberay_enabled, prompt_app_behind_load_balancer, prompt_app_kind, serving_pool
from stacks.spec import PlatformSpec
from stacks.spec.pools import PoolSpec
from stacks.tools.examples import ray, serving, training
from stacks.tools.examples.queueing import queued
from stacks.tools.examples.shapes import NodeShape, shape_of

__all__ = [
    "EXAMPLES",
    "Example",
    "cpu_pool",
    "kuberay_enabled",
    "prompt_app_behind_load_balancer",
    "prompt_app_kind",
    "render_examples",
    "serving_pool",
    "training_pool",
    "write_examples",
]


@dataclass(frozen=True)
class Example:
    path: str  # where `crucible examples --out DIR` writes it: DIR/<path>
    summary: str
    render: Callable[..., list[dict]]  # (spec, catalog=None) -> manifests
    needs: str  # what the stack must have for it to render (said when it is skipped)
    follow: str = ""  # how to watch it once submitted (kubectl), written into the file's header


def training_pool(spec: PlatformSpec) -> Optional[PoolSpec]:
    """The pool the example jobs run on: `training.examples.pool`, else the first gpu training pool with EFA."""
    wanted = spec.training.examples.pool
    for pool in spec.pools:
        if wanted == pool.name or (wanted is None and pool.workload == "training" and pool.kind == "gpu" and pool.efa):
            return pool
    return None


def neuron_training_pool(spec: PlatformSpec) -> Optional[PoolSpec]:
    """The first Neuron (Trainium) training pool."""
    return next((p for p in spec.pools if p.workload == "training" and p.kind == "neuron"), None)


def checkpoint_claim(spec: PlatformSpec) -> Optional[str]:
    """The Lustre claim jobs mount at /checkpoints (`training.examples.checkpointClaim`), or None when the stack has
    no file system (`storage.lustre.enabled: false`): the jobs then checkpoint to a scratch directory."""
    return spec.training.examples.checkpoint_claim if spec.storage.lustre.enabled else None


def gpu_pool(spec: PlatformSpec) -> Optional[PoolSpec]:
    """The pool the single-node GPU check runs on: the first gpu pool for training, else for interactive work, else
    for serving (every stack with a GPU pool has one)."""
    gpu = [p for p in spec.pools if p.kind == "gpu"]
    for workload in ("training", "interactive", "serving"):
        chosen = next((p for p in gpu if p.workload == workload), None)
        if chosen is not None:
            return chosen
    return None


def render_gpu_smoke(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    pool = gpu_pool(spec)
    if pool is None:
        return []
    ex = spec.training.examples
    return [training.gpu_smoke_job(shape_of(pool, catalog), queue=ex.queue, image=ex.pytorch_image)]


def _training_shape(spec: PlatformSpec, catalog: Optional[Catalog]) -> Optional[NodeShape]:
    pool = training_pool(spec)
    return shape_of(pool, catalog) if pool is not None else None


def render_pytorch(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    shape = _training_shape(spec, catalog)
    if shape is None or not spec.addons.trainer.enabled or training.TORCH_EFA_RUNTIME not in spec.training.runtimes:
        return []
    ex = spec.training.examples
    return [
        training.pytorch_trainjob(
            shape,
            queue=ex.queue,
            nodes=ex.nodes,
            checkpoint_claim=checkpoint_claim(spec),
            image=ex.pytorch_image,
            resume=training.ResumeSettings.of(spec),
        )
    ]


def render_mpi(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    shape = _training_shape(spec, catalog)
    if shape is None or not spec.addons.mpi_operator.enabled:
        return []
    ex = spec.training.examples
    return [
        training.mpi_nccl_job(
            shape, queue=ex.queue, nodes=ex.nodes, checkpoint_claim=checkpoint_claim(spec), image=ex.mpi_image, resume=training.ResumeSettings.of(spec)
        )
    ]


def _ray_settings(spec: PlatformSpec) -> dict:
    """What both Ray training examples take from `training.examples`: queue, node count, checkpoint claim, Ray version."""
    ex = spec.training.examples
    return {"queue": ex.queue, "nodes": ex.nodes, "checkpoint_claim": checkpoint_claim(spec), "ray_version": ex.ray_version}


def render_ray_finetune(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    shape = _training_shape(spec, catalog)
    if shape is None or not kuberay_enabled(spec):
        return []
    ex = spec.training.examples
    return ray.finetune_rayjob(shape, image=ex.ray_image, model=ex.ray_model, **_ray_settings(spec))


def render_ray_trainium(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    pool = neuron_training_pool(spec)
    if pool is None or not kuberay_enabled(spec):
        return []
    shape = shape_of(pool, catalog)
    return [ray.neuron_raycluster(shape, image=spec.training.examples.ray_neuron_image, **_ray_settings(spec))]


def _render_llm(spec: PlatformSpec, kind: str, catalog: Optional[Catalog]) -> list[dict]:
    pool, head = serving_pool(spec, kind), cpu_pool(spec)
    if pool is None or head is None or not kuberay_enabled(spec):
        return []
    ex = spec.serving.examples
    return [
        serving.llm_rayservice(
            shape_of(pool, catalog, roomiest=True),
            head_pool=head.name,
            name=f"llm-{kind}",
            model=ex.model,
            image=ex.neuron_image if kind == "neuron" else ex.gpu_image,
            min_replicas=ex.min_replicas,
            max_replicas=ex.max_replicas,
            queue=ex.queue,
        )
    ]


def render_llm_gpu(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    return _render_llm(spec, "gpu", catalog)


def render_llm_neuron(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    return _render_llm(spec, "neuron", catalog)


def exposure_of(spec: PlatformSpec) -> serving.Exposure:
    s = spec.serving
    return serving.Exposure(mode=s.exposure, certificate_arn=s.certificate_arn, public_cidrs=tuple(s.public_cidrs))


def render_prompt_app(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> list[dict]:
    kind = prompt_app_kind(spec)
    if kind is None:
        return []
    ex = spec.serving.examples
    # KubeRay's serve service for a RayService <name> is <name>-serve-svc.
    manifests = serving.prompt_app(model=ex.model, model_service=f"llm-{kind}-serve-svc", image=ex.app_image, pool=cpu_pool(spec).name)
    if prompt_app_behind_load_balancer(spec):
        manifests.append(serving.app_ingress(exposure_of(spec)))
    return manifests


EXAMPLES: list[Example] = [
    Example(
        "train/gpu-smoke.yaml",
        "batch Job: one node of a GPU pool checked end to end (driver and device plugin, CUDA, NCCL across its GPUs)",
        render_gpu_smoke,
        needs="a gpu pool (training first, else interactive, else serving)",
        follow="kubectl logs -n <team> job/gpu-smoke -f",
    ),
    Example(
        "train/pytorch-efa.yaml",
        "multi-node PyTorch TrainJob (torch-distributed-efa runtime) on the EFA training pool",
        render_pytorch,
        needs="a gpu training pool with efa: true (or training.examples.pool), Kubeflow Trainer and its torch-distributed-efa runtime",
        follow="kubectl get trainjobs,workloads -n <team>; kubectl logs -n <team> -l jobset.sigs.k8s.io/jobset-name=pytorch-efa -f",
    ),
    Example(
        "train/mpi-nccl-allreduce.yaml",
        "MPIJob v2beta1: nccl-tests all-reduce over EFA across the training pool's nodes",
        render_mpi,
        needs="a gpu training pool with efa: true (or training.examples.pool) and the MPI operator",
        follow="kubectl logs -n <team> -l training.kubeflow.org/job-name=nccl-allreduce,training.kubeflow.org/job-role=launcher -f",
    ),
    Example(
        "train/ray-finetune.yaml",
        "RayJob: Ray Train fine-tuning over every GPU of the training pool's nodes (EFA devices attached; NCCL uses them "
        "when rayImage has aws-ofi-nccl), checkpoints on Lustre",
        render_ray_finetune,
        needs="a gpu training pool with efa: true (or training.examples.pool) and the KubeRay operator",
        follow="kubectl get rayjob ray-finetune -n <team> -w; kubectl logs -n <team> -l job-name=ray-finetune -f",
    ),
    Example(
        "train/ray-trainium.yaml",
        "RayCluster on the Trainium training pool for interactive distributed work (every Neuron device per node)",
        render_ray_trainium,
        needs="a neuron training pool and the KubeRay operator",
        follow="kubectl get raycluster ray-trainium -n <team> -w; kubectl port-forward -n <team> svc/ray-trainium-head-svc 8265 (delete it when done: it holds its quota)",
    ),
    Example(
        "serve/llm-gpu.yaml",
        "RayService: an open model on vLLM with Ray Serve autoscaling, on the GPU serving pool",
        render_llm_gpu,
        needs="a gpu serving pool, a cpu pool (for the Ray head) and the KubeRay operator",
        follow="kubectl get rayservice llm-gpu -n <team> -w; kubectl port-forward -n <team> svc/llm-gpu-serve-svc 8000",
    ),
    Example(
        "serve/llm-neuron.yaml",
        "RayService: the same model on Inferentia2/Trainium (Neuron serving pool)",
        render_llm_neuron,
        needs="a neuron serving pool, a cpu pool (for the Ray head) and the KubeRay operator",
        follow="kubectl get rayservice llm-neuron -n <team> -w; kubectl port-forward -n <team> svc/llm-neuron-serve-svc 8000",
    ),
    Example(
        "serve/prompt-lab.yaml",
        "Gradio prompt-engineering app (Deployment + ClusterIP Service + ALB Ingress, private by default)",
        render_prompt_app,
        needs="a gpu or neuron serving pool, a cpu pool and the KubeRay operator",
        follow="kubectl get ingress prompt-lab -n <team> (the ALB's address); kubectl port-forward -n <team> svc/prompt-lab 8080:80",
    ),
]


def render_examples(spec: PlatformSpec, catalog: Optional[Catalog] = None) -> dict[str, list[dict]]:
    """{path: manifests} for every example the stack can run, each queued object with its priority class and,
    on topology-aware pools, its pod templates' topology request (stacks/tools/examples/queueing.py)."""
    out = {}
    for example in EXAMPLES:
        manifests = example.render(spec, catalog)
        if manifests:
            out[example.path] = queued(manifests, example_priority_class(spec), topology_aware_pools(spec))
    return out


class _PlainDumper(yaml.SafeDumper):
    """Writes a list shared by several places in full each time (no &id001 anchors in files people read), and every
    multi-line string (a script, an embedded config, a ConfigMap's file) as a block literal `|`."""

    def ignore_aliases(self, data) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        # YAML cannot keep trailing spaces on a line of a block literal: strip them (nothing Crucible renders has any).
        return dumper.represent_scalar("tag:yaml.org,2002:str", "\n".join(line.rstrip() for line in value.split("\n")), style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_PlainDumper.add_representer(str, _str)


def team_namespaces(spec: PlatformSpec) -> list[str]:
    """The namespaces examples are submitted to: one per team (TeamSpec.namespace)."""
    return [team.namespace for team in spec.teams]


def header(example: Example, spec: PlatformSpec, rel: str, manifests: list[dict]) -> str:
    """The comment a written file opens with: what it is, what it needs, how to submit and follow it."""
    queues = sorted({m["metadata"].get("labels", {}).get(QUEUE_LABEL) for m in manifests} - {None})
    namespaces = team_namespaces(spec)
    team = namespaces[0] if namespaces else "<namespace>"
    lines = [
        f"{example.summary}.",
        f"Rendered by `crucible examples {spec.stack}` from the stack's config; render again after changing it.",
        f"Needs: {example.needs}.",
    ]
    if namespaces and queues:
        lines += [
            f"Submit it in a team namespace ({', '.join(namespaces)}); Kueue admits it through the namespace's LocalQueue",
            f"`{', '.join(queues)}` when the team's quota has room:",
        ]
    elif namespaces:
        lines += [f"Submit it in a team namespace ({', '.join(namespaces)}):"]
    else:
        lines += ["This stack has no teams (crucible:teams), hence no Kueue queue: submit it to a namespace of your own:"]
    lines += [f"  kubectl apply -n {team} -f {rel}"]
    if example.follow:
        lines += [f"Follow it: {example.follow.replace('<team>', team)}"]
    lines += [f"Remove it: kubectl delete -n {team} -f {rel}"]
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def write_examples(spec: PlatformSpec, out_dir: Path, catalog: Optional[Catalog] = None) -> list[Path]:
    """Write every renderable example as a multi-document YAML file under ``out_dir``, opening with its
    :func:`header`; return the paths."""
    by_path = {example.path: example for example in EXAMPLES}
    written = []
    for rel, manifests in render_examples(spec, catalog).items():
        path = Path(out_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.dump_all(manifests, Dumper=_PlainDumper, sort_keys=False, width=120)
        path.write_text(header(by_path[rel], spec, rel, manifests) + body)
        written.append(path)
    return written
