"""Stack config in, PlatformSpec out: the one place config is read and validated.

Both the Pulumi program (config from the engine) and `crucible plan` (config from a Pulumi.<stack>.yaml file)
come through :func:`load_spec`, so they accept and reject exactly the same configs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from stacks.spec.platform import LAYERS, SECTION_LAYER, PlatformSpec
from stacks.spec.schema import ENVIRONMENTS, ConfigError, Context, Problem, is_parsed, parse, show

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


def load_spec(config: Mapping[str, Any], stack: str, source: str = "stack config") -> PlatformSpec:
    """Validate the `crucible:*` keys of ``config`` (values raw or engine-encoded) into a PlatformSpec.

    Raises :class:`ConfigError` listing every problem; nothing else is raised for bad input.
    """
    raw: dict[str, Any] = {}
    for key, value in config.items():
        namespace, sep, name = key.partition(":")
        if sep and namespace == NAMESPACE:
            raw[name] = decode(value)
    env = raw.get("environment")
    ctx = Context(env=env if env in ENVIRONMENTS else "prod", stack=stack)
    spec = parse(PlatformSpec, raw, ROOT, ctx)
    _check_sections_of_layers(raw, ctx)
    _check_provider_region(config, raw, ctx)
    if ctx.problems or not is_parsed(spec):
        raise ConfigError(ctx.problems, source)
    return dataclasses.replace(spec, stack=stack)


def _check_sections_of_layers(raw: Mapping[str, Any], ctx: Context) -> None:
    """A section set for a layer this stack does not build. Needs only `layers` (as written, or the default), so it
    runs in the same pass as every other rule, whatever else is wrong."""
    layers = raw.get("layers", list(LAYERS))
    if not isinstance(layers, list) or not all(isinstance(layer, str) for layer in layers):
        return  # `layers` has its own problem
    for section, layer in SECTION_LAYER.items():
        if section in raw and layer not in layers:
            ctx.problem(
                f"{ROOT}{section}",
                f"set, but this stack does not build the {layer} layer (layers: {', '.join(layers)}); "
                f"configure it in the stack that does ({raw.get('stackReference')})",
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
            f"got {show(provider_region)}, but crucible:region is {show(region)}; allowed: {show(region)} (the same region), "
            "or remove aws:region",
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
    values, secrets = read_stack_file(path)
    spec = load_spec(values, stack_name_of(path), source=str(path))
    return spec, values, secrets
