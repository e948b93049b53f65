"""Python's cyclic garbage collector, set for how the CLI and the test suite allocate.

A plan builds hundreds of thousands of small containers (the Pulumi SDK's Outputs, futures and asyncio tasks, the
rendered charts' objects) and keeps most of them to the end. With CPython's default thresholds (700, 10, 10) the
collector runs thousands of times per plan, each older-generation pass walking everything still alive: measured on
`crucible plan prod`, 2,445 collections took 2.6 s of a 9.9 s run; with the thresholds below, 150 took 0.4 s. Nothing
else changes: reference counting frees what it always freed, and the collections that still run find the same
cycles, later.

    for_one_run()  the CLI: a process that plans once and exits
    settle()       between two tests: collect what the last one left, then exclude the survivors (the session's
                   shared plans, modules) from every later collection (gc.freeze), so each collection walks only
                   what the running test made
"""

from __future__ import annotations

import gc

# A young collection after 50,000 net container allocations instead of 700; the oldest generation after 1,000 of
# the middle one instead of 10 (CPython also skips it until a quarter of the tracked objects are new).
THRESHOLDS = (50_000, 50, 1_000)


def for_one_run() -> None:
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """Collect and freeze, unless the test made little: no automatic collection ran since the last settle and fewer
    than SETTLE_AFTER containers are new (a pass over them would cost more than it saves)."""
    young, middle, old = gc.get_count()
    if young < SETTLE_AFTER and not middle and not old:
        return
    gc.collect()
    gc.freeze()


SETTLE_AFTER = 10_000
