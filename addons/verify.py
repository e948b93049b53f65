"""Where `crucible verify` runs in the cluster, and exactly what it may do there (spec `addons.verify`).

- A namespace of its own, `crucible-verify` (Pod Security `restricted`: every verify workload meets it), with its own
  static Lustre claim (a PersistentVolume binds one claim) so the Lustre check never writes from a tenant namespace.
- A ClusterQueue and LocalQueue `crucible-verify` in the teams' cohort with nominal quota 0: verify only borrows what the
  teams leave idle, up to the `borrowingLimit` the stack derives (stated in the plan and in the stack output): two
  nodes of each EFA GPU pool (the NCCL MPIJob) and one device of each other accelerator/EFA pool (a probe). It never
  preempts (`withinClusterQueue` and `reclaimWithinCohort` Never; `borrowWithinCohort` stays Never, as fair sharing
  requires) and is always the first preempted: a fair-sharing weight of 0 is an infinite share (Kueue, "Fair
  sharing": "a weight of 0 ... will always be preempted first") and its WorkloadPriorityClass `crucible-verify` is
  below every team's.
- RBAC for the verify identity (the Kubernetes group `crucible:verify`, which an EKS access entry maps the CI role to):
  a ClusterRole with the cluster-scoped reads and one Role per namespace verify works in, each with exactly the calls
  verify makes there (:data:`CLUSTER_RULES`, :data:`RUNNER_RULES`, :data:`QUEUE_RULES`, :data:`HUB_RULES`;
  tests/test_verify_prod.py runs verify against an API that enforces them and checks every rule is used).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from addons.health_canary import RESULTS as CANARY_RESULTS
from addons.storage_drivers import LUSTRE_CLAIM, LustreVolumeArgs, lustre_pv_spec, lustre_volume_name, static_claim
from components.kueue_objects import KUEUE_API, workload_priority_class
from components.labels import queued_namespace
from components.manifests import as_api, custom_resource

NAMESPACE = "crucible-verify"
QUEUE = "crucible-verify"  # the ClusterQueue and the LocalQueue
PRIORITY_CLASS = "crucible-verify"  # kueue.x-k8s.io/v1beta2 WorkloadPriorityClass
PRIORITY = -1000  # below any team workload (Kueue's default priority is 0)
GROUP = "crucible:verify"  # the Kubernetes group of the verify identity
ROLE = "crucible-verify"
RBAC_API = "rbac.authorization.k8s.io"
# The Lustre claim verify writes through (a static PV binds one claim: verify's is its own).
VERIFY_LUSTRE_REQUEST = "1Gi"


def rule(group: str, resources: Sequence[str], *verbs: str) -> dict:
    return {"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)}


# What verify calls, by where (stacks/tools/verify/checks, runner.py cleanup):
CLUSTER_RULES = (
    rule("", ["nodes"], "list"),  # devices: a pool's nodes (by label), again while their device plugins start
    rule("karpenter.sh", ["nodepools"], "get"),  # pools
    rule("karpenter.k8s.aws", ["ec2nodeclasses"], "get"),  # pools
    rule("kueue.x-k8s.io", ["workloadpriorityclasses", "topologies"], "list"),  # kueue: one list per kind, compared with the plan
)
RUNNER_RULES = (  # in crucible-verify: probes, the NCCL MPIJob, the Lustre writers
    rule("batch", ["jobs"], "create", "get", "list", "delete"),  # probe Jobs; cleanup sweeps by run label, waits until gone
    rule("kubeflow.org", ["mpijobs"], "create", "get", "list", "delete"),  # nccl polls its MPIJob
    rule("", ["pods"], "create", "get", "list", "delete"),  # Lustre writers; the launcher pod is listed by label
    rule("", ["pods/log"], "get"),  # the launcher's and the writers' output
)
QUEUE_RULES = (  # in each team namespace: the sample Job through the team's LocalQueue
    rule("batch", ["jobs"], "create", "get", "list", "delete"),
)
CANARY_RULES = (  # in the canary's namespace (when the stack has it): health reads the last results, nothing else
    {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [CANARY_RESULTS], "verbs": ["get"]},
)
HUB_RULES = (  # in the hub's namespace: the pod that calls the hub as its NetworkPolicy allows
    rule("", ["pods"], "create", "get", "list", "delete"),
    rule("", ["pods/log"], "get"),
)


@dataclass(frozen=True)
class VerifyArgs:
    team_namespaces: Sequence[str] = ()
    hub_namespace: Optional[str] = None
    canary_namespace: Optional[str] = None  # the fleet health canary's (verify health reads its results there)
    cluster_queue: Optional[dict] = None  # the manifest (stacks/derive/verify.py); None: no Kueue in this stack
    depends_on: Sequence[pulumi.Resource] = ()  # Kueue's release and cohort, the team namespaces, the hub release
    lustre: Optional[LustreVolumeArgs] = None
    labels: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False  # the Lustre claim, as the teams' (explicitly named: a replacement deletes it first)


def local_queue() -> dict:
    return {"apiVersion": KUEUE_API, "kind": "LocalQueue", "metadata": {"name": QUEUE, "namespace": NAMESPACE}, "spec": {"clusterQueue": QUEUE}}


def priority_class() -> dict:
    return workload_priority_class(PRIORITY_CLASS, PRIORITY, "crucible verify: below every team workload; its ClusterQueue never preempts and yields first")


class VerifyAccess(pulumi.ComponentResource):
    """The verify namespace, queue, priority class, Lustre claim and RBAC."""

    def __init__(self, name: str, args: VerifyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:VerifyAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        labels = {"app.kubernetes.io/managed-by": "crucible", "app.kubernetes.io/part-of": "crucible-verify", **args.labels}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    **labels,
                    **(queued_namespace() if args.cluster_queue is not None else {}),  # its Jobs wait in its queue
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
            opts=child,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *args.depends_on])
        self.queue: Optional[pulumi.CustomResource] = None
        if args.cluster_queue is not None:
            self.priority = custom_resource(f"{name}-priority", priority_class(), after)
            cq = custom_resource(f"{name}-cq", args.cluster_queue, after)
            lq = local_queue()
            self.queue = custom_resource(f"{name}-lq", lq, pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, cq]))
        self.lustre_claim = None
        if args.lustre is not None:
            self.lustre_claim = static_claim(
                f"{name}-lustre",
                lustre_volume_name(NAMESPACE),
                LUSTRE_CLAIM,
                NAMESPACE,
                lustre_pv_spec(args.lustre, NAMESPACE, LUSTRE_CLAIM),
                "ReadWriteMany",
                VERIFY_LUSTRE_REQUEST,
                pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *args.depends_on], protect=args.protect, retain_on_delete=args.protect),
            )
        subjects = [k8s.rbac.v1.SubjectArgs(kind="Group", name=GROUP, api_group=RBAC_API)]
        role_ref = k8s.rbac.v1.RoleRefArgs(api_group=RBAC_API, kind="ClusterRole", name=ROLE)
        self.cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-cluster-role", metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, labels=labels), rules=as_api([dict(r) for r in CLUSTER_RULES]), opts=child
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-cluster-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, labels=labels),
            role_ref=role_ref,
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster_role]),
        )
        self.roles: dict[str, Any] = {}
        places: list[tuple[str, tuple[dict, ...], pulumi.ResourceOptions]] = [(NAMESPACE, RUNNER_RULES, in_ns)] + [
            (ns, QUEUE_RULES, after) for ns in args.team_namespaces
        ]
        if args.hub_namespace:
            places.append((args.hub_namespace, HUB_RULES, after))
        if args.canary_namespace:
            places.append((args.canary_namespace, CANARY_RULES, after))
        for namespace, rules, where in places:
            role = k8s.rbac.v1.Role(
                f"{name}-role-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, namespace=namespace, labels=labels),
                rules=as_api([dict(r) for r in rules]),
                opts=where,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-binding-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, namespace=namespace, labels=labels),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_API, kind="Role", name=ROLE),
                subjects=subjects,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            )
            self.roles[namespace] = role
        self.register_outputs({"namespace": NAMESPACE, "group": GROUP, "queue": QUEUE if self.queue is not None else None})
