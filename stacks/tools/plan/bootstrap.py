"""`crucible plan bootstrap`: the bootstrap program (bootstrap/, project crucible-bootstrap) under the same mock harness
and policy pack as every stack — offline, no credentials. The policy pack judges it at production levels: it holds
the identities that deploy production."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from stacks.spec import ConfigError, Problem

BOOTSTRAP_DIR = Path(__file__).resolve().parents[3] / "bootstrap"
ENVIRONMENT = "prod"
# The bootstrap's policy pack config: prod's levels plus the exemptions its resources need, each with its reason there
# (the access-log bucket's SSE-S3, the boundary policy, the delivery identities that bound others).
POLICY_CONFIG = "bootstrap"


def is_bootstrap(stack_or_path: str) -> bool:
    """`bootstrap`, or a Pulumi.<stack>.yaml inside bootstrap/."""
    if stack_or_path == "bootstrap":
        return True
    path = Path(stack_or_path)
    return path.suffix in (".yaml", ".yml") and path.resolve().parent == BOOTSTRAP_DIR


def config_of(path: Path) -> dict[str, str]:
    """The stack file's config as the engine passes it: every value a string, structured ones as JSON."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError([Problem(str(path), f"cannot read the bootstrap stack file: {error}")], str(path)) from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([Problem(f"{path.name}:config", "must be a mapping of keys to values")], str(path))
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def plan_bootstrap(stack_or_path: str) -> tuple[dict[str, Any], list[str]]:
    from bootstrap.config import PROJECT, load
    from bootstrap.program import main
    from stacks.tools.harness import run_program
    from stacks.tools.plan.verdicts import evaluate, render

    path = BOOTSTRAP_DIR / "Pulumi.bootstrap.yaml" if stack_or_path == "bootstrap" else Path(stack_or_path)
    if not path.is_file():
        raise ConfigError([Problem(stack_or_path, "no such bootstrap stack config file")], stack_or_path)
    stack = path.name[len("Pulumi.") : -len(path.suffix)]
    config = config_of(path)
    spec = load(config, source=str(path))  # every problem at once, before any resource
    run = run_program(main, stack=stack, project=PROJECT, config=config, region=spec.region)
    resources = [r.to_json() for r in run.resources]
    verdicts = evaluate(resources, POLICY_CONFIG)
    document = {
        "stack": stack,
        "project": PROJECT,
        "environment": ENVIRONMENT,
        "config": str(path),
        "resources": resources,
        "outputs": run.outputs,
        "policies": verdicts,
    }
    roles = [r for r in run.resources if r.type == "aws:iam/role:Role"]
    lines = [f"crucible plan {stack} ({PROJECT}, {path}): {len(resources)} resources, policies/config/{POLICY_CONFIG}.json (prod's levels)"]
    lines.append("")
    lines.append("Delivery identities (GitHub OIDC trust: StringEquals aud and sub)")
    for role in roles:
        trust = json.loads(role.inputs.get("assumeRolePolicy") or "{}")
        subjects = [v for st in trust.get("Statement", []) for k, v in st.get("Condition", {}).get("StringEquals", {}).items() if k.endswith(":sub")]
        lines.append(f"  {role.inputs.get('path', '')}{role.inputs.get('name')}: sub={', '.join(subjects)}")
    lines.append("")
    lines.append("Outputs")
    for key, value in run.outputs.items():
        lines.append(f"  {key}: {json.dumps(value, sort_keys=True)}")
    lines.append("")
    lines.append("Policies")
    lines += [f"  {line}" for line in render(verdicts)]
    return document, lines
