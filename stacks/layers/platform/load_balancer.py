"""The AWS Load Balancer Controller (addons.loadBalancerController): built first of the platform's add-ons."""

from __future__ import annotations

import pulumi

from addons.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    cluster, controller_spec = below.require_cluster(), spec.addons.load_balancer_controller
    controller = LoadBalancerController(
        "aws-load-balancer-controller",
        LoadBalancerControllerArgs(
            cluster_name=cluster.name,
            region=spec.region,
            vpc_id=below.require_network().vpc_id,
            version=controller_spec.version,
            replicas=controller_spec.replicas,
            system_pool=cluster.system_node_group_label,
            enforce_internal=spec.serving.exposure == "private",
            depends_on=tuple(below.foundation),
            permissions_boundary=spec.permissions_boundary,
        ),
        opts=opts,
    )
    return AddonOutputs(
        export={"version": controller_spec.version, "roleArn": controller.role.arn},
        load_balancer_controller=controller.release,  # what it reconciles depends on it (destroyed first)
    )


ENTRY = Entry(
    name="aws-load-balancer-controller",
    components=("crucible:platform:LoadBalancerController",),
    enabled=lambda spec: spec.addons.load_balancer_controller.enabled,
    build=build,
    output="workloads",
    key="loadBalancerController",
    summary="NLBs and ALBs for Services and Ingresses (IP targets); its webhooks guard every Service",
)
