"""The plan's Workloads section: every pod template Crucible registers or hands to teams, and the checks it passes.

Workloads come from the example jobs and services `crucible examples` writes (rendered from the spec, submitted to
each team namespace), the JupyterHub notebook profiles, and the platform's own pods visible in the plan
(Deployments, DaemonSets, StatefulSets, Jobs registered directly; rendered chart objects when given). Each entry
keeps its pod template, so `crucible check` re-evaluates a saved plan without the program (stacks/tools/plan/lands.py:
:func:`reevaluate`).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

from components.labels import EXAMPLE_LABEL, POOL_LABEL, SYSTEM_POOL, TENANT_LABEL
from stacks.tools import second_core
from stacks.tools.plan import lands
from stacks.tools.plan.lands import NODEGROUP_TYPE, evaluate, hub_profile_workloads, objects_of, render, workloads_of
from stacks.tools.plan.reaches import exposed_ports, load_analyzer  # also adds the reaches check to lands.CHECKS

PLATFORM_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod", "LeaderWorkerSet")

# Objects the cluster will run that the plan does not register one by one: each source is
# ``(document) -> [manifest]`` (metadata.namespace set), called with ``{"resources", "kubernetesVersion"}`` of the
# plan, e.g. the Helm releases rendered with `helm template` (stacks/tools/plan/helm.py `rendered_objects`). Their
# DaemonSets take their requests off the nodes they select, their pods are workloads of source "chart", and the
# block keeps them (`objects`) so `crucible check` uses the same ones.
OBJECT_SOURCES: list[Callable[[Mapping[str, Any]], Sequence[Mapping]]] = []


def tenant_namespaces(resources: Sequence[Mapping]) -> list[str]:
    names = []
    for obj in objects_of(resources):
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Namespace" and (meta.get("labels") or {}).get(TENANT_LABEL):
            names.append(meta.get("name"))
    return sorted(names)


def collect_workloads(spec, resources: Sequence[Mapping], extra_objects: Sequence[Mapping] = ()) -> list[dict]:
    """Workload entries for a planned stack: examples, notebook profiles, the platform's pods, rendered charts'."""
    from stacks.tools.examples import render_examples

    objects = objects_of(resources)
    teams = tenant_namespaces(resources)
    out: list[dict] = []
    for path, manifests in render_examples(spec).items():
        found = workloads_of(manifests, source="example", namespaces=teams, runtime_objects=objects, file=path)
        for entry in found:  # what a load balancer sends to, for the reaches check (kept in the saved plan)
            exposes = exposed_ports(manifests, entry["template"])
            if exposes:
                entry["exposes"] = exposes
        out.extend(found)
    for r in resources:
        inputs = r.get("inputs") or {}
        if r.get("type") == "kubernetes:helm.sh/v3:Release" and inputs.get("chart") == "jupyterhub":
            out.extend(hub_profile_workloads(inputs))
    platform = [o for o in objects if o.get("kind") in PLATFORM_KINDS and not ((o.get("metadata") or {}).get("labels") or {}).get(EXAMPLE_LABEL)]
    served = workloads_of(platform, source="platform")
    for entry in served:  # the served models' load balancers (serving.models), for the reaches check
        if set(entry["namespaces"]) & set(teams):
            exposes = exposed_ports(objects, entry["template"], entry["namespaces"][0])
            if exposes:
                entry["exposes"] = exposes
    out.extend(served)
    chart = [o for o in extra_objects if o.get("kind") in PLATFORM_KINDS]
    out.extend(workloads_of(chart, source="chart"))
    out.extend(verify_workloads(resources))
    out.extend(canary_workloads(objects))
    return out


def canary_workloads(objects: Sequence[Mapping]) -> list[dict]:
    """The fleet health canary's MPIJobs (addons/health_canary.py): its driver submits them at run time from the
    code ConfigMap, so the plan registers none of them; read out of that ConfigMap, each is judged like any
    workload (its launcher and workers, the pods the MPI operator makes from the templates): it must land on the
    pool it measures, be admitted by the canary's queue at the canary's priority and pass its namespace's Pod
    Security."""
    from addons.health_canary import CODE, NAMESPACE, submitted_mpijobs

    jobs = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "ConfigMap" and meta.get("name") == CODE and meta.get("namespace") == NAMESPACE and isinstance(obj.get("data"), Mapping):
            jobs.extend(submitted_mpijobs(obj["data"]))
    return workloads_of(jobs, source="canary")


def verify_workloads(resources: Sequence[Mapping]) -> list[dict]:
    """Everything `crucible verify` creates in the cluster this plan builds (stacks/tools/verify/workloads.py
    :func:`plan_objects`: the queue sample Jobs, the pools' probes, the NCCL MPIJob, the Lustre writers, the hub
    caller), judged like any workload: each must land on the pool it tests, be admitted to the flavor it means,
    pass its namespace's Pod Security and reach what it calls."""
    from stacks.tools.verify.checks.base import Options
    from stacks.tools.verify.targets import targets_from_plan
    from stacks.tools.verify.workloads import plan_objects

    targets = targets_from_plan({"resources": list(resources)})
    return workloads_of(plan_objects(targets, Options(), run_id="verify"), source="verify")


def assumed_system_nodes(spec) -> list[dict]:
    """A stack on top of another (no cluster layer here) runs its controllers on the lower stack's system node
    group, which is not in this plan: assume it as this stack's `cluster.systemNodeGroup` states it (the default
    unless set), in the form a registered node group takes."""
    if spec.builds("cluster"):
        return []
    from stacks.derive.capacity import system_ami_type

    group = spec.cluster.system_node_group
    return [
        {
            "type": NODEGROUP_TYPE,
            "name": f"system (from {spec.stack_reference})",
            "inputs": {
                "nodeGroupName": f"system (from {spec.stack_reference})",
                "instanceTypes": list(group.instance_types),
                "capacityType": "ON_DEMAND",
                "amiType": system_ami_type(group.instance_types),
                "labels": {POOL_LABEL: SYSTEM_POOL},
            },
        }
    ]


def deploy_network(spec) -> Optional[dict]:
    """The network the deployer and kubectl users come from (cluster.apiAccess), for the security-group flows."""
    access = getattr(spec.cluster, "api_access", None)
    if access is None:
        return None
    found = {"cidrs": list(getattr(access, "source_cidrs", ()) or ()), "securityGroupIds": list(getattr(access, "source_security_group_ids", ()) or ())}
    return found if found["cidrs"] or found["securityGroupIds"] else None


def workloads_block(spec, resources: Sequence[Mapping], extra_objects: Sequence[Mapping] = ()) -> dict:
    return evaluate(resources, collect_workloads(spec, resources, extra_objects), extra_objects, assumed_system_nodes(spec), deploy_network(spec))


GENERATED = "[generated at install]"


def without_generated(obj: Mapping[str, Any]) -> dict:
    """``obj`` with what the chart generates anew on every render replaced by a marker: Secret values, webhook
    `caBundle`s and `checksum/*` annotations (genCA, randAlphaNum, sha256sum of those). No check reads them, and
    left in they would make two plans of the same stack differ (issue 12 F: plans are byte-identical)."""

    def scrub(value: Any, key: str = "") -> Any:
        if isinstance(value, Mapping):
            return {
                k: (GENERATED if k == "caBundle" or (key == "annotations" and str(k).startswith("checksum/")) else scrub(v, str(k))) for k, v in value.items()
            }
        if isinstance(value, list):
            return [scrub(v, key) for v in value]
        return value

    out = scrub(obj)
    if out.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if isinstance(out.get(field), Mapping):
                out[field] = {k: GENERATED for k in out[field]}
    return out


def rendered_charts(document: Mapping[str, Any]) -> tuple[list[dict], list[str]]:
    """The objects of every Helm release the plan registers, rendered with the real Helm (stacks/tools/plan/helm.py), and
    what could not be rendered and why (no renderer, no Helm binary, no vendored charts, a chart not vendored)."""
    try:
        from stacks.tools.plan import helm
    except ImportError:
        return [], ["charts not rendered: the Helm renderer (stacks/tools/plan/helm.py) is not installed"]
    unavailable = tuple(e for e in (getattr(helm, "HelmUnavailable", None), getattr(helm, "ChartsUnavailable", None)) if e)
    try:
        releases = helm.rendered_releases(document)
    except unavailable as error:
        return [], [f"charts not rendered: {error}"]
    # CRDs are left out: no check reads them, and the charts' CRDs would make most of a saved plan.
    objects = [without_generated(o) for r in releases for o in r.objects if o.get("kind") != "CustomResourceDefinition"]
    notes = [f"release {getattr(r.release, 'name', r.release)} not rendered: {r.skipped}" for r in releases if r.skipped]
    return objects, notes


def _charts_document(model) -> dict:
    return {"resources": model.resources, "kubernetesVersion": model.spec.cluster.version}


def prefetch_charts(model) -> None:
    """Start rendering the charts of a plan just run (``model``) in the background: planned_block takes the result."""
    try:
        from stacks.tools.plan import helm
    except ImportError:
        return
    helm.prefetch(_charts_document(model))


def planned_context(model):
    """The lands Context of a plan just run (``model``: its stacks/tools/plan/model.py PlanModel), built once: the
    plan's resources, the rendered charts' objects and any OBJECT_SOURCES, every workload; and what could not be
    rendered (the block's `notes`)."""
    found = model.__dict__.get("_workloads_context")
    if found is None:
        spec = model.spec
        document = _charts_document(model)
        if second_core.current() is None:  # (the second core imported it while the program ran, and analyses there)
            load_analyzer()  # while the charts render: the reaches check needs them, not the analyzer's import
        extra_objects, notes = rendered_charts(document)
        extra_objects = [*extra_objects, *(o for source in OBJECT_SOURCES for o in source(document))]
        workloads = collect_workloads(spec, model.resources, extra_objects)
        ctx = lands.context(model.resources, workloads, extra_objects, assumed_system_nodes(spec), deploy_network(spec))
        found = model.__dict__["_workloads_context"] = (ctx, notes)
    return found


def start_checks(model) -> None:
    """Begin the whole-plan checks of a plan just run on the command's second core, when it has one
    (stacks/tools/second_core.py): the report computes its other sections meanwhile. Without one, nothing (the charts
    keep rendering while the report computes the sections that need none)."""
    if second_core.current() is not None:
        lands.start(planned_context(model)[0])


def planned_block(model) -> dict:
    """The `workloads` block of a plan just run (``model``): every workload checked with the plan's resources, the
    rendered charts' objects and any OBJECT_SOURCES (`notes`: what could not be rendered)."""
    ctx, notes = planned_context(model)
    block = lands.judge(ctx)
    if notes:
        block["notes"] = notes
    return block


def workloads_section(model):
    """The report section (JSON key `workloads`): per workload where it lands, or why not (the model's block)."""
    from stacks.tools.plan.report import Section

    block = model.workloads
    lines = render(block)
    objects = block.get("objects") or []
    lines.append(f"(checked with {len(objects)} objects rendered from the Helm releases)" if objects else "(checked without rendered chart objects)")
    lines.extend(f"({note})" for note in block.get("notes") or [])
    return Section("workloads", "Workloads (where each pod lands: pool and instance types)", block, lines)
