"""YAML as the API server reads it, for the tools that parse Kubernetes manifests (rendered charts, upstream CRDs)."""

from __future__ import annotations

import yaml


class KubeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader (libyaml's when installed) where `=` is a plain string: YAML 1.1's value tag is no Kubernetes
    type, and the Prometheus Operator's CRDs hold one."""


KubeLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
