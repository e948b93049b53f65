"""The Pulumi program: engine config → validated spec → layers → stack outputs."""

from __future__ import annotations

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env, get_config_secret_keys_env, is_config_secret

from stacks.layers import build
from stacks.spec import ConfigError, PlatformSpec, load_spec


def spec_from_engine() -> PlatformSpec:
    """The stack's config as the engine passed it, validated. Bad config stops the program before any resource: a
    required secret that is not set stops it with the `pulumi config set --secret` command to run, and a secret key
    the engine does not hold as a secret (given as plain text) is refused."""
    # The language host hands config and its secret keys to the runtime (set_all_config, from PULUMI_CONFIG and
    # PULUMI_CONFIG_SECRET_KEYS); read the environment too in case a host only sets those.
    config = dict(CONFIG.get()) or dict(get_config_env())
    secret_keys = {k for k in config if is_config_secret(k)} | set(get_config_secret_keys_env())
    stack = pulumi.get_stack()
    try:
        return load_spec(config, stack, source=f"config of stack {stack!r}", secret_keys=secret_keys)
    except ConfigError as error:
        raise pulumi.RunError(error.render()) from None


def main() -> None:
    spec = spec_from_engine()
    built = build(spec)
    for name, value in built.exports.items():
        pulumi.export(name, value)
