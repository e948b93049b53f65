"""What every check shares: the result row, the options, and the context (API client, deadline, cancellation,
and `create`, which labels every object with the run id and records it in the ledger before it is sent)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from stacks.tools.verify import VERIFY_LABEL
from stacks.tools.verify.kube import KubeClient, KubeError, Unreachable, api_path
from stacks.tools.verify.targets import VerifyTargets
from stacks.spec.workloads import NCCL_TESTS_IMAGE

PASS, FAIL, TIMEOUT, SKIP = "pass", "fail", "timeout", "skip"
OK_STATUSES = (PASS, SKIP)


class Cancelled(Exception):
    """The check's time is up (per-check timeout, global deadline, Ctrl-C): stop at the next poll."""


@dataclass
class Row:
    check: str
    target: str
    status: str
    measured: str = ""
    expected: str = ""
    detail: str = ""
    data: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "check": self.check,
            "target": self.target,
            "status": self.status,
            "measured": self.measured,
            "expected": self.expected,
            "detail": self.detail,
            "data": self.data,
        }


@dataclass
class Options:
    check_timeout: float = 900.0  # seconds per check
    deadline: float = 3600.0  # seconds for the whole run (cleanup comes after it, with its own budget)
    poll_interval: float = 5.0
    request_timeout: float = 15.0
    cleanup_timeout: float = 120.0
    device_settle: float = 180.0  # how long a Ready node may take to advertise its devices
    image: str = "public.ecr.aws/docker/library/busybox:1.37"  # sample jobs, probes, dd
    nccl_image: str = NCCL_TESTS_IMAGE  # nccl-tests + OpenMPI + aws-ofi-nccl, pinned (stacks/spec/workloads.py)
    fio_image: Optional[str] = None  # an image with fio; None: Lustre is measured with dd
    lustre_write_mib: int = 1024  # per stream
    lustre_clients: int = 2  # pods writing at once, on different nodes when the pool has them
    lustre_streams: int = 4  # parallel writers per pod (fio numjobs, or dd processes)
    pool_timeout: float = 600.0  # seconds one pool may take in devices/nccl (at most its fair share of the check's time left)
    min_nccl_ratio: float = 0.25  # bus bandwidth x 8 / catalog network Gbps; below: NCCL is not on EFA
    min_lustre_ratio: float = 0.0  # one client rarely reaches the file system's aggregate figure: report only
    run_id: Optional[str] = None


def new_run_id() -> str:
    import secrets

    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def dns_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from parts (lowercase, '-', at most `limit` characters)."""
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:limit].rstrip("-")


class Ledger:
    """Everything this run created, so it can be deleted; closed once cleanup starts (late creates are refused)."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.created: list[tuple[str, str, Optional[str], str]] = []  # (apiVersion, plural, namespace, name)
        self.namespaces: set[str] = set()  # namespaces this run created objects in (swept by label at the end)
        self.own_namespaces: set[str] = set()  # namespaces this run created
        self.closed = False
        self.lock = threading.Lock()

    def record(self, api_version: str, plural: str, namespace: Optional[str], name: str) -> None:
        with self.lock:
            if self.closed:
                raise Cancelled("cleanup has started")
            self.created.append((api_version, plural, namespace, name))
            if namespace:
                self.namespaces.add(namespace)

    def close(self) -> None:
        with self.lock:
            self.closed = True


@dataclass
class Context:
    client: KubeClient
    targets: VerifyTargets
    options: Options
    ledger: Ledger
    check: str
    deadline: float  # time.monotonic() value
    cancel: threading.Event = field(default_factory=threading.Event)
    phase: str = "starting"
    target: str = "-"  # what the check is looking at now (the target of a timeout row)
    rows: list[Row] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.ledger.run_id

    @property
    def labels(self) -> dict[str, str]:
        return {VERIFY_LABEL: self.run_id}

    def emit(self, row: Row) -> None:
        self.rows.append(row)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_cancelled(self) -> None:
        if self.cancel.is_set() or self.remaining() <= 0:
            raise Cancelled(self.phase)

    def sleep(self, seconds: Optional[float] = None) -> None:
        self.check_cancelled()
        wait = min(seconds if seconds is not None else self.options.poll_interval, max(self.remaining(), 0))
        if self.cancel.wait(wait):
            raise Cancelled(self.phase)
        self.check_cancelled()

    def wait_for(self, what: str, probe: Callable[[], Any], budget: Optional[float] = None) -> Any:
        """Poll `probe` until it returns something truthy; None when `budget` seconds pass first (Cancelled
        when the check's own time runs out)."""
        self.phase = what
        end = time.monotonic() + budget if budget is not None else None
        while True:
            self.check_cancelled()
            value = probe()
            if value:
                return value
            if end is not None and time.monotonic() >= end:
                return None
            self.sleep()

    def request_timeout(self) -> float:
        return max(0.05, min(self.options.request_timeout, self.remaining()))

    def _bounded(self, call: Callable[[float], Any]) -> Any:
        """Run one API request under the check's deadline. A request that goes unanswered because the deadline
        cut its timeout short is the check running out of time (Cancelled, reported as TIMEOUT), not the API
        server failing: under load a 0.05 s slice left at the end of a budget times out on a healthy server."""
        self.check_cancelled()
        timeout = self.request_timeout()
        try:
            return call(timeout)
        except Unreachable:
            if timeout < self.options.request_timeout and self.remaining() <= timeout:
                raise Cancelled(self.phase) from None
            raise

    # --- API shorthands, bounded by the check's deadline -------------------------------------------------
    def get(self, path: str) -> Optional[dict]:
        return self._bounded(lambda timeout: self.client.get_or_none(path, timeout=timeout, deadline=self.deadline))

    def list(self, path: str, selector: Optional[str] = None) -> list[dict]:
        return self._bounded(lambda timeout: self.client.list(path, selector, timeout=timeout, deadline=self.deadline))

    def text(self, path: str, query: Optional[dict] = None) -> str:
        return self._bounded(lambda timeout: self.client.text(path, query, timeout=timeout, deadline=self.deadline))

    def create(self, api_version: str, plural: str, namespace: Optional[str], body: dict) -> dict:
        """Create an object labelled with this run's id (recorded first, so a create that times out on the way
        is still cleaned up)."""
        self.check_cancelled()
        meta = body.setdefault("metadata", {})
        meta.setdefault("labels", {}).update(self.labels)
        template = (body.get("spec") or {}).get("template")
        if isinstance(template, dict):  # a Job's pods carry the label too
            template.setdefault("metadata", {}).setdefault("labels", {}).update(self.labels)
        self.ledger.record(api_version, plural, namespace, meta["name"])
        try:
            return self._bounded(lambda timeout: self.client.create(api_path(api_version, plural, namespace), body, timeout=timeout, deadline=self.deadline))
        except KubeError as exc:
            if exc.status != 409:
                raise
            # A create retried after a 5xx may have landed the first time: ours (this run's label) is fine.
            existing = self.get(api_path(api_version, plural, namespace, meta["name"]))
            if ((existing or {}).get("metadata") or {}).get("labels", {}).get(VERIFY_LABEL) == self.run_id:
                return existing
            raise

    def delete(self, api_version: str, plural: str, namespace: Optional[str], name: str) -> None:
        """Delete something this run made as soon as it has served (a probe holding borrowed quota); cleanup still
        waits until it is gone."""
        self._bounded(lambda timeout: self.client.delete(api_path(api_version, plural, namespace, name), timeout=timeout, deadline=self.deadline))

    def pool_budget(self, pools_left: int) -> float:
        """Seconds the next pool may take: `pool_timeout`, and at most an even share of what is left for the pools
        still to check (one slow pool does not starve the rest)."""
        return max(0.0, min(self.options.pool_timeout, self.remaining() / max(1, pools_left)))

    def queue_for_probes(self) -> tuple[str, Optional[str], Optional[str]]:
        """(namespace, LocalQueue, WorkloadPriorityClass) for probes and the NCCL job: verify's own namespace and
        queue when the stack made them (addons.verify), otherwise a namespace of this run's making, unqueued (Kueue
        manages only labelled jobs): never a team's queue, whose quota they would take."""
        runner = self.targets.runner
        if runner is not None:
            return runner.namespace, runner.queue, runner.priority_class
        return self.verify_namespace(), None, None

    def verify_namespace(self) -> str:
        """verify's namespace: the stack's (addons.verify), or this run's own (crucible-verify-<run id>), created on
        first use and deleted at the end."""
        if self.targets.runner is not None:
            return self.targets.runner.namespace
        name = dns_name("crucible-verify", self.run_id)
        with self.ledger.lock:
            exists = name in self.ledger.own_namespaces
        if not exists:
            self.create("v1", "namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            with self.ledger.lock:
                self.ledger.own_namespaces.add(name)
        return name


def tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def condition(obj: Optional[dict], kind: str) -> Optional[dict]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None
