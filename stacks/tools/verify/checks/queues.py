"""Each team's LocalQueue admits and completes a sample Job (label kueue.x-k8s.io/queue-name; the Job starts
suspended and Kueue un-suspends it on admission). The Job is pinned to the CPU (or cheapest) pool the team's
ClusterQueue reaches, so Kueue assigns that flavor (its first flavor is often a GPU pool: a p5 for an echo); it
carries verify's WorkloadPriorityClass when the stack has it (below every team's: it never preempts their work) and
asks 100m CPU and 64 MiB, the capacity it takes from the team's quota for a few seconds."""

from __future__ import annotations

from components.labels import NODEPOOL_LABEL
from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, Context, Row, condition, dns_name
from stacks.tools.verify.kube import api_path
from stacks.tools.verify.workloads import sample_job

NAME = "queues"


def run(ctx: Context) -> None:
    if not ctx.targets.queues:
        ctx.emit(Row(NAME, "-", SKIP, detail="the plan has no Kueue LocalQueues"))
        return
    created = []
    for q in ctx.targets.queues:  # submit them all first: queues admit in parallel
        name = dns_name("cv", ctx.run_id, "queue", q.name)
        ctx.phase = f"creating sample job {q.namespace}/{name}"
        priority = ctx.targets.runner.priority_class if ctx.targets.runner else None
        body = sample_job(name, q.name, ctx.options.image, int(ctx.options.check_timeout) + 60, q.pool, q.taints, priority)
        ctx.create("batch/v1", "jobs", q.namespace, body)
        created.append((q, name))
    for q, name in created:
        path = api_path("batch/v1", "jobs", q.namespace, name)
        ctx.target = f"{q.namespace}/{q.name}"
        state: dict = {"admitted": False, "pool": None}

        def done():
            job = ctx.get(path) or {}
            if (job.get("spec") or {}).get("suspend") is False:
                state["admitted"] = True
                selector = ((((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector")) or {}
                state["pool"] = selector.get(NODEPOOL_LABEL)
            ctx.phase = f"waiting for {q.namespace}/{name} in LocalQueue {q.name}: " + ("admitted, not finished" if state["admitted"] else "not admitted yet")
            for kind in ("Complete", "Failed"):
                c = condition(job, kind)
                if (c or {}).get("status") == "True":
                    return kind, c.get("message", "")
            return None

        kind, message = ctx.wait_for(f"waiting for {q.namespace}/{name} in LocalQueue {q.name}", done)
        ok = kind == "Complete"
        ctx.emit(
            Row(
                NAME,
                f"{q.namespace}/{q.name}",
                PASS if ok else FAIL,
                measured=("admitted, " if state["admitted"] else "") + ("completed" if ok else "failed"),
                expected="admitted, completed",
                detail=(f"ClusterQueue {q.cluster_queue}, flavor of pool {state['pool'] or q.pool or '?'}") if ok else f"job failed: {message}",
                data={"job": name, "admitted": state["admitted"], "completed": ok, "clusterQueue": q.cluster_queue, "pool": state["pool"] or q.pool},
            )
        )
