"""The cyclic collector per kind of process (stacks/tools/gc_tuning.py): off for a command that plans once and
exits, on (with raised thresholds) for `crucible verify`, which lives on while it polls a cluster."""

import gc

import pytest

from stacks.tools import cli, gc_tuning


@pytest.fixture
def collector_restored():
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def test_a_plan_runs_without_automatic_collection(collector_restored, monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "cmd_plan", lambda args: seen.append(gc.isenabled()) or 0)
    gc.enable()
    assert cli.main(["plan", "dev"]) == 0
    assert seen == [False]


def test_verify_keeps_the_collector_on_with_raised_thresholds(collector_restored, monkeypatch):
    from stacks.tools.verify import command

    seen = []
    monkeypatch.setattr(command, "run", lambda args, plan_document: seen.append((gc.isenabled(), gc.get_threshold())) or 0)
    gc.disable()
    assert cli.main(["verify", "dev"]) == 0
    assert seen == [(True, gc_tuning.THRESHOLDS)]


def test_settle_collects_a_cycle_the_last_test_left(collector_restored):
    gc.disable()
    gc.collect()

    class Node:
        pass

    import weakref

    ring = [Node() for _ in range(gc_tuning.SETTLE_AFTER)]
    for a, b in zip(ring, ring[1:] + ring[:1]):
        a.next = b
    probe = weakref.ref(ring[0])
    del ring, a, b
    assert probe() is not None  # a cycle: reference counting alone never frees it
    gc_tuning.settle()
    assert probe() is None
