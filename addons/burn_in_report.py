"""The burn-in reporter: runs in the burn-in pod after the diagnostics (addons/burn_in.py), reads their results and
records the verdict on the node it runs on. Standard library only: the ConfigMap of the burn-in DaemonSet carries
this file's text and the pinned Python image runs it; tests import it to check the verdicts on realistic output.

Each diagnostic init container writes `<check>.log` (its output) and `<check>.rc` (its exit status; 124: `timeout`
cut it short) to the shared results directory. A check passes when it exited 0 and its output shows what the node
must have:

- dcgm: `dcgmi diag -r <level>` exit 0 and no test line reading Fail (DCGM prints a table of `| Test | Pass/Fail |`);
- efa: `fi_info -p efa -t FI_EP_RDM` lists as many EFA devices (`domain: rdmap…-rdm`) as the pool attaches;
- neuron: `neuron-ls --json-output` lists as many Neuron devices as the instance type has.

Passed: the startup taint `crucible.io/burn-in=pending:NoSchedule` goes, the label `crucible.io/burn-in=passed` and
the node condition `CrucibleBurnIn=True` stay, an Event says so. Failed: the label `crucible.io/burn-in=failed`, the
taint `crucible.io/burn-in=failed:NoExecute` instead of the pending one, `CrucibleBurnIn=False` with the failing
checks as reason and message, a Warning Event with the output's tail, then the node is deleted: Karpenter's
termination finalizer drains and terminates its instance and the pool's demand (or a static pool's replicas) brings a
replacement, which is burned in again. The DaemonSet selects nodes labelled crucible.io/burn-in=pending (the label a new node registers with),
so its pod leaves the node once the verdict is written.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import ssl
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

LABEL = "crucible.io/burn-in"
CONDITION = "CrucibleBurnIn"
TIMED_OUT = 124  # coreutils `timeout`
TAIL = 1500  # characters of a failing check's output kept in the event and condition


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool
    detail: str


def _read(results: Path, check: str) -> tuple[Optional[int], str]:
    rc_file, log_file = results / f"{check}.rc", results / f"{check}.log"
    rc = int(rc_file.read_text().strip() or "1") if rc_file.exists() else None
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    return rc, log


def efa_devices(output: str) -> int:
    """EFA devices `fi_info -p efa -t FI_EP_RDM` lists: distinct `domain:` values (one RDM domain per device)."""
    return len(set(re.findall(r"^\s*domain:\s*(\S+)", output, flags=re.MULTILINE)))


def neuron_devices(output: str) -> int:
    """Neuron devices `neuron-ls --json-output` lists (a JSON array, one object per device)."""
    start = output.find("[")
    if start < 0:
        return 0
    try:
        devices = json.loads(output[start:])
    except ValueError:
        return 0
    return len(devices) if isinstance(devices, list) else 0


def dcgm_failures(output: str) -> list[str]:
    """The DCGM diagnostic's tests that did not pass (rows `| <test> | Fail … |` of its result table)."""
    failed = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1].lower().startswith(("fail", "error")):
            failed.append(cells[0])
    return failed


def evaluate(check: str, rc: Optional[int], output: str, expected: int) -> Result:
    if rc is None:
        return Result(check, False, "the diagnostic left no result (its container did not run to the end)")
    if rc == TIMED_OUT:
        return Result(check, False, "timed out")
    if check == "dcgm":
        failed = dcgm_failures(output)
        if rc != 0 or failed:
            return Result(check, False, f"dcgmi diag exit {rc}; failed: {', '.join(failed) or 'see output'}")
        return Result(check, True, "dcgmi diag passed")
    if check == "efa":
        found = efa_devices(output)
        if rc != 0 or found != expected:
            return Result(check, False, f"fi_info exit {rc}; {found} EFA device(s), {expected} expected")
        return Result(check, True, f"{found} EFA device(s)")
    if check == "neuron":
        found = neuron_devices(output)
        if rc != 0 or found != expected:
            return Result(check, False, f"neuron-ls exit {rc}; {found} Neuron device(s), {expected} expected")
        return Result(check, True, f"{found} Neuron device(s)")
    return Result(check, False, f"unknown check {check!r}")


def verdict(results: Path, expected: dict[str, int]) -> tuple[bool, list[Result], dict[str, str]]:
    """Every check's result, whether all passed, and each failing check's output tail."""
    out, tails = [], {}
    for check, count in expected.items():
        rc, log = _read(results, check)
        result = evaluate(check, rc, log, count)
        out.append(result)
        if not result.ok:
            tails[check] = log[-TAIL:]
    return all(r.ok for r in out), out, tails


def node_patch(node: dict, passed: bool, pending_taint: dict, failed_taint: dict) -> list[dict]:
    """A JSON patch of the node: the verdict label, and the pending startup taint removed (passed) or replaced by
    the failed taint (failed). The `test` op makes it fail if the taints changed since they were read."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    kept = [t for t in taints if t.get("key") != pending_taint["key"]]
    if not passed:
        kept.append(dict(failed_taint))
    return [
        {"op": "test", "path": "/spec/taints", "value": taints} if "taints" in (node.get("spec") or {}) else {"op": "add", "path": "/spec/taints", "value": []},
        {"op": "replace", "path": "/spec/taints", "value": kept},
        {"op": "add", "path": f"/metadata/labels/{LABEL.replace('/', '~1')}", "value": "passed" if passed else "failed"},
    ]


def condition(passed: bool, results: list[Result], now: str) -> dict:
    failed = [r for r in results if not r.ok]
    return {
        "type": CONDITION,
        "status": "True" if passed else "False",
        "reason": "BurnInPassed" if passed else "BurnInFailed" + "".join(r.check.capitalize() for r in failed),
        "message": "; ".join(f"{r.check}: {r.detail}" for r in results)[:1000],
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }


# ---- the API (in-cluster) ------------------------------------------------------------------------------------------

SA = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _call(method: str, path: str, body=None, content_type: str = "application/json") -> dict:
    host = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ.get('KUBERNETES_SERVICE_PORT', '443')}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(host + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {(SA / 'token').read_text().strip()}")
    request.add_header("Content-Type", content_type)
    context = ssl.create_default_context(cafile=str(SA / "ca.crt"))
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        text = response.read().decode()
    return json.loads(text) if text else {}


def main() -> int:
    node_name, pool = os.environ["NODE_NAME"], os.environ.get("POOL", "")
    expected = json.loads(os.environ["EXPECTED"])  # {"dcgm": gpus, "efa": interfaces, "neuron": devices}
    pending, failed_taint = json.loads(os.environ["PENDING_TAINT"]), json.loads(os.environ["FAILED_TAINT"])
    passed, results, tails = verdict(Path(os.environ.get("RESULTS", "/results")), expected)
    for r in results:
        print(f"burn-in {node_name} ({pool}) {r.check}: {'PASS' if r.ok else 'FAIL'} {r.detail}", flush=True)
    for check, tail in tails.items():
        print(f"--- {check} output (tail) ---\n{tail}", flush=True)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    node = _call("GET", f"/api/v1/nodes/{node_name}")
    # The condition first (status subresource), so the record exists before the verdict label moves the pod away.
    _call("PATCH", f"/api/v1/nodes/{node_name}/status", {"status": {"conditions": [condition(passed, results, now)]}}, "application/strategic-merge-patch+json")
    message = "; ".join(f"{r.check}: {r.detail}" for r in results)
    if tails:
        message += " | " + " | ".join(f"{c}: {t[-300:]}" for c, t in tails.items())
    _call(
        "POST",
        "/api/v1/namespaces/default/events",
        {
            "metadata": {"generateName": f"{node_name}.burn-in."},
            "involvedObject": {"kind": "Node", "name": node_name, "uid": node["metadata"]["uid"], "apiVersion": "v1"},
            "reason": "BurnInPassed" if passed else "BurnInFailed",
            "message": message[:1024],
            "type": "Normal" if passed else "Warning",
            "source": {"component": "crucible-burn-in", "host": node_name},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        },
    )
    _call("PATCH", f"/api/v1/nodes/{node_name}", node_patch(node, passed, pending, failed_taint), "application/json-patch+json")
    if not passed:
        time.sleep(int(os.environ.get("HOLD_SECONDS", "60")))  # the record is readable for a while before the node goes
        _call("DELETE", f"/api/v1/nodes/{node_name}")
    while True:  # the DaemonSet no longer selects the node: its controller deletes this pod
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
