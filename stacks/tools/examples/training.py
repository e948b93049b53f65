"""Example training jobs a team submits, rendered from the spec (pure functions returning manifest dicts).

- ``pytorch_trainjob``: a multi-node PyTorch TrainJob on the ClusterTrainingRuntime Crucible ships with Kubeflow
  Trainer (torchrun on EFA: addons/training_operators.py ``torch_efa_runtime``, deployed by the platform layer).
- ``mpi_nccl_job``: an MPIJob v2beta1 running nccl-tests' all-reduce across the nodes.

Every job is admitted by Kueue through the team's LocalQueue (label ``kueue.x-k8s.io/queue-name``), pinned to
its pool (``karpenter.sh/nodepool``) and instance type, tolerates the accelerator taint, and asks for all the
node's accelerators and EFA devices (counts from the instance catalog), never huge pages (Karpenter models none:
components/labels.py). The EFA/NCCL environment follows current aws-ofi-nccl guidance (aws-samples/
awsome-distributed-training 1.architectures/efa-cheatsheet.md, preset for libfabric >= 1.18 and aws-ofi-nccl >=
1.7): `FI_EFA_USE_HUGE_PAGE=0` (the nodes reserve no huge pages), and what makes the transport visible in the logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from addons.checkpointing import CHECKPOINT_MOUNT, resume_command
from addons.training_operators import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MAX_RESTARTS,
    EFA_ENV,
    MPI_FORWARDED_ENV,
    MPI_HOME,
    MPI_LAUNCHER_ENV,
    MPI_MCA,
    MPIRUN,
    TORCH_EFA_RUNTIME,
    TRAINER_API,
    efa_env,
    nccl_allreduce_argv,
    shm_volume,
    torch_efa_runtime,
)
from components.labels import RESTRICTED_CONTAINER_SECURITY, RESTRICTED_POD_SECURITY, EXAMPLE_LABEL, QUEUE_LABEL
from stacks.tools.examples.shapes import NodeShape

__all__ = [
    "MPI_FORWARDED_ENV",
    "MPI_HOME",
    "MPI_LAUNCHER_ENV",
    "MPI_MCA",
    "MPIRUN",
    "EFA_ENV",
    "OBSOLETE_EFA_ENV",
    "TORCH_EFA_RUNTIME",
    "TRAINER_API",
    "mpi_nccl_job",
    "pytorch_trainjob",
    "torch_efa_runtime",
]

MPI_API = "kubeflow.org/v2beta1"


@dataclass(frozen=True)
class ResumeSettings:
    """What the jobs take from `training.resume` (stacks/spec/workloads.py ResumeSpec; the same defaults)."""

    max_restarts: int = DEFAULT_MAX_RESTARTS
    grace_period_seconds: int = DEFAULT_GRACE_SECONDS
    checkpoint_every_steps: int = 100
    train_steps: int = 1000

    @classmethod
    def of(cls, spec) -> "ResumeSettings":
        r = spec.training.resume
        return cls(r.max_restarts, r.grace_period_seconds, r.checkpoint_every_steps, r.train_steps)


# What current guidance says NOT to set (facts.md, aws-ofi-nccl): detected automatically, only for old plugins,
# no longer needed, or best left at NCCL's defaults. Tests assert none of these appear in any example.
OBSOLETE_EFA_ENV = (
    "FI_EFA_USE_DEVICE_RDMA",  # libfabric >= 1.18 / aws-ofi-nccl >= 1.7 detect RDMA themselves
    "FI_PROVIDER",  # =efa only mattered for aws-ofi-nccl <= 1.5
    "NCCL_PROTO",  # =simple only mattered for aws-ofi-nccl <= 1.5
    "FI_EFA_FORK_SAFE",  # no longer needed
    "NCCL_MIN_CHANNELS",  # leave at NCCL's default
    "NCCL_MIN_NCHANNELS",
    "NCCL_BUFFSIZE",  # leave at NCCL's default
)


def checkpoint_volume(claim: Optional[str]) -> dict:
    """/checkpoints: the Lustre claim, or (a stack without a file system) a scratch directory that dies with the pod."""
    if claim is None:
        return {"name": "checkpoints", "emptyDir": {}}
    return {"name": "checkpoints", "persistentVolumeClaim": {"claimName": claim}}


def _mounts() -> list[dict]:
    return [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT}]


def _job_labels(queue: str) -> dict[str, str]:
    return {QUEUE_LABEL: queue, EXAMPLE_LABEL: "true"}


def resume_env(name: str, resume: Optional[ResumeSettings]) -> list[dict]:
    """The auto-resume contract's environment (addons/checkpointing.py CONTRACT_ENV) for job `name`."""
    r = resume or ResumeSettings()
    return [
        {"name": "CHECKPOINT_DIR", "value": f"{CHECKPOINT_MOUNT}/{name}"},
        {"name": "CHECKPOINT_EVERY_STEPS", "value": str(r.checkpoint_every_steps)},
        {"name": "CHECKPOINT_GRACE_SECONDS", "value": str(r.grace_period_seconds)},
        {"name": "TRAIN_STEPS", "value": str(r.train_steps)},
    ]


def pytorch_trainjob(
    shape: NodeShape,
    *,
    name: str = "pytorch-efa",
    queue: str,
    nodes: int,
    checkpoint_claim: Optional[str],
    image: str,
    runtime: str = TORCH_EFA_RUNTIME,
    resume: Optional[ResumeSettings] = None,
) -> dict:
    """A multi-node PyTorch TrainJob on the EFA runtime: every GPU and EFA device of each node, checkpoints on Lustre,
    resumed from the newest one whenever the job restarts (the runtime's JobSet failurePolicy) or Kueue readmits it
    after an eviction (addons/checkpointing.py: the script and its contract)."""
    r = resume or ResumeSettings()
    pod_patch = {
        "nodeSelector": shape.node_selector(),
        "tolerations": shape.tolerations(),
        "terminationGracePeriodSeconds": r.grace_period_seconds,
        "volumes": [checkpoint_volume(checkpoint_claim)],
        "containers": [{"name": "node", "volumeMounts": [{"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT}]}],
    }
    return {
        "apiVersion": TRAINER_API,
        "kind": "TrainJob",
        "metadata": {"name": name, "labels": _job_labels(queue)},
        "spec": {
            "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime", "name": runtime},
            "trainer": {
                "image": image,
                "numNodes": nodes,
                "command": ["bash", "-c", resume_command()],
                "env": resume_env(name, r),
                "resourcesPerNode": {"limits": shape.resources(), "requests": shape.resources()},
            },
            "runtimePatches": [
                {
                    "manager": "crucible.io/examples",
                    "trainingRuntimeSpec": {
                        "template": {
                            "metadata": {"labels": shape.pod_labels()},
                            "spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"spec": pod_patch}}}}]},
                        }
                    },
                }
            ],
        },
    }


def mpi_nccl_job(
    shape: NodeShape,
    *,
    name: str = "nccl-allreduce",
    queue: str,
    nodes: int,
    checkpoint_claim: Optional[str],
    image: str,
    resume: Optional[ResumeSettings] = None,
) -> dict:
    """An MPIJob (v2beta1): nccl-tests all_reduce_perf over every GPU of `nodes` nodes, on EFA.

    Restarts: the launcher restarts on failure (`restartPolicy: OnFailure`: a worker that dies ends mpirun), at most
    `runPolicy.backoffLimit` times (training.resume.maxRestarts); the operator recreates the workers. A Kueue
    eviction suspends the MPIJob (`runPolicy.suspend`), and readmission starts it again. nccl-tests keeps no state:
    a training MPIJob would resume from $CHECKPOINT_DIR exactly as the TrainJob's script does."""
    r = resume or ResumeSettings()
    slots = shape.accelerators
    worker_resources = shape.resources()
    mpirun = nccl_allreduce_argv(nodes, slots)
    placement = {"nodeSelector": shape.node_selector(), "tolerations": shape.tolerations()}
    return {
        "apiVersion": MPI_API,
        "kind": "MPIJob",
        "metadata": {"name": name, "labels": _job_labels(queue)},
        "spec": {
            "slotsPerWorker": slots,
            "mpiImplementation": "OpenMPI",
            "launcherCreationPolicy": "WaitForWorkersReady",
            "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": r.max_restarts},
            "mpiReplicaSpecs": {
                "Launcher": {
                    "replicas": 1,
                    "restartPolicy": "OnFailure",
                    "template": {
                        "metadata": {"labels": shape.pod_labels()},
                        "spec": {
                            **placement,
                            "containers": [
                                {
                                    "name": "launcher",
                                    "image": image,
                                    "command": mpirun[:1],
                                    "args": mpirun[1:],
                                    "env": efa_env(dict(MPI_LAUNCHER_ENV)),
                                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
                                }
                            ],
                        },
                    },
                },
                "Worker": {
                    "replicas": nodes,
                    "template": {
                        "metadata": {"labels": shape.pod_labels()},
                        "spec": {
                            **placement,
                            "containers": [
                                {
                                    "name": "worker",
                                    "image": image,
                                    # The MPI operator mounts the job's SSH keys; the launcher reaches each worker
                                    # through this sshd (mpi-operator v2beta1 examples run it the same way).
                                    "command": ["/usr/sbin/sshd", "-De"],
                                    "env": efa_env(),
                                    "resources": {"limits": worker_resources, "requests": worker_resources},
                                    "volumeMounts": _mounts(),
                                }
                            ],
                            "volumes": [shm_volume(), checkpoint_volume(checkpoint_claim)],
                        },
                    },
                },
            },
        },
    }


# A single-node check of a GPU pool: the driver and device plugin (nvidia-smi), CUDA (a matmul) and NCCL across
# every GPU of the node (an all-reduce through NVLink/PCIe; no EFA involved).
_GPU_SMOKE_SCRIPT = """\
nvidia-smi
cat > /tmp/smoke.py <<'EOF'
import os, torch, torch.distributed as dist
dist.init_process_group("nccl")
torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
x = torch.randn(4096, 4096, device="cuda")
torch.cuda.synchronize()
y = x @ x
ones = torch.ones(1, device="cuda")
dist.all_reduce(ones)
torch.cuda.synchronize()
if dist.get_rank() == 0:
    print(f"{torch.cuda.get_device_name()}: matmul ok, NCCL all_reduce over {int(ones.item())} GPUs ok")
dist.destroy_process_group()
EOF
exec torchrun --standalone --nproc-per-node=@GPUS@ /tmp/smoke.py
"""


def gpu_smoke_job(shape: NodeShape, *, name: str = "gpu-smoke", queue: str, image: str) -> dict:
    """A Kueue-admitted batch Job using every GPU of one node of ``shape``'s pool (no EFA devices: one node)."""
    resources = shape.resources(efa=False)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": _job_labels(queue)},
        "spec": {
            # Kueue unsuspends the Job once the team's quota admits it (integration batch/job).
            "suspend": True,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": shape.pod_labels()},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": shape.node_selector(),
                    "tolerations": shape.tolerations(),
                    # needs no privilege: admitted where the team enforces Pod Security restricted
                    "securityContext": dict(RESTRICTED_POD_SECURITY),
                    "containers": [
                        {
                            "name": "smoke",
                            "image": image,
                            "securityContext": dict(RESTRICTED_CONTAINER_SECURITY),
                            "command": ["bash", "-c", _GPU_SMOKE_SCRIPT.replace("@GPUS@", str(max(1, shape.accelerators)))],
                            "resources": {"requests": dict(resources), "limits": dict(resources)},
                            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                        }
                    ],
                    "volumes": [shm_volume()],
                },
            },
        },
    }
