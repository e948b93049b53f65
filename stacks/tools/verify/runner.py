"""Run the checks with a per-check timeout and a global deadline, and always clean up.

Each check runs in a worker thread with its own Context (deadline = now + min(per-check timeout, time left)).
When it overruns, its cancel event is set (its next poll or request raises Cancelled), a `timeout` row records
what it was doing, and the run goes on. Whatever happens (a failure, a timeout, an exception, Ctrl-C), the
`finally` closes the ledger (late creates are refused), deletes every object the run created, sweeps the
namespaces it touched for anything labelled crucible.io/verify=<run id> of the kinds it created there (a create
that timed out on the way may still have landed; a Job's or MPIJob's pods too), deletes the run's own namespace,
and waits, within the cleanup budget, until every deleted object is gone: an object with finalizers stays
Terminating until its controllers are done, and one still there at the end is reported (with its finalizers) so
"cleanup ok" means nothing is left.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from stacks.tools.verify import VERIFY_LABEL
from stacks.tools.verify.checks import CHECKS
from stacks.tools.verify.checks.base import FAIL, OK_STATUSES, TIMEOUT, Cancelled, Context, Ledger, Options, Row, new_run_id
from stacks.tools.verify.kube import KubeClient, KubeError, Unreachable, api_path
from stacks.tools.verify.targets import VerifyTargets

# What the label sweep looks for in a touched namespace, in this order (pods last), only the kinds the run created
# there: what its RBAC allows (addons/verify.py). A Job's or MPIJob's pods go with it (background propagation,
# cleanPodPolicy All).
SWEPT = (("kubeflow.org/v2beta1", "mpijobs"), ("batch/v1", "jobs"), ("v1", "pods"))


@dataclass
class Cleanup:
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict:
        return {"ok": self.ok, "deleted": self.deleted, "errors": self.errors}


@dataclass
class VerifyResult:
    run_id: str
    rows: list[Row]
    cleanup: Cleanup
    elapsed: float
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        return all(r.status in OK_STATUSES for r in self.rows) and self.cleanup.ok and not self.interrupted


def _run_one(name: str, check: Callable[[Context], None], ctx: Context, budget: float) -> list[Row]:
    cancelled = threading.Event()

    def work():
        try:
            check(ctx)
        except Cancelled:
            cancelled.set()
        except (KubeError, Unreachable) as exc:
            ctx.emit(Row(name, "-", FAIL, detail=f"while {ctx.phase}: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a broken check is a failed check, not a crashed run
            ctx.emit(Row(name, "-", FAIL, detail=f"while {ctx.phase}: {type(exc).__name__}: {exc}"))

    worker = threading.Thread(target=work, name=f"verify-{name}", daemon=True)
    started = time.monotonic()
    worker.start()
    overran = False
    try:
        while worker.is_alive() and time.monotonic() - started < budget:
            worker.join(min(0.1, max(budget - (time.monotonic() - started), 0.001)))  # short slices: Ctrl-C lands at once
        overran = worker.is_alive()
    finally:
        if worker.is_alive():
            ctx.cancel.set()
            worker.join(ctx.options.request_timeout + 1)
    rows = list(ctx.rows)
    if overran or cancelled.is_set():
        rows.append(Row(name, ctx.target, TIMEOUT, detail=f"timed out after {budget:g}s while {ctx.phase}"))
    return rows


def cleanup(client: KubeClient, ledger: Ledger, options: Options) -> Cleanup:
    ledger.close()
    report = Cleanup()
    end = time.monotonic() + options.cleanup_timeout
    timeout = options.request_timeout

    pending: dict[str, str] = {}  # where -> path: deleted, maybe still Terminating

    def delete(api_version: str, plural: str, namespace: Optional[str], name: str) -> None:
        where = f"{plural}/{namespace + '/' if namespace else ''}{name}"
        if time.monotonic() > end:
            report.errors.append(f"{where}: cleanup budget ({options.cleanup_timeout:g}s) spent; delete it by hand (label {VERIFY_LABEL}={ledger.run_id})")
            return
        path = api_path(api_version, plural, namespace, name)
        try:
            client.delete(path, timeout=timeout, deadline=end)
            if where not in report.deleted:
                report.deleted.append(where)
            pending[where] = path
        except (KubeError, Unreachable) as exc:
            if not (isinstance(exc, KubeError) and exc.status == 404):
                report.errors.append(f"{where}: {exc}")

    # Namespaces this run asked for (recorded before the request: one whose create timed out may exist).
    own = {name for _, plural, _, name in ledger.created if plural == "namespaces"}
    for api_version, plural, namespace, name in reversed(ledger.created):
        if plural != "namespaces":
            delete(api_version, plural, namespace, name)
    created_in: dict[str, set[str]] = {}
    for _, plural, namespace, _ in ledger.created:
        if namespace:
            created_in.setdefault(namespace, set()).add(plural)
    for namespace in sorted(ledger.namespaces - own):
        kinds = created_in.get(namespace, set())
        for api_version, plural in SWEPT:
            if plural not in kinds:
                continue
            if time.monotonic() > end:
                break
            try:
                leftovers = client.list(api_path(api_version, plural, namespace), f"{VERIFY_LABEL}={ledger.run_id}", timeout=timeout, deadline=end)
            except KubeError as exc:
                if exc.status != 404:  # 404: the kind is not served (no MPI operator)
                    report.errors.append(f"sweep {plural} in {namespace}: {exc}")
                continue
            except Unreachable as exc:
                report.errors.append(f"sweep {plural} in {namespace}: {exc}")
                continue
            for item in leftovers:
                delete(api_version, plural, namespace, item["metadata"]["name"])
    for namespace in sorted(own):  # takes whatever is left inside
        delete("v1", "namespaces", None, namespace)
    _wait_gone(client, pending, report, end, options, ledger.run_id)
    return report


def _wait_gone(client: KubeClient, pending: dict[str, str], report: Cleanup, end: float, options: Options, run_id: str) -> None:
    """Poll what was deleted until each is gone (404); report what is still Terminating when the budget ends."""
    left = dict(pending)
    last: dict[str, dict] = {}
    while left:
        for where, path in list(left.items()):
            try:
                obj = client.get_or_none(path, timeout=options.request_timeout, deadline=end)
            except (KubeError, Unreachable) as exc:
                report.errors.append(f"{where}: while waiting for its deletion: {exc}")
                del left[where]
                continue
            if obj is None:
                del left[where]
            else:
                last[where] = obj
        if not left or time.monotonic() + options.poll_interval > end:
            break
        time.sleep(min(options.poll_interval, 1.0))
    for where in left:
        finalizers = ((last.get(where) or {}).get("metadata") or {}).get("finalizers") or []
        report.errors.append(
            f"{where}: still Terminating after the cleanup budget ({options.cleanup_timeout:g}s)"
            + (f", waiting on finalizers {', '.join(finalizers)}" if finalizers else "")
            + f" (label {VERIFY_LABEL}={run_id})"
        )


def run_verify(
    client: KubeClient, targets: VerifyTargets, options: Options, only: Optional[Sequence[str]] = None, checks: Optional[dict] = None
) -> VerifyResult:
    """Run the checks (all, or `only` these) and clean up. Ctrl-C stops the run (result.interrupted) after cleanup;
    a second Ctrl-C during cleanup abandons it."""
    checks = checks or CHECKS
    names = [n for n in checks if not only or n in only]
    ledger = Ledger(options.run_id or new_run_id())
    started = time.monotonic()
    deadline = started + options.deadline
    rows: list[Row] = []
    current: Optional[Context] = None
    interrupted = False
    try:
        for name in names:
            left = deadline - time.monotonic()
            if left <= 0:
                rows.append(Row(name, "-", TIMEOUT, detail=f"not run: the global deadline ({options.deadline:g}s) passed"))
                continue
            budget = min(options.check_timeout, left)
            current = Context(client=client, targets=targets, options=options, ledger=ledger, check=name, deadline=time.monotonic() + budget)
            rows.extend(_run_one(name, checks[name], current, budget))
            current = None
    except KeyboardInterrupt:
        interrupted = True
        rows.extend(current.rows if current is not None else [])
        rows.append(Row(current.check if current else "verify", "-", FAIL, detail=f"interrupted (Ctrl-C) while {current.phase if current else 'starting'}"))
    finally:
        if current is not None:
            current.cancel.set()
        report = cleanup(client, ledger, options)
    return VerifyResult(ledger.run_id, rows, report, time.monotonic() - started, interrupted)
