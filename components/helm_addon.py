"""The one way Crucible installs a Helm chart: a `kubernetes.helm.v3.Release` with the settings every add-on shares.

An add-on component (addons/*.py, components/karpenter.py) says *what* it installs with a :class:`HelmChart` (the
release name, the chart and its repository, the version — by default the pin in components/versions.py — and the
namespace) and builds its values with a pure function; :func:`helm_release` creates the release:

- **parented to the component**, under the component's resource name (so its URN is the one it always had);
- **atomic**: a failed install or upgrade rolls back (every release Crucible creates is atomic; Helm waits for the
  release's workloads to be ready, `skip_await` stays off);
- **a namespace**: either the component's own `Namespace` resource (its Pod Security labels; pass its name
  Output, so the release depends on it) or, with ``create_namespace=True``, one Helm creates;
- **what it waits for**: ``depends_on`` (credentials, CRDs, the cluster and network it must outlive on destroy);
- ``timeout`` where an install takes longer than Helm's 300 s (the hub, Prometheus), ``skip_crds`` where another
  release owns the chart's CRDs.

System-node placement: platform pods run on the system node group, selected by its pool label and tolerating its
`CriticalAddonsOnly` taint (:func:`components.labels.on_system_nodes`). Charts put those two keys at different
places in their values; :func:`on_system_nodes_at` writes them at each place a chart reads them, so every add-on
places its pods the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.labels import on_system_nodes
from components.versions import ChartPin

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


@dataclass(frozen=True)
class HelmChart:
    """What a release installs, and where."""

    name: str  # the Helm release name
    chart: str  # the chart's name in `repository`, or an oci:// reference
    repository: Optional[str]  # https chart repository; None for an OCI chart
    version: str
    namespace: pulumi.Input[str]

    @classmethod
    def of(cls, pin: ChartPin, *, namespace: pulumi.Input[str], release: Optional[str] = None, version: Optional[str] = None) -> "HelmChart":
        """The pinned chart ``pin`` as release ``release`` (default: the chart's name) in ``namespace``; ``version``
        overrides the pin (the spec's per-add-on `version` settings)."""
        return cls(release or pin.name, pin.chart, pin.repository, version or pin.version, namespace)

    def at(self, version: str) -> "HelmChart":
        return dataclasses.replace(self, version=version)


def on_system_nodes_at(system_pool: str, *paths: Sequence[str]) -> dict:
    """Values putting the pods a chart configures at each of ``paths`` (value key paths; ``()`` is the top level) on
    the system node group: `nodeSelector` and `tolerations` at each path."""
    out: dict = {}
    for path in paths or ((),):
        node = out
        for key in path:
            node = node.setdefault(key, {})
        node.update(on_system_nodes(system_pool))
    return out


def merge_values(*layers: Mapping[str, Any]) -> dict:
    """Deep merge of chart values: mappings merge key by key, anything else is replaced by the later layer."""
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merge_values(out[key], value)
            else:
                # Fresh dicts and lists, never the caller's (Outputs and scalars are kept as they are).
                out[key] = merge_values(value) if isinstance(value, Mapping) else list(value) if isinstance(value, list) else value
    return out


def helm_release(
    owner: pulumi.Resource,
    resource_name: str,
    chart: HelmChart,
    values: Optional[pulumi.Input[Mapping[str, Any]]] = None,
    *,
    create_namespace: bool = False,
    depends_on: Sequence[pulumi.Resource] = (),
    timeout: Optional[int] = None,
    skip_crds: Optional[bool] = None,
) -> k8s.helm.v3.Release:
    """The release of ``chart``, a child of ``owner`` (see the module docstring for what every release shares)."""
    return k8s.helm.v3.Release(
        resource_name,
        name=chart.name,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository) if chart.repository else None,
        namespace=chart.namespace,
        create_namespace=create_namespace or None,
        values=values,
        skip_crds=skip_crds,
        atomic=True,
        timeout=timeout,
        opts=pulumi.ResourceOptions(parent=owner, depends_on=list(depends_on)),
    )
