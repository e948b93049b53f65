"""The Pulumi program: engine config → validated spec → layers → stack outputs."""

from __future__ import annotations

import pulumi
from pulumi.runtime.config import CONFIG, is_config_secret

from stacks.layers import build
from stacks.spec import ConfigError, PlatformSpec, load_spec


def spec_from_engine() -> PlatformSpec:
    """The stack's config as the engine passed it, validated. Bad config stops the program before any resource: a
    required secret that is not set stops it with the `pulumi config set --secret` command to run, and a secret key
    the engine does not hold as a secret (given as plain text) is refused."""
    config = dict(CONFIG.get())
    stack = pulumi.get_stack()
    try:
        return load_spec(config, stack, source=f"config of stack {stack!r}", secret_keys={k for k in config if is_config_secret(k)})
    except ConfigError as error:
        raise pulumi.RunError(error.render()) from None


def main() -> None:
    spec = spec_from_engine()
    built = build(spec)
    for name, value in built.exports.items():
        pulumi.export(name, value)
