"""The KubeRay operator (addons.kuberay): RayJob, RayCluster, RayService."""

from __future__ import annotations

import pulumi

from addons.kuberay import KubeRayOperator, KubeRayOperatorArgs
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    kuberay, monitoring = spec.addons.kuberay, below.monitoring
    operator = KubeRayOperator(
        "kuberay-operator",
        KubeRayOperatorArgs(
            version=kuberay.version,
            system_pool=below.require_cluster().system_node_group_label,
            service_monitor=monitoring is not None,
            depends_on=(monitoring.release,) if monitoring is not None else (),
        ),
        opts=opts,
    )
    return AddonOutputs(export={"namespace": operator.namespace.metadata.name, "version": kuberay.version})


ENTRY = Entry(
    name="kuberay-operator",
    components=("crucible:platform:KubeRayOperator",),
    enabled=lambda spec: spec.addons.kuberay.enabled,
    build=build,
    output="addons",
    key="kuberay",
    after=("monitoring",),
    summary="RayJob, RayCluster, RayService",
)
