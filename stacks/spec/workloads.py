"""The training and serving sections: training runtimes, the health canary, auto-resume, exposure, served models and
the values the shipped example jobs and services are rendered with (platform layer config). The operators and the
load balancer controller are add-ons (stacks/spec/addons.py: addons.mpiOperator, addons.trainer,
addons.loadBalancerController)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

from components import versions
from stacks.spec.checks import acm_certificate_arn, any_cidr, hf_model_id, image_ref, k8s_name, semver
from stacks.spec.schema import Context, all_of, each, in_range, non_empty, setting, show, unique
from stacks.spec.serving import ServingModelSpec, check_models

if TYPE_CHECKING:  # pragma: no cover
    from stacks.spec.platform import PlatformSpec

# The defaults are the pins of components/versions.py (one table of every pinned version).
# Ray of the training examples. KubeRay's token authentication (authOptions.mode: token) needs Ray >= 2.52.0, and
# the policy pack (SEC-RAY-001) demands it from that version on: the examples never run an older Ray.
RAY_VERSION = versions.SOFTWARE["ray"].version
RAY_TOKEN_AUTH_MIN = (2, 52, 0)
# AWS's nccl-tests image (aws-samples/awsome-distributed-training micro-benchmarks/nccl-tests), pinned: CUDA 12.8.1,
# EFA installer 1.43.2, aws-ofi-nccl 1.16.3, NCCL 2.27.7, nccl-tests 2.16.9. The MPIJob example and `crucible verify`.
NCCL_TESTS_IMAGE = versions.image("nccl-tests").ref


def ray_version(value: str) -> Optional[str]:
    problem = semver(value)
    if problem:
        return problem
    if tuple(int(p) for p in value.split(".")) < RAY_TOKEN_AUTH_MIN:
        return f"got {show(value)}; allowed: {'.'.join(map(str, RAY_TOKEN_AUTH_MIN))} or later (KubeRay token authentication needs it)"
    return None


@dataclass(frozen=True)
class TrainingExamplesSpec:
    """What the shipped example jobs are rendered with (`crucible examples`)."""

    pool: Optional[str] = setting(
        "Pool the example jobs run on (a gpu pool with `efa: true`). Default: the first training gpu pool with `efa: true`.", default=None
    )
    queue: str = setting("LocalQueue of the team namespace the jobs are submitted to (label kueue.x-k8s.io/queue-name).", default="default", check=k8s_name)
    nodes: int = setting("Nodes each example job spans.", default=2, check=in_range(1, 1000))
    checkpoint_claim: str = setting(
        "PersistentVolumeClaim (FSx for Lustre) mounted at /checkpoints; every team namespace has `lustre` when the stack has a file system.",
        default="lustre",  # addons.storage_drivers.LUSTRE_CLAIM
        check=k8s_name,
    )
    pytorch_image: str = setting(
        "Image of the PyTorch job: PyTorch with the EFA installer and aws-ofi-nccl (e.g. an AWS Deep Learning Container); pin it.",
        default=versions.image("pytorch-training").ref,
        check=image_ref,
    )
    mpi_image: str = setting(
        "Image of the MPI job (nccl-tests with Open MPI, libfabric and aws-ofi-nccl); pin it.",
        default=NCCL_TESTS_IMAGE,
        check=image_ref,
    )
    ray_version: str = setting(
        "Ray version of the Ray examples (RayJob, RayCluster: spec.rayVersion); it must match the Ray in rayImage and "
        "rayNeuronImage. At least 2.52.0: the examples use KubeRay token authentication.",
        default=RAY_VERSION,
        check=ray_version,
    )
    ray_image: str = setting(
        "Image of the GPU RayJob (Ray = rayVersion with CUDA; PyTorch and Transformers come from the job's runtime_env). "
        "NCCL uses EFA only if the image carries libfabric and aws-ofi-nccl; otherwise it falls back to TCP, which "
        "NCCL_DEBUG=INFO shows in the logs. Pin it.",
        default=versions.image("ray").ref,
        check=image_ref,
    )
    ray_neuron_image: str = setting(
        "Image of the Trainium RayCluster: the Neuron SDK (torch-neuronx, runtime, collectives, EFA). If it lacks Ray, "
        "the pods pip-install ray[default]==rayVersion before `ray start`; bake Ray in to skip that. Pin it.",
        default=versions.image("pytorch-training-neuronx").ref,
        check=image_ref,
    )
    ray_model: str = setting(
        "Hugging Face model the RayJob fine-tunes (a small causal LM; gated models need the hf-token Secret).",
        default="Qwen/Qwen2.5-0.5B",
        check=hf_model_id,
    )


@dataclass(frozen=True)
class ResumeSpec:
    """How a training job survives failure and eviction (the auto-resume contract, addons/checkpointing.py)."""

    max_restarts: int = setting(
        "Restart budget of a training job: JobSet `failurePolicy.maxRestarts` of the torch-distributed-efa runtime (every node's "
        "pod recreated together, resuming from the newest checkpoint) and the MPIJob example's `runPolicy.backoffLimit`. "
        "Kueue evictions (preemption, node repair, pods not ready in time) are requeued and do not count against it.",
        default=3,  # addons/training_operators.py DEFAULT_MAX_RESTARTS (tests/test_auto_resume.py keeps them one)
        check=in_range(0, 100),
    )
    grace_period_seconds: int = setting(
        "terminationGracePeriodSeconds of training pods: the time a SIGTERM (Kueue eviction, node drain) leaves the job to "
        "write its last checkpoint before the kubelet kills it (the examples tell the script as CHECKPOINT_GRACE_SECONDS).",
        default=120,  # addons/training_operators.py DEFAULT_GRACE_SECONDS
        check=in_range(30, 3600),
    )
    checkpoint_every_steps: int = setting(
        "Steps between the example job's periodic checkpoints (CHECKPOINT_EVERY_STEPS): the most a node that dies without warning costs.",
        default=100,
        check=in_range(1, 1_000_000),
    )
    train_steps: int = setting(
        "Steps the example training job runs in total (TRAIN_STEPS; a resumed run continues to the same end).", default=1000, check=in_range(1, 100_000_000)
    )

    def check(self, ctx: Context, path: str) -> None:
        if self.checkpoint_every_steps > self.train_steps:
            ctx.problem(
                f"{path}.checkpointEverySteps",
                f"got {self.checkpoint_every_steps}; allowed: at most trainSteps ({self.train_steps}), or the job never checkpoints before its end",
            )


_CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")


def cron_schedule(value: str) -> Optional[str]:
    """A CronJob schedule: five fields of digits, `*`, `/`, `,` and `-` (minute hour day-of-month month day-of-week)."""
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        return f"got {show(value)}; allowed: a five-field cron schedule such as '23 */6 * * *' (minute hour day month weekday)"
    return None


@dataclass(frozen=True)
class HealthCanarySpec:
    """The fleet health canary (addons/health_canary.py): a scheduled two-node NCCL all-reduce and Lustre write per EFA
    GPU pool, admitted by Kueue on idle capacity only, at the lowest priority."""

    enabled: bool = setting(
        "Run the canary on every gpu pool with `efa: true` (needs teams, for Kueue, and the MPI operator). Results are Prometheus "
        "metrics (crucible_canary_*) beside the catalog's figure, node labels and `crucible verify health`.",
        default=False,
    )
    schedule: str = setting("CronJob schedule of each pool's run (UTC).", default="23 */6 * * *", check=cron_schedule)
    min_bus_bandwidth_ratio: float = setting(
        "Bus bandwidth x 8 over the catalog's network Gbps below which a run marks its two nodes for repair (label "
        "crucible.io/canary=failed and the NoSchedule taint crucible.io/canary-failed; a person replaces them).",
        default=0.5,
        check=in_range(0.01, 2.0),
    )
    lustre_write_mib: int = setting(
        "MiB each run writes to the Lustre file system (dd, direct I/O, fsync) before the all-reduce.", default=1024, check=in_range(16, 65536)
    )
    timeout_minutes: int = setting("How long a run may take once submitted (the MPIJob's activeDeadlineSeconds).", default=30, check=in_range(5, 240))
    admit_minutes: int = setting(
        "How long a run waits for Kueue to admit it on idle capacity before it gives up (recorded as not_admitted: no fault of the nodes).",
        default=15,
        check=in_range(1, 240),
    )
    driver_image: str = setting(
        "Python image of the canary's driver and metrics server (standard library only); pin it.", default=versions.image("python").ref, check=image_ref
    )

    def check(self, ctx: Context, path: str) -> None:
        if self.admit_minutes > self.timeout_minutes:
            ctx.problem(f"{path}.admitMinutes", f"got {self.admit_minutes}; allowed: at most timeoutMinutes ({self.timeout_minutes})")


@dataclass(frozen=True)
class TrainingSpec:
    runtimes: tuple[Literal["torch-distributed-efa"], ...] = setting(
        "ClusterTrainingRuntimes Crucible ships with Trainer: torch-distributed-efa (torchrun, EFA, /dev/shm sized for NCCL).",
        default=["torch-distributed-efa"],
        check=unique,
    )
    examples: TrainingExamplesSpec = setting("Values of the example jobs (see `examples.*`).", default={})
    health_canary: HealthCanarySpec = setting("The fleet health canary (see `healthCanary.*`).", default={})
    resume: ResumeSpec = setting('Restarts and checkpoints of training jobs (see `resume.*`; README "Auto-resume contract").', default={})


@dataclass(frozen=True)
class ServingExamplesSpec:
    """What the shipped serving examples are rendered with (`crucible examples`)."""

    model: str = setting("Open model served by the examples (Hugging Face id).", default="mistralai/Mistral-7B-Instruct-v0.3", check=hf_model_id)
    gpu_image: str = setting("Ray Serve LLM image for GPU pools (Ray + vLLM); pin it.", default=versions.image("ray-llm").ref, check=image_ref)
    neuron_image: str = setting(
        "Ray Serve image with vLLM for Neuron (transformers-neuronx / NxD Inference) for inf2/trn pools; pin it.",
        default=versions.image("pytorch-inference-vllm-neuronx").ref,
        check=image_ref,
    )
    app_image: str = setting(
        "Python image of the small prompt-engineering app (a Gradio UI installed at start, talking to the model's OpenAI-compatible endpoint).",
        default=versions.image("python").ref,
        check=image_ref,
    )
    queue: str = setting(
        "LocalQueue of the team namespace the RayServices are submitted to (label kueue.x-k8s.io/queue-name): Kueue admits "
        "them as elastic workloads on the serving pools' flavors.",
        default="default",
        check=k8s_name,
    )
    min_replicas: int = setting("Fewest model replicas Ray Serve keeps (autoscaling).", default=1, check=in_range(0, 100))
    max_replicas: int = setting("Most model replicas Ray Serve scales to (autoscaling).", default=4, check=in_range(1, 1000))

    def check(self, ctx: Context, path: str) -> None:
        if self.min_replicas > self.max_replicas:
            ctx.problem(f"{path}.minReplicas", f"got {self.min_replicas}; must be at most maxReplicas ({self.max_replicas})")


@dataclass(frozen=True)
class ServingSpec:
    exposure: Literal["private", "public"] = setting(
        "How served apps are reached: private (ClusterIP + internal ALB; the controller's IngressClass enforces `internal`) "
        "or public (internet-facing ALB, HTTPS only: needs certificateArn; reported by the policy pack).",
        default="private",
    )
    certificate_arn: Optional[str] = setting(
        "ACM certificate of the public HTTPS listener (required when exposure is public).", default=None, check=acm_certificate_arn
    )
    public_cidrs: tuple[str, ...] = setting(
        "Source CIDRs allowed to reach a public load balancer (alb.ingress.kubernetes.io/inbound-cidrs).",
        default=["0.0.0.0/0"],
        check=all_of(non_empty, unique, each(any_cidr)),
    )
    examples: ServingExamplesSpec = setting("Values of the example serving workloads (see `examples.*`).", default={})
    models: tuple[ServingModelSpec, ...] = setting(
        'Models served by vLLM\'s OpenAI-compatible server, from config (see `models[].*` and README "Serve"): the replica '
        "shape is derived from the catalog and checked to fit; each gets a Deployment (one node) or LeaderWorkerSet "
        "(several nodes), a Service, a PodDisruptionBudget and a KEDA ScaledObject.",
        default=[],
    )

    def check(self, ctx: Context, path: str) -> None:
        if self.exposure == "public" and not self.certificate_arn:
            ctx.problem(
                f"{path}.certificateArn",
                "required when exposure is 'public': public endpoints are HTTPS only; name an ACM certificate ARN (or set exposure: private)",
            )


def check_canary(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """The canary runs through Kueue (teams), as an MPIJob (the MPI operator), on gpu pools with EFA."""
    if not spec.training.health_canary.enabled or not spec.builds("platform"):
        return
    key = f"{path}training.healthCanary.enabled"
    if not spec.teams:
        ctx.problem(key, "got true; the canary is admitted by Kueue, which a stack installs with teams: define crucible:teams or turn it off")
    if not spec.addons.mpi_operator.enabled:
        ctx.problem(key, "got true, but addons.mpiOperator.enabled is false; the canary runs an MPIJob: set addons.mpiOperator.enabled: true or turn it off")
    if not any(p.kind == "gpu" and p.efa for p in spec.pools):
        kinds = ", ".join(f"{p.name} ({p.kind}, efa {str(p.efa).lower()})" for p in spec.pools) or "none"
        ctx.problem(key, f"got true; allowed only with a gpu pool with efa: true (pools: {kinds})")


def check_operators(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """What the training runtimes and a public serving endpoint need of the add-ons (addons.trainer,
    addons.loadBalancerController)."""
    runtimes = spec.training.runtimes
    if runtimes and not spec.addons.trainer.enabled:
        ctx.problem(
            f"{path}training.runtimes",
            f"got {show(list(runtimes))}, but addons.trainer.enabled is false; ClusterTrainingRuntimes are Kubeflow Trainer's: "
            "set addons.trainer.enabled: true (or training.runtimes: [])",
        )
    if spec.serving.exposure == "public" and not spec.addons.load_balancer_controller.enabled:
        ctx.problem(
            f"{path}serving.exposure",
            "got 'public', but addons.loadBalancerController.enabled is false; a public endpoint is an ALB the controller makes: "
            "set addons.loadBalancerController.enabled: true (or exposure: private)",
        )


def check_workloads(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """Cross-section rules: the example pool must be a pool of this stack, an EFA training pool; the canary's needs;
    serving.models."""
    check_operators(spec, ctx, path)
    check_canary(spec, ctx, path)
    check_models(spec, ctx, path)
    wanted = spec.training.examples.pool
    if wanted is None:
        return
    names = [p.name for p in spec.pools]
    if wanted not in names:
        ctx.problem(f"{path}training.examples.pool", f"got {show(wanted)}; allowed: one of crucible:pools[].name ({', '.join(names) or 'none defined'})")
        return
    pool = spec.pools[names.index(wanted)]
    if not pool.efa or pool.kind != "gpu":
        ctx.problem(
            f"{path}training.examples.pool",
            f"got {show(wanted)} (kind {pool.kind}, efa {str(pool.efa).lower()}); allowed: a gpu pool with efa: true",
        )
