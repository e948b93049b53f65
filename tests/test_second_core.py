"""The CLI's second core (stacks/tools/second_core.py): calls run in a forked worker and come back as they were
computed; a worker that fails or dies leaves the caller to compute itself; a plan judged with one is the plan judged
without (the reach analysis is the call it takes)."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from stacks.tools import second_core

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or second_core._cores() < 2, reason="not Linux, or one core: the CLI runs without a worker"
)


def _started(**kwargs):
    return second_core.started(single_threaded_only=False, **kwargs)  # the suite's own threads take no lock here


def test_a_call_runs_in_another_process_and_its_value_comes_back():
    with _started() as worker:
        assert second_core.current() is worker
        first, second = worker.submit(os.getpid), worker.submit(divmod, 17, 5)  # sent before the first is answered
        assert first.result() != os.getpid()
        assert second.result() == (3, 2)
    assert second_core.current() is None


def test_warm_up_runs_in_the_worker_before_the_calls():
    with _started(warm=[f"{__name__}:_remember_warm"]) as worker:
        assert worker.submit(_warmed_in_this_process).result() is True
    assert _warmed_in_this_process() is False  # the warm-up ran there, not here


_WARM: list[int] = []


def _remember_warm() -> None:
    _WARM.append(os.getpid())


def _warmed_in_this_process() -> bool:
    return os.getpid() in _WARM


def test_a_call_that_raises_comes_back_as_lost_with_its_traceback_and_the_worker_serves_on():
    with _started() as worker:
        failed = worker.submit(int, "not a number")
        with pytest.raises(second_core.WorkerLost, match="ValueError: invalid literal"):
            failed.result()
        assert worker.submit(abs, -4).result() == 4


def test_a_worker_that_dies_fails_the_pending_call_and_every_later_one():
    with _started() as worker:
        with pytest.raises(second_core.WorkerLost, match="ended before replying"):
            worker.submit(os._exit, 3).result()
        with pytest.raises(second_core.WorkerLost):
            worker.submit(abs, -1).result()


def test_arguments_that_do_not_pickle_fail_the_call_here():
    with _started() as worker:
        with pytest.raises(second_core.WorkerLost, match="cannot be sent"):
            worker.submit(len, threading.Lock()).result()


def test_no_worker_when_switched_off_or_beside_running_threads(monkeypatch):
    monkeypatch.setenv(second_core.SWITCH, "off")
    with _started() as worker:
        assert worker is None and second_core.current() is None
    monkeypatch.delenv(second_core.SWITCH)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        with second_core.started() as worker:  # the CLI's rule: fork only a single-threaded process
            assert worker is None
    finally:
        stop.set()


def test_a_fork_that_fails_leaves_one_process_to_compute(monkeypatch):
    def refused():
        raise BlockingIOError(11, "Resource temporarily unavailable")  # EAGAIN: pids.max or RLIMIT_NPROC reached

    opened_before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", refused)
    with _started() as worker:
        assert worker is None and second_core.current() is None
    assert len(os.listdir("/proc/self/fd")) == opened_before  # the pipes are closed again


def test_a_worker_that_dies_while_a_call_is_still_being_sent_is_reaped():
    # the worker ends (second call) while the third, too big for the pipe, is being written: every call fails here
    with _started() as worker:
        pid = worker.pid
        pending = [worker.submit(time.sleep, 0.3), worker.submit(os._exit, 3), worker.submit(len, b"x" * (50 << 20))]
        assert pending[0].result(timeout=60) is None
        for call in pending[1:]:
            with pytest.raises(second_core.WorkerLost):
                call.result(timeout=60)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_worker_stopped_mid_call_unwinds_and_removes_its_temporary_files(tmp_path):
    marker = tmp_path / "made"
    with _started() as worker:
        worker.submit(_hold_a_temporary_directory, str(marker))
        for _ in range(600):  # until the call has made its directory
            if marker.exists() and marker.read_text():
                break
            time.sleep(0.05)
        made = Path(marker.read_text())
        assert made.is_dir()
    # the block ended with the call still running: the worker got SIGTERM, unwound and was reaped
    assert not made.exists()


def _hold_a_temporary_directory(marker: str) -> None:
    with tempfile.TemporaryDirectory(prefix="crucible-second-core-test-") as held:
        Path(marker).write_text(held)
        time.sleep(120)


def test_a_call_without_a_reply_in_time_stops_the_worker():
    with _started() as worker:
        with pytest.raises(second_core.WorkerLost, match="no reply within"):
            worker.submit(time.sleep, 120).result(timeout=0.5)
        with pytest.raises(second_core.WorkerLost):
            worker.submit(abs, -1).result(timeout=60)  # stopped: later calls fail too, and are computed by the caller


def test_the_worker_writes_nothing_to_the_commands_output(capfd):
    with _started() as worker:
        worker.submit(print, "from the worker").result(timeout=60)
        worker.submit(os.write, 2, b"to stderr\n").result(timeout=60)
    out, err = capfd.readouterr()
    assert "from the worker" not in out and "to stderr" not in err


def test_a_worker_ends_with_a_command_killed_outright(tmp_path):
    marker = tmp_path / "in-the-call"
    script = (
        "import os, sys, time\n"
        "from stacks.tools import second_core\n"
        "def hold(marker):\n"
        "    open(marker + '.tmp', 'w').write(str(os.getpid()))\n"
        "    os.rename(marker + '.tmp', marker)\n"
        "    time.sleep(120)\n"
        "with second_core.started() as worker:\n"
        "    worker.submit(hold, sys.argv[1])\n"
        "    time.sleep(120)\n"
    )
    command = subprocess.Popen([sys.executable, "-c", script, str(marker)], cwd=REPO)
    try:
        for _ in range(600):  # until the worker is in the call
            if marker.exists():
                break
            time.sleep(0.05)
        pid = int(marker.read_text())
        command.kill()  # SIGKILL: no exit handler, no close(); the worker is still computing
        command.wait(timeout=30)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"worker {pid} outlived its command")
    finally:
        command.kill()


def test_a_stopped_worker_is_reaped():
    with _started() as worker:
        pid = worker.pid
        worker.submit(abs, 1).result()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already waited for: no zombie left


def test_a_plan_judged_with_a_second_core_is_the_plan_judged_on_one(monkeypatch):
    pytest.importorskip("nca", reason="network-config-analyzer (test extra) is not installed")
    from helpers import shipped_plan, shipped_report
    from stacks.tools.plan import reaches
    from stacks.tools.plan.report import build_report

    document, lines = shipped_report("dev")
    reaches.forget_analyses()  # analysed anew, not taken from the one kept for the document above
    sent = []
    with _started(warm=["stacks.tools.plan.reaches:load_analyzer"]) as worker:
        real = worker.submit
        monkeypatch.setattr(worker, "submit", lambda function, *args: sent.append(function) or real(function, *args))
        again, again_lines = build_report(dataclasses.replace(copy.copy(shipped_plan("dev"))))
    assert sent == [reaches.flow_results]
    assert tuple(again_lines) == lines
    assert json.dumps(again, sort_keys=True, default=str) == json.dumps(document, sort_keys=True, default=str)


def test_the_cli_hands_the_reach_analysis_to_its_worker(tmp_path):
    """In a fresh `crucible` process (here `check` of a saved plan: the same main(), no program to run), the analysis
    comes back from another process (its Analysis has no Network)."""
    pytest.importorskip("nca", reason="network-config-analyzer (test extra) is not installed")
    from helpers import shipped_report

    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps(shipped_report("dev")[0], default=str))
    probe = (
        "import sys\n"
        "from stacks.tools.plan import reaches\n"
        "real = reaches.analyse\n"
        "def analyse(ctx):\n"
        "    found = real(ctx)\n"
        "    print('analysed here' if found.network is not None else 'analysed by the worker', file=sys.stderr)\n"
        "    return found\n"
        "reaches.analyse = analyse\n"
        "from stacks.tools import cli\n"
        "sys.exit(cli.main(['check', sys.argv[1]]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != second_core.SWITCH}
    done = subprocess.run([sys.executable, "-c", probe, str(saved)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    said = set(done.stderr.splitlines()) & {"analysed here", "analysed by the worker"}
    assert said == {"analysed by the worker"}, done.stderr


def test_a_forked_call_sees_this_memory_and_its_value_comes_back_once_it_is_reaped():
    shared = {"made here": list(range(5))}  # not pickled: the fork reads it in its copy of this process's memory
    helper = second_core.forked(sum, shared["made here"])
    assert helper is not None and helper.result() == 10
    with pytest.raises(ChildProcessError):
        os.waitpid(helper.pid, os.WNOHANG)
    failing = second_core.forked(int, "not a number")
    with pytest.raises(second_core.WorkerLost, match="ValueError"):
        failing.result()
    dying = second_core.forked(os._exit, 3)
    with pytest.raises(second_core.WorkerLost, match="without a reply"):
        dying.result()
