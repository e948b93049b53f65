"""The Karpenter model the rules share: what a NodePool accelerates with, what runs there, where it may place
nodes, and how an EC2NodeClass attaches EFA interfaces.

Contract with the program (components/node_pool.py): a NodePool names itself with the template label
``crucible.io/pool`` (falling back to ``metadata.name``), says what runs there with ``crucible.io/workload``
(training | serving | interactive), and references its EC2NodeClass by ``spec.template.spec.nodeClassRef.name``.
"""

from __future__ import annotations

import re
from typing import Optional

from components.accelerators import GPU, NEURON
from policies.support.rule import Res, Stack
from policies.support.tokens import EC2_NODE_CLASS, NODE_POOL
from policies.support.values import Unknown, as_list, dig, known

POOL_LABEL = "crucible.io/pool"
WORKLOAD_LABEL = "crucible.io/workload"
EFA_LABEL = "crucible.io/efa"
# The accelerator vocabulary is the program's (components/accelerators.py, standard library only).
GPU_RESOURCE = GPU.resource
NEURON_RESOURCE = NEURON.resource
EFA_RESOURCE = "vpc.amazonaws.com/efa"

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
INSTANCE_FAMILY = "karpenter.k8s.aws/instance-family"
INSTANCE_CATEGORY = "karpenter.k8s.aws/instance-category"
GPU_MANUFACTURER = "karpenter.k8s.aws/instance-gpu-manufacturer"
GPU_COUNT = "karpenter.k8s.aws/instance-gpu-count"
ACCELERATOR_MANUFACTURER = "karpenter.k8s.aws/instance-accelerator-manufacturer"
ACCELERATOR_COUNT = "karpenter.k8s.aws/instance-accelerator-count"
ACCELERATOR_NAME = "karpenter.k8s.aws/instance-accelerator-name"
GPU_NAME = "karpenter.k8s.aws/instance-gpu-name"
GPU_MEMORY = "karpenter.k8s.aws/instance-gpu-memory"
ZONE = "topology.kubernetes.io/zone"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
CAPACITY_TYPES = ("on-demand", "spot", "reserved")
NODEPOOL_LABEL = "karpenter.sh/nodepool"

_GPU_FAMILY = re.compile(r"^(p|g)\d")
_NEURON_FAMILY = re.compile(r"^(inf|trn)\d")
EFA_TYPES = ("efa", "efa-only")


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def is_gpu_family(name: str) -> bool:
    return bool(_GPU_FAMILY.match(family(name)))


def is_neuron_family(name: str) -> bool:
    return bool(_NEURON_FAMILY.match(family(name)))


class NodePool:
    """A ``karpenter.sh/v1`` NodePool resource, read through its plain props."""

    def __init__(self, res: Res):
        self.res = res

    @property
    def spec(self) -> dict:
        value = self.res.get("spec", default={})
        return value if isinstance(value, dict) else {}

    @property
    def template_labels(self) -> dict:
        value = dig(self.spec, "template", "metadata", "labels", default={})
        return value if isinstance(value, dict) else {}

    @property
    def name(self) -> str:
        label = self.template_labels.get(POOL_LABEL)
        if isinstance(label, str):
            return label
        return self.res.k8s_name or self.res.name

    @property
    def k8s_name(self) -> Optional[str]:
        return self.res.k8s_name

    def names(self) -> set[str]:
        """Every name this pool answers to (a ResourceFlavor selects by ``karpenter.sh/nodepool`` = metadata.name)."""
        return {n for n in (self.name, self.k8s_name) if n}

    @property
    def workload(self) -> Optional[str]:
        value = self.template_labels.get(WORKLOAD_LABEL)
        return value if isinstance(value, str) else None

    def requirements(self) -> list[dict]:
        return [r for r in as_list(dig(self.spec, "template", "spec", "requirements")) if isinstance(r, dict)]

    def selected(self, key: str) -> Optional[set[str]]:
        """Values an ``In`` requirement on ``key`` allows; ``None`` when nothing restricts ``key``."""
        chosen: Optional[set[str]] = None
        for req in self.requirements():
            if known(req.get("key")) != key or known(req.get("operator")) != "In":
                continue
            values = {str(known(v)) for v in as_list(req.get("values"))}
            chosen = values if chosen is None else chosen & values
        return chosen

    def requires_positive(self, key: str) -> bool:
        """A ``Gt``/``In`` requirement asks for more than zero of ``key`` (e.g. instance-gpu-count Gt 0)."""
        for req in self.requirements():
            if known(req.get("key")) != key:
                continue
            op = known(req.get("operator"))
            values = [str(known(v)) for v in as_list(req.get("values"))]
            if op == "Gt" and values and _as_int(values[0]) is not None and _as_int(values[0]) >= 0:
                return True
            if op == "In" and any((_as_int(v) or 0) > 0 for v in values):
                return True
        return False

    def taints(self) -> list[dict]:
        return [t for t in as_list(dig(self.spec, "template", "spec", "taints")) if isinstance(t, dict)]

    def has_taint(self, key: str, effect: str = "NoSchedule") -> bool:
        """A taint on ``key`` that repels at least as much as ``effect`` (NoExecute also evicts: it repels more)."""
        effects = {effect, "NoExecute"} if effect == "NoSchedule" else {effect}
        return any(known(t.get("key")) == key and known(t.get("effect")) in effects for t in self.taints())

    def instance_names(self) -> set[str]:
        """Instance types and families the requirements select (by type, family or category)."""
        names: set[str] = set()
        for key in (INSTANCE_TYPE, INSTANCE_FAMILY):
            names |= self.selected(key) or set()
        return names

    def requires_label(self, key: str) -> bool:
        """A requirement that only instances carrying ``key`` satisfy: ``Exists``, ``In`` a non-zero value, or
        ``Gt`` (Karpenter sets the accelerator labels only on instances that have the accelerator)."""
        for req in self.requirements():
            if known(req.get("key")) != key:
                continue
            op = known(req.get("operator"))
            values = [str(known(v)) for v in as_list(req.get("values"))]
            if op == "Exists" or (op == "In" and any(v not in ("0", "") for v in values)):
                return True
        return self.requires_positive(key)

    def _selected_accelerator(self) -> Optional[str]:
        """The accelerator the requirements select, by any requirement that implies it: instance type, family or
        category, GPU or accelerator manufacturer / name / count / memory (Karpenter's well-known labels)."""
        categories = {c.lower() for c in self.selected(INSTANCE_CATEGORY) or set()}
        names = self.instance_names()
        if (
            any(self.requires_label(k) for k in (GPU_MANUFACTURER, GPU_COUNT, GPU_NAME, GPU_MEMORY))
            or categories & {"g", "p"}
            or any(is_gpu_family(n) for n in names)
        ):
            return GPU_RESOURCE
        if any(self.requires_label(k) for k in (ACCELERATOR_MANUFACTURER, ACCELERATOR_COUNT, ACCELERATOR_NAME)) or (
            categories & {"inf", "trn"} or any(is_neuron_family(n) for n in names)
        ):
            return NEURON_RESOURCE
        return None

    def accelerator_resource(self) -> Optional[str]:
        """``nvidia.com/gpu`` or ``aws.amazon.com/neuron`` for accelerator pools: what the requirements select,
        else what the pool's taint announces."""
        selected = self._selected_accelerator()
        if selected:
            return selected
        for resource in (GPU_RESOURCE, NEURON_RESOURCE):
            if self.has_taint(resource):
                return resource
        return None

    def is_gpu(self) -> bool:
        return self.accelerator_resource() == GPU_RESOURCE

    def is_neuron(self) -> bool:
        return self.accelerator_resource() == NEURON_RESOURCE

    def zones(self) -> Optional[set[str]]:
        return self.selected(ZONE)

    def capacity_types(self) -> set[str]:
        """The capacity types the requirements allow, whatever the operator: In, NotIn (NotIn [on-demand] is spot
        and reserved), Exists (any); no requirement is Karpenter v1's default, on-demand only."""
        requirements = [r for r in self.requirements() if known(r.get("key")) == CAPACITY_TYPE]
        if not requirements:
            return {"on-demand"}
        allowed = set(CAPACITY_TYPES)
        for req in requirements:
            op = known(req.get("operator"))
            values = {str(known(v)) for v in as_list(req.get("values"))}
            if op == "In":
                allowed &= values
            elif op == "NotIn":
                allowed -= values
            elif op == "DoesNotExist":
                allowed = set()
        return allowed

    def limits(self) -> dict:
        value = self.spec.get("limits", {})
        known(value)
        return value if isinstance(value, dict) else {}

    @property
    def node_class_name(self) -> Optional[str]:
        value = dig(self.spec, "template", "spec", "nodeClassRef", "name")
        return value if isinstance(value, str) else None

    def node_class(self, stack: Stack) -> Optional[Res]:
        """The EC2NodeClass this pool uses: by ``nodeClassRef.name`` (a plain name, known at preview)."""
        wanted = self.node_class_name
        for nc in stack.of(EC2_NODE_CLASS):
            if wanted is not None and nc.k8s_name == wanted:
                return nc
        return None

    def is_efa(self, stack: Stack) -> bool:
        if str(self.template_labels.get(EFA_LABEL, "")).lower() == "true":
            return True
        nc = self.node_class(stack)
        return nc is not None and bool(efa_interfaces(nc.get("spec", "networkInterfaces")))


def efa_interfaces(interfaces) -> list[dict]:
    """EFA (``efa``/``efa-only``) interfaces of a NodeClass's ``networkInterfaces`` or an LT's ``networkInterfaces``."""
    if isinstance(interfaces, Unknown):
        known(interfaces)
    return [nic for nic in as_list(interfaces) if isinstance(nic, dict) and known(nic.get("interfaceType")) in EFA_TYPES]


def node_pools(stack: Stack) -> list[NodePool]:
    return [NodePool(r) for r in stack.of(NODE_POOL)]


def _as_int(value: str) -> Optional[int]:
    try:
        return int(value)
    except ValueError:
        return None


DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"  # the NVIDIA device plugin's per-node named config


def time_slicing_replicas(stack: Stack, pool: NodePool) -> dict[str, int]:
    """resource -> replicas a GPU of the pool's nodes is advertised as: the NVIDIA device plugin's named config the
    pool's nodes select (node label nvidia.com/device-plugin.config), `sharing.timeSlicing.resources[]`."""
    import yaml

    from policies.support import helm
    from policies.support.tokens import HELM_RELEASE
    from policies.support.values import yaml_text

    name = pool.template_labels.get(DEVICE_PLUGIN_CONFIG_LABEL)
    if not isinstance(name, str):
        return {}
    for release in stack.of(HELM_RELEASE):
        if helm.chart_name(release) != "nvidia-device-plugin":
            continue
        text_config = dig(helm.values(release), "config", "map", name)
        try:
            config = yaml_text(text_config) if isinstance(text_config, str) else None
        except yaml.YAMLError:
            config = None
        resources = dig(config or {}, "sharing", "timeSlicing", "resources", default=[]) or []
        return {str(r.get("name")): int(r.get("replicas") or 1) for r in resources if isinstance(r, dict)}
    return {}
