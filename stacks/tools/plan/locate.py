"""Find stack config files and plan stacks, resolving stack references by planning the referenced stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from stacks.tools.harness import PlanRun, run_program
from stacks.tools.plan.verdicts import Judged, Judging
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
    judged: Optional[Judged] = None  # the policy verdicts the second core computed during the program (plan_stack's early)


def plan_stack(stack_or_path: str, _seen: Optional[tuple[str, ...]] = None, *, early: bool = True) -> Planned:
    """Validate and run one stack config under the mock harness. Raises ConfigError on bad config.

    With ``early``, the report's costliest work starts while the program still runs, on what is registered so far:
    each Helm release starts rendering at once (stacks/tools/plan/helm.py Speculation), so the report's renders find
    them done or under way; and, when the command has a second core, each resource is judged there by the policy pack
    (stacks/tools/plan/verdicts.py Judging). A stack planned only for its outputs (the one a stack reference names)
    gets neither."""
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
    hooks = _early_work(spec) if early else []
    run = run_program(
        main,
        stack=spec.stack,
        config=engine_config,
        secret_keys=engine_secrets,
        region=spec.region,
        stack_outputs=stack_outputs,
        on_register=_each(hooks) if hooks else None,
    )
    judging = next((hook for hook in hooks if isinstance(hook, Judging)), None)
    judged = judging.verdicts([r.urn for r in run.resources]) if judging is not None else None
    return Planned(spec=spec, run=run, path=path, config=config, secret_keys=secrets, secrets=required, referenced=referenced, judged=judged)


def _early_work(spec: PlatformSpec) -> list[Callable[[Any], None]]:
    """The harness hooks of a plan's early work: Helm renders (unless the renderer cannot be imported) and, with a
    second core, the policy verdicts."""
    hooks: list[Callable[[Any], None]] = []
    try:
        from stacks.tools.plan import helm
    except ImportError:
        pass
    else:
        hooks.append(helm.Speculation(kubernetes_version=spec.cluster.version))
    judging = Judging.start(spec.environment)
    if judging is not None:
        hooks.append(judging)
    return hooks


def _each(hooks: list[Callable[[Any], None]]) -> Callable[[Any], None]:
    def registered(captured: Any) -> None:
        for hook in hooks:
            hook(captured)

    return registered


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
    referenced = plan_stack(str(ref_path), seen, early=False)
    from stacks.layers.reference import problems_with

    problems = problems_with(referenced.run.raw_outputs, spec)
    if problems:  # the program would stop with a RunError; offline it is a config error of this stack
        raise ConfigError([Problem("crucible:stackReference", p) for p in problems], str(path))
    return referenced
