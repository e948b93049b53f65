"""`crucible`: plan Crucible stacks offline — no cloud credentials, no network, no Pulumi CLI.

Exit codes: 0 success; 1 the plan breaks a mandatory policy (plan, check) or would lose data (diff
--fail-on-data-loss), or a verify check failed; 2 invalid config or arguments; 3 internal error; 4 (verify) the
cluster is unreachable.
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
# The commands that plan (or check a plan) and judge its workloads: their reach analysis runs on a second core.
SECOND_CORE_COMMANDS = ("plan", "check", "diff")


def _write_json(document: dict, target: str) -> None:
    from stacks.tools import indented_json

    text = indented_json.dumps(document, indent=2, default=str)  # json.dumps(indent=2, default=str)'s text, faster
    if target == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(target).write_text(text + "\n")


def print_spec_warnings(spec, path: Path) -> None:
    """What the loader warns about in a stack config (e.g. deprecated keys), on stderr (stdout stays the command's output)."""
    for warning in spec.warnings:
        print(f"warning: {path.name}: {warning}", file=sys.stderr)


def print_warnings(planned) -> None:
    """The loader's warnings of a planned stack and of the stack it references."""
    while planned is not None:
        print_spec_warnings(planned.spec, planned.path)
        planned = planned.referenced


def cmd_plan(args: argparse.Namespace) -> int:
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.report import build_report

    from stacks.tools.plan.lands import failures
    from stacks.tools.plan.verdicts import mandatory

    from stacks.tools.plan.bootstrap import is_bootstrap, plan_bootstrap

    if is_bootstrap(args.stack):  # the delivery pipeline's own program (bootstrap/), same harness and policy pack
        document, lines = plan_bootstrap(args.stack)
    else:
        planned = plan_stack(args.stack)
        print_warnings(planned)
        document, lines = build_report(planned)
    if args.json:
        _write_json(document, args.json)
    if args.json != "-":
        print("\n".join(lines))
        if args.json:
            print(f"\nplan written to {args.json}")
    return EXIT_POLICY if mandatory(document.get("policies", {})) or failures(document.get("workloads", {})) else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from stacks.tools.plan.verdicts import evaluate, mandatory, render
    from stacks.spec import Problem
    from stacks.spec.schema import ENVIRONMENTS

    document = _plan_document(args.plan)  # a saved plan, or a stack planned now
    env = args.env or document.get("environment")
    if env not in ENVIRONMENTS:
        raise ConfigError([Problem("--env", f"got {env!r}; allowed: {', '.join(ENVIRONMENTS)} (the plan does not name its environment)")], args.plan)
    if not isinstance(document.get("resources"), list):
        raise ConfigError([Problem(f"{args.plan}:resources", "missing: not a plan written by `crucible plan --json`")], args.plan)
    from stacks.tools.plan import lands
    from stacks.tools.plan.model import PlanModel

    model = PlanModel.from_document(document)  # the read model the plan report and verify read
    outputs = model.all_outputs  # as the engine hands them: inputs after Check (auto-names), outputs to stack policies
    if args.preview and not outputs:
        raise ConfigError(
            [
                Problem(
                    f"{args.plan}:computedOutputs",
                    "missing: --preview needs the outputs to tell computed values; write the plan again with `crucible plan --json`",
                )
            ],
            args.plan,
        )
    verdicts = evaluate(model.resources, env, outputs, preview=args.preview)
    mode = "; preview: ids and computed outputs unknown, as at a first `pulumi preview`" if args.preview else ""
    print(f"crucible check {args.plan} ({env}{mode})")
    print("\n".join(f"  {line}" for line in render(verdicts)))
    workloads = None
    if isinstance(document.get("workloads"), dict):
        # The saved plan's workloads, checked again against its (possibly edited) resources and pod templates.
        workloads = model.workloads
        verdicts = {**verdicts, "workloads": workloads}
        print("  Workloads")
        print("\n".join(f"    {line}" for line in lands.render(workloads)))
    if args.json:
        _write_json(verdicts, args.json)
    return EXIT_POLICY if mandatory(verdicts) or lands.failures(workloads or {}) else EXIT_OK


def _plan_document(source: str) -> dict:
    """A plan JSON file, or a stack name / stack config path planned now."""
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.report import build_report

    path = Path(source)
    if path.suffix == ".json":
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            from stacks.spec import Problem

            raise ConfigError([Problem(source, f"cannot read plan JSON: {exc}")], source) from None
    planned = plan_stack(source)
    print_warnings(planned)
    document, _ = build_report(planned)
    return document


def cmd_diff(args: argparse.Namespace) -> int:
    from stacks.tools.plan.diff import diff_plans, render

    diff = diff_plans(_plan_document(args.base), _plan_document(args.head), args.base, args.head)
    print(render(diff, markdown=args.markdown))
    if args.json:
        _write_json(diff.to_json(), args.json)
    unprotected_loss = [c for c in diff.dangerous if not c.protected]
    # an update the API server refuses fails the deploy whatever else it does: always a failing diff
    return EXIT_POLICY if diff.refused or (args.fail_on_data_loss and unprotected_loss) else EXIT_OK


def cmd_examples(args: argparse.Namespace) -> int:
    """Write every example the stack can run under --out; list what was written (stdout) and skipped (stderr)."""
    from stacks.tools.examples import EXAMPLES, write_examples
    from stacks.tools.plan.locate import config_path
    from stacks.spec.loader import load_stack_file

    path = config_path(args.stack)
    spec, _, _ = load_stack_file(path)
    print_spec_warnings(spec, path)
    out = Path(args.out)
    if not spec.builds("compute"):
        # The examples are cut to the stack's pools; a stack that builds no compute layer has none.
        print(
            f"{spec.stack} builds the layers {', '.join(spec.layers)}, not compute: it has no pools to run examples on. "
            "Run `crucible examples <stack>` for the stack that builds its pools (e.g. the platform part of a split deployment).",
            file=sys.stderr,
        )
        return EXIT_OK
    written = write_examples(spec, out)
    for path in written:
        print(path)
    done = {p.relative_to(out).as_posix() for p in written}
    for example in EXAMPLES:
        if example.path not in done:
            print(f"skipped {example.path}: needs {example.needs}", file=sys.stderr)
    return EXIT_OK


def cmd_runner(args: argparse.Namespace) -> int:
    """Where CI runs `pulumi up` for each stack: the runner labels of the stack that builds its cluster."""
    from stacks.tools.plan.deploy import runner_kind, runner_labels
    from stacks.tools.plan.locate import config_path
    from stacks.spec.loader import load_stack_file

    rows = []
    for stack in args.stacks:
        path = config_path(stack)
        spec, _, _ = load_stack_file(path)
        rows.append((spec.stack, runner_kind(spec, path), list(runner_labels(spec, path))))
    if args.labels:
        # {stack: [label, ...]}: a JSON array per stack, for `runs-on: ${{ fromJSON(...)[matrix.stack] }}`
        print(json.dumps({stack: labels for stack, _, labels in rows}, separators=(",", ":")))
    else:
        for stack, kind, labels in rows:
            print(f"{stack} {kind} {','.join(labels)}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from stacks.tools import gc_tuning
    from stacks.tools.verify.command import run

    gc_tuning.for_long_run()  # it polls a live cluster for minutes: the collector stays on

    return run(args, _plan_document)


def parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The command line. Given the arguments it will parse, the verify subcommand's own options (whose defaults and
    check names come from stacks/tools/verify, a tenth of a second of imports) are added only when they name verify:
    no other command reads them, and `crucible -h` lists the subcommands without them."""
    p = argparse.ArgumentParser(prog="crucible", description="Plan and check Crucible stacks offline (no credentials, no Pulumi CLI).")
    sub = p.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="run the program for a stack config under mocks and report what it would create")
    plan.add_argument(
        "stack", help="stack name (dev, prod, …: stacks/Pulumi.<name>.yaml), a path to a Pulumi.<name>.yaml, or `bootstrap` (bootstrap/Pulumi.bootstrap.yaml)"
    )
    plan.add_argument("--json", metavar="FILE", help="also write the plan as JSON to FILE ('-' for stdout only)")
    plan.set_defaults(func=cmd_plan)
    check = sub.add_parser("check", help="evaluate the policy pack against a saved plan (e.g. an edited copy)")
    check.add_argument("plan", help="plan JSON written by `crucible plan --json` (or a stack name / stack config, planned now)")
    check.add_argument("--env", choices=["dev", "staging", "prod"], help="environment whose enforcement levels apply (default: the plan's)")
    check.add_argument(
        "--preview",
        action="store_true",
        help="evaluate as a first `pulumi preview` of a new stack: ids and computed outputs unknown; a mandatory rule that needs one "
        "reports that it cannot run during preview instead of passing",
    )
    check.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON")
    check.set_defaults(func=cmd_check)
    diff = sub.add_parser("diff", help="compare two plans: resources by layer, stateful replacements, policy verdicts, $/h")
    diff.add_argument("base", help="plan JSON file, stack name or stack config path")
    diff.add_argument("head", help="plan JSON file, stack name or stack config path")
    diff.add_argument("--markdown", action="store_true", help="render for a pull-request comment")
    diff.add_argument("--json", metavar="FILE", help="also write the diff as JSON")
    diff.add_argument("--fail-on-data-loss", action="store_true", help="exit 1 when an unprotected stateful resource would be destroyed or replaced")
    diff.set_defaults(func=cmd_diff)
    examples = sub.add_parser("examples", help="write the example jobs and services a team submits, rendered from the stack's config")
    examples.add_argument("stack", help="stack name (dev, prod, …: stacks/Pulumi.<name>.yaml) or a path to a Pulumi.<name>.yaml")
    examples.add_argument("--out", default="jobs", metavar="DIR", help="directory to write into (default: jobs/)")
    examples.set_defaults(func=cmd_examples)
    runner = sub.add_parser("runner", help="print where CI deploys each stack: its runner kind and runs-on labels (cluster.apiAccess.runnerLabels)")
    runner.add_argument("stacks", nargs="+", metavar="stack", help="stack names or paths to Pulumi.<name>.yaml")
    runner.add_argument("--labels", action="store_true", help="print each stack's runs-on labels as JSON, {stack: [label, ...]}, for a workflow's runs-on")
    runner.set_defaults(func=cmd_runner)
    verify = sub.add_parser(
        "verify", help="after `pulumi up`: check the real cluster against the stack's plan (pools, devices, NCCL, queues, Lustre, JupyterHub)"
    )
    if argv is None or "verify" in argv:
        from stacks.tools.verify.command import add_arguments

        add_arguments(verify)
    verify.set_defaults(func=cmd_verify)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    from stacks.tools import gc_tuning

    gc_tuning.for_one_run()
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = parser(arguments).parse_args(arguments)
    try:
        if args.command in SECOND_CORE_COMMANDS:
            from stacks.tools import second_core

            # forked now, while this process has no thread: it imports the analyzer and the policy pack while the
            # program runs here (and judges each resource the program registers: stacks/tools/plan/verdicts.py)
            with second_core.started(warm=["stacks.tools.plan.verdicts:warm", "stacks.tools.plan.reaches:load_analyzer"]):
                return args.func(args)
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


def run() -> None:
    """The `crucible` command: main(), then exit without tearing the heap down. A plan leaves hundreds of thousands of
    objects that interpreter shutdown would free one by one (about 2 s after a prod plan) only for the process to
    end; exit handlers still run and output is flushed first (mypy exits the same way, for the same reason)."""
    import atexit

    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
