"""`crucible verify`'s place in the cluster (addons.verify): namespace, non-preempting queue and priority class,
its own Lustre claim and least-privilege RBAC for the group crucible:verify (addons/verify.py)."""

from __future__ import annotations

import pulumi

from addons.verify import GROUP, NAMESPACE, PRIORITY_CLASS, QUEUE, VerifyAccess, VerifyArgs
from stacks.derive.verify import verify_capacity, verify_cluster_queue
from addons.health_canary import NAMESPACE as CANARY_NAMESPACE
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform.canary import canary_enabled
from stacks.layers.platform.shared import shared_storage
from stacks.layers.platform.tenancy import queue_plan
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    cluster_queue, capacity = None, {}
    depends: list[pulumi.Resource] = []
    if below.kueue is not None:
        plan = queue_plan(spec)
        capacity = verify_capacity(plan, spec.pools)
        cluster_queue = verify_cluster_queue(QUEUE, NAMESPACE, plan, capacity)
        depends += [below.kueue.release, below.kueue.cohort, *below.kueue.flavors]
    hub = spec.addons.jupyterhub.namespace if spec.addons.jupyterhub.enabled else None
    teams = [team.namespace for team in spec.teams]
    canary = CANARY_NAMESPACE if canary_enabled(spec) else None
    depends += [below.namespaces[ns] for ns in (*teams, hub, canary) if ns and ns in below.namespaces]
    VerifyAccess(
        "verify",
        VerifyArgs(
            team_namespaces=teams,
            hub_namespace=hub,
            canary_namespace=canary,
            cluster_queue=cluster_queue,
            depends_on=depends,
            lustre=shared_storage(below.storage).lustre,
            protect=spec.protect,
        ),
        opts=opts,
    )
    return AddonOutputs(
        export={
            "namespace": NAMESPACE,
            "group": GROUP,
            "localQueue": QUEUE if cluster_queue else None,
            "priorityClass": PRIORITY_CLASS if cluster_queue else None,
            "borrowingLimits": capacity,  # the most verify takes per pool flavor, only from idle team quota
        }
    )


ENTRY = Entry(
    name="crucible-verify",
    components=("crucible:platform:VerifyAccess",),
    enabled=lambda spec: spec.addons.verify.enabled,
    build=build,
    output="addons",
    key="verify",
    after=("kueue", "teams", "jupyterhub", "health-canary"),
    summary="crucible verify: its namespace, a queue that only borrows idle capacity and never preempts, least-privilege RBAC",
)
