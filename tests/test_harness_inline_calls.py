"""The harness runs the mock monitor's calls on the program's event-loop thread (stacks/tools/harness.py
InlineExecutor): no thread hand-off per registration, and the answers are those of the SDK's own MockMonitor."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from helpers import plan
from stacks.tools import harness


def test_every_mock_call_of_a_run_is_answered_on_the_program_thread(monkeypatch):
    threads = set()
    new_resource, call = harness.CrucibleMocks.new_resource, harness.CrucibleMocks.call

    def recording_new(self, args):
        threads.add(threading.current_thread().name)
        return new_resource(self, args)

    def recording_call(self, args):
        threads.add(threading.current_thread().name)
        return call(self, args)

    monkeypatch.setattr(harness.CrucibleMocks, "new_resource", recording_new)
    monkeypatch.setattr(harness.CrucibleMocks, "call", recording_call)
    run = plan("dev")
    assert run.resources and threads == {threading.current_thread().name}


def test_the_answers_are_those_of_the_sdks_mock_monitor(monkeypatch):
    """The same run through the SDK's MockMonitor methods (on the SDK's executor threads) registers the same
    resources with the same inputs, outputs and options."""
    inline = plan("dev")
    for name in ("RegisterResource", "ReadResource", "Invoke"):
        monkeypatch.delattr(harness.CapturingMonitor, name)
    captured = {}
    register = pulumi_mocks.MockMonitor.RegisterResource

    def through_the_sdk(self, request):  # the SDK's method, the captured record rebuilt from its registration
        response = register(self, request)
        if request.type != "pulumi:pulumi:Stack":
            captured[response.urn] = (
                harness.to_plain(pulumi.runtime.rpc.deserialize_properties(request.object)),
                harness.to_plain(self.resources[response.urn].state),
            )
        return response

    monkeypatch.setattr(harness.CapturingMonitor, "RegisterResource", through_the_sdk)
    monkeypatch.setattr(harness, "_inline_calls", contextlib.nullcontext)
    plan("dev")
    registered = {r.urn: (r.inputs, r.outputs) for r in inline.resources if r.custom or r.type.startswith("crucible:")}
    assert {urn: captured[urn] for urn in registered} == registered


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _run(coroutine):
    """Run on a loop of its own, leaving the thread's event loop (the one the harness runs programs on) in place:
    asyncio.run would unset it."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_a_call_that_would_wait_goes_to_a_thread():
    executor = harness.InlineExecutor(max_workers=1)

    async def main():
        loop = asyncio.get_running_loop()
        pending = loop.create_future()
        seen = []

        def rpc():
            seen.append(threading.current_thread().name)

            async def waits():
                return await pending if _running_loop() is loop else "answered on a thread"

            return harness.settled(waits())

        answer = await loop.run_in_executor(executor, rpc)
        pending.cancel()
        return answer, seen

    answer, seen = _run(main())
    executor.shutdown()
    assert answer == "answered on a thread"
    assert seen[0] == threading.current_thread().name and seen[1] != seen[0]  # tried inline first, then on a thread


def test_a_call_that_raises_raises_to_its_caller():
    executor = harness.InlineExecutor(max_workers=1)

    def rpc():
        raise LookupError("no such stack output")

    async def main():
        return await asyncio.get_running_loop().run_in_executor(executor, rpc)

    with pytest.raises(LookupError, match="no such stack output"):
        _run(main())
