"""The fleet health canary's driver: what its CronJob runs in the cluster, once per EFA pool and schedule.

Standard-library Python only: addons/health_canary.py ships this file and components/benchmarks.py (the parsers
`crucible verify` uses, as crucible_benchmarks.py) in a ConfigMap, and the CronJob's pod runs ``python3 canary_driver.py pool-<name>.json``.

One run: submit the pool's two-node MPIJob (nccl-tests all_reduce_perf after a dd write to the Lustre claim) to the
canary LocalQueue at the canary WorkloadPriorityClass, which Kueue admits only on capacity no one else uses; wait;
read the launcher's log; compare the bus bandwidth with the catalog's network figure for the instance type; record
the result as Prometheus text in the results ConfigMap (served by the canary's metrics Deployment and scraped by a
ServiceMonitor) and on the nodes it ran on (label ``crucible.io/canary``, annotation ``crucible.io/canary-result``);
below the configured ratio, with wrong results or NCCL on TCP sockets, the nodes also get the NoSchedule taint
``crucible.io/canary-failed`` so no new work lands there until a person replaces them. A run that Kueue never
admits (no idle capacity) is recorded as such and is no fault of the nodes; neither is a job that fails to start.
"""

from __future__ import annotations

import copy
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

try:  # in the cluster the parsers sit beside this file (the ConfigMap's crucible_benchmarks.py); here, a module
    import crucible_benchmarks as benchmarks  # type: ignore[import-not-found]
except ImportError:  # the repository
    from components import benchmarks

# The names below are components/labels.py's (this file cannot import it in the cluster; tests keep them equal).
CANARY_LABEL = "crucible.io/canary"
RESULT_ANNOTATION = "crucible.io/canary-result"
TAINT = {"key": "crucible.io/canary-failed", "value": "true", "effect": "NoSchedule"}
RUN_LABEL = "crucible.io/canary-run"
MPI_API = "apis/kubeflow.org/v2beta1"
LAUNCHER = "training.kubeflow.org/job-name={name},training.kubeflow.org/job-role=launcher"
WORKERS = "training.kubeflow.org/job-name={name},training.kubeflow.org/job-role=worker"
SA = "/var/run/secrets/kubernetes.io/serviceaccount"


class Api:
    """The few calls the driver makes, against the API server with the pod's service account."""

    def __init__(self) -> None:
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        self.base = f"https://{host}:{port}"
        with open(f"{SA}/token") as f:
            self.token = f.read().strip()
        self.tls = ssl.create_default_context(cafile=f"{SA}/ca.crt")

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json", raw: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "GET":
                return None
            raise RuntimeError(f"{method} {path}: HTTP {exc.code} {exc.read().decode()[:300]}") from None
        return text if raw else json.loads(text or "null")

    def get(self, path: str) -> Optional[dict]:
        return self._call("GET", path)

    def list(self, path: str, selector: str) -> list[dict]:
        return (self._call("GET", f"{path}?labelSelector={urllib.request.quote(selector)}") or {}).get("items", [])

    def create(self, path: str, body: dict) -> dict:
        return self._call("POST", path, body)

    def merge_patch(self, path: str, body: dict) -> dict:
        return self._call("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str) -> None:
        self._call("DELETE", path, {"propagationPolicy": "Background"})

    def log(self, path: str) -> str:
        return self._call("GET", path, raw=True) or ""


def condition(obj: Optional[dict], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in ((obj or {}).get("status") or {}).get("conditions") or [])


def evaluate(log: str, config: dict) -> dict:
    """The verdict on one run's launcher log: measured figures, expected ones, and why it failed (if it did)."""
    verdict: dict[str, Any] = {
        "pool": config["pool"],
        "instanceType": config["instanceType"],
        "expectedNetworkGbps": config.get("networkGbps"),
        "minRatio": config["minRatio"],
        "expectedLustreWriteMBps": config.get("lustreExpectedMBps"),
        "problems": [],
    }
    try:
        nccl = benchmarks.parse_nccl(log)
    except benchmarks.ParseError as exc:
        verdict.update(outcome="error", problems=[f"no nccl-tests result: {exc}"])
        return verdict
    ratio = benchmarks.network_ratio(nccl.peak_busbw_gbs, config.get("networkGbps"))
    verdict.update(busBandwidthGBps=nccl.peak_busbw_gbs, ratio=ratio, transport=nccl.transport, wrong=nccl.wrong)
    if nccl.wrong:
        verdict["problems"].append(f"{nccl.wrong} wrong all-reduce results")
    if nccl.transport == "socket":
        verdict["problems"].append("NCCL used TCP sockets, not EFA")
    if ratio is not None and ratio < config["minRatio"]:
        verdict["problems"].append(
            f"bus bandwidth {nccl.peak_busbw_gbs:.1f} GB/s is {ratio:.2f} of {config['networkGbps']:g} Gbps, below {config['minRatio']:g}"
        )
    if config.get("lustre"):
        try:
            verdict["lustreWriteMBps"] = benchmarks.parse_dd(log).mbps
        except benchmarks.ParseError as exc:
            verdict["problems"].append(f"Lustre write: {exc}")
    verdict["outcome"] = "failed" if verdict["problems"] else "passed"
    return verdict


def prometheus_text(verdict: dict, now: float) -> str:
    """The run as Prometheus exposition text, measured beside expected (one pool's lines)."""
    labels = f'pool="{verdict["pool"]}",instance_type="{verdict["instanceType"]}"'
    lines = [
        "# HELP crucible_canary_last_run_timestamp_seconds When the pool's last canary run ended.",
        "# TYPE crucible_canary_last_run_timestamp_seconds gauge",
        f"crucible_canary_last_run_timestamp_seconds{{{labels}}} {now:.0f}",
        "# HELP crucible_canary_last_run_outcome 1 for the outcome of the pool's last run (passed, failed, error, not_admitted).",
        "# TYPE crucible_canary_last_run_outcome gauge",
    ]
    for outcome in ("passed", "failed", "error", "not_admitted"):
        lines.append(f'crucible_canary_last_run_outcome{{{labels},outcome="{outcome}"}} {1 if verdict["outcome"] == outcome else 0}')
    figures = (
        ("crucible_canary_nccl_bus_bandwidth_gbps", "Peak nccl-tests all-reduce bus bandwidth over two nodes, Gbit/s.", _gbps(verdict.get("busBandwidthGBps"))),
        ("crucible_canary_nccl_expected_gbps", "The catalog's network figure for the instance type, Gbit/s.", verdict.get("expectedNetworkGbps")),
        ("crucible_canary_nccl_ratio", "Bus bandwidth over the catalog's network figure.", verdict.get("ratio")),
        ("crucible_canary_nccl_min_ratio", "The ratio below which the canary marks the nodes for repair.", verdict.get("minRatio")),
        ("crucible_canary_lustre_write_mbps", "One client's write throughput to the Lustre claim, MB/s.", verdict.get("lustreWriteMBps")),
        ("crucible_canary_lustre_expected_mbps", "The file system's planned (aggregate) write throughput, MB/s.", verdict.get("expectedLustreWriteMBps")),
    )
    for name, help_text, value in figures:
        if value is None:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{{{labels}}} {float(value):g}"]
    return "\n".join(lines) + "\n"


def merge_exposition(texts: list[str]) -> str:
    """Several pools' texts as one valid exposition: each metric family once, its HELP and TYPE first, then all
    its samples (the text format forbids a family split in two or a second TYPE line)."""
    order: list[str] = []
    heads: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    for text in texts:
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("# "):
                parts = line.split(" ", 3)
                family = parts[2] if len(parts) > 2 else ""
                if family not in heads:
                    order.append(family)
                    heads[family], samples[family] = [], []
                if not any(h.split(" ", 3)[1] == parts[1] for h in heads[family]):
                    heads[family].append(line)
                continue
            family = line.split("{", 1)[0].split(" ", 1)[0]
            if family not in heads:
                order.append(family)
                heads[family], samples[family] = [], []
            samples[family].append(line)
    return "".join("\n".join(heads[f] + samples[f]) + "\n" for f in order)


def _gbps(gbs: Optional[float]) -> Optional[float]:
    return None if gbs is None else gbs * 8


def node_patch(node: dict, verdict: dict) -> Optional[dict]:
    """What the run records on a node it ran on (None: the run says nothing about nodes)."""
    if verdict["outcome"] not in ("passed", "failed"):
        return None
    note = {k: verdict.get(k) for k in ("when", "outcome", "busBandwidthGBps", "ratio", "minRatio", "expectedNetworkGbps", "lustreWriteMBps", "problems")}
    patch: dict[str, Any] = {"metadata": {"labels": {CANARY_LABEL: verdict["outcome"]}, "annotations": {RESULT_ANNOTATION: json.dumps(note, sort_keys=True)}}}
    taints = list((node.get("spec") or {}).get("taints") or [])
    if verdict["outcome"] == "failed" and not any(t.get("key") == TAINT["key"] for t in taints):
        patch["spec"] = {"taints": taints + [dict(TAINT)]}
        patch["metadata"]["resourceVersion"] = node["metadata"].get("resourceVersion")  # a taint list is replaced whole: no lost update
    return patch


def run(api: Any, config: dict, now: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> dict:
    namespace, pool = config["namespace"], config["pool"]
    started = now()
    name = f"canary-{pool}-{int(started)}"[:52]
    job = copy.deepcopy(config["mpijob"])
    job["metadata"]["name"] = name
    job["metadata"].setdefault("labels", {})[RUN_LABEL] = name
    jobs = f"/{MPI_API}/namespaces/{namespace}/mpijobs"
    api.create(jobs, job)
    outcome, admitted = None, False
    try:
        while now() - started < config["timeoutSeconds"]:
            current = api.get(f"{jobs}/{name}") or {}
            admitted = admitted or not ((current.get("spec") or {}).get("runPolicy") or {}).get("suspend", False)
            if condition(current, "Succeeded") or condition(current, "Failed"):
                outcome = "Succeeded" if condition(current, "Succeeded") else "Failed"
                break
            if not admitted and now() - started >= config["admitSeconds"]:
                break
            sleep(config.get("pollSeconds", 15))
        pods = f"/api/v1/namespaces/{namespace}/pods"
        workers = api.list(pods, WORKERS.format(name=name))
        nodes = sorted({p["spec"]["nodeName"] for p in workers if (p.get("spec") or {}).get("nodeName")})
        if outcome is None:
            verdict = {"pool": pool, "instanceType": config["instanceType"], "outcome": "not_admitted" if not admitted else "error", "problems": []}
            verdict["problems"].append("Kueue admitted no run: no idle capacity" if not admitted else "the run did not finish in time")
        else:
            launchers = sorted(api.list(pods, LAUNCHER.format(name=name)), key=lambda p: p["metadata"].get("creationTimestamp", ""))
            log = api.log(f"{pods}/{launchers[-1]['metadata']['name']}/log") if launchers else ""
            verdict = evaluate(log, config)
            if outcome == "Failed" and verdict["outcome"] != "failed":
                verdict.update(outcome="error", problems=verdict["problems"] + ["the MPIJob failed"])
        verdict.update(when=now(), nodes=nodes, mpiJob=f"{namespace}/{name}")
        for node_name in nodes:
            node = api.get(f"/api/v1/nodes/{node_name}")
            patch = node_patch(node, verdict) if node else None
            if patch:
                api.merge_patch(f"/api/v1/nodes/{node_name}", patch)
        record(api, config, verdict)
        return verdict
    finally:
        api.delete(f"{jobs}/{name}")


def record(api: Any, config: dict, verdict: dict) -> None:
    """The pool's keys of the results ConfigMap: Prometheus text (`<pool>.prom`) and the verdict (`<pool>.json`)."""
    path = f"/api/v1/namespaces/{config['namespace']}/configmaps"
    data = {f"{verdict['pool']}.prom": prometheus_text(verdict, verdict["when"]), f"{verdict['pool']}.json": json.dumps(verdict, sort_keys=True)}
    if api.get(f"{path}/{config['resultsConfigMap']}") is None:
        api.create(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config["resultsConfigMap"]}, "data": data})
    else:
        api.merge_patch(f"{path}/{config['resultsConfigMap']}", {"data": data})


def main(argv: list[str]) -> int:
    with open(argv[1]) as f:
        config = json.load(f)
    verdict = run(Api(), config)
    print(json.dumps(verdict, sort_keys=True), flush=True)
    return 0  # the verdict is in the metrics and on the nodes; a failing CronJob would only add noise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv))
