"""Small stack specs for tests: a minimal valid config per environment, overridden per test."""

from __future__ import annotations

import copy
import functools
import pickle
import os
from pathlib import Path
from typing import Any

import pytest

from stacks.tools.harness import PlanRun, run_program
from stacks.spec import PlatformSpec, load_spec
from stacks.spec.loader import encode

REPO = Path(__file__).resolve().parent.parent

BASE: dict[str, dict[str, Any]] = {
    "dev": {
        "environment": "dev",
        "region": "us-west-2",
        "availabilityZones": ["us-west-2a", "us-west-2b"],
        "cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
    },
    "prod": {
        "environment": "prod",
        "region": "us-east-1",
        "availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1c"],
        # The company network reaches the VPC through a transit gateway: Crucible attaches the VPC and routes the
        # deployer's network (apiAccess.sourceCidrs) back to it.
        "network": {"transitGatewayId": "tgw-0123456789abcdef0"},
        # The bootstrap's permissions boundary: every IAM role the stack creates carries it (SEC-IAM-004).
        "permissionsBoundary": "arn:aws:iam::111122223333:policy/crucible-boundary/crucible-platform-boundary",
        "cluster": {
            "adminRoleArns": ["arn:aws:iam::111122223333:role/PlatformAdmin"],
            # The deploy runner's network (the company network over the transit gateway) and the role it deploys with.
            "apiAccess": {"sourceCidrs": ["10.100.0.0/16"], "deployRoleArn": "arn:aws:iam::111122223333:role/crucible-deploy"},
        },
    },
}


def merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def pin_lustre_zone(raw: dict) -> None:
    """Outside dev the Lustre zone must be stated (`storage.lustre.zone`): state the one dev would derive (first EFA
    pool's zone, else first training pool's, else the first zone), as an operator pinning an existing stack does.
    A test that wants it unset drops it: ``drop=("storage.lustre.zone",)``."""
    layers, storage = raw.get("layers"), raw.get("storage", {})
    if raw.get("environment") == "dev" or (isinstance(layers, list) and "storage" not in layers) or not isinstance(storage, dict):
        return
    lustre = storage.get("lustre", {})
    if not isinstance(lustre, dict) or lustre.get("enabled", True) is False or "zone" in lustre:
        return
    zones, pools = raw.get("availabilityZones") or [None], [p for p in raw.get("pools", []) if isinstance(p, dict)]
    first = lambda pool: (pool.get("zones") or zones)[0]  # noqa: E731 - a pool's zones: as configured, else the first
    chosen = next((first(p) for p in pools if p.get("efa")), None) or next((first(p) for p in pools if p.get("workload") == "training"), None)
    raw["storage"] = {**storage, "lustre": {**lustre, "zone": chosen or zones[0]}}


def stack_config(env: str = "dev", drop: tuple[str, ...] = (), **overrides: Any) -> dict[str, str]:
    """Engine-form config (`crucible:<key>` → string) for a small stack: BASE[env] with overrides. ``drop`` removes
    keys, dotted for nested ones (``storage.lustre.zone``)."""
    raw = merge(BASE[env], overrides)
    layers = raw.get("layers")
    if isinstance(layers, list) and "network" not in layers and "network" not in overrides:
        raw.pop("network", None)  # BASE's transit gateway belongs to the stack that builds the VPC
    pin_lustre_zone(raw)
    for key in drop:
        *parents, last = key.split(".")
        section = raw
        for name in parents:
            section = section.get(name) if isinstance(section, dict) else None
        if isinstance(section, dict):
            section.pop(last, None)
    return {f"crucible:{k}": encode(v) for k, v in raw.items()}


def secret_keys_of(config: dict[str, str]) -> list[str]:
    """The secret settings a test config sets: held as secrets, as `pulumi config set --secret` would hold them."""
    from stacks.spec.loader import SECRET_KEYS

    return [key for key in config if key.partition(":")[2] in SECRET_KEYS]


def spec_of(env: str = "dev", stack: str = "test", **overrides: Any) -> PlatformSpec:
    config = stack_config(env, **overrides)
    return load_spec(config, stack, secret_keys=secret_keys_of(config))


def plan(env: str = "dev", stack: str = "test", stack_outputs: dict | None = None, account_id: str | None = None, **overrides: Any) -> PlanRun:
    """Run the program for a small stack; ``account_id``: the caller identity's account (default: the harness's)."""
    from stacks.program import main

    config = stack_config(env, **overrides)
    secrets = secret_keys_of(config)
    spec = load_spec(config, stack, secret_keys=secrets)
    extra = {"account_id": account_id} if account_id else {}
    return run_program(main, stack=stack, config=config, secret_keys=secrets, region=spec.region, stack_outputs=stack_outputs, **extra)


def shared_dir() -> Path:
    """../shared (or $CRUCIBLE_SHARED); tests that need it skip with the reason when it is absent."""
    path = Path(os.environ.get("CRUCIBLE_SHARED", REPO.parent / "shared"))
    if not (path / "upstream").is_dir():
        pytest.skip(f"upstream schemas not found at {path}/upstream (set CRUCIBLE_SHARED to the shared/ folder)")
    return path


@functools.lru_cache(maxsize=None)
def shipped_plan(stack: str):
    """`plan_stack(stack)` of a shipped stack (stacks/Pulumi.<stack>.yaml), run once per test session and shared by
    every test that reads it. Callers must not mutate it (copy what they edit). Its charts are not rendered while
    it runs (plan_stack's early): the session renders each stack's charts once for all its workers
    (rendered.py, shipped_report), so a worker that reads them would render them early for nothing."""
    from stacks.tools.plan.locate import plan_stack

    return plan_stack(stack, early=False)


@functools.lru_cache(maxsize=None)
def shipped_report(stack: str) -> tuple[dict, tuple[str, ...]]:
    """The plan document and human lines of a shipped stack (stacks/Pulumi.<stack>.yaml), built once per session
    from :func:`shipped_plan` — once for all the session's workers: see :func:`shared_between_workers`. Callers must
    not mutate the document (copy it first)."""

    def build() -> tuple[dict, tuple[str, ...]]:
        from stacks.tools.plan.report import build_report

        document, lines = build_report(shipped_plan(stack))
        return document, tuple(lines)

    return shared_between_workers(f"report-{stack}", build)


def report_copy(stack: str) -> dict:
    """A copy of the plan document of a shipped stack (:func:`shipped_report`) to edit: what copy.deepcopy gives,
    made from the document's pickle (a fifth of deepcopy's time; the document is plain data)."""
    return pickle.loads(_report_pickle(stack))


@functools.lru_cache(maxsize=None)
def _report_pickle(stack: str) -> bytes:
    return pickle.dumps(shipped_report(stack)[0], protocol=pickle.HIGHEST_PROTOCOL)


SHARE_ENV = "CRUCIBLE_TEST_SHARE"  # a directory the session's pytest-xdist workers share (tests/conftest.py)


def shared_between_workers(key: str, make):
    """``make()``, computed by the first of the session's workers that asks and read back by the others (a pickle in
    the session's shared directory, under a file lock, so a second worker waits instead of computing it again).
    Plain data only (plan documents, lines); without workers, just ``make()``. A plan is deterministic (two runs
    are byte-identical: tests/test_deterministic_plan.py), so any worker's result is every worker's."""
    import fcntl
    import pickle

    folder = os.environ.get(SHARE_ENV)
    if not folder or not os.environ.get("PYTEST_XDIST_WORKER"):
        return make()
    path = Path(folder) / f"{key}.pickle"
    with open(Path(folder) / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = make()
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        partial.replace(path)
        return value


def plan_exit_code(document: dict) -> int:
    """What `crucible plan` exits with for this plan document (stacks/tools/cli.py cmd_plan): 1 on a mandatory policy
    violation or a workload that fails a check, else 0 — for tests that read a shared plan instead of running the CLI."""
    from stacks.tools.cli import EXIT_OK, EXIT_POLICY
    from stacks.tools.plan.lands import failures
    from stacks.tools.plan.verdicts import mandatory

    return EXIT_POLICY if mandatory(document.get("policies", {})) or failures(document.get("workloads", {})) else EXIT_OK


def addons_program(spec: PlatformSpec, output: str = "addons", storage: Any = None):
    """A program building only the platform add-ons of the registry that export to ``output`` (default: notebooks,
    observability, pipelines, Ray) on a stand-in network and cluster, for pools the compute layer is not asked to
    build here."""
    import pulumi_aws as aws

    from components.contracts import ClusterOutputs, NetworkOutputs
    from stacks.layers.base import Below
    from stacks.layers.platform import build_addons, registry

    def program() -> dict:
        network = NetworkOutputs(vpc_id="vpc-1", vpc_cidr="10.0.0.0/16", zones=spec.availability_zones, private_subnet_ids=(), public_subnet_ids=())
        cluster = ClusterOutputs(
            name="c",
            endpoint="https://c",
            certificate_authority="",
            version="1.34",
            oidc_issuer="",
            cluster_security_group_id="sg-1",
            kms_key_arn="",
            node_volume_kms_key_arn="",
            system_node_group_label="system",
            kubeconfig="",
        )
        below = Below(aws_provider=aws.Provider("aws", region=spec.region), network=network, cluster=cluster, storage=storage)
        return build_addons(spec, below, [e for e in registry.enabled(spec) if e.output == output])

    return program
