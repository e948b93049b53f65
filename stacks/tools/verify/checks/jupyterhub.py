"""JupyterHub answers: a pod in the hub's namespace GETs /hub/api on the hub service, as the hub's NetworkPolicy
allows (z2jh: ingress to the hub's port only from pods labelled hub.jupyter.org/network-access-hub=true in its own
namespace). The API server's service proxy is not such a pod: the policy drops its connection, so a healthy hub
would look down through it. The pod meets Pod Security `restricted`, runs on the CPU/cheapest pool and has a TTL."""

from __future__ import annotations

import json
import re

from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, Context, Row, dns_name, tail
from stacks.tools.verify.kube import api_path
from stacks.tools.verify.workloads import hub_pod

NAME = "jupyterhub"
EXPECTED = "HTTP 200 with the hub version"


def run(ctx: Context) -> None:
    hub = ctx.targets.hub
    if hub is None:
        ctx.emit(Row(NAME, "-", SKIP, detail="the plan has no JupyterHub release"))
        return
    target = ctx.target = f"{hub.namespace}/{hub.service}"
    name = dns_name("cv", ctx.run_id, "hub")
    pool = ctx.targets.cheapest_pool
    ctx.phase = f"creating pod {hub.namespace}/{name}"
    ctx.create(
        "v1",
        "pods",
        hub.namespace,
        hub_pod(name, hub, ctx.options.image, int(ctx.options.check_timeout) + 60, pool.name if pool else None, pool.taints if pool else ()),
    )
    path = api_path("v1", "pods", hub.namespace, name)

    def finished():
        phase = ((ctx.get(path) or {}).get("status") or {}).get("phase")
        ctx.phase = f"waiting for pod {hub.namespace}/{name} to call http://{hub.service}:{hub.port}/hub/api (phase {phase or 'unknown'})"
        return phase if phase in ("Succeeded", "Failed") else None

    phase = ctx.wait_for(ctx.phase, finished)
    body = ctx.text(api_path("v1", "pods", hub.namespace, name, "log"))
    if phase == "Failed":
        status = re.search(r"HTTP/[\d.]+ (\d{3})", body)
        measured = f"HTTP {status.group(1)}" if status else ("no answer" if "timed out" in body else "error")
        ctx.emit(Row(NAME, target, FAIL, measured=measured, expected=EXPECTED, detail=f"hub not answering: {tail(body)}"))
        return
    try:
        version = json.loads(body).get("version")
    except (ValueError, AttributeError):
        version = None
    ok = bool(version)
    ctx.emit(
        Row(
            NAME,
            target,
            PASS if ok else FAIL,
            measured=f"JupyterHub {version}" if ok else "answered without a version",
            expected=EXPECTED,
            detail=f"from pod {hub.namespace}/{name} ({hub.access_label}=true)",
            data={"version": version, "pod": f"{hub.namespace}/{name}"},
        )
    )
