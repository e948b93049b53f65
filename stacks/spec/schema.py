"""A small declarative schema for stack config: typed fields, per-environment defaults, all problems at once.

Spec sections are frozen dataclasses whose fields are declared with :func:`setting`. The config key of a
field is the camelCase form of its attribute name (``endpoint_public_access`` → ``endpointPublicAccess``).
:func:`parse` walks raw config (plain dicts/lists/scalars) against a section class and either returns the
section object or records :class:`Problem`s on the :class:`Context` — every problem in the input, not just
the first, each naming the key path, what is wrong, the bad value and what is allowed.

Cross-field rules live on the section class as ``def check(self, ctx, path)``. They run on every section, also one
where some fields failed: there ``self`` is a :class:`Partial` view whose failed fields raise :class:`Unparsed` when
read, so a rule that needs a bad field is skipped and every other rule still reports (one pass finds every problem
that can be found). Run independent rules through :func:`each_rule` so one skipped rule does not skip the next.

A field ``check`` returns one message, or a list of ``(sub-key or None, message)`` pairs for values with many parts
(tags, labels): each becomes its own problem at ``<key>.<sub-key>``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional, Union, get_args, get_origin, get_type_hints

ENVIRONMENTS = ("dev", "staging", "prod")

_MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack config."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """Raised with every problem found in a stack config, before any resource is registered."""

    def __init__(self, problems: list[Problem], source: str = "stack config"):
        self.problems = list(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        lines = [f"invalid {self.source} ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class ByEnv:
    """A default that depends on the environment. Staging falls back to prod: staging rehearses prod."""

    dev: Any
    prod: Any
    staging: Any = None
    has_staging: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_staging", self.staging is not None)

    def for_env(self, env: str) -> Any:
        if env == "dev":
            return self.dev
        if env == "staging" and self.has_staging:
            return self.staging
        return self.prod

    def describe(self) -> str:
        staging = self.staging if self.has_staging else self.prod
        return f"dev: {show(self.dev)}; staging: {show(staging)}; prod: {show(self.prod)}"


@dataclass
class Context:
    """What the parser knows while it walks the config: the environment and the problems so far."""

    env: str
    problems: list[Problem] = field(default_factory=list)
    stack: str = ""  # the stack's name, when known (physical names derive from it)
    warnings: list[Problem] = field(default_factory=list)  # not errors: e.g. a deprecated key (stacks/spec/deprecated.py)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        """Something the config should change that does not stop it: the loaded spec carries it (PlatformSpec.warnings)."""
        self.warnings.append(Problem(path, message))


Check = Callable[[Any], Optional[str]]  # one message (without the path) or None; what each/all_of/in_range compose
SubProblems = list[tuple[Optional[str], str]]  # (sub-key or None, message) pairs of a value with many parts
FieldCheck = Union[Check, Callable[[Any], SubProblems]]  # what setting(check=...) accepts: either kind


def setting(
    doc: str,
    *,
    default: Any = _MISSING,
    check: FieldCheck | None = None,
    key: str | None = None,
) -> Any:
    """Declare a config field. ``default`` may be a value, a :class:`ByEnv`, or a zero-argument factory
    wrapped in :func:`factory`; no default means the key is required. ``check`` returns an error message
    (without the path) or ``None``, or a list of ``(sub-key or None, message)`` pairs."""
    meta = {"doc": doc, "default": default, "check": check, "key": key}
    if default is _MISSING:
        return field(kw_only=True, metadata=meta)
    return field(kw_only=True, default=None, metadata=meta)


class factory:  # noqa: N801 - reads like a keyword in field declarations
    """A default built fresh from the raw section, e.g. a nested section parsed from ``{}``."""

    def __init__(self, make: Callable[[], Any]):
        self.make = make


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def config_key(f: dataclasses.Field) -> str:
    return f.metadata.get("key") or camel(f.name)


def show(value: Any) -> str:
    """Render a value the way the user wrote it in YAML/JSON."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not path or path.endswith(":"):
        return f"{path}{key}"
    return f"{path}.{key}"


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if origin is Literal:
        return "one of " + ", ".join(show(a) for a in get_args(tp))
    if origin in (tuple, list):
        return "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if _is_optional(tp):
        return _type_name(_unwrap_optional(tp))
    return getattr(tp, "__name__", str(tp))


def _is_optional(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)


def _unwrap_optional(tp: Any) -> Any:
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 else Union[tuple(args)]


_NOT_PARSED = object()


def parse_value(tp: Any, raw: Any, path: str, ctx: Context) -> Any:
    """Convert ``raw`` to ``tp``; on failure record a problem and return ``_NOT_PARSED``."""
    if _is_optional(tp):
        if raw is None:
            return None
        return parse_value(_unwrap_optional(tp), raw, path, ctx)
    origin = get_origin(tp)
    if tp is Any:
        return raw
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(raw, dict):
            ctx.problem(path, f"expected a mapping of settings (got {show(raw)})")
            return _NOT_PARSED
        return parse(tp, raw, path, ctx)
    if origin is Literal:
        allowed = get_args(tp)
        if raw in allowed and type(raw) is type(allowed[0]):
            return raw
        hint = did_you_mean(raw, [str(a) for a in allowed]) if isinstance(raw, str) else ""
        ctx.problem(path, f"got {show(raw)}; allowed: {', '.join(show(a) for a in allowed)}{hint}")
        return _NOT_PARSED
    if origin is tuple:
        if not isinstance(raw, list):
            ctx.problem(path, f"expected a list (got {show(raw)})")
            return _NOT_PARSED
        (item_tp, _ellipsis) = get_args(tp)
        items = [parse_value(item_tp, item, join(path, i), ctx) for i, item in enumerate(raw)]
        return _NOT_PARSED if any(i is _NOT_PARSED for i in items) else tuple(items)
    if origin is dict:
        if not isinstance(raw, dict):
            ctx.problem(path, f"expected a mapping (got {show(raw)})")
            return _NOT_PARSED
        key_tp, val_tp = get_args(tp)
        out = {}
        for k, v in raw.items():
            if not isinstance(k, str):
                ctx.problem(join(path, str(k)), f"keys must be strings (got {show(k)})")
                continue
            parsed = parse_value(val_tp, v, join(path, k), ctx)
            if parsed is not _NOT_PARSED:
                out[k] = parsed
        return types.MappingProxyType(out) if len(out) == len(raw) else _NOT_PARSED
    if tp is bool:
        if isinstance(raw, bool):
            return raw
    elif tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif tp is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
    elif tp is str:
        if isinstance(raw, str):
            return raw
    else:  # pragma: no cover - a schema declaration error, not a config error
        raise TypeError(f"unsupported field type {tp!r} at {path}")
    ctx.problem(path, f"expected {_type_name(tp)} (got {show(raw)})")
    return _NOT_PARSED


def parse(cls: type, raw: dict, path: str, ctx: Context) -> Any:
    """Parse ``raw`` into the dataclass ``cls``; returns ``_NOT_PARSED`` if anything in it was wrong."""
    hints = get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")]
    keys = {config_key(f): f for f in fields}
    before = len(ctx.problems)
    for key in raw:
        if key not in keys:
            ctx.problem(join(path, key), f"unknown setting{did_you_mean(str(key), keys)}; known: {', '.join(sorted(keys))}")
    values: dict[str, Any] = {}
    for key, f in keys.items():
        tp = hints[f.name]
        if key in raw and raw[key] is not None:
            value = parse_value(tp, raw[key], join(path, key), ctx)
        else:
            default = f.metadata.get("default", _MISSING)
            if default is _MISSING:
                if key in raw:
                    ctx.problem(join(path, key), f"required; expected {_type_name(tp)} (got null)")
                else:
                    ctx.problem(join(path, key), f"required setting is missing; expected {_type_name(tp)}")
                value = _NOT_PARSED
            else:
                value = resolve_default(tp, default, join(path, key), ctx)
        if value is not _NOT_PARSED and key in raw and raw[key] is not None:
            check = f.metadata.get("check")
            message = check(value) if check else None
            if isinstance(message, list):
                for sub, text in message:
                    ctx.problem(join(join(path, key), sub) if sub is not None else join(path, key), text)
            elif message:
                ctx.problem(join(path, key), message)
            if message:
                value = _NOT_PARSED
        values[f.name] = value
    if len(ctx.problems) > before or any(v is _NOT_PARSED for v in values.values()):
        checker = getattr(cls, "check", None)
        if checker is not None:  # the rules that do not need a bad field still report, in this same pass
            try:
                checker(Partial(cls, values), ctx, path)
            except Exception:  # noqa: BLE001 - Unparsed, or a rule tripping over a value already reported as wrong:
                pass  # the config is refused either way; the problems found so far are reported
        return _NOT_PARSED
    obj = cls(**values)  # internal fields keep their defaults; the loader fills them
    checker = getattr(obj, "check", None)
    if checker is not None:
        checker(ctx, path)
    return obj


class Unparsed(Exception):
    """A rule read a field that failed to parse: the rule is skipped (the field's own problem is already recorded)."""


class Partial:
    """A section some of whose fields failed: parsed fields read as usual, failed ones raise :class:`Unparsed`;
    methods and properties of the section class work on it."""

    def __init__(self, cls: type, values: dict[str, Any]):
        object.__setattr__(self, "_partial_cls", cls)
        object.__setattr__(self, "_partial_values", values)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_partial_values")
        if name in values:
            if values[name] is _NOT_PARSED:
                raise Unparsed(name)
            return values[name]
        attr = getattr(object.__getattribute__(self, "_partial_cls"), name)
        if isinstance(attr, property) and attr.fget is not None:
            return attr.fget(self)
        if isinstance(attr, types.FunctionType):
            return types.MethodType(attr, self)
        return attr


def each_rule(*rules: Callable[[], None]) -> None:
    """Run independent rules; one that needs a field that failed is skipped, the others still run."""
    for rule in rules:
        try:
            rule()
        except Unparsed:
            pass


def resolve_default(tp: Any, default: Any, path: str, ctx: Context) -> Any:
    if isinstance(default, ByEnv):
        default = default.for_env(ctx.env)
    if isinstance(default, factory):
        default = default.make()
    if dataclasses.is_dataclass(tp) or (_is_optional(tp) and dataclasses.is_dataclass(_unwrap_optional(tp))):
        if isinstance(default, dict):
            target = _unwrap_optional(tp) if _is_optional(tp) else tp
            return parse(target, default, path, ctx)
    if isinstance(default, list):
        target = _unwrap_optional(tp) if _is_optional(tp) else tp
        if get_origin(target) is tuple and dataclasses.is_dataclass(get_args(target)[0]):
            return parse_value(target, default, path, ctx)  # a default list of sections (e.g. storage.buckets)
        return tuple(default)
    if isinstance(default, dict):
        return types.MappingProxyType(dict(default))
    return default


def is_parsed(value: Any) -> bool:
    return value is not _NOT_PARSED


# ---- reusable checks -------------------------------------------------------------------------------


def in_range(low: float, high: float) -> Check:
    def check(value: Any) -> Optional[str]:
        if not low <= value <= high:
            return f"got {show(value)}; allowed: {low}..{high}"
        return None

    return check


def one_of(*allowed: Any) -> Check:
    def check(value: Any) -> Optional[str]:
        if value not in allowed:
            hint = did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
            return f"got {show(value)}; allowed: {', '.join(show(a) for a in allowed)}{hint}"
        return None

    return check


def each(item_check: Check) -> Check:
    """Apply ``item_check`` to every item of a list; the message names the first bad index."""

    def check(values: Any) -> Optional[str]:
        for i, value in enumerate(values):
            message = item_check(value)
            if message:
                return f"item [{i}]: {message}"
        return None

    return check


def all_of(*checks: Check) -> Check:
    def check(value: Any) -> Optional[str]:
        for c in checks:
            message = c(value)
            if message:
                return message
        return None

    return check


def unique(values: Any) -> Optional[str]:
    seen: set = set()
    for value in values:
        if value in seen:
            return f"{show(value)} is listed twice; entries must be unique"
        seen.add(value)
    return None


def non_empty(value: Any) -> Optional[str]:
    return "must not be empty" if len(value) == 0 else None


def field_docs(cls: type) -> list[tuple[str, dataclasses.Field, Any]]:
    """(key, field, type) for the configuration reference."""
    hints = get_type_hints(cls)
    return [(config_key(f), f, hints[f.name]) for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")]


def describe_type(tp: Any) -> str:
    return _type_name(tp)
