"""`python -m addons.examples <stack> [--out DIR]`: write a stack's example jobs and services (the same code as
`crucible examples`) so a team can `kubectl apply -n <team-namespace> -f DIR/...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from addons.examples import run
from stacks.spec import ConfigError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m addons.examples", description="Render the example workloads of a stack.")
    p.add_argument("stack", help="stack name (dev, prod, …) or a path to a Pulumi.<name>.yaml")
    p.add_argument("--out", default="jobs", help="directory to write into (default: jobs/)")
    args = p.parse_args(argv)
    try:
        return run(args.stack, Path(args.out))
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
