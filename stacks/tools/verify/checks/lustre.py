"""The shared Lustre claim mounts and takes writes: a pod mounting it writes `lustre_write_mib` MiB (dd with
direct I/O and fsync, or fio), the measured throughput beside the plan's sizing figure. One client rarely
reaches a file system's aggregate throughput, so the ratio fails the check only below `min_lustre_ratio`
(default 0: report only)."""

from __future__ import annotations

from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, Context, Row, dns_name, tail
from stacks.tools.verify.kube import api_path
from stacks.tools.verify.parsers import ParseError, parse_dd, parse_fio_json
from stacks.tools.verify.workloads import lustre_pod

NAME = "lustre"


def run(ctx: Context) -> None:
    target = ctx.targets.lustre
    if target is None:
        ctx.emit(Row(NAME, "-", SKIP, detail="the plan has no FSx for Lustre claim"))
        return
    fio = bool(ctx.options.fio_image)
    ctx.target = f"{target.namespace}/{target.claim}"
    name = dns_name("cv", ctx.run_id, "lustre")
    image = ctx.options.fio_image or ctx.options.image
    ctx.phase = f"creating pod {target.namespace}/{name}"
    ctx.create(
        "v1",
        "pods",
        target.namespace,
        lustre_pod(name, target.claim, target.zone, image, ctx.options.lustre_write_mib, int(ctx.options.check_timeout) + 60, fio),
    )
    path = api_path("v1", "pods", target.namespace, name)

    def finished():
        pod = ctx.get(path) or {}
        phase = (pod.get("status") or {}).get("phase")
        ctx.phase = f"waiting for pod {target.namespace}/{name} writing to claim {target.claim} (phase {phase or 'unknown'})"
        return phase if phase in ("Succeeded", "Failed") else None

    phase = ctx.wait_for(ctx.phase, finished)
    log = ctx.text(api_path("v1", "pods", target.namespace, name, "log"))
    where = f"{target.namespace}/{target.claim}"
    expected = f"{target.expected_write_mbps:,.0f} MB/s (plan, aggregate)" if target.expected_write_mbps else "no plan figure"
    if phase == "Failed":
        ctx.emit(Row(NAME, where, FAIL, expected=expected, detail=f"write failed: {tail(log) or 'no log'}"))
        return
    try:
        result = parse_fio_json(log) if fio else parse_dd(log)
    except ParseError as exc:
        ctx.emit(Row(NAME, where, FAIL, expected=expected, detail=f"{exc}: {tail(log)}"))
        return
    ratio = result.mbps / target.expected_write_mbps if target.expected_write_mbps else None
    low = ratio is not None and ratio < ctx.options.min_lustre_ratio
    ctx.emit(
        Row(
            NAME,
            where,
            FAIL if low else PASS,
            measured=f"mounted, wrote {result.bytes / 2**20:,.0f} MiB at {result.mbps:,.0f} MB/s" + (f", ratio {ratio:.2f}" if ratio is not None else ""),
            expected=expected,
            detail=(f"ratio below {ctx.options.min_lustre_ratio:g}" if low else f"one client, {result.tool}"),
            data={
                **result.to_json(),
                "expectedWriteMBps": target.expected_write_mbps,
                "ratio": None if ratio is None else round(ratio, 3),
                "pod": f"{target.namespace}/{name}",
            },
        )
    )
