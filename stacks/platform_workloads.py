"""Training operators and serving add-ons of the platform layer, wired from the spec.

One entry point, called from the platform layer: it creates the top-level components
`crucible:platform:MpiOperator`, `crucible:platform:KubeflowTrainer` and `crucible:platform:LoadBalancerController`
as the spec toggles them, and returns what the stack exports about them.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi

from addons.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from addons.training_operators import KubeflowTrainer, KubeflowTrainerArgs, MpiOperator, MpiOperatorArgs
from stacks.spec import PlatformSpec


def training_and_serving_addons(spec: PlatformSpec, built: Any, providers: Sequence[pulumi.ProviderResource]) -> dict:
    """Create the training operators and the load balancer controller; ``built`` gives the cluster and network."""
    opts = pulumi.ResourceOptions(providers=list(providers))
    system_pool = built.cluster.system_node_group_label
    training, serving = spec.training, spec.serving
    exports: dict[str, Any] = {}
    if training.mpi_operator.enabled:
        MpiOperator("mpi-operator", MpiOperatorArgs(version=training.mpi_operator.version, system_pool=system_pool), opts=opts)
        exports["mpiOperator"] = training.mpi_operator.version
    if training.trainer.enabled:
        KubeflowTrainer(
            "kubeflow-trainer",
            KubeflowTrainerArgs(
                version=training.trainer.version,
                install_job_set=training.trainer.install_job_set,
                system_pool=system_pool,
                runtimes=training.runtimes,
                runtime_image=training.trainer.runtime_image,
            ),
            opts=opts,
        )
        exports["trainer"] = {"version": training.trainer.version, "runtimes": list(training.runtimes)}
    if serving.load_balancer_controller.enabled:
        controller = LoadBalancerController(
            "aws-load-balancer-controller",
            LoadBalancerControllerArgs(
                cluster_name=built.cluster.name,
                region=spec.region,
                vpc_id=built.network.vpc_id,
                version=serving.load_balancer_controller.version,
                replicas=serving.load_balancer_controller.replicas,
                system_pool=system_pool,
                enforce_internal=serving.exposure == "private",
                depends_on=tuple(built.below_compute),
            ),
            opts=opts,
        )
        built.load_balancer_controller = controller.release  # what it reconciles depends on it (destroyed first)
        exports["loadBalancerController"] = {"version": serving.load_balancer_controller.version, "roleArn": controller.role.arn}
    exports["exposure"] = serving.exposure
    return exports
