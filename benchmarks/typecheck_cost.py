"""Print what the type check costs: mypy as tests/test_types.py runs it ([tool.mypy] in pyproject.toml), from a cold
cache as CI's fresh clone runs it, then again from the cache it wrote (figures, not a test).

    python benchmarks/typecheck_cost.py

Prints wall time, CPU time and peak memory of each run. The cold run is the one CI pays; a call mypy cannot match
against a `pulumi_kubernetes` resource's overloads is what makes it expensive (see `components.manifests.as_api`).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_mypy(cache: Path) -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak MiB, exit code) of one mypy run in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), "--no-error-summary"], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of children is the largest child so far (KiB on Linux): the cold run is the first and the largest.
    return wall, cpu, after.ru_maxrss / 1024, done.returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="crucible-mypy-") as tmp:
        cache = Path(tmp) / "cache"
        for label in ("cold cache (CI)", "warm cache"):
            wall, cpu, peak, code = run_mypy(cache)
            print(f"mypy, {label:16}: {wall:7.1f} s wall  {cpu:7.1f} s cpu  peak {peak:8.0f} MiB  exit {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
