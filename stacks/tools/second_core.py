"""A forked copy of the CLI's process that computes for it on the machine's other core.

A plan is one Python process: the program registers its resources, then the report judges them. The costliest
judgement that needs nothing but plain data, the reach analysis (stacks/tools/plan/reaches.py: network-config-analyzer
over every NetworkPolicy, then each flow of the table), can run beside the rest of the report (the policy pack, the
other workload checks) instead of after it. This module gives it a process to run in:

    with second_core.started(warm=["stacks.tools.plan.reaches:load_analyzer"]):
        ...                                     # the CLI command; somewhere below it:
        pending = second_core.current().submit(function, *args)
        ...                                     # other work, on this core
        value = pending.result()                # the function's value, computed on the other

The worker is forked when the command starts, while the process is still single-threaded (a fork of a process with
threads can inherit a lock another thread holds; if threads already run, no worker is started), and runs ``warm``
first — imports the later calls need (network-config-analyzer's takes a fifth of a second) — while this process runs
the program. Calls are module-level functions and their arguments, pickled; they run one at a time, in order. A
worker that cannot be had (no fork on this platform, one core, ``CRUCIBLE_SECOND_CORE=off``) or that dies is not an
error: ``current()`` is None, or ``result()`` raises :class:`WorkerLost`, and the caller computes in its own process.
The results cannot depend on where they were computed: the functions are pure over their arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import queue
import signal
import struct
import sys
import threading
import traceback
from concurrent.futures import Future
from typing import Any, Callable, Iterator, Optional, Sequence

SWITCH = "CRUCIBLE_SECOND_CORE"  # "off": every call computes in the calling process
_HEADER = struct.Struct("!Q")  # each message: its length, then a pickle


class WorkerLost(RuntimeError):
    """The worker died or could not be reached; compute in this process."""


class Pending:
    """The value of one call, once the worker has computed it."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def result(self) -> Any:
        """The call's value; the call's exception if it raised (as WorkerLost, with its traceback in the message)."""
        return self._future.result()


class Worker:
    """The forked process and the two pipes to it (requests in, replies out), with a thread each way here so that
    submitting never waits for the worker to be done with an earlier call."""

    def __init__(self, pid: int, requests: int, replies: int) -> None:
        self.pid = pid
        self._requests = os.fdopen(requests, "wb")
        self._replies = os.fdopen(replies, "rb")
        self._waiting: "queue.SimpleQueue[Future]" = queue.SimpleQueue()  # the futures of calls sent, in order
        self._outgoing: "queue.SimpleQueue[Optional[bytes]]" = queue.SimpleQueue()
        self._lost: Optional[str] = None
        self._lock = threading.Lock()
        self._sent: list[Future] = []
        self._sender = threading.Thread(target=self._send, name="second-core-send", daemon=True)
        self._sender.start()
        threading.Thread(target=self._receive, name="second-core-receive", daemon=True).start()

    def submit(self, function: Callable, *args: Any) -> Pending:
        """Run ``function(*args)`` in the worker. ``function`` must be importable by its module and name."""
        future: Future = Future()
        try:
            payload = pickle.dumps((function.__module__, function.__qualname__, args), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # noqa: BLE001 - an argument that does not pickle: the caller computes itself
            future.set_exception(WorkerLost(f"the call's arguments cannot be sent: {error}"))
            return Pending(future)
        with self._lock:
            if self._lost is not None:
                future.set_exception(WorkerLost(self._lost))
                return Pending(future)
            self._waiting.put(future)
            self._sent.append(future)
            self._outgoing.put(payload)
        return Pending(future)

    def _send(self) -> None:
        while (payload := self._outgoing.get()) is not None:
            try:
                self._requests.write(_HEADER.pack(len(payload)) + payload)
                self._requests.flush()
            except OSError as error:
                self._give_up(f"the worker cannot be reached: {error}")
                return
        with contextlib.suppress(OSError):
            self._requests.close()  # the worker reads the end of its requests and exits
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)  # reaped: a long-lived caller (the test suite) leaves no zombie

    def _receive(self) -> None:
        while True:
            message = _read_message(self._replies)
            if message is None:
                self._give_up("the worker ended before replying")
                return
            future = self._waiting.get()
            try:
                ok, value = pickle.loads(message)
            except Exception as error:  # noqa: BLE001 - a reply that does not unpickle: that call is lost
                ok, value = False, f"its reply cannot be read: {error}"
            if ok:
                future.set_result(value)
            else:
                future.set_exception(WorkerLost(f"the call failed in the worker:\n{value}"))

    def _give_up(self, why: str) -> None:
        with self._lock:
            self._lost = why
            while True:
                try:
                    future = self._waiting.get_nowait()
                except queue.Empty:
                    return
                if not future.done():
                    future.set_exception(WorkerLost(why))

    def close(self) -> None:
        """No more calls: the worker is stopped (a call still computing is no longer wanted) and waited for, so that
        its CPU time counts in this process's children's, as Helm's does."""
        self._outgoing.put(None)
        if not all(f.done() for f in self._sent):
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        self._sender.join(timeout=30)


_current: Optional[Worker] = None


def current() -> Optional[Worker]:
    """The worker of this command, or None (none was started, or it could not be)."""
    return _current


@contextlib.contextmanager
def started(warm: Sequence[str] = (), *, single_threaded_only: bool = True) -> Iterator[Optional[Worker]]:
    """Fork the worker for the block (``warm``: "module:function" names it calls first, with no arguments).
    ``single_threaded_only=False`` forks even beside running threads: for tests, whose calls take no lock."""
    global _current
    worker = _fork(warm, single_threaded_only)
    previous, _current = _current, worker
    try:
        yield worker
    finally:
        _current = previous
        if worker is not None:
            worker.close()


def _fork(warm: Sequence[str], single_threaded_only: bool) -> Optional[Worker]:
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "false", "no") or not hasattr(os, "fork"):
        return None
    if (os.cpu_count() or 1) < 2 or (single_threaded_only and threading.active_count() > 1):
        return None  # no other core to use; or threads run, whose locks a fork could copy held
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the worker: serve until the requests end, then leave without running this process's exit handlers
        os.close(request_write)
        os.close(reply_read)
        code = 0
        try:
            _serve(os.fdopen(request_read, "rb"), os.fdopen(reply_write, "wb"), warm)
        except BaseException:  # noqa: BLE001 - interrupted (Ctrl-C reaches the whole process group): end quietly
            code = 1
        os._exit(code)
    os.close(request_read)
    os.close(reply_write)
    return Worker(pid, request_write, reply_read)


def _serve(requests, replies, warm: Sequence[str]) -> None:
    for name in warm:
        with contextlib.suppress(Exception):  # a warm-up that fails leaves the call to fail, with its own error
            _function(name)()
    while (message := _read_message(requests)) is not None:
        try:
            module, qualname, args = pickle.loads(message)
            reply = (True, _function(f"{module}:{qualname}")(*args))
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - sent back: the caller computes in its own process
            payload = pickle.dumps((False, traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
        replies.write(_HEADER.pack(len(payload)) + payload)
        replies.flush()


def _function(name: str) -> Callable:
    module, _, qualname = name.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _read_message(stream) -> Optional[bytes]:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None
