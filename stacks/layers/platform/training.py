"""The training operators (addons.mpiOperator, addons.trainer): the MPI Operator and the Kubeflow Trainer with its runtimes
(training.runtimes)."""

from __future__ import annotations

import pulumi

from addons.training_operators import KubeflowTrainer, KubeflowTrainerArgs, MpiOperator, MpiOperatorArgs
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.spec import PlatformSpec


def build_mpi_operator(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    mpi = spec.addons.mpi_operator
    MpiOperator("mpi-operator", MpiOperatorArgs(version=mpi.version, system_pool=below.require_cluster().system_node_group_label), opts=opts)
    return AddonOutputs(export=mpi.version)


def build_kubeflow_trainer(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    training, trainer = spec.training, spec.addons.trainer
    KubeflowTrainer(
        "kubeflow-trainer",
        KubeflowTrainerArgs(
            version=trainer.version,
            install_job_set=trainer.install_job_set,
            system_pool=below.require_cluster().system_node_group_label,
            runtimes=training.runtimes,
            runtime_image=trainer.runtime_image,
            max_restarts=training.resume.max_restarts,
            grace_seconds=training.resume.grace_period_seconds,
        ),
        opts=opts,
    )
    return AddonOutputs(export={"version": trainer.version, "runtimes": list(training.runtimes)})


MPI_OPERATOR = Entry(
    name="mpi-operator",
    components=("crucible:platform:MpiOperator",),
    enabled=lambda spec: spec.addons.mpi_operator.enabled,
    build=build_mpi_operator,
    output="workloads",
    key="mpiOperator",
    summary="MPIJob (kubeflow.org/v2beta1)",
)
KUBEFLOW_TRAINER = Entry(
    name="kubeflow-trainer",
    components=("crucible:platform:KubeflowTrainer",),
    enabled=lambda spec: spec.addons.trainer.enabled,
    build=build_kubeflow_trainer,
    output="workloads",
    key="trainer",
    summary="TrainJob and the cluster training runtimes (trainer.kubeflow.org), JobSet",
)
