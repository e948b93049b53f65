"""The Pulumi program: engine config → validated spec → layers → stack outputs."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime.config import CONFIG, get_config_env, get_config_secret_keys_env, is_config_secret

from components.contracts import ClusterOutputs
from stacks.layers import BUILDS, Below, Built, aws_provider, reference
from stacks.spec import LAYERS, ConfigError, PlatformSpec, load_spec


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
        spec = load_spec(config, stack, source=f"config of stack {stack!r}", secret_keys=secret_keys)
    except ConfigError as error:
        raise pulumi.RunError(error.render()) from None
    for warning in spec.warnings:  # e.g. a deprecated key (stacks/spec/deprecated.py): `pulumi up` shows it, the run goes on
        pulumi.log.warn(str(warning))
    return spec


def build(spec: PlatformSpec) -> dict[str, Any]:
    """Every layer from the bottom up: built here when the stack builds it, read from `stackReference` when it lies
    below the stack's first layer (checked first: every layer below present), skipped above. Returns the stack
    outputs: what each layer built exports, and what each layer read is re-exported, so a stack above finds every
    layer below."""
    below = Below(aws_provider=aws_provider(spec))
    referenced = reference.read(spec)  # None when the stack builds from the network up
    underneath = reference.layers_below(spec)
    exports: dict[str, Any] = {}
    for layer in LAYERS:
        if spec.builds(layer):
            built = BUILDS[layer](spec, below)
            exports.update(built.outputs.stack_outputs())
        elif layer in underneath and referenced is not None:
            read = reference.read_layer(layer, referenced)
            exports.update(referenced.exported(layer))
            built = Built(read)
            if isinstance(read, ClusterOutputs):  # the layers above reach the cluster with the referenced kubeconfig
                exports["kubeconfig"] = read.kubeconfig
                built = Built(read, k8s_provider=k8s.Provider("cluster-k8s", kubeconfig=read.kubeconfig, enable_server_side_apply=True))
        else:
            continue
        below = below.joined(layer, built)
    return exports


def main() -> None:
    for name, value in build(spec_from_engine()).items():
        pulumi.export(name, value)
