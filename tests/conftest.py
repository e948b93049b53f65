import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)


def pytest_configure(config):
    import os
    import tempfile

    from stacks.tools import gc_tuning

    gc_tuning.for_one_run()
    if not hasattr(config, "workerinput") and not os.environ.get("CRUCIBLE_TEST_SHARE"):
        # The controller, before it starts the pytest-xdist workers (they inherit the environment): a directory for
        # what the workers compute once for all (helpers.shared_between_workers), removed when the session ends.
        os.environ["CRUCIBLE_TEST_SHARE"] = tempfile.mkdtemp(prefix="crucible-tests-")
        config._crucible_share = os.environ["CRUCIBLE_TEST_SHARE"]
        # Helm renders are stored for this session only (stacks/tools/plan/helm.py render_store): the workers share
        # them, and no test reads a render an earlier session stored.
        os.environ.setdefault("CRUCIBLE_RENDER_CACHE", os.path.join(os.environ["CRUCIBLE_TEST_SHARE"], "renders"))


def pytest_unconfigure(config):
    import shutil

    folder = getattr(config, "_crucible_share", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_runtest_teardown(item, nextitem):
    # The suite runs with automatic collection off, as a plan does: each test's leftover cycles are collected here, once,
    # and what survives (the session's shared plans) is never walked again (stacks/tools/gc_tuning.py).
    from stacks.tools import gc_tuning

    gc_tuning.settle()
