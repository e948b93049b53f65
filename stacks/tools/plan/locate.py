"""Find stack config files and plan stacks, resolving stack references by planning the referenced stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from stacks.tools.harness import PlanRun, run_program
from stacks.spec import ConfigError, PlatformSpec, Problem
from stacks.spec.loader import SECRET_PLACEHOLDER, RequiredSecret, load_stack_file, secrets_of

STACKS_DIR = Path(__file__).resolve().parents[2]  # stacks/


def config_path(stack_or_path: str) -> Path:
    """A stack name (dev) or a path to a Pulumi.<name>.yaml."""
    candidate = Path(stack_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError([Problem(stack_or_path, "no such stack config file")], stack_or_path)
        return candidate
    path = STACKS_DIR / f"Pulumi.{stack_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(shipped_stacks())
        raise ConfigError([Problem(stack_or_path, f"no stack config {path.name} in {STACKS_DIR}; shipped stacks: {known}")], stack_or_path)
    return path


def shipped_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


@dataclass
class Planned:
    spec: PlatformSpec
    run: PlanRun
    path: Path
    config: dict[str, str]
    secret_keys: list[str]
    secrets: list[RequiredSecret] = field(default_factory=list)  # what the real run needs, set or missing
    referenced: Optional["Planned"] = None  # the stack crucible:stackReference names, planned from its config file


def plan_stack(stack_or_path: str, _seen: Optional[tuple[str, ...]] = None, *, render_early: bool = True) -> Planned:
    """Validate and run one stack config under the mock harness. Raises ConfigError on bad config.

    With ``render_early``, each Helm release the program registers starts rendering at once, while the program goes
    on (stacks/tools/plan/helm.py Speculation): the report's renders then find them done or under way. A stack
    planned only for its outputs (the one a stack reference names) is not rendered early."""
    path = config_path(stack_or_path)
    spec, config, secrets = load_stack_file(path)
    seen = (_seen or ()) + (str(path.resolve()),)
    stack_outputs = {}
    referenced = None
    if spec.stack_reference:
        referenced = _referenced(spec, path, seen)
        stack_outputs[spec.stack_reference] = referenced.run.raw_outputs
    from stacks.program import main  # the program itself, as `pulumi up` runs it

    # Offline, a required secret that is not set yet stands in as the same placeholder as an encrypted one: the plan
    # shows what the real run creates, and the report says which `pulumi config set --secret` it needs first.
    required = secrets_of(spec, config)
    engine_config, engine_secrets = dict(config), list(secrets)
    for secret in required:
        if not secret.is_set:
            engine_config[secret.key] = SECRET_PLACEHOLDER
            engine_secrets.append(secret.key)
    run = run_program(
        main,
        stack=spec.stack,
        config=engine_config,
        secret_keys=engine_secrets,
        region=spec.region,
        stack_outputs=stack_outputs,
        on_register=_early_renders(spec) if render_early else None,
    )
    return Planned(spec=spec, run=run, path=path, config=config, secret_keys=secrets, secrets=required, referenced=referenced)


def _early_renders(spec: PlatformSpec):
    """The harness hook that starts each Helm release's render as it is registered (None without the renderer)."""
    try:
        from stacks.tools.plan import helm
    except ImportError:
        return None
    return helm.Speculation(kubernetes_version=spec.cluster.version)


def _referenced(spec: PlatformSpec, path: Path, seen: tuple[str, ...]) -> Planned:
    name = spec.stack_reference.rsplit("/", 1)[-1]
    ref_path = path.parent / f"Pulumi.{name}.yaml"
    if not ref_path.is_file():
        raise ConfigError(
            [Problem("crucible:stackReference", f"got {spec.stack_reference!r}; to plan offline, its config {ref_path.name} must sit beside {path.name}")],
            str(path),
        )
    if str(ref_path.resolve()) in seen:
        raise ConfigError([Problem("crucible:stackReference", f"stack references form a cycle through {ref_path.name}")], str(path))
    referenced = plan_stack(str(ref_path), seen, render_early=False)
    from stacks.layers.reference import problems_with

    problems = problems_with(referenced.run.raw_outputs, spec)
    if problems:  # the program would stop with a RunError; offline it is a config error of this stack
        raise ConfigError([Problem("crucible:stackReference", p) for p in problems], str(path))
    return referenced
