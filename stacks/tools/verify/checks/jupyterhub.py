"""JupyterHub answers: GET /hub/api on the hub service through the Kubernetes API server's service proxy."""

from __future__ import annotations

import json

from stacks.tools.verify.checks.base import FAIL, PASS, SKIP, Context, Row
from stacks.tools.verify.kube import KubeError, Unreachable, api_path

NAME = "jupyterhub"


def run(ctx: Context) -> None:
    hub = ctx.targets.hub
    if hub is None:
        ctx.emit(Row(NAME, "-", SKIP, detail="the plan has no JupyterHub release"))
        return
    path = api_path("v1", "services", hub.namespace, f"{hub.service}:{hub.port}", "proxy/hub/api")
    target = ctx.target = f"{hub.namespace}/{hub.service}"
    ctx.phase = f"GET {path}"
    try:
        body = ctx.text(path)
    except KubeError as exc:
        ctx.emit(
            Row(NAME, target, FAIL, measured=f"HTTP {exc.status}", expected="HTTP 200 with the hub version", detail=f"hub not answering: {exc.message[:200]}")
        )
        return
    except Unreachable as exc:
        ctx.emit(Row(NAME, target, FAIL, measured="no answer", expected="HTTP 200 with the hub version", detail=str(exc)))
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
            expected="HTTP 200 with the hub version",
            data={"version": version, "path": path},
        )
    )
