import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)


def pytest_configure(config):
    from stacks.tools import gc_tuning

    gc_tuning.for_one_run()


def pytest_runtest_teardown(item, nextitem):
    # Each test's leftovers are collected once, and what survives (the session's shared plans) is never walked again:
    # the collector's passes over the session's heap were half the time of a test that plans (stacks/tools/gc_tuning.py).
    from stacks.tools import gc_tuning

    gc_tuning.settle()
