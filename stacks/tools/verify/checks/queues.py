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
    states: dict[tuple[str, str], dict] = {(q.namespace, name): {"admitted": False, "pool": None, "done": None} for q, name in created}

    def poll() -> bool:
        waiting = []
        for q, name in created:
            state = states[(q.namespace, name)]
            if state["done"]:
                continue
            job = ctx.get(api_path("batch/v1", "jobs", q.namespace, name)) or {}
            if (job.get("spec") or {}).get("suspend") is False:
                state["admitted"] = True
                selector = ((((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector")) or {}
                state["pool"] = selector.get(NODEPOOL_LABEL)
            for kind in ("Complete", "Failed"):
                c = condition(job, kind)
                if (c or {}).get("status") == "True":
                    state["done"] = (kind, c.get("message", ""))
            if not state["done"]:
                waiting.append(f"{q.namespace}/{q.name} " + ("admitted, not finished" if state["admitted"] else "not admitted yet"))
        ctx.target = waiting[0].split(" ")[0] if waiting else ctx.target
        ctx.phase = "waiting for sample jobs: " + "; ".join(waiting)
        return not waiting

    # All queues are waited on together, within most of the check's time: one that never admits fails its own row.
    budget = max(0.0, ctx.remaining() - max(2 * ctx.options.request_timeout, 0.2))
    ctx.wait_for("waiting for sample jobs", poll, budget=budget)
    for q, name in created:
        state = states[(q.namespace, name)]
        kind, message = state["done"] or (None, "")
        ok = kind == "Complete"
        if kind is None:
            detail = f"{'admitted but not finished' if state['admitted'] else 'not admitted'} within {budget:.0f}s (ClusterQueue {q.cluster_queue})"
        elif ok:
            detail = f"ClusterQueue {q.cluster_queue}, flavor of pool {state['pool'] or q.pool or '?'}"
        else:
            detail = f"job failed: {message}"
        ctx.emit(
            Row(
                NAME,
                f"{q.namespace}/{q.name}",
                PASS if ok else FAIL,
                measured=("admitted, " if state["admitted"] else "not admitted") + ("completed" if ok else ("" if kind is None else "failed")),
                expected="admitted, completed",
                detail=detail,
                data={"job": name, "admitted": state["admitted"], "completed": ok, "clusterQueue": q.cluster_queue, "pool": state["pool"] or q.pool},
            )
        )
