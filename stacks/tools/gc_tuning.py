"""Python's cyclic garbage collector, set for how the CLI and the test suite allocate.

A plan builds hundreds of thousands of small containers (the Pulumi SDK's Outputs, futures and asyncio tasks, the
rendered charts' objects) and keeps most of them to the end; almost nothing it drops is part of a cycle, so
reference counting frees it as it goes. What the cyclic collector adds is only its passes over the heap. With
CPython's default thresholds (700, 10, 10) it ran 2,445 times in a 9.9 s `crucible plan prod` (2.6 s); with raised
thresholds, 39 times, still 0.3 s. Switched off, the prod plan's peak memory grows by under 5% (about 285 MB either
way) and a 10x plan's (40 pools, 30 teams) by 8% (924 MB against 858 MB), while the 10x plan takes 28 s instead of 36.

    for_one_run()   a process that plans (or diffs, checks, generates examples) once and exits: no automatic
                    collection at all; the process ends before what cycles it leaves would matter
    for_long_run()  a process that lives on (`crucible verify` polls a cluster for many minutes): raised thresholds,
                    so the collector runs rarely but still runs
    settle()        between two tests (the suite runs with automatic collection off, as one plan does): collect what
                    the last test left, then exclude the survivors (the session's shared plans, modules) from every
                    later collection (gc.freeze), so each collection walks only what the running test made
"""

from __future__ import annotations

import gc

# For a process that lives on: a young collection after 50,000 net container allocations instead of 700; the oldest
# generation after 1,000 of the middle one instead of 10 (CPython also skips it until a quarter of the tracked objects
# are new).
THRESHOLDS = (50_000, 50, 1_000)


def for_one_run() -> None:
    gc.disable()


def for_long_run() -> None:
    gc.enable()
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """Collect and freeze, unless the test made little: fewer than SETTLE_AFTER containers are new since the last
    settle and no collection ran meanwhile (a pass over them would cost more than it saves)."""
    young, middle, old = gc.get_count()
    if young < SETTLE_AFTER and not middle and not old:
        return
    gc.collect()
    gc.freeze()


SETTLE_AFTER = 10_000
