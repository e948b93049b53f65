"""The test workloads verify launches (pure functions returning manifest dicts). The run-id label is added by
`Context.create`; every workload also carries an activeDeadlineSeconds so a cluster kills it even if verify
itself is killed before its cleanup."""

from __future__ import annotations

from typing import Optional

from components.labels import RESTRICTED_CONTAINER_SECURITY, RESTRICTED_POD_SECURITY, EFA_RESOURCE, EXAMPLE_LABEL, NODEPOOL_LABEL, QUEUE_LABEL
from stacks.tools.verify.targets import PoolTarget

LUSTRE_MOUNT = "/mnt/lustre"


def _tolerations(pool: PoolTarget) -> list[dict]:
    return [{"key": t["key"], "operator": "Exists", "effect": t.get("effect", "NoSchedule")} for t in pool.taints if t.get("key")]


def _job(name: str, queue: Optional[str], pod_spec: dict, deadline_s: int) -> dict:
    labels = {QUEUE_LABEL: queue} if queue else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            # Queued jobs start suspended: Kueue un-suspends them when it admits their Workload.
            "suspend": bool(queue),
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s,
            "ttlSecondsAfterFinished": 600,
            "template": {"metadata": {"labels": {}}, "spec": {"restartPolicy": "Never", **pod_spec}},
        },
    }


def probe_job(name: str, pool: PoolTarget, queue: Optional[str], image: str, deadline_s: int) -> dict:
    """A pod that brings up one node of `pool`: it asks for one accelerator (or one EFA device) and waits."""
    request = {pool.accelerator_resource: "1"} if pool.accelerator_resource else ({EFA_RESOURCE: "1"} if pool.efa else {"cpu": "100m"})
    pod = {
        "nodeSelector": {NODEPOOL_LABEL: pool.name},
        "tolerations": _tolerations(pool),
        "containers": [{"name": "probe", "image": image, "command": ["sleep", str(deadline_s)], "resources": {"requests": request, "limits": request}}],
    }
    return _job(name, queue, pod, deadline_s)


def sample_job(name: str, queue: str, image: str, deadline_s: int) -> dict:
    """The smallest admissible job for a team's LocalQueue: it prints a line and exits."""
    resources = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    pod = {
        "securityContext": dict(RESTRICTED_POD_SECURITY),  # admitted in a team namespace enforcing restricted too
        "containers": [
            {
                "name": "sample",
                "image": image,
                "command": ["sh", "-c", "echo crucible verify: admitted"],
                "resources": resources,
                "securityContext": dict(RESTRICTED_CONTAINER_SECURITY),
            }
        ],
    }
    return _job(name, queue, pod, deadline_s)


def lustre_pod(name: str, claim: str, zone: Optional[str], image: str, write_mib: int, deadline_s: int, fio: bool) -> dict:
    """A pod mounting the Lustre claim that writes `write_mib` MiB (dd with direct I/O and fsync, or fio's JSON
    report), then removes its file."""
    target = f"{LUSTRE_MOUNT}/.crucible-verify-{name}"
    if fio:
        command = (
            f"fio --name=verify --filename={target} --rw=write --bs=1M --size={write_mib}M --direct=1 --end_fsync=1 "
            f"--output-format=json; rc=$?; rm -f {target}; exit $rc"
        )
    else:
        command = f"dd if=/dev/zero of={target} bs=1M count={write_mib} oflag=direct conv=fsync 2>&1; rc=$?; rm -f {target}; exit $rc"
    spec = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": deadline_s,
        "containers": [
            {
                "name": "write",
                "image": image,
                "command": ["sh", "-c", command],
                "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
                "volumeMounts": [{"name": "lustre", "mountPath": LUSTRE_MOUNT}],
            }
        ],
        "volumes": [{"name": "lustre", "persistentVolumeClaim": {"claimName": claim}}],
    }
    if zone:
        spec["nodeSelector"] = {"topology.kubernetes.io/zone": zone}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {}}, "spec": spec}


def nccl_mpijob(name: str, pool: PoolTarget, instance_type: str, accelerators: int, queue: Optional[str], image: str, deadline_s: int, run_label: dict) -> dict:
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
    job["spec"]["runPolicy"].update({"cleanPodPolicy": "All", "activeDeadlineSeconds": deadline_s, "backoffLimit": 0})
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
    return job
