"""Config keys that moved, kept working for one release: the old key loads into the new one with a warning.

Every add-on the platform installs is configured as `crucible:addons.<name>` (`enabled`, `version` and its own
settings). Three lived elsewhere before; their old keys are read for one more release and go in the next one:

- `training.mpiOperator.*` → `addons.mpiOperator.*`
- `training.trainer.*` → `addons.trainer.*`
- `serving.loadBalancerController.*` → `addons.loadBalancerController.*`

:func:`migrate` runs on the raw config before it is parsed, so a config using an old key gives the same spec as one
using the new key. Each setting read from an old key is a warning (:meth:`Context.warn`) naming both keys, which
`crucible plan` prints and `pulumi up` logs (`pulumi.log.warn`). A setting given under both the old and the new key
with different values is a problem naming both. A problem in a value given under an old key names the old key (the
one the user wrote), e.g. `crucible:training.mpiOperator.version: got 'latest' …`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from stacks.spec.schema import Context, Problem, show

ROOT = "crucible:"
REMOVED_IN = "the next release"


@dataclass(frozen=True)
class Moved:
    """A subsection that moved: ``old`` and ``new`` are (section, key) under `crucible:`."""

    old: tuple[str, str]
    new: tuple[str, str]

    @property
    def old_key(self) -> str:
        return ".".join(self.old)

    @property
    def new_key(self) -> str:
        return ".".join(self.new)


MOVED: tuple[Moved, ...] = (
    Moved(("training", "mpiOperator"), ("addons", "mpiOperator")),
    Moved(("training", "trainer"), ("addons", "trainer")),
    Moved(("serving", "loadBalancerController"), ("addons", "loadBalancerController")),
)


def migrate(raw: Mapping[str, Any], ctx: Context) -> tuple[dict[str, Any], dict[str, str]]:
    """``raw`` with every old key's settings moved to the new key (``raw`` itself is not changed), and the renames
    (`crucible:` path of a setting under the new key → the old path it was read from) for :func:`name_old_keys`."""
    out = dict(raw)
    renames: dict[str, str] = {}
    for moved in MOVED:
        (old_section, old_name), (new_section, new_name) = moved.old, moved.new
        section = out.get(old_section)
        if not isinstance(section, dict) or old_name not in section:
            continue
        target_section = out.get(new_section, {})
        if target_section is None:
            target_section = {}
        if not isinstance(target_section, dict):
            continue  # the new section has its own problem; the old key stays where it is (reported as unknown there)
        value = section[old_name]
        out[old_section] = {k: v for k, v in section.items() if k != old_name}
        old_path, new_path = f"{ROOT}{moved.old_key}", f"{ROOT}{moved.new_key}"
        if value is None or value == {}:
            ctx.warn(old_path, f"deprecated and empty: remove it (the settings are {new_path}.*; {moved.old_key} goes in {REMOVED_IN})")
            continue
        if not isinstance(value, dict):
            ctx.problem(old_path, f"expected a mapping of settings (got {show(value)}); this key is deprecated: set {new_path}.* instead")
            continue
        target = target_section.get(new_name)
        if target is None:
            target = {}
        if not isinstance(target, dict):
            continue  # the new key has its own problem
        merged = dict(target)
        for key, setting in value.items():
            old_key, new_key = f"{old_path}.{key}", f"{new_path}.{key}"
            if key in target and target[key] is not None and target[key] != setting:
                ctx.problem(
                    old_key,
                    f"got {show(setting)}, but {new_key} is {show(target[key])}: {old_key} is the deprecated name of {new_key}; "
                    f"set only {new_key} (remove {old_key})",
                )
                continue
            ctx.warn(old_key, f"deprecated: use {new_key} (the same setting; {moved.old_key} goes in {REMOVED_IN})")
            if key not in target or target[key] is None:
                merged[key] = setting
                renames[new_key] = old_key
        out[new_section] = {**target_section, new_name: merged}
    return out, renames


def name_old_keys(problems: list[Problem], renames: Mapping[str, str]) -> list[Problem]:
    """The problems, each at the key the user wrote: a value read from an old key is reported at the old key."""
    if not renames:
        return problems
    out = []
    for problem in problems:
        path = problem.path
        for new, old in renames.items():
            if path == new or path.startswith((f"{new}.", f"{new}[")):
                problem = Problem(old + path[len(new) :], problem.message)
                break
        out.append(problem)
    return out


def deprecated_keys_markdown() -> str:
    """The README's list of deprecated keys (tests/test_addon_keys.py checks the README says this)."""
    return "\n".join(f"- `crucible:{m.old_key}.*` → `crucible:{m.new_key}.*`" for m in MOVED)
