"""The shared Lustre file system mounts and takes writes at a rate worth comparing with the plan's.

`lustre_clients` pods (verify's own claim in its namespace when the stack made it, else the plan's claim), each on a
node of the pool that uses the file system (the training pool, in the file system's zone), write
`lustre_streams` x `lustre_write_mib` MiB at once with direct I/O (fio numjobs/iodepth, or as many dd processes),
then remove their files. Reported per client and in aggregate (the clients' rates added: they write at the same
time), beside the plan's figure (`storage.fileSystems[].writeThroughputMbps`: what the file system is provisioned
to deliver to all its clients together). The ratio is aggregate / plan: the fraction of the provisioned throughput
these few clients reached. A handful of clients rarely saturates a file system sized for a pool of nodes, so a low
ratio is a hint, not a fault: it fails the check only below `min_lustre_ratio` (default 0: report only). A write
that fails (read-only or unmountable claim, no space) always fails the check."""

from __future__ import annotations

from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, Context, Row, dns_name, tail
from stacks.tools.verify.kube import api_path
from stacks.tools.verify.parsers import ParseError, parse_dd_streams, parse_fio_json
from stacks.tools.verify.workloads import lustre_pod

NAME = "lustre"


def run(ctx: Context) -> None:
    target = ctx.targets.lustre
    if target is None:
        ctx.emit(Row(NAME, "-", SKIP, detail="the plan has no FSx for Lustre claim"))
        return
    fio = bool(ctx.options.fio_image)
    where = ctx.target = f"{target.namespace}/{target.claim}"
    image = ctx.options.fio_image or ctx.options.image
    clients, streams = max(1, ctx.options.lustre_clients), max(1, ctx.options.lustre_streams)
    names = [dns_name("cv", ctx.run_id, "lustre", str(i)) for i in range(clients)]
    for name in names:
        ctx.phase = f"creating pod {target.namespace}/{name}"
        body = lustre_pod(name, target.claim, target.zone, image, ctx.options.lustre_write_mib, int(ctx.options.check_timeout) + 60, fio, target, streams)
        ctx.create("v1", "pods", target.namespace, body)
    phases: dict[str, str] = {}

    def finished():
        for name in names:
            if name in phases:
                continue
            pod = ctx.get(api_path("v1", "pods", target.namespace, name)) or {}
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                phases[name] = phase
        ctx.phase = f"waiting for {clients - len(phases)} of {clients} pods writing to claim {where}" + (f" on pool {target.pool}" if target.pool else "")
        return len(phases) == clients

    ctx.wait_for(ctx.phase, finished)
    expected = f"{target.expected_write_mbps:,.0f} MB/s (plan, all clients)" if target.expected_write_mbps else "no plan figure"
    results, failures = [], []
    for name in names:
        log = ctx.text(api_path("v1", "pods", target.namespace, name, "log"))
        if phases[name] == "Failed":
            failures.append(f"{name}: {tail(log) or 'no log'}")
            continue
        try:
            results.append((name, parse_fio_json(log) if fio else parse_dd_streams(log)))
        except ParseError as exc:
            failures.append(f"{name}: {exc}: {tail(log)}")
    if failures:
        ctx.emit(Row(NAME, where, FAIL, expected=expected, detail="write failed: " + "; ".join(failures)))
        return
    aggregate = sum(r.mbps for _, r in results)
    ratio = aggregate / target.expected_write_mbps if target.expected_write_mbps else None
    low = ratio is not None and ratio < ctx.options.min_lustre_ratio
    per_client = ", ".join(f"{r.mbps:,.0f}" for _, r in results)
    ctx.emit(
        Row(
            NAME,
            where,
            FAIL if low else PASS,
            measured=f"{clients} clients x {streams} streams: {aggregate:,.0f} MB/s together (per client {per_client})"
            + (f", ratio {ratio:.2f}" if ratio is not None else ""),
            expected=expected,
            detail=(f"ratio below {ctx.options.min_lustre_ratio:g}" if low else "ratio = these clients together / the file system's provisioned throughput"),
            data={
                "writeMBps": round(aggregate, 1),
                "clients": [{"pod": f"{target.namespace}/{n}", **r.to_json()} for n, r in results],
                "streamsPerClient": streams,
                "pool": target.pool,
                "expectedWriteMBps": target.expected_write_mbps,
                "ratio": None if ratio is None else round(ratio, 3),
                "ratioMeaning": "aggregate write rate of these clients / the plan's provisioned throughput for all clients",
            },
        )
    )
