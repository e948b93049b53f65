"""The admission rule that refuses, at submission, the team jobs Kueue would never admit onto an accelerator pool.

Crucible's accelerator ResourceFlavors state their pool's taint as `nodeTaints` (stacks/derive/quotas.py): Kueue
assigns such a flavor only to a pod set whose template tolerates the taint itself, so CPU-only work never overflows
onto accelerator nodes. The other side of it: a job whose pod template asks for GPUs or Neuron devices but does not
tolerate the taint is never admitted (its Workload waits, "untolerated taint"). EKS's ExtendedResourceToleration
admission plugin adds the toleration to pods, not to the templates of Jobs, Ray clusters, MPIJobs, JobSets or
LeaderWorkerSets, which is what Kueue reads. So a ValidatingAdmissionPolicy refuses such an object when it is
created in a team namespace, saying which toleration to add. On CREATE only: objects that exist (and the updates
Kueue and the operators make to them) are left alone. Bare pods, and Deployments' and StatefulSets' pods, get the
toleration from the plugin before Kueue's pod webhook builds their workload.

Only the accelerator kinds none of whose pools is topology-aware are judged: a topology-aware flavor adds its
tolerations itself (stacks/derive/quotas.py resource_flavor), so Kueue admits there a job that states none.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from components.accelerators import ACCELERATED, Accelerator
from components.admission import denying_policy
from components.labels import TENANT_LABEL

TOLERATION_GUARD = "crucible-accelerator-tolerations"

# The kinds the policy judges (Kueue's integrations with pod templates of their own): kind -> (API group, plural);
# checks() holds the CEL of each.
RESOURCES = {
    "Job": ("batch", "jobs"),
    "JobSet": ("jobset.x-k8s.io", "jobsets"),
    "RayJob": ("ray.io", "rayjobs"),
    "RayCluster": ("ray.io", "rayclusters"),
    "RayService": ("ray.io", "rayservices"),
    "MPIJob": ("kubeflow.org", "mpijobs"),
    "LeaderWorkerSet": ("leaderworkerset.x-k8s.io", "leaderworkersets"),
}


def _asks(spec: str, resources: tuple[str, ...]) -> str:
    """CEL: a container or init container of the pod spec ``spec`` requests or limits one of ``resources`` (Kueue
    counts a pod's init containers too: its request is the larger of theirs and the containers' sum)."""

    def named(part: str) -> str:
        return " || ".join(f"'{r}' in c.resources.{part}" for r in resources)

    parts = " || ".join(f"(has(c.resources.{part}) && ({named(part)}))" for part in ("requests", "limits"))
    containers = f"{spec}.containers.exists(c, has(c.resources) && ({parts}))"
    return f"({containers} || (has({spec}.initContainers) && {spec}.initContainers.exists(c, has(c.resources) && ({parts}))))"


def _tolerates(spec: str, key: str) -> str:
    """CEL: the pod spec ``spec`` tolerates the NoSchedule taint ``key`` (by its key, or an empty key with Exists)."""
    # the taint has no value: by its key a toleration matches with Exists, or Equal (the default) and no value
    exists = "(has(t.operator) && t.operator == 'Exists')"
    no_value = "(!has(t.value) || t.value == '')"
    matches_key = f"((has(t.key) && t.key != '') ? (t.key == '{key}' && ({exists} || {no_value})) : {exists})"
    matches_effect = "(!has(t.effect) || t.effect == '' || t.effect == 'NoSchedule')"
    return f"(has({spec}.tolerations) && {spec}.tolerations.exists(t, {matches_key} && {matches_effect}))"


TAINTED: tuple[str, ...] = tuple(a.kind for a in ACCELERATED if a.taint)  # the accelerator kinds with a pool taint


def _judged(kinds: Sequence[str]) -> list[tuple[Accelerator, str]]:
    """(accelerator, its taint's key) for each accelerator kind of ``kinds`` that has a pool taint."""
    return [(a, a.taint["key"]) for a in ACCELERATED if a.taint and a.kind in kinds]


def pod_spec_ok(spec: str, kinds: Sequence[str] = TAINTED) -> str:
    """CEL: for each accelerator kind of ``kinds``, the pod spec ``spec`` asks for none of its resources or
    tolerates its taint."""
    return " && ".join(f"(!({_asks(spec, a.resources)}) || {_tolerates(spec, key)})" for a, key in _judged(kinds))


def checks(kinds: Sequence[str] = TAINTED) -> dict[str, str]:
    """kind -> CEL over ``object`` that every pod template of the object passes (for the accelerator ``kinds``)."""

    def ok(spec: str) -> str:
        return pod_spec_ok(spec, kinds)

    def ray_cluster_ok(spec: str) -> str:
        return f"{ok(f'{spec}.headGroupSpec.template.spec')} && (!has({spec}.workerGroupSpecs) || {spec}.workerGroupSpecs.all(g, {ok('g.template.spec')}))"

    lws = "object.spec.leaderWorkerTemplate"
    return {
        "Job": ok("object.spec.template.spec"),
        "JobSet": f"object.spec.replicatedJobs.all(r, {ok('r.template.spec.template.spec')})",
        "RayJob": f"!has(object.spec.rayClusterSpec) || ({ray_cluster_ok('object.spec.rayClusterSpec')})",
        "RayCluster": ray_cluster_ok("object.spec"),
        "RayService": f"!has(object.spec.rayClusterConfig) || ({ray_cluster_ok('object.spec.rayClusterConfig')})",
        "MPIJob": f"object.spec.mpiReplicaSpecs.all(k, {ok('object.spec.mpiReplicaSpecs[k].template.spec')})",
        "LeaderWorkerSet": f"{ok(f'{lws}.workerTemplate.spec')} && (!has({lws}.leaderTemplate) || {ok(f'{lws}.leaderTemplate.spec')})",
    }


def message(kinds: Sequence[str] = TAINTED) -> str:
    wanted = "; ".join(f"{', '.join(a.resources)}: {{key: {key}, operator: Exists, effect: NoSchedule}}" for a, key in _judged(kinds))
    return (
        "a pod template asks for accelerators without tolerating their pool's taint, so Kueue would never admit it "
        f"(the flavors admit only pod sets that tolerate it; EKS adds the toleration to pods, not to templates): add to "
        f"its tolerations {wanted}"
    )


def toleration_guard(kinds: Sequence[str] = TAINTED) -> dict:
    """The ValidatingAdmissionPolicy spec for the accelerator ``kinds``: one validation per resource kind, each true
    for the other resource kinds."""
    if not _judged(kinds):
        raise ValueError(f"the toleration guard judges accelerator kinds with a pool taint ({', '.join(TAINTED)}); got {list(kinds)}")
    rules: dict[str, list[str]] = {}
    for group, plural in RESOURCES.values():
        rules.setdefault(group, []).append(plural)
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]},
            "resourceRules": [
                {"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE"], "resources": sorted(plurals)} for group, plurals in sorted(rules.items())
            ],
        },
        "validations": [
            {"expression": f"request.kind.kind != '{kind}' || ({expression})", "message": f"{kind}: {message(kinds)}", "reason": "Invalid"}
            for kind, expression in checks(kinds).items()
        ],
    }


class TolerationGuard(pulumi.ComponentResource):
    """The policy and its binding (Deny), for the accelerator ``kinds`` (gpu, neuron) whose flavors state the taint."""

    def __init__(self, name: str, kinds: Sequence[str] = TAINTED, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:TolerationGuard", name, None, opts)
        self.policy, self.binding = denying_policy(name, TOLERATION_GUARD, toleration_guard(kinds), self)
        self.register_outputs({"policies": [TOLERATION_GUARD]})
