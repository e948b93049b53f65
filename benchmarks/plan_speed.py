"""Print how long `crucible plan` takes against a bare import of the Pulumi SDKs (figures, not a test).

    python benchmarks/plan_speed.py [--repeat N]

Runs each measurement in a fresh interpreter (import caches matter), on the largest shipped stack config and,
when the config has pools and teams, on a generated config with 10x of them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def timed(command: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if done.returncode not in (0, 1):  # 1: the plan is complete but breaks a mandatory policy
            raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stderr or done.stdout}")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


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
    baseline = timed([python, "-c", "import pulumi, pulumi_aws, pulumi_kubernetes"], args.repeat)
    config = largest_config()
    plan = timed([python, "-m", "stacks.tools.cli", "plan", str(config)], args.repeat)
    print(f"bare import pulumi, pulumi_aws, pulumi_kubernetes : {baseline:6.2f} s")
    print(f"crucible plan {config.name:<36}: {plan:6.2f} s  ({plan / baseline:.1f}x the import)")
    with tempfile.TemporaryDirectory() as tmp:
        big = scaled_config(config, 10, Path(tmp))
        if big is None:
            print("10x pools and teams: not measured (the config has no pools or teams yet)")
        else:
            big_time = timed([python, "-m", "stacks.tools.cli", "plan", str(big)], args.repeat)
            print(f"crucible plan with 10x pools and teams          : {big_time:6.2f} s  ({big_time / baseline:.1f}x the import)")


if __name__ == "__main__":
    main()
