"""The typed, validated stack spec (see loader.load_spec) and its sections."""

from stacks.spec.loader import load_spec, load_stack_file
from stacks.spec.platform import LAYERS, PlatformSpec
from stacks.spec.schema import ConfigError, Problem

__all__ = ["ConfigError", "LAYERS", "PlatformSpec", "Problem", "load_spec", "load_stack_file"]
