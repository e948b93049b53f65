"""The test workloads verify launches (pure functions returning manifest dicts). The run-id label is added by
`Context.create`. Every one of them:
- has a TTL: Jobs `activeDeadlineSeconds` and `ttlSecondsAfterFinished`, MPIJobs the same in `runPolicy`, bare
  pods `activeDeadlineSeconds` (the cluster stops and removes them even if verify is killed before its cleanup);
- meets Pod Security `restricted` (non-root, no privilege escalation, all capabilities dropped, RuntimeDefault
  seccomp), so any namespace admits it (stacks/tools/plan/pod_security.py judges it in the tests);
- is placed: pinned to the pool it tests (its nodeSelector, and tolerations of that pool's taints), plain CPU work to
  the CPU/cheapest pool, so Kueue's flavor choice and Karpenter's node are the ones meant;
- when queued, carries verify's WorkloadPriorityClass (label kueue.x-k8s.io/priority-class) when the stack has it.

:func:`plan_objects` lists them all for a targets set: the plan judges them like any workload (lands, admitted,
podSecurity, reaches; stacks/tools/plan/workloads.py).
"""

from __future__ import annotations

import copy
from typing import Optional

from components.accelerators import GPU
from components.labels import RESTRICTED_CONTAINER_SECURITY, RESTRICTED_POD_SECURITY, EFA_RESOURCE, EXAMPLE_LABEL, NODEPOOL_LABEL, QUEUE_LABEL
from stacks.tools.verify.targets import HubTarget, LustreTarget, PoolTarget

LUSTRE_MOUNT = "/mnt/lustre"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
TTL_AFTER_FINISHED = 300  # seconds a finished Job/MPIJob stays for a look before the cluster deletes it


def _tolerations(taints) -> list[dict]:
    return [{"key": t["key"], "operator": "Exists", "effect": t.get("effect", "NoSchedule")} for t in taints if t.get("key")]


def placed(pool: Optional[str], taints=()) -> dict:
    """nodeSelector and tolerations pinning a pod to `pool` (nothing when None)."""
    if not pool:
        return {}
    out: dict = {"nodeSelector": {NODEPOOL_LABEL: pool}}
    if _tolerations(taints):
        out["tolerations"] = _tolerations(taints)
    return out


def restricted(pod_spec: dict) -> dict:
    """`pod_spec` with the securityContext Pod Security `restricted` asks of the pod and every container."""
    spec = copy.deepcopy(pod_spec)
    spec["securityContext"] = {**dict(RESTRICTED_POD_SECURITY), **(spec.get("securityContext") or {})}
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            c["securityContext"] = {**dict(RESTRICTED_CONTAINER_SECURITY), "seccompProfile": {"type": "RuntimeDefault"}, **(c.get("securityContext") or {})}
    return spec


def _job(name: str, queue: Optional[str], pod_spec: dict, deadline_s: int, priority: Optional[str] = None) -> dict:
    labels = {QUEUE_LABEL: queue} if queue else {}
    if queue and priority:
        labels[PRIORITY_LABEL] = priority
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            # Queued jobs start suspended: Kueue un-suspends them when it admits their Workload.
            "suspend": bool(queue),
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {"metadata": {"labels": {}}, "spec": restricted({"restartPolicy": "Never", **pod_spec})},
        },
    }


def probe_job(name: str, pool: PoolTarget, queue: Optional[str], image: str, deadline_s: int, priority: Optional[str] = None) -> dict:
    """A pod that brings up one node of `pool`: it asks for one accelerator (or one EFA device) and waits."""
    request = {pool.accelerator_resource: "1"} if pool.accelerator_resource else ({EFA_RESOURCE: "1"} if pool.efa else {"cpu": "100m"})
    pod = {
        **placed(pool.name, pool.taints),
        "containers": [{"name": "probe", "image": image, "command": ["sleep", str(deadline_s)], "resources": {"requests": request, "limits": request}}],
    }
    if "tolerations" not in pod:
        pod["tolerations"] = []
    return _job(name, queue, pod, deadline_s, priority)


def sample_job(name: str, queue: str, image: str, deadline_s: int, pool: Optional[str] = None, taints=(), priority: Optional[str] = None) -> dict:
    """The smallest admissible job for a team's LocalQueue, pinned to `pool` (the CPU/cheapest one its ClusterQueue
    reaches: Kueue picks the first flavor the nodeSelector allows): it prints a line and exits."""
    resources = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    pod = {
        **placed(pool, taints),
        "containers": [{"name": "sample", "image": image, "command": ["sh", "-c", "echo crucible verify: admitted"], "resources": resources}],
    }
    return _job(name, queue, pod, deadline_s, priority)


def lustre_pod(
    name: str,
    claim: str,
    zone: Optional[str],
    image: str,
    write_mib: int,
    deadline_s: int,
    fio: bool,
    lustre: Optional[LustreTarget] = None,
    streams: int = 4,
) -> dict:
    """A pod mounting the Lustre claim that writes `write_mib` MiB in each of `streams` parallel streams (fio
    numjobs with an iodepth of 16 on libaio, or as many dd processes), with direct I/O, then removes its files. On a node
    of the pool that uses the file system (`lustre.pool`), in its zone."""
    stem = f"{LUSTRE_MOUNT}/.crucible-verify-{name}"
    if fio:  # fio names its files <name>.<job>.<file> in --directory
        command = (
            f"fio --name=.crucible-verify-{name} --directory={LUSTRE_MOUNT} --rw=write --bs=1M --size={write_mib}M --numjobs={streams} "
            f"--iodepth=16 --ioengine=libaio --direct=1 --end_fsync=1 --group_reporting --output-format=json; rc=$?; rm -f {stem}.*; exit $rc"
        )
    else:
        command = (
            f'pids=""; for i in $(seq 1 {streams}); do dd if=/dev/zero of={stem}.$i bs=1M count={write_mib} oflag=direct conv=fsync 2>&1 & pids="$pids $!"; done; '
            f"rc=0; for p in $pids; do wait $p || rc=1; done; rm -f {stem}.*; exit $rc"
        )
    spec = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": deadline_s,
        **placed(lustre.pool if lustre else None, lustre.taints if lustre else ()),
        "containers": [
            {
                "name": "write",
                "image": image,
                "command": ["sh", "-c", command],
                "resources": {"requests": {"cpu": str(max(1, streams // 2)), "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
                "volumeMounts": [{"name": "lustre", "mountPath": LUSTRE_MOUNT}],
            }
        ],
        "volumes": [{"name": "lustre", "persistentVolumeClaim": {"claimName": claim}}],
    }
    if zone:
        spec.setdefault("nodeSelector", {})["topology.kubernetes.io/zone"] = zone
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {}}, "spec": restricted(spec)}


def hub_pod(name: str, hub: HubTarget, image: str, deadline_s: int, pool: Optional[str] = None, taints=()) -> dict:
    """A pod in the hub's namespace that GETs /hub/api on the hub service, labelled so the hub's NetworkPolicy admits
    it (z2jh: ingress to hub:8081 only from pods labelled hub.jupyter.org/network-access-hub=true in its namespace).
    The API server's service proxy is not such a pod: the policy drops it, so a healthy hub looks down through it."""
    url = f"http://{hub.service}:{hub.port}/hub/api"
    spec = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": deadline_s,
        **placed(pool, taints),
        "containers": [
            {
                "name": "hub",
                "image": image,
                "command": ["sh", "-c", f"wget -q -T 10 -O - {url}"],
                "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "32Mi"}},
            }
        ],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {hub.access_label: "true"}}, "spec": restricted(spec)}


def nccl_mpijob(
    name: str,
    pool: PoolTarget,
    instance_type: str,
    accelerators: int,
    queue: Optional[str],
    image: str,
    deadline_s: int,
    run_label: dict,
    priority: Optional[str] = None,
) -> dict:
    """nccl-tests all_reduce_perf across two nodes of an EFA pool: the project's example MPIJob
    (stacks/tools/examples/training.py, the one mpirun line), without its checkpoint volume, bounded in time and
    labelled for cleanup (pods included)."""
    from stacks.tools.examples.shapes import NodeShape
    from stacks.tools.examples.training import mpi_nccl_job
    from components.accelerators import from_resource
    from components.catalog import load_catalog

    kind = from_resource(pool.accelerator_resource).kind
    catalog = load_catalog()
    # None: a type this checkout's catalog does not know (cpu, memory unset)
    facts = catalog.get(instance_type) if instance_type in catalog else None
    shape = NodeShape(
        pool=pool.name,
        kind=kind,
        instance_type=instance_type,
        accelerators=accelerators,
        efa_interfaces=pool.efa,
        vcpu=facts.vcpu if facts else 0,
        memory_gib=facts.memory_gib if facts else 0,
    )
    job = mpi_nccl_job(shape, name=name, queue=queue or "none", nodes=2, checkpoint_claim="unused", image=image)
    labels = job["metadata"]["labels"]
    labels.pop(EXAMPLE_LABEL, None)
    if not queue:
        labels.pop(QUEUE_LABEL, None)
    elif priority:
        labels[PRIORITY_LABEL] = priority
    job["spec"]["runPolicy"].update(
        {"cleanPodPolicy": "All", "activeDeadlineSeconds": deadline_s, "backoffLimit": 0, "ttlSecondsAfterFinished": TTL_AFTER_FINISHED}
    )
    for replica in job["spec"]["mpiReplicaSpecs"].values():
        template = replica["template"]
        template["metadata"].setdefault("labels", {}).update(run_label)
        spec = template["spec"]
        spec["volumes"] = [v for v in spec.get("volumes", []) if v["name"] != "checkpoints"]
        for container in spec["containers"]:
            container["volumeMounts"] = [m for m in container.get("volumeMounts", []) if m["name"] != "checkpoints"]
            if not container["volumeMounts"]:
                del container["volumeMounts"]
        if not spec["volumes"]:
            del spec["volumes"]
        template["spec"] = restricted(spec)
    return job


def plan_objects(targets, options, run_id: str = "plan") -> list[dict]:
    """Every object a verify run creates for `targets` (metadata.namespace set), as the checks build them, for the
    plan to judge: each team queue's sample Job, each accelerator/EFA pool's probe Job, each EFA GPU pool's NCCL
    MPIJob, the Lustre writers and the hub caller. The probes' namespace is verify's own (the stack's when it made
    it, else `crucible-verify-<run id>`)."""
    from stacks.tools.verify.checks.base import dns_name

    deadline = int(options.check_timeout) + 60
    runner = targets.runner
    namespace, queue, priority = (runner.namespace, runner.queue, runner.priority_class) if runner else (dns_name("crucible-verify", run_id), None, None)
    out: list[tuple[str, dict]] = []
    for q in targets.queues:
        out.append((q.namespace, sample_job(dns_name("cv", run_id, "queue", q.name), q.name, options.image, deadline, q.pool, q.taints, priority)))
    for pool in targets.pools:
        if pool.accelerated or pool.efa:
            out.append((namespace, probe_job(dns_name("cv", run_id, "probe", pool.name), pool, queue, options.image, deadline, priority)))
        exp = pool.per_type[0] if pool.per_type else None
        if pool.efa and pool.accelerator_resource == GPU.resource and exp is not None and exp.accelerators:
            name = dns_name("cv", run_id, "nccl", pool.name, limit=52)
            out.append((namespace, nccl_mpijob(name, pool, exp.instance_type, exp.accelerators, queue, options.nccl_image, deadline, {}, priority)))
    if targets.lustre is not None:
        lustre = targets.lustre
        for i in range(max(1, options.lustre_clients)):
            name = dns_name("cv", run_id, "lustre", str(i))
            pod = lustre_pod(name, lustre.claim, lustre.zone, options.image, options.lustre_write_mib, deadline, False, lustre, options.lustre_streams)
            out.append((lustre.namespace, pod))
    if targets.hub is not None:
        cheap = targets.cheapest_pool
        pod = hub_pod(dns_name("cv", run_id, "hub"), targets.hub, options.image, deadline, cheap.name if cheap else None, cheap.taints if cheap else ())
        out.append((targets.hub.namespace, pod))
    for ns, obj in out:
        obj["metadata"]["namespace"] = ns
    return [obj for _, obj in out]
