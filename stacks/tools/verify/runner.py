"""Run the checks with a per-check timeout and a global deadline, and always clean up.

Each check runs in a worker thread with its own Context (deadline = now + min(per-check timeout, time left)).
When it overruns, its cancel event is set (its next poll or request raises Cancelled), a `timeout` row records
what it was doing, and the run goes on. Whatever happens (a failure, a timeout, an exception, Ctrl-C), the
`finally` closes the ledger (late creates are refused), deletes every object the run created, sweeps the
namespaces it touched for anything labelled crucible.io/verify=<run id> (a create that timed out on the way may
still have landed), and deletes the run's own namespace.
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

# What the label sweep looks for in each touched namespace (pods last: a Job's deletion takes its pods).
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

    def delete(api_version: str, plural: str, namespace: Optional[str], name: str) -> None:
        where = f"{plural}/{namespace + '/' if namespace else ''}{name}"
        if time.monotonic() > end:
            report.errors.append(f"{where}: cleanup budget ({options.cleanup_timeout:g}s) spent; delete it by hand (label {VERIFY_LABEL}={ledger.run_id})")
            return
        try:
            client.delete(api_path(api_version, plural, namespace, name), timeout=timeout)
            if where not in report.deleted:
                report.deleted.append(where)
        except (KubeError, Unreachable) as exc:
            if not (isinstance(exc, KubeError) and exc.status == 404):
                report.errors.append(f"{where}: {exc}")

    # Namespaces this run asked for (recorded before the request: one whose create timed out may exist).
    own = {name for _, plural, _, name in ledger.created if plural == "namespaces"}
    for api_version, plural, namespace, name in reversed(ledger.created):
        if plural != "namespaces":
            delete(api_version, plural, namespace, name)
    for namespace in sorted(ledger.namespaces - own):
        for api_version, plural in SWEPT:
            if time.monotonic() > end:
                break
            try:
                leftovers = client.list(api_path(api_version, plural, namespace), f"{VERIFY_LABEL}={ledger.run_id}", timeout=timeout)
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
    return report


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
