"""`crucible`: plan Crucible stacks offline — no cloud credentials, no network, no Pulumi CLI.

Exit codes: 0 success; 1 the plan breaks a mandatory policy; 2 invalid config or arguments; 3 internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Optional, Sequence

from stacks.spec import ConfigError

EXIT_OK, EXIT_POLICY, EXIT_CONFIG, EXIT_INTERNAL = 0, 1, 2, 3


def _write_json(document: dict, target: str) -> None:
    text = json.dumps(document, indent=2, sort_keys=False, default=str)
    if target == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(target).write_text(text + "\n")


def cmd_plan(args: argparse.Namespace) -> int:
    from stacks.plan.locate import plan_stack
    from stacks.plan.report import build_report

    planned = plan_stack(args.stack)
    document, lines = build_report(planned)
    if args.json:
        _write_json(document, args.json)
    if args.json != "-":
        print("\n".join(lines))
        if args.json:
            print(f"\nplan written to {args.json}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crucible", description="Plan and check Crucible stacks offline (no credentials, no Pulumi CLI).")
    sub = p.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="run the program for a stack config under mocks and report what it would create")
    plan.add_argument("stack", help="stack name (dev, prod, …: stacks/Pulumi.<name>.yaml) or a path to a Pulumi.<name>.yaml")
    plan.add_argument("--json", metavar="FILE", help="also write the plan as JSON to FILE ('-' for stdout only)")
    plan.set_defaults(func=cmd_plan)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as error:
        print(f"crucible {args.command}: {error.render()}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence: no tracebacks for users
        if os.environ.get("CRUCIBLE_DEBUG"):
            traceback.print_exc()
        print(f"crucible {args.command}: internal error: {type(error).__name__}: {error} (set CRUCIBLE_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
