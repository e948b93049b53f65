"""What a deployed stack should look like: `VerifyTargets`, built from a plan JSON document.

The plan's captured `resources` are the primary source (what the program registers is what `pulumi up` created):

- pools: `kubernetes:karpenter.sh/v1:NodePool` CRs labelled `crucible.io/pool` (their EC2NodeClass, taints,
  instance types), EFA interfaces from the pool's `karpenter.k8s.aws/v1:EC2NodeClass` `networkInterfaces`;
- team queues: `kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue` (namespace, name, ClusterQueue), and which pool a
  ClusterQueue reaches through its ResourceFlavors' `nodeLabels` `karpenter.sh/nodepool`;
- the Lustre claim: the `PersistentVolumeClaim` bound to a PersistentVolume of the FSx CSI driver;
- JupyterHub: the `kubernetes:helm.sh/v3:Release` of chart `jupyterhub` (its namespace; the hub service).

Per-node figures (accelerators, EFA devices, network Gbps) are instance facts: they come from the plan's `capacity`
section, which reads the instance catalog (see :func:`node_expectations`). Lustre's throughput figure comes from
the plan's `storage` section (`fileSystems[].writeThroughputMbps`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from components.accelerators import DEVICE_RESOURCES
from components.labels import NODEPOOL_LABEL, POOL_LABEL

NODEPOOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS_TYPE = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
LOCALQUEUE_TYPES = ("kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", "kubernetes:kueue.x-k8s.io/v1beta1:LocalQueue")
CLUSTERQUEUE_TYPES = ("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue", "kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue")
FLAVOR_TYPES = ("kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor", "kubernetes:kueue.x-k8s.io/v1beta1:ResourceFlavor")
PV_TYPE = "kubernetes:core/v1:PersistentVolume"
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
FSX_DRIVER = "fsx.csi.aws.com"


class TargetsError(ValueError):
    """The plan document cannot be read as verify targets (exit 2)."""


@dataclass(frozen=True)
class NodeExpectation:
    """What one node of an instance type must advertise (instance catalog figures, through the plan)."""

    instance_type: str
    accelerators: int
    efa: int
    network_gbps: Optional[float]


@dataclass(frozen=True)
class PoolTarget:
    name: str
    node_class: str
    workload: Optional[str]
    accelerator_resource: Optional[str]  # nvidia.com/gpu | aws.amazon.com/neuron | None
    instance_types: tuple[str, ...]
    efa: int  # EFA devices per node the pool is configured with (0: no EFA)
    taints: tuple[dict, ...] = ()
    per_type: tuple[NodeExpectation, ...] = ()  # empty: the plan has no capacity section (figures unknown)
    queue: Optional[tuple[str, str]] = None  # (namespace, LocalQueue) whose ClusterQueue reaches this pool

    @property
    def accelerated(self) -> bool:
        return bool(self.accelerator_resource)

    def expectation(self, instance_type: Optional[str]) -> Optional[NodeExpectation]:
        """The figures for a node of `instance_type` (a pool may list several types)."""
        for e in self.per_type:
            if e.instance_type == instance_type:
                return e
        return None


@dataclass(frozen=True)
class QueueTarget:
    namespace: str
    name: str
    cluster_queue: Optional[str]


@dataclass(frozen=True)
class LustreTarget:
    namespace: str
    claim: str
    zone: Optional[str]
    expected_write_mbps: Optional[float]  # the plan's sizing figure (aggregate), MB/s


@dataclass(frozen=True)
class HubTarget:
    namespace: str
    service: str = "hub"
    port: str = "8081"


@dataclass(frozen=True)
class VerifyTargets:
    stack: str
    pools: tuple[PoolTarget, ...] = ()
    queues: tuple[QueueTarget, ...] = ()
    lustre: Optional[LustreTarget] = None
    hub: Optional[HubTarget] = None
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return asdict(self)


def _meta(inputs: dict) -> dict:
    return inputs.get("metadata") or {}


def _resources(document: dict, types: tuple[str, ...] | str) -> list[dict]:
    types = (types,) if isinstance(types, str) else types
    return [r for r in document.get("resources", []) if r.get("type") in types]


@dataclass(frozen=True)
class PoolFigures:
    """What the plan's `capacity` section says about one pool's nodes."""

    per_type: tuple[NodeExpectation, ...]
    efa: int
    accelerator_resource: Optional[str]


def node_expectations(capacity: Any, pool: str) -> Optional[PoolFigures]:
    """Per-instance-type figures of `pool` from the plan's `capacity` section (None: the section says nothing).

    Accepted shapes (the one place to adjust when the section changes):
    - a list ``[{"pool", "instanceTypes", "acceleratorsPerNode", "acceleratorResource", "efaPerNode",
      "networkGbpsPerNode"}]`` (one figure for all the pool's types);
    - the compute layer's mapping ``{pool: {"instanceTypes", "acceleratorResource", "efaInterfacesPerNode",
      "networkGbpsPerNode", "types": [{"instanceType", "accelerators", "networkGbpsPerNode"}]}}``.
    """
    if isinstance(capacity, list):
        entry = next((e for e in capacity if isinstance(e, dict) and e.get("pool") == pool), None)
        if entry is None:
            return None
        efa = int(entry.get("efaPerNode") or 0)
        per = tuple(
            NodeExpectation(t, int(entry.get("acceleratorsPerNode") or 0), efa, entry.get("networkGbpsPerNode"))
            for t in entry.get("instanceTypes", [])
        )
        return PoolFigures(per, efa, entry.get("acceleratorResource"))
    if isinstance(capacity, dict) and isinstance(capacity.get(pool), dict):
        entry = capacity[pool]
        efa = int(entry.get("efaInterfacesPerNode") or 0)
        types = entry.get("types") or [{"instanceType": t} for t in entry.get("instanceTypes", [])]
        per = tuple(
            NodeExpectation(t["instanceType"], int(t.get("accelerators") or 0), efa, t.get("networkGbpsPerNode", entry.get("networkGbpsPerNode")))
            for t in types
        )
        return PoolFigures(per, efa, entry.get("acceleratorResource"))
    return None


def _pool_queues(document: dict) -> dict[str, tuple[str, str]]:
    """pool -> (namespace, LocalQueue) whose ClusterQueue has a flavor pinned to that pool."""
    flavor_pool = {}
    for f in _resources(document, FLAVOR_TYPES):
        labels = (f.get("inputs", {}).get("spec") or {}).get("nodeLabels") or {}
        if NODEPOOL_LABEL in labels:
            flavor_pool[_meta(f["inputs"]).get("name")] = labels[NODEPOOL_LABEL]
    cq_pools: dict[str, set[str]] = {}
    for cq in _resources(document, CLUSTERQUEUE_TYPES):
        pools = cq_pools.setdefault(_meta(cq["inputs"]).get("name"), set())
        for group in (cq["inputs"].get("spec") or {}).get("resourceGroups", []):
            for flavor in group.get("flavors", []):
                if flavor.get("name") in flavor_pool:
                    pools.add(flavor_pool[flavor["name"]])
    out: dict[str, tuple[str, str]] = {}
    for lq in sorted(_resources(document, LOCALQUEUE_TYPES), key=lambda r: (_meta(r["inputs"]).get("namespace", ""), _meta(r["inputs"]).get("name", ""))):
        meta = _meta(lq["inputs"])
        for pool in sorted(cq_pools.get((lq["inputs"].get("spec") or {}).get("clusterQueue"), ())):
            out.setdefault(pool, (meta.get("namespace", "default"), meta.get("name")))
    return out


def _lustre(document: dict) -> Optional[LustreTarget]:
    fsx_volumes = {
        _meta(pv["inputs"]).get("name")
        for pv in _resources(document, PV_TYPE)
        if ((pv["inputs"].get("spec") or {}).get("csi") or {}).get("driver") == FSX_DRIVER
    }
    claim = next(
        (c for c in _resources(document, PVC_TYPE) if (c["inputs"].get("spec") or {}).get("volumeName") in fsx_volumes),
        None,
    )
    if claim is None:
        return None
    systems = ((document.get("storage") or {}).get("fileSystems")) or []
    fs = systems[0] if systems else {}
    meta = _meta(claim["inputs"])
    expected = fs.get("writeThroughputMbps", fs.get("throughputMbps"))
    return LustreTarget(meta.get("namespace", "default"), meta.get("name"), fs.get("zone"), float(expected) if expected is not None else None)


def _hub(document: dict) -> Optional[HubTarget]:
    for release in _resources(document, RELEASE_TYPE):
        if release.get("inputs", {}).get("chart") == "jupyterhub":
            return HubTarget(namespace=release["inputs"].get("namespace") or "default")
    return None


def targets_from_plan(document: dict) -> VerifyTargets:
    """VerifyTargets from a `crucible plan --json` document."""
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise TargetsError("not a crucible plan document: no `resources` list (write one with `crucible plan <stack> --json FILE`)")
    notes: list[str] = []
    classes = {_meta(r["inputs"]).get("name"): r["inputs"] for r in _resources(document, NODECLASS_TYPE)}
    queues_by_pool = _pool_queues(document)
    capacity = document.get("capacity")
    pools = []
    for np in _resources(document, NODEPOOL_TYPE):
        template = (np["inputs"].get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if POOL_LABEL not in labels:
            continue
        name = labels[POOL_LABEL]
        tspec = template.get("spec") or {}
        taints = tuple(tspec.get("taints") or ())
        resource = next((t["key"] for t in taints if t.get("key") in DEVICE_RESOURCES), None)
        types: tuple[str, ...] = ()
        for req in tspec.get("requirements") or ():
            if req.get("key") == "node.kubernetes.io/instance-type" and req.get("operator") == "In":
                types = tuple(req.get("values") or ())
        node_class = (tspec.get("nodeClassRef") or {}).get("name", name)
        interfaces = ((classes.get(node_class) or {}).get("spec") or {}).get("networkInterfaces") or []
        efa = sum(1 for i in interfaces if i.get("interfaceType") == "efa-only")
        figures = node_expectations(capacity, name)
        per_type: tuple[NodeExpectation, ...] = ()
        if figures is None:
            notes.append(f"pool {name}: the plan has no capacity figures; EFA is checked against the EC2NodeClass, accelerators only for presence")
        else:
            per_type, efa = figures.per_type, figures.efa
            resource = resource or figures.accelerator_resource
        pools.append(
            PoolTarget(
                name=name,
                node_class=node_class,
                workload=labels.get("crucible.io/workload"),
                accelerator_resource=resource,
                instance_types=types or tuple(e.instance_type for e in per_type),
                efa=efa,
                taints=taints,
                per_type=tuple(per_type),
                queue=queues_by_pool.get(name),
            )
        )
    queues = tuple(
        QueueTarget(_meta(r["inputs"]).get("namespace", "default"), _meta(r["inputs"]).get("name"), (r["inputs"].get("spec") or {}).get("clusterQueue"))
        for r in _resources(document, LOCALQUEUE_TYPES)
    )
    return VerifyTargets(
        stack=str(document.get("stack", "?")),
        pools=tuple(sorted(pools, key=lambda p: p.name)),
        queues=tuple(sorted(queues, key=lambda q: (q.namespace, q.name))),
        lustre=_lustre(document),
        hub=_hub(document),
        notes=tuple(notes),
    )

