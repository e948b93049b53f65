"""NCCL all-reduce across two nodes of each EFA GPU pool: an MPIJob (kubeflow.org/v2beta1) running nccl-tests'
all_reduce_perf; the measured bus bandwidth beside the catalog's network figure for the instance (the ratio
busbw x 8 / Gbps is the headline). Fails when the job fails, a result is wrong, NCCL fell back to sockets, or the
ratio is below `min_nccl_ratio`."""

from __future__ import annotations

from components.accelerators import GPU
from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, TIMEOUT, Context, Row, condition, dns_name, tail
from stacks.tools.verify.kube import KubeError, api_path
from stacks.tools.verify.parsers import ParseError, network_ratio, parse_nccl
from stacks.tools.verify.workloads import nccl_mpijob

NAME = "nccl"
MPI_API = "kubeflow.org/v2beta1"
LAUNCHER_SELECTOR = "training.kubeflow.org/job-name={name},training.kubeflow.org/job-role=launcher"


def _launcher_log(ctx: Context, namespace: str, name: str) -> str:
    pods = ctx.list(api_path("v1", "pods", namespace), LAUNCHER_SELECTOR.format(name=name))
    if not pods:
        return ""
    pod = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))[-1]["metadata"]["name"]
    return ctx.text(api_path("v1", "pods", namespace, pod, "log"))


def run(ctx: Context) -> None:
    pools = [p for p in ctx.targets.pools if p.efa]
    if not pools:
        ctx.emit(Row(NAME, "-", SKIP, detail="no EFA pools in the plan"))
        return
    for i, pool in enumerate(pools):
        ctx.target = pool.name
        budget = ctx.pool_budget(len(pools) - i)
        if pool.accelerator_resource != GPU.resource:
            ctx.emit(Row(NAME, pool.name, SKIP, detail="NCCL runs on NVIDIA GPUs; this pool has none"))
            continue
        exp = pool.per_type[0] if pool.per_type else None
        if exp is None or not exp.accelerators:
            ctx.emit(Row(NAME, pool.name, SKIP, detail="the plan has no capacity figures for this pool (GPUs per node, network Gbps)"))
            continue
        namespace, queue, priority = ctx.queue_for_probes()
        name = dns_name("cv", ctx.run_id, "nccl", pool.name, limit=52)  # the launcher Job adds "-launcher"
        ctx.phase = f"creating MPIJob {namespace}/{name}"
        deadline_s = int(min(budget, ctx.options.check_timeout)) + 60
        body = nccl_mpijob(name, pool, exp.instance_type, exp.accelerators, queue, ctx.options.nccl_image, deadline_s, ctx.labels, priority)
        try:
            ctx.create(MPI_API, "mpijobs", namespace, body)
        except KubeError as exc:
            if exc.status == 404:
                ctx.emit(Row(NAME, pool.name, FAIL, detail="MPIJob (kubeflow.org/v2beta1) is not served: is the MPI operator installed?"))
                continue
            raise
        path = api_path(MPI_API, "mpijobs", namespace, name)

        def finished():
            job = ctx.get(path)
            for kind in ("Succeeded", "Failed"):
                if (condition(job, kind) or {}).get("status") == "True":
                    return kind
            return None

        what = f"waiting for MPIJob {namespace}/{name} on 2 x {exp.instance_type} ({exp.accelerators} GPUs, {exp.efa} EFA per worker)"
        outcome = ctx.wait_for(what, finished, budget=budget)
        if outcome is None:
            ctx.emit(Row(NAME, pool.name, TIMEOUT, detail=f"not finished within this pool's {budget:.0f}s budget while {what}"))
            continue
        log = _launcher_log(ctx, namespace, name)
        if outcome == "Failed":
            ctx.emit(Row(NAME, pool.name, FAIL, detail=f"MPIJob {name} failed: {tail(log) or 'no launcher log'}"))
            continue
        try:
            result = parse_nccl(log)
        except ParseError as exc:
            ctx.emit(Row(NAME, pool.name, FAIL, detail=f"{exc}: {tail(log)}"))
            continue
        ratio = network_ratio(result.peak_busbw_gbs, exp.network_gbps)
        problems = []
        if result.wrong:
            problems.append(f"{result.wrong} wrong results")
        if result.transport == "socket":
            problems.append("NCCL used TCP sockets, not EFA")
        if ratio is not None and ratio < ctx.options.min_nccl_ratio:
            problems.append(f"ratio {ratio:.2f} below {ctx.options.min_nccl_ratio:g}")
        measured = f"busbw {result.peak_busbw_gbs:.1f} GB/s (= {result.peak_busbw_gbs * 8:.0f} Gbps)"
        ctx.emit(
            Row(
                NAME,
                pool.name,
                FAIL if problems else PASS,
                measured=measured + (f", ratio {ratio:.2f}" if ratio is not None else ""),
                expected=f"{exp.network_gbps:g} Gbps ({exp.instance_type})" if exp.network_gbps else "network figure unknown",
                detail="; ".join(problems)
                or f"2 nodes x {exp.accelerators} GPUs, transport {result.transport or 'not logged'}, avg busbw {result.avg_busbw_gbs}",
                data={
                    **result.to_json(),
                    "ratio": None if ratio is None else round(ratio, 3),
                    "networkGbps": exp.network_gbps,
                    "instanceType": exp.instance_type,
                    "mpiJob": f"{namespace}/{name}",
                },
            )
        )
