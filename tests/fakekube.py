"""A fake Kubernetes API server for verify tests: loopback only, in memory, with a few scripted controllers.

It serves GET/LIST (with equality label selectors, `limit`/`continue` pages and `watch`), POST and DELETE on any
/api/v1 or /apis/<group>/<version> path, pod logs, the service proxy, and /version; it records every create and
delete and every request as an RBAC attribute (verb, group, resource, namespace). Controllers run on each request and
play what the cluster would do, as the Scenario says: Kueue admits queued Jobs to a flavor (the first of the
ClusterQueue's flavors the pod's nodeSelector allows, whose nodeLabels it then adds to the pod template, as Kueue
does), Karpenter brings up a node for a pod pinned to a pool, the MPI operator runs an MPIJob whose workers fit a
node (its launcher prints nccl-tests output), pods writing to Lustre print dd/fio output, a pod in the hub's namespace
reaches the hub only with the hub's NetworkPolicy label (the API server's service proxy never does).

Production semantics: 403 from RBAC (Scenario.rbac) and from Pod Security (a namespace's enforce label refuses Pods;
a Job whose template it refuses never starts, as the Job controller's pod creates fail), 403 for a create in a
Terminating namespace, 409 on a name in use, 404, 410 for an expired continue token, 429 with Retry-After and 503
(the first N requests), finalizers (a deleted object stays, Terminating with a deletionTimestamp, until its
finalizer's controller is done or for ever when stuck).
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


FINALIZER = "crucible.test/slow-controller"


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
    interrupt_on_create: Optional[str] = None  # plural whose first create interrupts the main thread (one Ctrl-C)
    proxy_status: Optional[int] = None  # the service proxy's answer (None: hub_status, the old routing)
    proxy_body: str = "Error trying to reach service: dial tcp 10.30.4.17:8081: i/o timeout"
    hub_access_label: Optional[str] = None  # a pod needs this label to reach the hub (its NetworkPolicy); None: any pod
    throttle: int = 0  # the first N API requests answer 429 with Retry-After
    retry_after: str = "0"
    flaky: int = 0  # the next N answer 503
    page_size: Optional[int] = None  # the server's page size (pagination even without a client limit)
    expire_continue: bool = False  # the first continue token presented has expired (410)
    repeat_continue: bool = False  # a broken server: every page hands back the same continue token
    rbac: Optional[list[tuple[Optional[str], dict]]] = None  # (namespace or None: cluster-wide, PolicyRule); None: allow all
    finalize_after: dict[str, int] = field(default_factory=dict)  # plural -> requests a deleted object stays Terminating
    stuck: tuple[str, ...] = ()  # plurals whose finalizer never goes (deleted objects stay Terminating)
    kueue_admits: bool = True  # False: a queue never admits (no quota left, a stopped ClusterQueue)
    lustre_readonly: bool = False  # the mount refuses writes


class FakeCluster:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.store: dict[tuple[str, Optional[str], str], dict[str, dict]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.creates: list[tuple[str, Optional[str], str]] = []  # (plural, namespace, name)
        self.deletes: list[tuple[str, Optional[str], str]] = []
        self.requests: list[str] = []
        self.queries: list[tuple[str, str, dict]] = []  # (method, path, query) of every request
        self.bodies: dict[tuple[str, Optional[str], str], dict] = {}  # what each create sent, as sent
        self.calls: list[tuple[str, str, str, Optional[str]]] = []  # RBAC attributes: (verb, apiGroup, resource, namespace)
        self.admissions: dict[tuple[Optional[str], str], tuple[str, str]] = {}  # (namespace, job) -> (ClusterQueue, flavor)
        self.refused: list[str] = []  # 403 messages (RBAC, Pod Security)
        self._throttled = 0
        self._flaked = 0
        self._expired = False
        self._terminating: dict[tuple[str, Optional[str], str, str], int] = {}  # object key -> requests left
        self._interrupted = False  # the scenario's Ctrl-C was pressed (interrupt_on_create)
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
                    if status == 429:
                        self.send_header("Retry-After", cluster.scenario.retry_after)
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
        self.queries.append((method, url.path, query))
        if url.path == "/version":
            return 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.1-eks"}
        s = self.scenario
        if self._throttled < s.throttle:
            self._throttled += 1
            return 429, {"kind": "Status", "code": 429, "reason": "TooManyRequests", "message": "Too many requests, please try again later."}
        if self._flaked < s.flaky:
            self._flaked += 1
            return 503, {"kind": "Status", "code": 503, "message": "etcdserver: leader changed"}
        root, namespace, plural, name, sub = self._parse(url.path)
        group = "" if root == "api/v1" else root.split("/")[1]
        resource = f"{plural}/{sub.split('/')[0]}" if sub else plural
        verb = {"POST": "create", "DELETE": "delete"}.get(method) or ("watch" if query.get("watch") else ("get" if name else "list"))
        with self.lock:
            self.calls.append((verb, group, resource, namespace))
            if not self._allowed(verb, group, resource, namespace, name):
                where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
                message = f'{plural} "{name or ""}" is forbidden: User "crucible-verify" cannot {verb} resource "{resource}" in API group "{group}"{where}'
                self.refused.append(message)
                return 403, {"kind": "Status", "code": 403, "reason": "Forbidden", "message": message}
        if sub and sub.startswith("proxy"):
            return self._proxy()
        with self.lock:
            self._reconcile()
            items = self.store.setdefault((root, namespace, plural), {})
            if method == "GET" and sub == "log":
                return 200, self.logs.get((namespace, name), "")
            if method == "GET" and name is None:
                matching = [copy.deepcopy(o) for _, o in sorted(items.items()) if self._matches(o, query.get("labelSelector"))]
                if query.get("watch"):  # the current objects as ADDED events, one JSON document a line
                    return 200, "".join(json.dumps({"type": "ADDED", "object": o}) + "\n" for o in matching)
                return self._page(matching, query)
            if method == "GET":
                if plural == "mpijobs" and self.scenario.mpijob == "error":
                    return 500, {"kind": "Status", "message": "etcdserver: request timed out"}
                if name not in items:
                    return 404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": f'{plural} "{name}" not found'}
                return 200, copy.deepcopy(items[name])
            if method == "POST":
                obj = copy.deepcopy(body)
                self.bodies[(plural, namespace, obj["metadata"]["name"])] = copy.deepcopy(body)
                if obj["metadata"]["name"] in items:
                    return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": f'{plural} "{obj["metadata"]["name"]}" already exists'}
                refusal = self._admission(namespace, plural, obj)
                if refusal:
                    self.refused.append(refusal)
                    return 403, {"kind": "Status", "code": 403, "reason": "Forbidden", "message": refusal}
                if plural in s.finalize_after or plural in s.stuck:
                    obj["metadata"].setdefault("finalizers", []).append(FINALIZER)
                self._put(root, namespace, plural, obj)
                self.creates.append((plural, namespace, obj["metadata"]["name"]))
                if self.scenario.interrupt_on_create == plural and not self._interrupted:
                    self._interrupted = True  # one Ctrl-C: a second one landing during cleanup would be another test
                    _thread.interrupt_main()
                return 201, copy.deepcopy(obj)
            if method == "DELETE":
                if name not in items:
                    return 404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": f'{plural} "{name}" not found'}
                obj = items[name]
                if FINALIZER in (obj["metadata"].get("finalizers") or []):
                    if "deletionTimestamp" not in obj["metadata"]:
                        obj["metadata"]["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ")
                        self._terminating[(root, namespace, plural, name)] = s.finalize_after.get(plural, 0)
                    return 200, copy.deepcopy(obj)  # accepted: Terminating until the finalizer goes
                self._remove(root, namespace, plural, name)
                return 200, {"kind": "Status", "status": "Success"}
        return 405, {"kind": "Status", "message": "method not allowed"}

    def _remove(self, root: str, namespace: Optional[str], plural: str, name: str) -> None:
        gone = self.store[(root, namespace, plural)].pop(name)
        self.deletes.append((plural, namespace, name))
        self._collect(plural, namespace, gone)

    def _page(self, matching: list[dict], query: dict) -> tuple[int, Any]:
        limit = int(query.get("limit") or 0) or None
        if self.scenario.page_size:
            limit = min(limit or self.scenario.page_size, self.scenario.page_size)
        start = 0
        if query.get("continue"):
            if self.scenario.expire_continue and not self._expired:
                self._expired = True
                return 410, {
                    "kind": "Status",
                    "code": 410,
                    "reason": "Expired",
                    "message": "The provided continue parameter is too old to display a consistent list result.",
                }
            start = int(query["continue"].split(":")[1])
        end = start + limit if limit else len(matching)
        meta = {"continue": f"offset:{end}"} if end < len(matching) else {}
        if self.scenario.repeat_continue:
            meta, end = {"continue": "offset:0"}, min(end, start + 1)
        return 200, {"kind": "List", "metadata": meta, "items": matching[start:end]}

    # --- authorization and admission -----------------------------------------------------------------------
    def _allowed(self, verb: str, group: str, resource: str, namespace: Optional[str], name: Optional[str]) -> bool:
        if self.scenario.rbac is None:
            return True
        for scope, rule in self.scenario.rbac:
            if scope is not None and scope != namespace:
                continue
            if not ({"*", group} & set(rule.get("apiGroups") or [])):
                continue
            if not ({"*", resource} & set(rule.get("resources") or [])):
                continue
            if not ({"*", verb} & set(rule.get("verbs") or [])):
                continue
            if rule.get("resourceNames") and name not in rule["resourceNames"]:
                continue
            return True
        return False

    def _namespace(self, name: Optional[str]) -> Optional[dict]:
        return self.store.get(("api/v1", None, "namespaces"), {}).get(name) if name else None

    def _admission(self, namespace: Optional[str], plural: str, obj: dict) -> Optional[str]:
        ns = self._namespace(namespace)
        if ns is not None and "deletionTimestamp" in ns["metadata"]:
            return f'{plural} "{obj["metadata"]["name"]}" is forbidden: unable to create new content in namespace {namespace} because it is being terminated'
        if plural == "pods":
            problems = self._pod_security(namespace, obj.get("spec") or {})
            if problems:
                level = self._level(namespace)
                return f'pods "{obj["metadata"]["name"]}" is forbidden: violates PodSecurity "{level}:latest": {"; ".join(problems)}'
        return None

    def _level(self, namespace: Optional[str]) -> str:
        ns = self._namespace(namespace)
        return ((ns or {}).get("metadata", {}).get("labels") or {}).get("pod-security.kubernetes.io/enforce", "privileged")

    def _pod_security(self, namespace: Optional[str], pod_spec: dict) -> list[str]:
        from stacks.tools.plan.pod_security import violations

        return violations(pod_spec, self._level(namespace))

    def _proxy(self) -> tuple[int, Any]:
        if self.scenario.proxy_status is not None:  # the API server is not a pod the hub's NetworkPolicy admits
            return self.scenario.proxy_status, self.scenario.proxy_body
        if self.scenario.hub_hang:
            self.release.wait(3)  # bounded: the client's request timeout is far shorter
        return self.scenario.hub_status, self.scenario.hub_body

    def _collect(self, plural: str, namespace: Optional[str], gone: dict) -> None:
        """Garbage collection: a namespace takes its objects, an MPIJob its pods."""
        if plural == "jobs":  # background propagation: the Job's pods go with it
            pods = self.store.get(("api/v1", namespace, "pods"), {})
            for pod_name in [n for n, p in pods.items() if (p["metadata"].get("labels") or {}).get("job-name") == gone["metadata"]["name"]]:
                del pods[pod_name]
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
        for key, left in list(self._terminating.items()):  # finalizers: their controllers finish, unless stuck
            root, namespace, plural, name = key
            if plural in s.stuck:
                continue
            if left > 0:
                self._terminating[key] = left - 1
                continue
            del self._terminating[key]
            if name in self.store.get((root, namespace, plural), {}):
                self._remove(root, namespace, plural, name)
        for (_root, namespace, plural), items in list(self.store.items()):
            for obj in list(items.values()):
                labels = obj["metadata"].get("labels") or {}
                if VERIFY not in labels or "deletionTimestamp" in obj["metadata"]:
                    continue
                if plural == "jobs":
                    self._job(namespace, obj)
                elif plural == "mpijobs":
                    self._mpijob(namespace, obj)
                elif plural == "pods":
                    self._pod(namespace, obj)

    def _node_of(self, pool: Optional[str]) -> Optional[dict]:
        """A node of `pool`: one already there, or the one Karpenter brings up for it (Scenario.probe_nodes)."""
        if not pool:
            return {}
        nodes = self.store.setdefault(("api/v1", None, "nodes"), {})
        for n in nodes.values():
            if (n["metadata"].get("labels") or {}).get(NODEPOOL) == pool and "deletionTimestamp" not in n["metadata"]:
                return n
        if pool in self.scenario.probe_nodes:
            n = copy.deepcopy(self.scenario.probe_nodes[pool])
            nodes.setdefault(n["metadata"]["name"], n)
            return n
        return None

    def _kueue(self, plural: str, namespace: Optional[str] = None) -> dict[str, dict]:
        return self.store.get((KUEUE_API, namespace, plural), {})

    def _admit(self, namespace: Optional[str], obj: dict, pod: dict, count: int = 1) -> bool:
        """Kueue: the LocalQueue's ClusterQueue admits the workload to the first flavor (in order) whose nodeLabels
        the pod's nodeSelector does not contradict and whose quota (nominal + borrowing in a cohort) holds its
        requests; the flavor's nodeLabels are added to the pod's nodeSelector. Without Kueue objects in the store
        every queued workload is admitted as is."""
        labels = obj["metadata"].get("labels") or {}
        if not any(self.store.get((KUEUE_API, ns, "localqueues")) for (r, ns, p) in list(self.store) if r == KUEUE_API and p == "localqueues"):
            return self.scenario.kueue_admits
        if not self.scenario.kueue_admits:
            return False
        priority = labels.get(PRIORITY_LABEL)
        if priority and priority not in self._kueue("workloadpriorityclasses"):
            return False
        lq = self._kueue("localqueues", namespace).get(labels.get(QUEUE) or "")
        cq = self._kueue("clusterqueues").get(((lq or {}).get("spec") or {}).get("clusterQueue") or "")
        if lq is None or cq is None:
            return False
        selector = pod.setdefault("nodeSelector", {})
        requests: dict[str, float] = {}
        for c in pod.get("containers") or []:
            for r, q in ((c.get("resources") or {}).get("requests") or {}).items():
                requests[r] = requests.get(r, 0) + _quantity(q) * count
        cohort = (cq.get("spec") or {}).get("cohortName") or (cq.get("spec") or {}).get("cohort")
        for group in (cq.get("spec") or {}).get("resourceGroups") or []:
            covered = set(group.get("coveredResources") or [])
            for flavor in group.get("flavors") or []:
                node_labels = ((self._kueue("resourceflavors").get(flavor["name"]) or {}).get("spec") or {}).get("nodeLabels") or {}
                if any(selector.get(k) not in (None, v) for k, v in node_labels.items()):
                    continue
                quota = {x["name"]: x for x in flavor.get("resources") or []}
                fits = True
                for r, want in requests.items():
                    if r not in covered:
                        continue
                    q = quota.get(r)
                    if q is None:
                        fits = fits and want == 0
                        continue
                    room = _quantity(q.get("nominalQuota", 0))
                    if cohort:
                        room = room + _quantity(q["borrowingLimit"]) if "borrowingLimit" in q else float("inf")
                    fits = fits and want <= room
                if fits:
                    selector.update(node_labels)
                    self.admissions[(namespace, obj["metadata"]["name"])] = (cq["metadata"]["name"], flavor["name"])
                    return True
        return False

    def _job(self, namespace: Optional[str], obj: dict) -> None:
        s = self.scenario
        spec = obj["spec"]
        pod = spec["template"].setdefault("spec", {})
        if (obj.get("status") or {}).get("conditions"):
            return
        queued = QUEUE in (obj["metadata"].get("labels") or {})
        probe = any(c.get("name") == "probe" for c in pod.get("containers") or [])
        if spec.get("suspend"):
            if not queued or (not probe and s.queue_jobs == "hang") or not self._admit(namespace, obj, pod):
                return
            spec["suspend"] = False
        problems = self._pod_security(namespace, pod)
        if problems:  # the Job controller's pod creates are refused: it never runs
            message = f"FailedCreate: violates PodSecurity {self._level(namespace)!r}: {'; '.join(problems)}"
            if message not in self.refused:
                self.refused.append(message)
            return
        node = self._node_of(pod.get("nodeSelector", {}).get(NODEPOOL))
        if probe or node is None:  # a probe waits (its node is what verify wants); no node: Pending
            return
        kind = "Complete" if s.queue_jobs == "complete" else "Failed"
        obj["status"] = {
            "succeeded": 1 if kind == "Complete" else 0,
            "conditions": [{"type": kind, "status": "True", "message": "BackoffLimitExceeded" if kind == "Failed" else ""}],
        }

    def _mpijob(self, namespace: Optional[str], obj: dict) -> None:
        s = self.scenario
        if s.mpijob not in ("succeed", "fail") or (obj.get("status") or {}).get("conditions"):
            return
        worker = obj["spec"]["mpiReplicaSpecs"]["Worker"]
        pod = worker["template"].setdefault("spec", {})
        if QUEUE in (obj["metadata"].get("labels") or {}) and not obj["metadata"].get("annotations", {}).get("fake/admitted"):
            if not self._admit(namespace, obj, pod, count=int(worker.get("replicas") or 1)):
                return
            obj["metadata"].setdefault("annotations", {})["fake/admitted"] = "true"
        if self._pod_security(namespace, pod):
            return
        node = self._node_of(pod.get("nodeSelector", {}).get(NODEPOOL))
        if node is None or not _fits(pod, node):  # a worker asking more than one node has stays Pending
            return
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
                    "labels": {**template_labels, "training.kubeflow.org/job-name": obj["metadata"]["name"], "training.kubeflow.org/job-role": "launcher"},
                },
                "status": {"phase": "Succeeded" if kind == "Succeeded" else "Failed"},
            }
            self.logs[(namespace, launcher)] = s.nccl_log if kind == "Succeeded" else "mpirun noticed that process rank 3 exited on signal 6 (Aborted)."

    def _pod(self, namespace: Optional[str], obj: dict) -> None:
        s = self.scenario
        spec = obj.get("spec") or {}
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        if self._node_of((spec.get("nodeSelector") or {}).get(NODEPOOL)) is None:
            return  # Pending: no node of its pool
        name = obj["metadata"]["name"]
        command = " ".join(" ".join(c.get("command") or []) + " " + " ".join(c.get("args") or []) for c in spec.get("containers") or [])
        if any("persistentVolumeClaim" in v for v in spec.get("volumes") or []):
            if s.lustre_readonly:
                obj["status"] = {"phase": "Failed"}
                self.logs[(namespace, name)] = "dd: can't open '/mnt/lustre/.crucible-verify': Read-only file system\n"
            elif s.lustre_phase != "Pending":
                obj["status"] = {"phase": s.lustre_phase}
                self.logs[(namespace, name)] = s.lustre_log
        elif ":8081/hub/api" in command:
            labels = obj["metadata"].get("labels") or {}
            if (s.hub_access_label and labels.get(s.hub_access_label) != "true") or s.hub_hang:
                obj["status"] = {"phase": "Failed"}
                self.logs[(namespace, name)] = "wget: download timed out\n"
            elif s.hub_status == 200:
                obj["status"] = {"phase": "Succeeded"}
                self.logs[(namespace, name)] = s.hub_body
            else:
                obj["status"] = {"phase": "Failed"}
                self.logs[(namespace, name)] = f"wget: server returned error: HTTP/1.1 {s.hub_status} Service Unavailable\n{s.hub_body}\n"


KUEUE_API = "apis/kueue.x-k8s.io/v1beta2"
QUEUE = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
NODEPOOL = "karpenter.sh/nodepool"
_SUFFIX = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _quantity(value: Any) -> float:
    text = str(value)
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIX[suffix]
    return float(text)


def _fits(pod: dict, node: dict) -> bool:
    """Every container request of the pod fits the node's allocatable (extended resources: GPUs, EFA)."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    for c in pod.get("containers") or []:
        for r, q in ((c.get("resources") or {}).get("limits") or {}).items():
            if "/" in r and _quantity(q) > _quantity(allocatable.get(r, 0)):
                return False
    return True


# ---- a cluster as a plan says it is ---------------------------------------------------------------------------

_SERVED = {  # plan type -> (collection root, plural)
    "kubernetes:core/v1:Namespace": ("api/v1", "namespaces"),
    "kubernetes:karpenter.sh/v1:NodePool": ("apis/karpenter.sh/v1", "nodepools"),
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass": ("apis/karpenter.k8s.aws/v1", "ec2nodeclasses"),
    "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue": (KUEUE_API, "localqueues"),
    "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue": (KUEUE_API, "clusterqueues"),
    "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor": (KUEUE_API, "resourceflavors"),
    "kubernetes:kueue.x-k8s.io/v1beta2:WorkloadPriorityClass": (KUEUE_API, "workloadpriorityclasses"),
    "kubernetes:kueue.x-k8s.io/v1beta2:Topology": (KUEUE_API, "topologies"),
}


def catalog_node(name: str, pool: str, instance_type: str, efa: int) -> dict:
    """A Ready node of `instance_type` advertising what the instance has (catalog) and `efa` EFA devices."""
    from components.catalog import load_catalog

    facts = load_catalog().get(instance_type)
    allocatable = {"cpu": f"{facts.vcpu * 1000 - 500}m", "memory": f"{int(facts.memory_gib * 0.9)}Gi", "pods": "110"}
    if facts.accelerator_resource:
        allocatable[facts.accelerator_resource] = str(facts.accelerator_count)
    if efa:
        allocatable["vpc.amazonaws.com/efa"] = str(efa)
    return node(name, pool, instance_type, allocatable)


def verify_rbac(document: dict, group: str) -> list[tuple[Optional[str], dict]]:
    """(namespace or None, PolicyRule) the plan grants `group` through its (Cluster)RoleBindings."""
    roles: dict[tuple[str, Optional[str], str], list[dict]] = {}
    bindings = []
    for r in document["resources"]:
        inputs = r.get("inputs") or {}
        kind = inputs.get("kind")
        meta = inputs.get("metadata") or {}
        if kind in ("ClusterRole", "Role"):
            roles[(kind, meta.get("namespace"), meta.get("name"))] = inputs.get("rules") or []
        elif kind in ("ClusterRoleBinding", "RoleBinding") and any(s.get("kind") == "Group" and s.get("name") == group for s in inputs.get("subjects") or []):
            bindings.append((kind, meta.get("namespace"), inputs["roleRef"]))
    out: list[tuple[Optional[str], dict]] = []
    for kind, namespace, ref in bindings:
        key = (ref["kind"], None if ref["kind"] == "ClusterRole" else namespace, ref["name"])
        for rule in roles.get(key, []):
            out.append((namespace if kind == "RoleBinding" else None, rule))
    return out


def cluster_from_plan(document: dict, group: Optional[str] = None, **overrides) -> Scenario:
    """A healthy cluster built as `document` (a `crucible plan --json`) says: its namespaces (Pod Security labels),
    Karpenter pools Ready, Kueue's queues, flavors and priority classes; no node yet in any pool but the one Karpenter
    launches (per the catalog) when a pod asks for it; the RBAC of `group` enforced when given."""
    from stacks.tools.verify.targets import targets_from_plan

    objects = []
    for r in document["resources"]:
        served = _SERVED.get(r.get("type"))
        if served is None:
            continue
        obj = copy.deepcopy(r["inputs"])
        if obj.get("kind") in ("NodePool", "EC2NodeClass"):
            obj["status"] = ready()
        objects.append((served[0], (obj.get("metadata") or {}).get("namespace"), served[1], obj))
    targets = targets_from_plan(document)
    probe_nodes = {}
    for pool in targets.pools:
        if pool.instance_types:
            probe_nodes[pool.name] = catalog_node(f"ip-10-30-{len(probe_nodes)}-9", pool.name, pool.instance_types[0], pool.efa)
    values: dict[str, Any] = {
        "objects": objects,
        "probe_nodes": probe_nodes,
        "proxy_status": 503,
        "hub_access_label": "hub.jupyter.org/network-access-hub",
        "rbac": verify_rbac(document, group) if group else None,
    }
    values.update(overrides)
    return Scenario(**values)
