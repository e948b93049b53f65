"""`crucible verify <stack>`: glue between the CLI, the plan, the kubeconfig, the runner and the report."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from stacks.tools.verify import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE
from stacks.tools.verify.checks import CHECKS
from stacks.tools.verify.checks.base import Options
from stacks.tools.verify.kube import KubeClient, KubeConfigError, KubeError, Unreachable, load_kubeconfig, parse_kubeconfig
from stacks.tools.verify.report import document, render_table
from stacks.tools.verify.runner import run_verify
from stacks.tools.verify.targets import TargetsError, targets_from_plan

EXIT_INTERRUPTED = 130


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack", help="stack name (dev, prod, …) or a path to its Pulumi.<name>.yaml: what the cluster should look like")
    p.add_argument("--plan", metavar="FILE", help="a saved `crucible plan --json` document (default: plan the stack now, offline)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig of the cluster")
    source.add_argument("--from-stack", action="store_true", help="read the kubeconfig from `pulumi stack output kubeconfig --show-secrets -s <stack>`")
    p.add_argument("--context", help="kubeconfig context (default: current-context)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE ('-' for stdout only)")
    p.add_argument("--checks", help=f"comma-separated subset of: {', '.join(CHECKS)}")
    defaults = Options()
    p.add_argument("--check-timeout", type=float, default=defaults.check_timeout, metavar="S", help="seconds per check (default %(default)g)")
    p.add_argument("--deadline", type=float, default=defaults.deadline, metavar="S", help="seconds for the whole run, before cleanup (default %(default)g)")
    p.add_argument("--poll-interval", type=float, default=defaults.poll_interval, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--request-timeout", type=float, default=defaults.request_timeout, metavar="S", help="seconds per API request (default %(default)g)")
    p.add_argument(
        "--device-settle",
        type=float,
        default=defaults.device_settle,
        metavar="S",
        help="seconds a Ready node may take to advertise its devices (default %(default)g)",
    )
    p.add_argument("--image", default=defaults.image, help="image of sample jobs, probes and dd (default %(default)s)")
    p.add_argument("--nccl-image", default=defaults.nccl_image, help="image with nccl-tests, OpenMPI and aws-ofi-nccl; pin it (default %(default)s)")
    p.add_argument("--fio-image", help="measure Lustre with fio from this image instead of dd")
    p.add_argument("--lustre-write-mib", type=int, default=defaults.lustre_write_mib, help="MiB each Lustre stream writes (default %(default)s)")
    p.add_argument("--lustre-clients", type=int, default=defaults.lustre_clients, help="pods writing to Lustre at once (default %(default)s)")
    p.add_argument(
        "--lustre-streams", type=int, default=defaults.lustre_streams, help="parallel writers per pod: fio numjobs or dd processes (default %(default)s)"
    )
    p.add_argument(
        "--pool-timeout",
        type=float,
        default=defaults.pool_timeout,
        metavar="S",
        help="seconds one pool may take in devices and nccl, at most an even share of the time left (default %(default)g)",
    )
    p.add_argument("--min-nccl-ratio", type=float, default=defaults.min_nccl_ratio, help="fail below this bus bandwidth / network ratio (default %(default)g)")
    p.add_argument(
        "--min-lustre-ratio",
        type=float,
        default=defaults.min_lustre_ratio,
        help="fail below this ratio: the clients' aggregate write rate / the plan's provisioned throughput (default %(default)g: report only)",
    )


def _fail(message: str, code: int) -> int:
    print(f"crucible verify: {message}", file=sys.stderr)
    return code


def stack_name(stack: str) -> str:
    """`dev` → dev; `stacks/Pulumi.prod.yaml` → prod (the Pulumi stack of that config)."""
    path = Path(stack)
    if path.suffix in (".yaml", ".yml") and path.name.startswith("Pulumi."):
        return path.name[len("Pulumi.") : -len(path.suffix)]
    return stack


def kubeconfig_from_stack(stack: str, context, run=None):
    """The stack's `kubeconfig` output, read with the Pulumi CLI (only on --from-stack)."""
    if run is None and shutil.which("pulumi") is None:
        raise KubeConfigError("--from-stack needs the Pulumi CLI on the PATH (or pass --kubeconfig FILE)")
    command = ["pulumi", "stack", "output", "kubeconfig", "--show-secrets", "-s", stack_name(stack)]
    try:
        result = (run or subprocess.run)(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise KubeConfigError(f"`{' '.join(command)}` did not answer in 120s") from None
    if result.returncode != 0:
        raise KubeConfigError(f"`{' '.join(command)}` exited {result.returncode}: {result.stderr.strip()[:300]}")
    return parse_kubeconfig(result.stdout, context)


def run(args: argparse.Namespace, plan_document: Callable[[str], dict]) -> int:
    only = [c.strip() for c in args.checks.split(",")] if args.checks else None
    unknown = [c for c in only or [] if c not in CHECKS]
    if unknown:
        return _fail(f"--checks: unknown {', '.join(unknown)}; allowed: {', '.join(CHECKS)}", EXIT_CONFIG)
    for flag in ("check_timeout", "deadline", "poll_interval", "request_timeout", "pool_timeout"):
        if getattr(args, flag) <= 0:
            return _fail(f"--{flag.replace('_', '-')}: got {getattr(args, flag)}; allowed: a positive number of seconds", EXIT_CONFIG)
    for flag in ("lustre_clients", "lustre_streams", "lustre_write_mib"):
        if getattr(args, flag) < 1:
            return _fail(f"--{flag.replace('_', '-')}: got {getattr(args, flag)}; allowed: a whole number from 1", EXIT_CONFIG)
    if not args.kubeconfig and not args.from_stack:
        return _fail("say which cluster: --kubeconfig FILE, or --from-stack to read the stack's `kubeconfig` output", EXIT_CONFIG)
    try:
        targets = targets_from_plan(plan_document(args.plan or args.stack))
    except TargetsError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    try:
        config = load_kubeconfig(args.kubeconfig, args.context) if args.kubeconfig else kubeconfig_from_stack(args.stack, args.context)
    except KubeConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    options = Options(
        check_timeout=args.check_timeout,
        deadline=args.deadline,
        poll_interval=args.poll_interval,
        request_timeout=args.request_timeout,
        device_settle=args.device_settle,
        image=args.image,
        nccl_image=args.nccl_image,
        fio_image=args.fio_image,
        lustre_write_mib=args.lustre_write_mib,
        lustre_clients=args.lustre_clients,
        lustre_streams=args.lustre_streams,
        pool_timeout=args.pool_timeout,
        min_nccl_ratio=args.min_nccl_ratio,
        min_lustre_ratio=args.min_lustre_ratio,
    )
    client = KubeClient(config, timeout=args.request_timeout)
    try:
        try:
            client.version()
        except Unreachable as exc:
            return _fail(f"cluster unreachable: {exc}", EXIT_UNREACHABLE)
        except KubeError as exc:
            return _fail(f"cluster refused the request ({exc}); check the kubeconfig's credentials", EXIT_UNREACHABLE)
        previous = _terminate_as_interrupt()
        try:
            result = run_verify(client, targets, options, only)
        finally:
            _restore(previous)
    finally:
        client.close()
    code = EXIT_INTERRUPTED if result.interrupted else (EXIT_OK if result.passed else EXIT_FAILED)
    if args.json:
        text = json.dumps(document(result, targets, config.server, code), indent=2, default=str)
        if args.json == "-":
            sys.stdout.write(text + "\n")
        else:
            Path(args.json).write_text(text + "\n")
    if args.json != "-":
        print("\n".join(render_table(result, targets, config.server)))
        if args.json:
            print(f"report written to {args.json}")
    return code


def _terminate_as_interrupt():
    """SIGTERM (a CI job cancelled) cleans up like Ctrl-C."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _restore(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
