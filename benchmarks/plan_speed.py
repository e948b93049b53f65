"""Print how long `crucible plan` takes against the floor: Python importing the Pulumi SDKs and loading each SDK
resource class that plan registers (figures, not a test).

    python benchmarks/plan_speed.py [--repeat N]

Runs each measurement in a fresh interpreter (import caches matter), on the largest shipped stack config and, when
the config has pools and teams, on a generated config with 10x of them. Prints, in one run: the floor, the plan,
their ratio (target <= 1.5x), the plan with every release rendered by Helm again (render store off: a first plan),
the program alone run again in one process (registration through the SDK's mocks, classes loaded: floor plus it is
the least a plan can take; taken after the rounds), the 10x plan and its ratio to the plan (target <= 5x). Each
figure is the median wall time of N runs, with the median CPU time (user + system) beside it; the runs are taken in
rounds (floor, plan, cold plan, 10x plan, then again) after one uncounted round, which compiles the bytecode and
fills a render store of the run's own, so that the plans are repeated plans of an installed project and the figures
divided by each other come from the same minutes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


PLAN_TARGET, SCALED_TARGET = 1.5, 5.0

# Runs the plan in-process and prints the SDK resource classes it constructed ("module:Class", one a line).
_CLASSES = """
import sys
import pulumi
seen = set()
register = pulumi.Resource.__init__
def recording(self, *args, **kwargs):
    cls = type(self)
    if cls.__module__.split(".")[0] in ("pulumi", "pulumi_aws", "pulumi_kubernetes"):
        seen.add(cls.__module__ + ":" + cls.__qualname__)
    register(self, *args, **kwargs)
pulumi.Resource.__init__ = recording
from stacks.tools.plan.locate import plan_stack
plan_stack(sys.argv[1])
print("\\n".join(sorted(seen)))
"""

# The floor: import the SDKs, then load each class (its module and, through the SDK's lazy packages, their siblings),
# and leave as `crucible` leaves (stacks/tools/cli.py run: os._exit, no teardown of the heap). A plain exit would add
# the interpreter's teardown of every SDK module loaded, about 0.9 s here, to the floor and none to the plan.
_FLOOR = """
import importlib, os, sys
import pulumi, pulumi_aws, pulumi_kubernetes
for line in sys.argv[1:]:
    module, _, name = line.partition(":")
    getattr(importlib.import_module(module), name)
sys.stdout.flush()
os._exit(0)
"""


# The program alone: the stack planned once in-process (its classes loaded, the spec's caches warm, no Helm, no report),
# then timed planned again the same way, with the collector off as `crucible` runs. Prints the second run's seconds:
# what registering the stack's resources through the Pulumi SDK's mocks takes beyond loading their classes, the part
# of a plan that no change to the report or the checks can take away.
_PROGRAM_ALONE = """
import gc, sys, time
from stacks.tools.plan.locate import plan_stack
gc.disable()
plan_stack(sys.argv[1], early=False)
gc.collect()
start = time.perf_counter()
plan_stack(sys.argv[1], early=False)
print(time.perf_counter() - start)
"""


def program_alone(config: Path, repeat: int) -> float:
    """Median seconds of the stack's program run again in one process (see _PROGRAM_ALONE)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"PYTHONPATH": str(REPO), **ENVIRONMENT})
    found = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", _PROGRAM_ALONE, str(config)], cwd=REPO, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"timing the program of {config.name} failed:\n{done.stderr}")
        found.append(float(done.stdout.split()[-1]))
    return statistics.median(found)


# What every run's interpreter gets: the repository on the path and, as an installed project has, compiled bytecode
# (a temporary PYTHONPYCACHEPREFIX, written by the warm-up round: with PYTHONDONTWRITEBYTECODE set, as on CI's
# machines, the plan would compile its own 200 modules on every run while the floor's SDK modules come compiled).
ENVIRONMENT: dict[str, str] = {}


def _once(command: list[str], extra: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its children's included) of one run of ``command``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"PYTHONPATH": str(REPO), **ENVIRONMENT, **extra})  # extra wins (the cold plan: no render store)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # 1: the plan is complete but breaks a mandatory policy
        raise SystemExit(f"{' '.join(command[:4])} failed (exit {done.returncode}):\n{done.stderr or done.stdout}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def timed(commands: dict[str, tuple[list[str], dict[str, str]]], repeat: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of ``repeat`` runs of each command (with its extra environment), after one round
    not counted (it compiles the bytecode and fills the render store), taken in rounds (each command once per
    round, in turn): this machine's speed drifts by a third over minutes, and figures meant to be divided by each
    other must be taken in the same minutes."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for command, extra in commands.values():
        _once(command, extra)
    for _ in range(repeat):
        for name, (command, extra) in commands.items():
            runs[name].append(_once(command, extra))
    return {name: (statistics.median(w for w, _ in found), statistics.median(c for _, c in found)) for name, found in runs.items()}


def registered_classes(config: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _CLASSES, str(config)], cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0:
        raise SystemExit(f"listing the resource classes of {config.name} failed:\n{done.stderr}")
    return done.stdout.split()


def _line(label: str, figures: tuple[float, float], versus: tuple[float, float] | None = None, what: str = "", target: float | None = None) -> str:
    wall, cpu = figures
    text = f"{label:<48}: {wall:6.2f} s wall, {cpu:6.2f} s CPU"
    if versus is not None:
        ratio_wall, ratio_cpu = wall / versus[0], cpu / versus[1]
        text += f"  ({ratio_wall:.2f}x {what} by wall, {ratio_cpu:.2f}x by CPU"
        if target is not None:
            text += f"; target <= {target:g}x: {'met' if min(ratio_wall, ratio_cpu) <= target else 'NOT met'}"
        text += ")"
    return text


def bound_line(plan: tuple[float, float], floor: tuple[float, float], cores: int | None = None) -> str:
    """What the plan's CPU time allows: spread perfectly over every core, the work it does (its Python and its Helm
    processes) cannot end sooner than CPU / cores. Only doing less work brings the plan under that."""
    cores = cores or os.cpu_count() or 1
    least = plan[1] / cores
    return f"{'  its CPU over ' + str(cores) + ' cores, perfectly parallel':<48}: {least:6.2f} s wall at best ({least / floor[0]:.2f}x the floor)"


def largest_config() -> Path:
    from stacks.tools.plan.locate import plan_stack, shipped_stacks

    sizes = {name: len(plan_stack(name).run.resources) for name in shipped_stacks()}
    name = max(sizes, key=sizes.get)
    return REPO / "stacks" / f"Pulumi.{name}.yaml"


def scaled_config(path: Path, factor: int, out_dir: Path) -> Path | None:
    """The same stack with every pool and team repeated ``factor`` times; None when it has neither.

    Copy i of pool `p` is `p-i`, and copy i of a team shares the pools of copy i as the original shares the
    originals (so each pool's shares still add up to at most 100%, and EFA pools keep one zone). Keys naming
    a pool (the example pool, the hub's default pool) name copy 0."""
    document = yaml.safe_load(path.read_text())
    config = document["config"]
    pools, teams = config.get("crucible:pools") or [], config.get("crucible:teams") or []
    if not pools and not teams:
        return None
    config["crucible:pools"] = [dict(pool, name=f"{pool['name']}-{i}") for i in range(factor) for pool in pools]
    if teams:
        config["crucible:teams"] = [
            dict(team, name=f"{team['name']}-{i}", shares={f"{pool}-{i}": share for pool, share in (team.get("shares") or {}).items()})
            for i in range(factor)
            for team in teams
        ]
        for team in config["crucible:teams"]:
            if not team["shares"]:
                del team["shares"]
            team.pop("bucketPrefixes", None)  # default: <team>/
    for section, key in (("crucible:training", "examples.pool"), ("crucible:addons", "jupyterhub.defaultPool")):
        node = config.get(section) or {}
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.get(parent) or {}
        if node.get(leaf):
            node[leaf] = f"{node[leaf]}-0"
    target = out_dir / f"Pulumi.{path.stem.split('.', 1)[1]}-x{factor}.yaml"
    target.write_text(yaml.safe_dump(document))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    config = largest_config()
    classes = registered_classes(config)
    with tempfile.TemporaryDirectory() as tmp:
        ENVIRONMENT.update(PYTHONPYCACHEPREFIX=str(Path(tmp) / "bytecode"), CRUCIBLE_RENDER_CACHE=str(Path(tmp) / "renders"))
        big = scaled_config(config, 10, Path(tmp))
        plan_command = [python, "-m", "stacks.tools.cli", "plan", str(config)]
        commands = {"floor": ([python, "-c", _FLOOR, *classes], {}), "plan": (plan_command, {}), "cold": (plan_command, {"CRUCIBLE_RENDER_CACHE": "off"})}
        if big is not None:
            commands["scaled"] = ([python, "-m", "stacks.tools.cli", "plan", str(big)], {})
        figures = timed(commands, args.repeat)
        floor, plan = figures["floor"], figures["plan"]
        print(_line(f"floor: SDK import + {len(classes)} resource classes", floor))
        print(_line(f"crucible plan {config.name}", plan, floor, "the floor", PLAN_TARGET))
        print(_line("  the same, every release through Helm", figures["cold"], floor, "the floor"))
        print(bound_line(plan, floor))
        alone = program_alone(config, args.repeat)
        print(
            f"{'  its program alone, classes loaded':<48}: {alone:6.2f} s wall"
            f"  (floor + program: {(floor[0] + alone) / floor[0]:.2f}x the floor, the least a plan through the SDK's mocks takes)"
        )
        if big is None:
            print("10x pools and teams: not measured (the config has no pools or teams yet)")
        else:
            scaled = figures["scaled"]
            document = yaml.safe_load(big.read_text())["config"]
            label = f"crucible plan, 10x ({len(document.get('crucible:pools') or [])} pools, {len(document.get('crucible:teams') or [])} teams)"
            print(_line(label, scaled, plan, "the plan", SCALED_TARGET))
            print(_line("crucible plan, 10x, against the floor", scaled, floor, "the floor"))


if __name__ == "__main__":
    main()
