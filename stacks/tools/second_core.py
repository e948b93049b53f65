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
worker that cannot be had (not Linux, one core, no process to fork, ``CRUCIBLE_SECOND_CORE=off``), that dies, or that
gives no reply within the caller's timeout is not an error: ``current()`` is None, or ``result()`` raises
:class:`WorkerLost`, and the caller computes in its own process. A worker stopped mid-call (the command ended or
failed first) gets SIGTERM and unwinds, so its temporary files go with it; it writes nothing to the command's output
(its stdout and stderr are /dev/null) and ends with the command, killed or not (Linux's PR_SET_PDEATHSIG).
The results cannot depend on where they were computed: the functions are pure over their arguments.
"""

from __future__ import annotations

import concurrent.futures
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

    def __init__(self, future: Future, worker: Optional["Worker"] = None) -> None:
        self._future = future
        self._worker = worker

    def result(self, timeout: Optional[float] = None) -> Any:
        """The call's value; WorkerLost if the call raised (its traceback in the message), the worker died, or no
        value came within ``timeout`` seconds (the worker is then stopped: alive but stuck, it would hold the command
        for ever)."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            if self._worker is not None:
                self._worker.stop()
            raise WorkerLost(f"no reply within {timeout:g} s; the worker was stopped") from None


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
        return Pending(future, self)

    def _send(self) -> None:
        try:
            while (payload := self._outgoing.get()) is not None:
                self._requests.write(_HEADER.pack(len(payload)) + payload)
                self._requests.flush()
        except OSError:
            self.stop()  # cannot be reached: stopped, so the receiver reads the end and fails what is pending
        finally:
            with contextlib.suppress(OSError):
                self._requests.close()  # the worker reads the end of its requests and exits
            with contextlib.suppress(OSError):
                os.waitpid(self.pid, 0)  # reaped: a long-lived caller (the test suite) leaves no zombie

    def _receive(self) -> None:
        # The one place futures fail for a lost worker: each reply is matched with its call, in order, until the end.
        while (message := _read_message(self._replies)) is not None:
            future = self._waiting.get()
            try:
                ok, value = pickle.loads(message)
            except Exception as error:  # noqa: BLE001 - a reply that does not unpickle: that call is lost
                ok, value = False, f"its reply cannot be read: {error}"
            if ok:
                future.set_result(value)
            else:
                future.set_exception(WorkerLost(f"the call failed in the worker:\n{value}"))
        with self._lock:
            self._lost = "the worker ended before replying"
            while True:
                try:
                    future = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if not future.done():
                    future.set_exception(WorkerLost(self._lost))

    def stop(self) -> None:
        """End the worker now: SIGTERM, on which it unwinds (its temporary files are removed) and exits; SIGKILL if it
        has not within a few seconds."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGTERM)
        threading.Thread(target=self._kill_later, name="second-core-kill", daemon=True).start()

    def _kill_later(self, grace: float = 5.0) -> None:
        self._sender.join(timeout=grace)  # the sender reaps it once it has exited
        if self._sender.is_alive():
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """No more calls: a worker still computing one is stopped (no longer wanted); the worker is waited for, so that
        its CPU time counts in this process's children's, as Helm's does."""
        self._outgoing.put(None)
        if not all(f.done() for f in self._sent):
            self.stop()
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
    if not sys.platform.startswith("linux"):
        return None  # macOS: a fork without exec is unsafe once system frameworks are loaded (the os.fork docs)
    if _cores() < 2 or (single_threaded_only and _threads() > 1):
        return None  # no other core to use; or threads run, whose locks a fork could copy held
    fds: list[int] = []
    try:
        request_read, request_write = os.pipe()
        fds += [request_read, request_write]
        reply_read, reply_write = os.pipe()
        fds += [reply_read, reply_write]
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
    except OSError:  # no process or descriptor to be had (EAGAIN, ENOMEM, EMFILE): one process computes it all
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        return None
    if pid == 0:  # the worker: serve until the requests end, then leave without running this process's exit handlers
        os.close(request_write)
        os.close(reply_read)
        code = 0
        try:
            _detach(parent)
            signal.signal(signal.SIGTERM, _unwind)
            _serve(os.fdopen(request_read, "rb"), os.fdopen(reply_write, "wb"), warm)
        except BaseException:  # noqa: BLE001 - stopped, or interrupted (Ctrl-C reaches the whole process group)
            code = 1
        os._exit(code)
    os.close(request_read)
    os.close(reply_write)
    return Worker(pid, request_write, reply_read)


class Forked:
    """A call computing in a fork of this process (:func:`forked`); its value once it is done."""

    def __init__(self, pid: int, reply: int) -> None:
        self.pid = pid
        self._reply = os.fdopen(reply, "rb")

    def result(self) -> Any:
        """The call's value (waiting for it); WorkerLost when the fork failed or died."""
        try:
            message = self._reply.read()
        finally:
            self._reply.close()
            with contextlib.suppress(OSError):
                os.waitpid(self.pid, 0)
        try:
            ok, value = pickle.loads(message)
        except Exception as error:  # noqa: BLE001 - nothing or a torn reply: the fork died
            raise WorkerLost(f"the fork ended without a reply ({error})") from None
        if not ok:
            raise WorkerLost(f"the call failed in the fork:\n{value}")
        return value


def forked(function: Callable, *args: Any) -> Optional[Forked]:
    """Run ``function(*args)`` in a fork of this process, which sees this process's memory as it is now (nothing is
    pickled but the value), for the worker to use the other core when the command waits for it. For a process with
    no thread running (the worker); None when no fork can be had."""
    try:
        reply_read, reply_write = os.pipe()
    except OSError:
        return None
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(reply_read)
        os.close(reply_write)
        return None
    if pid == 0:
        os.close(reply_read)
        try:
            _detach(parent)
            signal.signal(signal.SIGTERM, _unwind)
            try:
                payload = pickle.dumps((True, function(*args)), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - sent back: the caller computes it itself
                payload = pickle.dumps((False, traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(reply_write, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(reply_write)
    return Forked(pid, reply_read)


def _detach(parent: int) -> None:
    """The worker's side of the fork: it writes nothing to the command's output (its replies go through the pipe), so
    its stdout and stderr are /dev/null and a caller capturing the command's output is not held open by it; and it
    ends with its parent (Linux's PR_SET_PDEATHSIG: a command killed outright leaves no worker computing on)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the worker's for its life; os._exit ends it
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        raise SystemExit(1)


def _unwind(signum, frame) -> None:
    raise SystemExit(1)  # the call in progress unwinds: its `with` blocks (temporary directories) clean up


def _cores() -> int:
    """The cores this process may run on (its affinity: a container's cpuset), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _threads() -> int:
    """The threads of this process as the kernel counts them (native threads too), else as Python does."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


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
