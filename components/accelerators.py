"""The one accelerator vocabulary: what a pool, an instance type or a pod accelerates with, and every name each
kind goes by elsewhere. PURE (standard library only): the catalog, the spec, the derivations, the components, the
add-ons, the tools and the policy pack all read this table; nothing else spells these names.

The vocabulary is the pool's, ``gpu | neuron | cpu`` (``crucible:pools[].kind``): it is what users write in every
stack file and what a workload asks for (a GPU, a Neuron device, no accelerator), and ``cpu`` is a kind where the
catalog's ``none`` is an absence. The other spellings are columns of the table, read at the edges only:

- ``catalog_kind``: the device maker as instance_types.yaml spells ``accelerator_kind`` (nvidia | neuron | none);
  the catalog turns it into ``kind`` when it reads the file.
- ``resource``: the extended resource the device plugin advertises and pods request (nvidia.com/gpu,
  aws.amazon.com/neuron); Neuron also advertises ``aws.amazon.com/neuroncore`` (``extra_resources``). Accelerator
  pools are tainted NoSchedule with the resource as key (``taint``), and pods that use them tolerate it.
- ``label_value``: the value of the ``crucible.io/accelerator`` node label on the pool's nodes (the device
  plugins and exporters select it).
- ``device_plugin``: the Helm chart that advertises the devices, by its name in the version table
  (components/versions.py pins it; addons/device_plugins.py installs it).
- ``root_owned_devices``: the device nodes the plugin hands a container stay root's (mode 0600) unless the
  runtime gives them the container's runAsUser/runAsGroup: on Bottlerocket that is the setting
  ``settings.kubernetes.device-ownership-from-security-context``, which the EKS user guide requires for Neuron
  ("EKS-optimized Bottlerocket AMIs", Neuron); a non-root pod (every pod of a restricted namespace) cannot open
  them without it. NVIDIA's container toolkit creates its device nodes world-accessible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["gpu", "neuron", "cpu"]
CatalogKind = Literal["nvidia", "neuron", "none"]


@dataclass(frozen=True)
class Accelerator:
    kind: Kind
    catalog_kind: CatalogKind
    words: str  # how messages name the kind
    unit: str  # how messages name one device (notebook profiles: "1 NVIDIA GPU")
    resource: str | None = None
    extra_resources: tuple[str, ...] = ()
    label_value: str | None = None
    device_plugin: str | None = None
    root_owned_devices: bool = False

    @property
    def accelerated(self) -> bool:
        return self.resource is not None

    @property
    def taint(self) -> dict[str, str] | None:
        """The NoSchedule taint of the kind's pools (None for cpu pools, which are not tainted)."""
        return {"key": self.resource, "effect": "NoSchedule"} if self.resource else None

    @property
    def toleration(self) -> dict[str, str] | None:
        """What a pod (or a device plugin's DaemonSet) states to run on the kind's tainted nodes."""
        return {"key": self.resource, "operator": "Exists", "effect": "NoSchedule"} if self.resource else None

    @property
    def resources(self) -> tuple[str, ...]:
        """Every extended resource the kind's device plugin advertises."""
        return ((self.resource,) if self.resource else ()) + self.extra_resources


GPU = Accelerator(
    kind="gpu",
    catalog_kind="nvidia",
    words="NVIDIA GPU",
    unit="NVIDIA GPU",
    resource="nvidia.com/gpu",
    label_value="nvidia",
    device_plugin="nvidia-device-plugin",
)
NEURON = Accelerator(
    kind="neuron",
    catalog_kind="neuron",
    words="AWS Neuron (Trainium/Inferentia)",
    unit="AWS Neuron device",
    resource="aws.amazon.com/neuron",
    extra_resources=("aws.amazon.com/neuroncore",),
    label_value="neuron",
    device_plugin="neuron-helm-chart",
    root_owned_devices=True,
)
CPU = Accelerator(kind="cpu", catalog_kind="none", words="no accelerator", unit="CPU")

ACCELERATORS: dict[str, Accelerator] = {a.kind: a for a in (GPU, NEURON, CPU)}
KINDS: tuple[Kind, ...] = tuple(a.kind for a in ACCELERATORS.values())
ACCELERATED: tuple[Accelerator, ...] = tuple(a for a in ACCELERATORS.values() if a.accelerated)
# The accelerator resources pods request (quotas, Kueue resource groups, taint keys), gpu first.
DEVICE_RESOURCES: tuple[str, ...] = tuple(a.resource for a in ACCELERATED if a.resource)
CATALOG_KINDS: tuple[CatalogKind, ...] = tuple(a.catalog_kind for a in ACCELERATORS.values())
_BY_CATALOG_KIND: dict[str, Accelerator] = {a.catalog_kind: a for a in ACCELERATORS.values()}
_BY_RESOURCE = {r: a for a in ACCELERATED for r in a.resources}


def accelerator(kind: str) -> Accelerator:
    """The table row of a pool kind (gpu | neuron | cpu)."""
    try:
        return ACCELERATORS[kind]
    except KeyError:
        raise ValueError(f"accelerator kind {kind!r}; allowed: {', '.join(KINDS)}") from None


def from_catalog_kind(catalog_kind: str) -> Accelerator:
    """The row of an instance_types.yaml ``accelerator_kind`` (nvidia | neuron | none)."""
    try:
        return _BY_CATALOG_KIND[catalog_kind]
    except KeyError:
        raise ValueError(f"catalog accelerator kind {catalog_kind!r}; allowed: {', '.join(CATALOG_KINDS)}") from None


def from_resource(resource: str | None) -> Accelerator:
    """The row whose device plugin advertises ``resource``; cpu for anything else (None included)."""
    return _BY_RESOURCE.get(resource or "", CPU)
