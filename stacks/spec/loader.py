"""Stack config in, PlatformSpec out: the one place config is read and validated.

Both the Pulumi program (config from the engine) and `crucible plan` (config from a Pulumi.<stack>.yaml file)
come through :func:`load_spec`, so they accept and reject exactly the same configs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Collection, Literal, Mapping, Optional

import yaml

from stacks.spec.addons import required_secrets
from stacks.spec.deprecated import migrate, name_old_keys
from stacks.spec.platform import LAYERS, SECTION_LAYERS, PlatformSpec
from stacks.spec.schema import ENVIRONMENTS, ConfigError, Context, Problem, config_key, is_parsed, parse, show

NAMESPACE = "crucible"
ROOT = f"{NAMESPACE}:"
SECRET_PLACEHOLDER = "[secret]"


def decode(value: Any) -> Any:
    """Decode one config value the way the engine hands it over: structured values are JSON text."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text[:1] in "{[" or text in ("true", "false", "null") or _is_number(text):
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def encode(value: Any) -> str:
    """Encode a YAML config value into the string the engine would pass the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


# The secret config keys PlatformSpec declares (secret_setting), e.g. jupyterhubOauthClientSecret.
SECRET_KEYS = tuple(config_key(f) for f in dataclasses.fields(PlatformSpec) if f.metadata.get("secret"))


def set_secret_command(key: str, stack: str) -> str:
    """The command that stores a secret (it prompts for the value, which stays out of the shell history)."""
    return f"pulumi config set --secret {ROOT}{key} -s {stack}"


@dataclass(frozen=True)
class RequiredSecret:
    """A secret config key the real run of a stack reads."""

    key: str  # crucible:<key>
    needed_by: str
    is_set: bool
    command: str

    def to_json(self) -> dict:
        return {"key": self.key, "neededBy": self.needed_by, "state": "set" if self.is_set else "missing", "command": self.command}


def secrets_of(spec: PlatformSpec, config: Mapping[str, Any]) -> list[RequiredSecret]:
    """The secrets the real `pulumi up` of ``spec`` needs, and whether ``config`` sets them."""
    return [
        RequiredSecret(f"{ROOT}{key}", needed_by, bool(config.get(f"{ROOT}{key}")), set_secret_command(key, spec.stack))
        for key, needed_by in required_secrets(spec)
    ]


def load_spec(
    config: Mapping[str, Any],
    stack: str,
    source: str = "stack config",
    *,
    secret_keys: Optional[Collection[str]] = None,
    missing_secrets: Literal["refuse", "allow"] = "refuse",
) -> PlatformSpec:
    """Validate the `crucible:*` keys of ``config`` (values raw or engine-encoded) into a PlatformSpec.

    ``secret_keys``: the keys the source holds as secrets (the engine's secret set; `secure:` values in a stack
    file); a secret setting outside it was given as plain text and is refused. ``None``: the caller cannot tell.
    ``missing_secrets``: "refuse" (the real run: a required secret that is not set is a problem naming the command
    that sets it) or "allow" (offline planning, which lists them: :func:`secrets_of`).

    Raises :class:`ConfigError` listing every problem; nothing else is raised for bad input. What is not an error but
    should change (a deprecated key) is in the spec's ``warnings``.
    """
    raw: dict[str, Any] = {}
    for key, value in config.items():
        namespace, sep, name = key.partition(":")
        if sep and namespace == NAMESPACE:
            raw[name] = decode(value)
    env = raw.get("environment")
    ctx = Context(env=env if env in ENVIRONMENTS else "prod", stack=stack)
    if secret_keys is not None:
        for key in SECRET_KEYS:
            if raw.get(key) is not None and f"{ROOT}{key}" not in secret_keys:
                ctx.problem(
                    f"{ROOT}{key}",
                    f"given as plain text; a secret must be stored encrypted (`secure:`): remove the plain value from the "
                    f"stack config and run `{set_secret_command(key, stack)}`",
                )
    migrated, renames = migrate(raw, ctx)  # deprecated keys (stacks/spec/deprecated.py): warnings, or problems naming both keys
    spec = parse(PlatformSpec, migrated, ROOT, ctx)
    ctx.problems = name_old_keys(ctx.problems, renames)
    _check_sections_of_layers(raw, ctx)
    _check_provider_region(config, raw, ctx)
    if is_parsed(spec) and missing_secrets == "refuse":
        for key, needed_by in required_secrets(spec):
            if not raw.get(key):
                ctx.problem(f"{ROOT}{key}", f"required for {needed_by} and not set: run `{set_secret_command(key, stack)}`")
    if ctx.problems or not is_parsed(spec):
        raise ConfigError(ctx.problems, source)
    return dataclasses.replace(spec, stack=stack, warnings=tuple(ctx.warnings))


def _check_sections_of_layers(raw: Mapping[str, Any], ctx: Context) -> None:
    """A section set for a layer this stack does not build. Needs only `layers` (as written, or the default), so it
    runs in the same pass as every other rule, whatever else is wrong."""
    layers = raw.get("layers", list(LAYERS))
    if not isinstance(layers, list) or not all(isinstance(layer, str) for layer in layers):
        return  # `layers` has its own problem
    for section, readers in SECTION_LAYERS.items():
        if section in raw and not any(layer in layers for layer in readers):
            what = f"the {readers[0]} layer" if len(readers) == 1 else f"any layer that reads it ({', '.join(readers)})"
            ctx.problem(
                f"{ROOT}{section}",
                f"set, but this stack does not build {what} (layers: {', '.join(layers)}); configure it in the stack that does ({raw.get('stackReference')})",
            )


def _check_provider_region(config: Mapping[str, Any], raw: Mapping[str, Any], ctx: Context) -> None:
    """`aws:region` (the default provider's region; the engine passes it as config too) must be crucible:region: the
    program builds every resource with an explicit provider in crucible:region, and two regions in one stack config
    mean one of them is a mistake."""
    provider_region = decode(config.get("aws:region")) if "aws:region" in config else None
    region = raw.get("region")
    if provider_region is not None and isinstance(region, str) and provider_region != region:
        ctx.problem(
            "aws:region",
            f"got {show(provider_region)}, but crucible:region is {show(region)}; allowed: {show(region)} (the same region), or remove aws:region",
        )


def read_stack_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Read a Pulumi.<stack>.yaml into the engine's config form: {key: string}, plus the secret keys.

    Secure values cannot be decrypted offline; they become a placeholder and are listed as secret.
    """
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(path, exc)], str(path)) from None
    if not isinstance(document, dict):
        raise ConfigError([Problem(str(path), f"expected a mapping with a `config:` key (got {show(document)})")], str(path))
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([Problem(f"{path}:config", "expected a mapping of config keys")], str(path))
    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        key = str(key)
        if ":" not in key:
            key = f"{NAMESPACE}:{key}"  # the engine's rule: bare keys belong to the project
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET_PLACEHOLDER
            secrets.append(key)
        else:
            values[key] = encode(value)
    return values, secrets


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> Problem:
    """A YAML syntax error as `<file>:<line>:<column>: <what is wrong>` (lines and columns from 1, as editors count)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = " ".join(str(part) for part in (getattr(exc, "context", None), getattr(exc, "problem", None)) if part) or str(exc)
    if mark is None:
        return Problem(str(path), f"not valid YAML: {what}")
    return Problem(f"{path}:{mark.line + 1}:{mark.column + 1}", f"not valid YAML: {what} (line {mark.line + 1}, column {mark.column + 1})")


def stack_name_of(path: Path) -> str:
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith((".yaml", ".yml"))):
        raise ConfigError([Problem(str(path), "a stack config file is named Pulumi.<stack>.yaml")], str(path))
    return name[len("Pulumi.") :].rsplit(".", 1)[0]


def load_stack_file(path: Path) -> tuple[PlatformSpec, dict[str, str], list[str]]:
    """A stack file, validated for offline use: its `secure:` values are secrets (plain ones are refused); required
    secrets it lacks are allowed (the ciphertext lives in the stack file only once `pulumi config set --secret` ran)."""
    values, secrets = read_stack_file(path)
    spec = load_spec(values, stack_name_of(path), source=str(path), secret_keys=secrets, missing_secrets="allow")
    return spec, values, secrets
