"""What a deployed stack should look like: `VerifyTargets`, built from a plan JSON document.

The plan's captured `resources` are the primary source (what the program registers is what `pulumi up` created),
read through the plan's read model (stacks/tools/plan/model.py: :class:`PlanModel`, the one the plan report renders):

- pools: `kubernetes:karpenter.sh/v1:NodePool` CRs labelled `crucible.io/pool` (their EC2NodeClass, taints,
  instance types), EFA interfaces from the pool's `karpenter.k8s.aws/v1:EC2NodeClass` `networkInterfaces`;
- team queues: `kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue` (namespace, name, ClusterQueue), and which pool a
  ClusterQueue reaches through its ResourceFlavors' `nodeLabels` `karpenter.sh/nodepool`;
- the Lustre claim: the `PersistentVolumeClaim` bound to a PersistentVolume of the FSx CSI driver;
- JupyterHub: the `kubernetes:helm.sh/v3:Release` of chart `jupyterhub` (its namespace; the hub service);
- Kueue's WorkloadPriorityClasses (name, value) and Topologies (name, levels), which the kueue check reads back;
- verify's own place (addons.verify): namespace crucible-verify, its LocalQueue and WorkloadPriorityClass, its Lustre
  claim. Its LocalQueue is not a team queue (the queues check skips it; the probes use it).

Per-node figures (accelerators, EFA devices, network Gbps) are instance facts: the plan's `capacity` section names
each pool's instance types and EFA setting, the instance catalog gives one node's figures (see :func:`node_expectations`;
the section's per-type figures are pool totals at max nodes). Lustre's throughput figure comes from
the plan's `storage` section (`fileSystems[].writeThroughputMbps`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from addons.verify import NAMESPACE as VERIFY_NAMESPACE, PRIORITY_CLASS as VERIFY_PRIORITY_CLASS, QUEUE as VERIFY_QUEUE
from stacks.tools.plan.model import PVC_TYPE, PlanModel, meta, spec_of

WPC_TYPE = "kubernetes:kueue.x-k8s.io/v1beta2:WorkloadPriorityClass"
TOPOLOGY_TYPE = "kubernetes:kueue.x-k8s.io/v1beta2:Topology"
HUB_ACCESS_LABEL = "hub.jupyter.org/network-access-hub"  # z2jh 4.4.0 templates/hub/netpol.yaml: pods with it reach hub:8081


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
    price_per_hour: Optional[float] = None  # the cheapest of its types (catalog)

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
    pool: Optional[str] = None  # where the sample Job is pinned: the CPU (or cheapest) pool the ClusterQueue reaches
    taints: tuple[dict, ...] = ()  # that pool's taints (tolerated)


@dataclass(frozen=True)
class RunnerTarget:
    """verify's own namespace and queue, when the stack creates them (spec addons.verify.enabled)."""

    namespace: str = VERIFY_NAMESPACE
    queue: Optional[str] = None  # its LocalQueue (None: the stack has no Kueue)
    priority_class: Optional[str] = None


@dataclass(frozen=True)
class LustreTarget:
    namespace: str
    claim: str
    zone: Optional[str]
    expected_write_mbps: Optional[float]  # the plan's sizing figure (aggregate), MB/s
    pool: Optional[str] = None  # the pool whose workloads use the file system (training): the writers run there
    taints: tuple[dict, ...] = ()


@dataclass(frozen=True)
class HubTarget:
    namespace: str
    service: str = "hub"
    port: str = "8081"
    access_label: str = HUB_ACCESS_LABEL


@dataclass(frozen=True)
class PriorityClassTarget:
    """A WorkloadPriorityClass the plan registers (kueue.x-k8s.io/v1beta2): Kueue reads its `value`."""

    name: str
    value: int


@dataclass(frozen=True)
class TopologyTarget:
    """A Topology the plan registers (kueue.x-k8s.io/v1beta2): its levels' node labels, outermost first."""

    name: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class VerifyTargets:
    stack: str
    pools: tuple[PoolTarget, ...] = ()
    queues: tuple[QueueTarget, ...] = ()
    lustre: Optional[LustreTarget] = None
    hub: Optional[HubTarget] = None
    runner: Optional[RunnerTarget] = None
    canary: bool = False  # the plan installs the fleet health canary (its results ConfigMap is there to read)
    kueue: bool = False  # the plan installs Kueue objects (queues, priority classes, a Topology): the kueue check reads them back
    priority_classes: tuple[PriorityClassTarget, ...] = ()
    topologies: tuple[TopologyTarget, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def pool(self, name: Optional[str]) -> Optional[PoolTarget]:
        return next((p for p in self.pools if p.name == name), None)

    @property
    def cheapest_pool(self) -> Optional[PoolTarget]:
        """Where verify's plain CPU pods go: a pool without accelerators, the cheapest first."""
        return min(self.pools, key=_cost_rank, default=None)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PoolFigures:
    """What the plan's `capacity` section says about one pool's nodes."""

    per_type: tuple[NodeExpectation, ...]
    efa: int
    accelerator_resource: Optional[str]


def _per_node(instance_type: str, entry: dict, efa_configured: int) -> NodeExpectation:
    """One node of `instance_type`: the catalog's figures (what the hardware has); EFA is what the pool's
    EC2NodeClass attaches, at most what the type supports. The plan's per-type `accelerators` is the pool's total at
    `nodes` nodes (64 GPUs on 8 p5 nodes), never a per-node figure: it is divided only for a type the catalog lacks."""
    from components.catalog import load_catalog

    catalog = load_catalog()
    if instance_type in catalog:
        facts = catalog.get(instance_type)
        return NodeExpectation(instance_type, facts.accelerator_count, min(efa_configured, facts.efa_interfaces), facts.network_gbps)
    nodes = int(entry.get("nodes") or 0)
    total = int(entry.get("accelerators") or 0)
    per_node = total // nodes if nodes else total
    return NodeExpectation(instance_type, per_node, min(efa_configured, int(entry.get("efaMaxPerNode", efa_configured))), entry.get("networkGbpsPerNode"))


def node_expectations(capacity: Any, pool: str) -> Optional[PoolFigures]:
    """Per-node figures of each instance type of `pool`, from the plan's `capacity` section and the catalog (None:
    the section says nothing about the pool).

    Accepted shapes (the one place to adjust when the section changes):
    - a list ``[{"pool", "instanceTypes", "acceleratorsPerNode", "acceleratorResource", "efaPerNode",
      "networkGbpsPerNode"}]`` (figures already per node, one for all the pool's types);
    - the compute layer's mapping ``{pool: {"instanceTypes", "acceleratorResource", "efaInterfacesPerNode",
      "types": [{"instanceType", "nodes", "accelerators", "efaMaxPerNode", "networkGbpsPerNode"}]}}`` where the
      per-type figures are totals at max nodes: per-node figures come from the catalog (:func:`_per_node`).
    """
    if isinstance(capacity, list):
        entry = next((e for e in capacity if isinstance(e, dict) and e.get("pool") == pool), None)
        if entry is None:
            return None
        efa = int(entry.get("efaPerNode") or 0)
        per = tuple(
            NodeExpectation(t, int(entry.get("acceleratorsPerNode") or 0), efa, entry.get("networkGbpsPerNode")) for t in entry.get("instanceTypes", [])
        )
        return PoolFigures(per, efa, entry.get("acceleratorResource"))
    if isinstance(capacity, dict) and isinstance(capacity.get(pool), dict):
        entry = capacity[pool]
        efa = int(entry.get("efaInterfacesPerNode") or 0)
        types = entry.get("types") or [{"instanceType": t} for t in entry.get("instanceTypes", [])]
        per = tuple(_per_node(t["instanceType"], t, efa) for t in types)
        return PoolFigures(per, efa, entry.get("acceleratorResource"))
    return None


def _cost_rank(pool: PoolTarget) -> tuple:
    return (pool.accelerated, pool.efa > 0, pool.price_per_hour if pool.price_per_hour is not None else float("inf"), pool.name)


def _lustre(model: PlanModel, pools: list[PoolTarget]) -> Optional[LustreTarget]:
    claim = model.lustre_claim
    if claim is None:
        return None
    own = next((c for c in model.of_type(PVC_TYPE) if meta(c).get("namespace") == VERIFY_NAMESPACE and spec_of(c).get("volumeName")), None)
    namespace, name = (VERIFY_NAMESPACE, meta(own).get("name")) if own is not None else (claim.namespace, claim.name)
    systems = (((model.document or {}).get("storage") or {}).get("fileSystems")) or []
    fs = systems[0] if systems else {}
    expected = fs.get("writeThroughputMbps", fs.get("throughputMbps"))
    # The file system serves training: write from a node of the training pool (EFA first), as its clients do.
    users = sorted((p for p in pools if p.workload == "training"), key=lambda p: (not p.efa, p.name))
    user = users[0] if users else None
    return LustreTarget(
        namespace,
        name,
        fs.get("zone"),
        float(expected) if expected is not None else None,
        pool=user.name if user else None,
        taints=user.taints if user else (),
    )


def _runner(model: PlanModel) -> Optional[RunnerTarget]:
    namespaces = {meta(r).get("name") for r in model.of_type("kubernetes:core/v1:Namespace")}
    if VERIFY_NAMESPACE not in namespaces:
        return None
    queue = next((q for q in model.queues.local_queues if q.namespace == VERIFY_NAMESPACE and q.cluster_queue == VERIFY_QUEUE), None)
    priority = any(meta(r).get("name") == VERIFY_PRIORITY_CLASS for r in model.of_type("kubernetes:kueue.x-k8s.io/v1beta2:WorkloadPriorityClass"))
    return RunnerTarget(queue=queue.name if queue else None, priority_class=VERIFY_PRIORITY_CLASS if queue and priority else None)


def _price(instance_types) -> Optional[float]:
    from components.catalog import load_catalog

    catalog = load_catalog()
    prices = [catalog.get(t).price_per_hour for t in instance_types if t in catalog]
    return min(prices) if prices else None


def _hub(model: PlanModel) -> Optional[HubTarget]:
    return HubTarget(namespace=model.hub.namespace or "default") if model.hub is not None else None


def targets_from_plan(document: dict) -> VerifyTargets:
    """VerifyTargets from a `crucible plan --json` document."""
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise TargetsError("not a crucible plan document: no `resources` list (write one with `crucible plan <stack> --json FILE`)")
    model = PlanModel.from_document(document)
    notes: list[str] = []
    queues_by_pool = model.queues.for_pool()
    capacity = document.get("capacity")
    pools = []
    for pool in model.pools:
        resource, efa = pool.accelerator_resource, pool.efa_interfaces
        figures = node_expectations(capacity, pool.name)
        if figures is None and pool.instance_types:  # no capacity section: the NodePool's types, the catalog's figures
            figures = node_expectations({pool.name: {"instanceTypes": list(pool.instance_types), "efaInterfacesPerNode": efa}}, pool.name)
            figures = PoolFigures(tuple(e for e in figures.per_type if e.accelerators or not resource), efa, resource) if figures else None
        per_type: tuple[NodeExpectation, ...] = ()
        if not figures or not figures.per_type:
            notes.append(
                f"pool {pool.name}: neither the plan nor the catalog has its figures; EFA is checked against the EC2NodeClass, accelerators only for presence"
            )
        else:
            per_type, efa = figures.per_type, figures.efa
            resource = resource or figures.accelerator_resource
        pools.append(
            PoolTarget(
                name=pool.name,
                node_class=pool.node_class,
                workload=pool.workload,
                accelerator_resource=resource,
                instance_types=pool.instance_types or tuple(e.instance_type for e in per_type),
                efa=efa,
                taints=pool.taints,
                per_type=tuple(per_type),
                queue=queues_by_pool.get(pool.name),
                price_per_hour=_price(pool.instance_types or tuple(e.instance_type for e in per_type)),
            )
        )
    by_name = {p.name: p for p in pools}
    priority_classes, topologies = _priority_classes(model), _topologies(model)
    queues = []
    for q in model.queues.local_queues:
        if q.namespace == VERIFY_NAMESPACE:  # verify's own queue: the probes use it; it is not a team's
            continue
        cq = model.queues.cluster_queues.get(q.cluster_queue) if q.cluster_queue else None
        reachable = [by_name[name] for name in (cq.pools if cq else ()) if name in by_name]
        pin = min(reachable, key=_cost_rank, default=None)
        queues.append(QueueTarget(q.namespace, q.name, q.cluster_queue, pin.name if pin else None, pin.taints if pin else ()))
    return VerifyTargets(
        stack=str(document.get("stack", "?")),
        pools=tuple(sorted(pools, key=lambda p: p.name)),
        queues=tuple(sorted(queues, key=lambda q: (q.namespace, q.name))),
        lustre=_lustre(model, pools),
        hub=_hub(model),
        runner=_runner(model),
        canary=_has_canary(document),
        kueue=bool(priority_classes or topologies or model.queues.cluster_queues or model.queues.local_queues),
        priority_classes=priority_classes,
        topologies=topologies,
        notes=tuple(notes),
    )


def _priority_classes(model: PlanModel) -> tuple[PriorityClassTarget, ...]:
    found = [PriorityClassTarget(str(meta(r).get("name")), int((r.get("inputs") or {}).get("value") or 0)) for r in model.of_type(WPC_TYPE)]
    return tuple(sorted(found, key=lambda c: c.name))


def _topologies(model: PlanModel) -> tuple[TopologyTarget, ...]:
    found = [
        TopologyTarget(str(meta(r).get("name")), tuple(str(level.get("nodeLabel")) for level in spec_of(r).get("levels") or []))
        for r in model.of_type(TOPOLOGY_TYPE)
    ]
    return tuple(sorted(found, key=lambda t: t.name))


def _has_canary(document: dict) -> bool:
    """The canary's results ConfigMap is in the plan (addons/health_canary.py)."""
    from addons.health_canary import NAMESPACE, RESULTS

    return any(
        r.get("type") == "kubernetes:core/v1:ConfigMap"
        and ((r.get("inputs") or {}).get("metadata") or {}).get("name") == RESULTS
        and ((r.get("inputs") or {}).get("metadata") or {}).get("namespace") == NAMESPACE
        for r in document["resources"]
    )
