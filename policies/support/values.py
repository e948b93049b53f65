"""Resource properties as plain Python values, with values unknown at preview kept visible.

The SDK hands policies proxies that raise ``UnknownValueError`` the moment an unknown value is read; the SDK
turns that exception into an advisory "can't run policy during preview" diagnostic. That is right when the
verdict depends on the value, and wrong when it does not: a KMS key ARN that is computed during preview is still
*set*. ``plain`` unwraps the proxies into dicts and lists and replaces each unknown leaf with an ``Unknown``
marker, so a rule decides per value: ``is_set`` treats an unknown as present, ``known`` re-raises the SDK's own
exception when the verdict needs the value.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import yaml

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


class Unknown:
    """A value the engine cannot know until the update runs."""

    __slots__ = ("sentinel", "path")

    def __init__(self, sentinel: str, path: Sequence[Any]):
        self.sentinel = sentinel if sentinel in SENTINELS else UNKNOWN_STRING_VALUE
        self.path = tuple(str(p) for p in path)

    def error(self) -> UnknownValueError:
        return UnknownValueError(self.sentinel, list(self.path))

    def __repr__(self) -> str:
        return f"<unknown at .{'.'.join(self.path)}>"


def plain(value: Any, path: Sequence[Any] = ()) -> Any:
    """Unwrap SDK proxies (or plain containers) into dicts and lists; unknown leaves become ``Unknown``."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, str):
        return Unknown(value, path) if value in SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:  # iterating keys never raises; reading an unknown value does
            try:
                item = value[key]
            except UnknownValueError as unknown:
                out[key] = Unknown(unknown.unknown_type_sentinel, (*path, key))
                continue
            out[key] = plain(item, (*path, key))
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError as unknown:
                items.append(Unknown(unknown.unknown_type_sentinel, (*path, index)))
                continue
            items.append(plain(item, (*path, index)))
        return items
    return value


def dig(value: Any, *path: Any, default: Any = None) -> Any:
    """Follow ``path`` through dicts (keys) and lists (indexes). An ``Unknown`` met on the way is returned as is
    (the rest of the path lies inside a value nobody knows yet); a missing step gives ``default``."""
    current = value
    for step in path:
        if isinstance(current, Unknown):
            return current
        if isinstance(current, dict):
            if step not in current:
                return default
            current = current[step]
        elif isinstance(current, list) and isinstance(step, int):
            if not -len(current) <= step < len(current):
                return default
            current = current[step]
        else:
            return default
    return default if current is None else current


def known(value: Any) -> Any:
    """The value itself; raises the SDK's ``UnknownValueError`` for an unknown (the verdict depends on it)."""
    if isinstance(value, Unknown):
        raise value.error()
    return value


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def is_set(value: Any) -> bool:
    """Present and non-empty; an unknown value is present (it will be set to something computed)."""
    if isinstance(value, Unknown):
        return True
    return value not in (None, "", [], {})


def as_list(value: Any) -> list:
    """A list value (``None`` is empty); an unknown list raises (its members decide the verdict)."""
    known(value)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_dict(value: Any) -> dict:
    known(value)
    return value if isinstance(value, dict) else {}


def flag(value: Any) -> Optional[bool]:
    """A boolean that providers sometimes spell as a string ("true"); ``None`` when unset, and anything that
    is not true (``"false"``, a typo) is false."""
    known(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def number(value: Any) -> Optional[float]:
    """A number (the wire only has doubles; some providers take numeric strings); ``None`` when unset or not
    a number."""
    known(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def text(value: Any) -> Optional[str]:
    known(value)
    return None if value is None else str(value)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same constructors as SafeLoader; libyaml parses


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def yaml_text(text: str) -> Any:
    """``yaml.safe_load(text)`` (a YAML document a resource carries as a string, e.g. a chart's config file), parsed
    once per text and copied for each caller; raises yaml.YAMLError as safe_load does."""
    return copy.deepcopy(_parsed(text))
