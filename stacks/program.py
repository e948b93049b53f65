"""The Pulumi program: engine config → validated spec → layers → stack outputs."""

from __future__ import annotations

import pulumi
from pulumi.runtime.config import CONFIG

from stacks.layers import build
from stacks.spec import ConfigError, PlatformSpec, load_spec


def spec_from_engine() -> PlatformSpec:
    """The stack's config as the engine passed it, validated. Bad config stops the program before any resource."""
    try:
        return load_spec(dict(CONFIG.get()), pulumi.get_stack(), source=f"config of stack {pulumi.get_stack()!r}")
    except ConfigError as error:
        raise pulumi.RunError(error.render()) from None


def main() -> None:
    spec = spec_from_engine()
    built = build(spec)
    for name, value in built.exports.items():
        pulumi.export(name, value)
