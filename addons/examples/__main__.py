"""`python -m addons.examples <stack> [--out DIR]`: write a stack's example jobs and services (what
`crucible examples` does) so a team can `kubectl apply -n <team-namespace> -f DIR/...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from addons.examples import EXAMPLES, write_examples
from stacks.plan.locate import config_path
from stacks.spec import ConfigError
from stacks.spec.loader import load_stack_file


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m addons.examples", description="Render the example workloads of a stack.")
    p.add_argument("stack", help="stack name (dev, prod, …) or a path to a Pulumi.<name>.yaml")
    p.add_argument("--out", default="jobs", help="directory to write into (default: jobs/)")
    args = p.parse_args(argv)
    try:
        spec, _, _ = load_stack_file(config_path(args.stack))
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 2
    written = write_examples(spec, Path(args.out))
    for path in written:
        print(path)
    skipped = len(EXAMPLES) - len(written)
    if skipped:
        print(f"({skipped} example(s) skipped: the stack has no pool to run them on)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
