"""A fake Kubernetes API server for verify tests: loopback only, in memory, with a few scripted controllers.

It serves GET/LIST (with equality label selectors), POST and DELETE on any /api/v1 or /apis/<group>/<version>
path, pod logs, the service proxy, and /version; it records every create and delete. Controllers run on each
request and play what the cluster would do, as the Scenario says: Kueue admits and completes queued Jobs,
Karpenter brings up a node for a probe Job, the MPI operator runs an MPIJob (its launcher pod prints nccl-tests
output), a pod writing to Lustre succeeds and prints dd output, the hub answers.
"""

from __future__ import annotations

import _thread
import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

VERIFY = "crucible.io/verify"


def node(name: str, pool: str, instance_type: str, allocatable: dict, ready: bool = True) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": pool, "node.kubernetes.io/instance-type": instance_type}},
        "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def ready(status: str = "True", reason: str = "", message: str = "") -> dict:
    return {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message}]}


@dataclass
class Scenario:
    objects: list[tuple[str, Optional[str], str, dict]] = field(default_factory=list)  # (collection root, namespace, plural, object)
    probe_nodes: dict[str, dict] = field(default_factory=dict)  # pool -> node brought up when a probe Job for it appears
    queue_jobs: str = "complete"  # complete | fail | hang (never admitted)
    mpijob: str = "succeed"  # succeed | fail | hang | error (GET of the MPIJob answers 500)
    nccl_log: str = ""
    lustre_phase: str = "Succeeded"  # Succeeded | Failed | Pending (hangs)
    lustre_log: str = ""
    hub_status: int = 200
    hub_body: str = '{"version": "5.5.0"}'
    hub_hang: bool = False  # the proxy request hangs (bounded) instead of answering
    interrupt_on_create: Optional[str] = None  # plural whose create interrupts the main thread (Ctrl-C)


class FakeCluster:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.store: dict[tuple[str, Optional[str], str], dict[str, dict]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.creates: list[tuple[str, Optional[str], str]] = []  # (plural, namespace, name)
        self.deletes: list[tuple[str, Optional[str], str]] = []
        self.requests: list[str] = []
        self.lock = threading.RLock()
        self.release = threading.Event()  # ends hanging requests at shutdown
        for root, namespace, plural, obj in scenario.objects:
            self._put(root, namespace, plural, copy.deepcopy(obj))
        self.server: Optional[ThreadingHTTPServer] = None
        self.thread: Optional[threading.Thread] = None

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> str:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _serve(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, payload = cluster.handle(method, self.path, body)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        if self.thread:
            self.thread.join(5)

    # --- store ---------------------------------------------------------------------------------------------
    def _put(self, root: str, namespace: Optional[str], plural: str, obj: dict) -> None:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if namespace:
            meta["namespace"] = namespace
        self.store.setdefault((root, namespace, plural), {})[meta["name"]] = obj

    def objects(self, plural: Optional[str] = None) -> list[dict]:
        with self.lock:
            return [o for (r, ns, p), items in self.store.items() if plural in (None, p) for o in items.values()]

    def labelled(self, run_label: str = VERIFY) -> list[dict]:
        """Objects that carry the verify label (anything verify left behind), and namespaces it created."""
        return [o for o in self.objects() if run_label in ((o.get("metadata") or {}).get("labels") or {})]

    @staticmethod
    def _parse(path: str) -> tuple[str, Optional[str], str, Optional[str], Optional[str]]:
        segs = [s for s in path.split("/") if s]
        if segs[0] == "api":
            root, rest = "/".join(segs[:2]), segs[2:]
        else:
            root, rest = "/".join(segs[:3]), segs[3:]
        namespace = None
        if rest and rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        return root, namespace, plural, name, sub

    @staticmethod
    def _matches(obj: dict, selector: Optional[str]) -> bool:
        if not selector:
            return True
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(labels.get(k) == v for k, v in (term.split("=", 1) for term in selector.split(",")))

    # --- requests ------------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        url = urlparse(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append(f"{method} {url.path}")
        if url.path == "/version":
            return 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.1-eks"}
        root, namespace, plural, name, sub = self._parse(url.path)
        if sub and sub.startswith("proxy"):
            return self._proxy()
        with self.lock:
            self._reconcile()
            items = self.store.setdefault((root, namespace, plural), {})
            if method == "GET" and sub == "log":
                return 200, self.logs.get((namespace, name), "")
            if method == "GET" and name is None:
                return 200, {"kind": "List", "items": [copy.deepcopy(o) for o in items.values() if self._matches(o, query.get("labelSelector"))]}
            if method == "GET":
                if plural == "mpijobs" and self.scenario.mpijob == "error":
                    return 500, {"kind": "Status", "message": "etcdserver: request timed out"}
                if name not in items:
                    return 404, {"kind": "Status", "message": f'{plural} "{name}" not found'}
                return 200, copy.deepcopy(items[name])
            if method == "POST":
                obj = copy.deepcopy(body)
                if obj["metadata"]["name"] in items:
                    return 409, {"kind": "Status", "message": "already exists"}
                self._put(root, namespace, plural, obj)
                self.creates.append((plural, namespace, obj["metadata"]["name"]))
                if self.scenario.interrupt_on_create == plural:
                    _thread.interrupt_main()
                return 201, copy.deepcopy(obj)
            if method == "DELETE":
                if name not in items:
                    return 404, {"kind": "Status", "message": "not found"}
                gone = items.pop(name)
                self.deletes.append((plural, namespace, name))
                self._collect(plural, namespace, gone)
                return 200, {"kind": "Status", "status": "Success"}
        return 405, {"kind": "Status", "message": "method not allowed"}

    def _proxy(self) -> tuple[int, Any]:
        if self.scenario.hub_hang:
            self.release.wait(3)  # bounded: the client's request timeout is far shorter
        return self.scenario.hub_status, self.scenario.hub_body

    def _collect(self, plural: str, namespace: Optional[str], gone: dict) -> None:
        """Garbage collection: a namespace takes its objects, an MPIJob its pods."""
        if plural == "namespaces":
            for key in [k for k in self.store if k[1] == gone["metadata"]["name"]]:
                for obj_name in list(self.store[key]):
                    self.deletes.append((key[2], key[1], obj_name))
                del self.store[key]
        if plural == "mpijobs":
            pods = self.store.get(("api/v1", namespace, "pods"), {})
            for pod_name in [n for n, p in pods.items() if p["metadata"]["labels"].get("training.kubeflow.org/job-name") == gone["metadata"]["name"]]:
                del pods[pod_name]

    # --- controllers ---------------------------------------------------------------------------------------
    def _reconcile(self) -> None:
        s = self.scenario
        for (_root, namespace, plural), items in list(self.store.items()):
            for obj in list(items.values()):
                labels = obj["metadata"].get("labels") or {}
                if VERIFY not in labels:
                    continue
                if plural == "jobs":
                    pool = ((obj["spec"]["template"].get("spec") or {}).get("nodeSelector") or {}).get("karpenter.sh/nodepool")
                    if pool:  # a probe: Kueue admits it, Karpenter brings up a node
                        obj["spec"]["suspend"] = False
                        if pool in s.probe_nodes:
                            n = copy.deepcopy(s.probe_nodes[pool])
                            self.store.setdefault(("api/v1", None, "nodes"), {}).setdefault(n["metadata"]["name"], n)
                    elif s.queue_jobs != "hang":
                        obj["spec"]["suspend"] = False
                        kind = "Complete" if s.queue_jobs == "complete" else "Failed"
                        obj["status"] = {
                            "succeeded": 1 if kind == "Complete" else 0,
                            "conditions": [{"type": kind, "status": "True", "message": "BackoffLimitExceeded" if kind == "Failed" else ""}],
                        }
                elif plural == "mpijobs" and s.mpijob in ("succeed", "fail"):
                    kind = "Succeeded" if s.mpijob == "succeed" else "Failed"
                    obj["status"] = {"conditions": [{"type": "Created", "status": "True"}, {"type": kind, "status": "True"}]}
                    launcher = f"{obj['metadata']['name']}-launcher-x7k2p"
                    pods = self.store.setdefault(("api/v1", namespace, "pods"), {})
                    if launcher not in pods:
                        template_labels = obj["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["metadata"]["labels"]
                        pods[launcher] = {
                            "metadata": {
                                "name": launcher,
                                "namespace": namespace,
                                "creationTimestamp": "2026-01-01T00:00:00Z",
                                "labels": {
                                    **template_labels,
                                    "training.kubeflow.org/job-name": obj["metadata"]["name"],
                                    "training.kubeflow.org/job-role": "launcher",
                                },
                            },
                            "status": {"phase": "Succeeded" if kind == "Succeeded" else "Failed"},
                        }
                        self.logs[(namespace, launcher)] = (
                            s.nccl_log if kind == "Succeeded" else "mpirun noticed that process rank 3 exited on signal 6 (Aborted)."
                        )
                elif plural == "pods" and "volumes" in obj.get("spec", {}):
                    if s.lustre_phase != "Pending":
                        obj["status"] = {"phase": s.lustre_phase}
                        self.logs[(namespace, obj["metadata"]["name"])] = s.lustre_log
