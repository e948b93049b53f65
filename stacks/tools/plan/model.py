"""One read model of a plan: what the program registered, indexed once and joined into the things the report,
`crucible check` and `crucible verify` talk about.

``PlanModel.of(planned)`` reads a plan just run (`stacks/tools/plan/locate.py`); ``PlanModel.from_document(doc)``
reads a saved `crucible plan --json` document (`check`, `verify --plan`). Both read the same resource records (the
document's `resources`: type, name, urn, parent, inputs, protect, dependencies…), so a saved plan and a live one
give the same views:

- one URN index and one type index (``by_urn``, ``of_type``), and each resource's layer (the `crucible:<layer>:…`
  component at the top of its parent chain), computed once for all resources;
- ``pools``: Karpenter NodePools labelled `crucible.io/pool`, joined to their EC2NodeClass (instance types,
  capacity types, zones, limits, taints, accelerator resource, EFA interfaces, kubelet maxPods); ``node_groups``;
- ``queues``: ResourceFlavors (the pool a flavor pins), ClusterQueues (cohort, quotas per flavor, the pools they
  reach) and LocalQueues (namespace, ClusterQueue, team);
- ``teams``: tenant namespaces with their LocalQueue, ClusterQueue, role bindings and claims;
- ``hub``: the JupyterHub release (namespace, profiles, authenticator, exposure); ``releases`` by chart;
- ``file_systems`` (zone of the registered subnet, linked repositories), ``buckets``, ``lustre_claim``;
- ``protected``: what `pulumi destroy` refuses to delete;
- ``workloads``: the plan's `workloads` block (stacks/tools/plan/workloads.py for a live plan; the saved block,
  checked again, for a document).

Nothing here computes catalog figures or costs (stacks/derive does); sections of the report render the model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from components.accelerators import DEVICE_RESOURCES
from components.labels import (
    INSTANCE_TYPE_LABEL,
    NODEPOOL_LABEL,
    POOL_LABEL,
    QUEUE_LABEL,
    TENANT_LABEL,
    WORKLOAD_LABEL,
)

if TYPE_CHECKING:
    from stacks.tools.plan.locate import Planned

NODEPOOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS_TYPE = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODEGROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
PV_TYPE = "kubernetes:core/v1:PersistentVolume"
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
ROLEBINDING_TYPE = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
BUCKET_TYPE = "aws:s3/bucket:Bucket"
LUSTRE_TYPE = "aws:fsx/lustreFileSystem:LustreFileSystem"
ASSOCIATION_TYPE = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
SUBNET_TYPE = "aws:ec2/subnet:Subnet"
KUEUE_PREFIX = "kubernetes:kueue.x-k8s.io/"
FSX_DRIVER = "fsx.csi.aws.com"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
ZONE_LABEL = "topology.kubernetes.io/zone"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
LB_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"

Resource = Mapping[str, Any]  # one record of a plan's `resources` (CapturedResource.to_json())


def meta(resource: Resource) -> dict:
    """The Kubernetes metadata of a resource record (empty when it has none)."""
    return (resource.get("inputs") or {}).get("metadata") or {}


def spec_of(resource: Resource) -> dict:
    return (resource.get("inputs") or {}).get("spec") or {}


def short_type(token: str) -> str:
    return token.rsplit(":", 1)[-1]


# ---- views --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolView:
    """A Karpenter pool as registered: its NodePool joined to the EC2NodeClass it references."""

    name: str  # the crucible.io/pool label
    nodepool: Optional[str]  # the NodePool's metadata.name
    urn: str
    node_class: str  # nodeClassRef.name
    workload: Optional[str]
    labels: Mapping[str, str]  # the template's node labels
    instance_types: tuple[str, ...]  # requirement node.kubernetes.io/instance-type In (empty: not pinned)
    capacity_types: tuple[str, ...]  # requirement karpenter.sh/capacity-type In
    zones: tuple[str, ...]  # requirement topology.kubernetes.io/zone In
    limits: Mapping[str, Any]  # spec.limits
    taints: tuple[dict, ...]
    accelerator_resource: Optional[str]  # the taint key that is an accelerator resource (nvidia.com/gpu, …)
    efa_interfaces: int  # EFA-only interfaces of the EC2NodeClass (0: no EFA)
    max_pods: Optional[int]  # the EC2NodeClass kubelet maxPods (None: Karpenter's ENI count)
    node_class_found: bool  # the EC2NodeClass is registered in this plan


@dataclass(frozen=True)
class NodeGroupView:
    name: str
    instance_types: Optional[list]
    capacity_type: Optional[str]
    ami_type: Optional[str]
    scaling: Mapping[str, Any]


@dataclass(frozen=True)
class FlavorView:
    name: Optional[str]
    node_labels: Mapping[str, str]
    topology: Optional[str] = None  # spec.topologyName: topology-aware scheduling on this flavor

    @property
    def pool(self) -> Optional[str]:
        """The Karpenter pool the flavor pins (its nodeLabels' karpenter.sh/nodepool)."""
        return self.node_labels.get(NODEPOOL_LABEL)


@dataclass(frozen=True)
class ClusterQueueView:
    name: Optional[str]
    cohort: Optional[str]
    flavors: tuple[str, ...]  # every flavor named in its resource groups, in order
    quotas: Mapping[str, dict]  # flavor -> {"nominal", "borrowingLimit", "lendingLimit"}: {resource: quantity}
    pools: tuple[str, ...]  # the pools its flavors pin, sorted
    preemption: Mapping[str, Any] = field(default_factory=dict)  # spec.preemption as registered


@dataclass(frozen=True)
class LocalQueueView:
    namespace: str
    name: Optional[str]
    cluster_queue: Optional[str]
    team: Optional[str]  # the crucible.io/tenant label


@dataclass(frozen=True)
class Queues:
    flavors: Mapping[Optional[str], FlavorView]
    cluster_queues: Mapping[Optional[str], ClusterQueueView]
    local_queues: tuple[LocalQueueView, ...]  # in registration order

    def for_pool(self) -> dict[str, tuple[str, Optional[str]]]:
        """pool -> (namespace, LocalQueue) of the first LocalQueue (by namespace, name) whose ClusterQueue has a
        flavor pinned to that pool."""
        out: dict[str, tuple[str, Optional[str]]] = {}
        for lq in sorted(self.local_queues, key=lambda q: (q.namespace, q.name or "")):
            cq = self.cluster_queues.get(lq.cluster_queue) if lq.cluster_queue else None
            for pool in cq.pools if cq else ():
                out.setdefault(pool, (lq.namespace, lq.name))
        return out


@dataclass(frozen=True)
class TeamView:
    team: str
    namespace: str
    urn: str
    labels: Mapping[str, str]
    protected: bool
    local_queue: Optional[LocalQueueView]
    cluster_queue: Optional[ClusterQueueView]
    groups: Mapping[str, list]  # role -> subjects of the RoleBindings in the namespace
    claims: tuple[Optional[str], ...]  # PersistentVolumeClaims in the namespace, sorted (unnamed ones last)

    @property
    def pod_security(self) -> Optional[str]:
        return self.labels.get(PSA_ENFORCE)

    @property
    def workload(self) -> Optional[str]:
        return self.labels.get(WORKLOAD_LABEL)


@dataclass(frozen=True)
class HubView:
    """The JupyterHub release as registered. ``values`` is empty when they are hidden as a secret."""

    urn: str
    chart_version: Optional[str]
    namespace: Optional[str]
    values: Mapping[str, Any]
    profiles: tuple[dict, ...]

    @property
    def exposure(self) -> str:
        service = (self.values.get("proxy") or {}).get("service") or {}
        scheme = (service.get("annotations") or {}).get(LB_SCHEME)
        return "private (ClusterIP)" if service.get("type", "ClusterIP") == "ClusterIP" else f"{service.get('type')} ({scheme or 'scheme unset'})"

    @property
    def authenticator(self) -> Optional[str]:
        return ((self.values.get("hub") or {}).get("config") or {}).get("JupyterHub", {}).get("authenticator_class")

    @property
    def tls(self) -> bool:
        return bool(((self.values.get("proxy") or {}).get("https") or {}).get("enabled"))

    @property
    def cull_timeout_seconds(self) -> Optional[int]:
        cull = self.values.get("cull") or {}
        return cull.get("timeout") if cull.get("enabled") else None


@dataclass(frozen=True)
class FileSystemView:
    name: str
    urn: str
    deployment_type: Optional[str]
    storage_capacity: Optional[int]
    per_unit_throughput: Optional[int]
    zone: Optional[str]  # of the registered subnet; None when the subnet comes from another stack
    efa: bool
    backup_retention_days: int
    protected: bool
    repositories: tuple[dict, ...]  # {"path", "repository"} of its data repository associations, by path


@dataclass(frozen=True)
class BucketView:
    name: Optional[str]
    protected: bool
    retain_on_delete: bool
    force_destroy: bool


@dataclass(frozen=True)
class ClaimView:
    namespace: Optional[str]
    name: Optional[str]


def hub_profiles(values: Mapping) -> list[dict]:
    """The notebook profiles of a JupyterHub release's values: the teams' (`custom.crucible.teams`, each with the
    team's hub groups and namespace) or `singleuser.profileList` (team None: the hub's namespace, for everyone)."""
    from addons.jupyterhub import profile_entries

    groups = {t.get("name"): list(t.get("groups") or []) for t in ((values.get("custom") or {}).get("crucible") or {}).get("teams") or []}
    profiles = []
    for team, entry in profile_entries(values):
        override = entry.get("kubespawner_override") or {}
        selector = override.get("node_selector") or {}
        limits = override.get("extra_resource_limits") or {}
        profiles.append(
            {
                "name": entry.get("display_name"),
                "slug": entry.get("slug"),
                "pool": selector.get(NODEPOOL_LABEL),
                "accelerator": next(iter(limits), None),
                "accelerators": int(next(iter(limits.values()), 0) or 0),
                "nodeSelector": selector,
                "default": bool(entry.get("default")),
                "team": team,
                "namespace": override.get("namespace"),  # None: the hub's
                "queue": (override.get("extra_labels") or {}).get(QUEUE_LABEL),
                "groups": groups.get(team, []) if team else [],
            }
        )
    return profiles


def _copied(value: Any) -> Any:
    """A copy of a JSON-like value: its dicts, lists and tuples new, its leaves shared (they are immutable)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return value


RECORD_FIELDS = (
    *("urn", "type", "name", "parent", "inputs", "custom", "protect", "retain_on_delete", "delete_before_replace"),
    *("ignore_changes", "aliases", "dependencies", "property_dependencies", "provider"),
)


def record_of(resource) -> dict:
    """The plan record of a captured resource: what ``CapturedResource.to_json()`` gives (same keys, same order, its
    own copy of every container), without `dataclasses.asdict`'s deep copy of every leaf, which made converting a
    plan's resources the report's slowest step."""
    return {name: _copied(getattr(resource, name)) for name in RECORD_FIELDS}


def computed_outputs(inputs: Any, outputs: Any) -> Any:
    """What a resource's outputs add to its inputs: the values the provider (the mocks) computed -- ids, ARNs,
    auto-names, ``tagsAll``, nested fields such as ``vpcConfig.clusterSecurityGroupId`` -- and nothing it echoed.
    A saved plan keeps only these (``computedOutputs``), so an edited copy's inputs stay what the policies judge:
    ``with_computed`` fills only what the inputs leave unset. ``None`` when there is nothing to add."""
    if isinstance(outputs, dict):
        given = inputs if isinstance(inputs, dict) else {}
        added = {}
        for key, value in outputs.items():
            if key not in given or given[key] in (None, ""):
                if value not in (None, ""):
                    added[key] = value
                continue
            nested = computed_outputs(given[key], value)
            if nested is not None:
                added[key] = nested
        return added or None
    return None


def with_computed(inputs: Any, computed: Any) -> Any:
    """A resource's outputs rebuilt from its (possibly edited) inputs and its saved ``computed_outputs``."""
    if not isinstance(computed, dict):
        return _copied(computed) if inputs in (None, "") and computed is not None else _copied(inputs)
    if not isinstance(inputs, dict):
        return _copied(computed) if inputs in (None, "") else _copied(inputs)
    out = {k: _copied(v) for k, v in inputs.items()}
    for key, value in computed.items():
        out[key] = with_computed(inputs.get(key), value) if key in inputs else _copied(value)
    return out


def _is_kueue(token: str, kind: str) -> bool:
    return token.startswith(KUEUE_PREFIX) and token.endswith(f":{kind}")


def _requirement(requirements: Sequence[Mapping], key: str) -> tuple[str, ...]:
    for req in requirements:
        if req.get("key") == key and req.get("operator") == "In":
            return tuple(req.get("values") or ())
    return ()


# ---- the model ----------------------------------------------------------------------------------------------


class PlanModel:
    """The registered resources of one plan, indexed once; views are computed on first use and kept."""

    def __init__(
        self,
        resources: Sequence[Resource],
        *,
        planned: Optional["Planned"] = None,
        document: Optional[Mapping[str, Any]] = None,
        outputs: Optional[Mapping[str, Mapping]] = None,
    ):
        self.resources: list[Resource] = list(resources)
        self.planned = planned  # the live plan (spec, config path, referenced stack), when there is one
        self.document = document  # the saved plan document, when read from one
        self._outputs = dict(outputs or {})
        self.by_urn: dict[Optional[str], Resource] = {}
        self._by_type: dict[Optional[str], list[Resource]] = {}
        for r in self.resources:
            self.by_urn[r.get("urn")] = r
            self._by_type.setdefault(r.get("type"), []).append(r)

    @classmethod
    def of(cls, planned: "Planned") -> "PlanModel":
        """The model of a plan just run (the same model for the same plan: built once)."""
        found = getattr(planned, "_model", None)
        if found is None:
            run = planned.run
            found = cls([record_of(r) for r in run.resources], planned=planned, outputs={r.urn: r.outputs for r in run.resources})
            try:
                planned._model = found  # type: ignore[attr-defined]
            except AttributeError:  # a frozen or slotted stand-in: build again next time
                pass
        return found

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> "PlanModel":
        """The model of a saved plan document (its `resources` list must be there: callers say why not)."""
        resources = document.get("resources") or []
        saved = document.get("computedOutputs")
        outputs = {}
        if isinstance(saved, dict):  # plans written before computedOutputs have none: the pack then judges inputs only
            outputs = {r.get("urn"): with_computed(r.get("inputs") or {}, saved.get(r.get("urn"))) for r in resources if isinstance(r, dict)}
        return cls(resources, document=document, outputs=outputs)

    # -- the index -------------------------------------------------------------------------------------------
    def of_type(self, *tokens: str) -> list[Resource]:
        if len(tokens) == 1:
            return list(self._by_type.get(tokens[0], ()))
        wanted = set(tokens)
        return [r for r in self.resources if r.get("type") in wanted]

    def outputs(self, urn: str) -> Mapping:
        """What the mocks answered for a resource (a saved document: its inputs plus its saved computed outputs)."""
        return self._outputs.get(urn) or {}

    @property
    def all_outputs(self) -> dict[str, Mapping]:
        """{urn: outputs} of every resource that has some: what `policies.offline.evaluate(outputs=...)` takes."""
        return {urn: out for urn, out in self._outputs.items() if out}

    def computed_outputs(self) -> dict[str, Any]:
        """{urn: what the outputs add to the inputs}: the `computedOutputs` of a saved plan."""
        found = {}
        for r in self.resources:
            added = computed_outputs(r.get("inputs") or {}, self._outputs.get(r.get("urn")) or {})
            if added:
                found[r.get("urn")] = added
        return found

    @property
    def spec(self):
        return self.planned.spec if self.planned is not None else None

    @functools.cached_property
    def referenced(self) -> Optional["PlanModel"]:
        """The model of the stack this one references (planned from its config file), if any."""
        below = self.planned.referenced if self.planned is not None else None
        return PlanModel.of(below) if below is not None else None

    @functools.cached_property
    def layers(self) -> dict[str, str]:
        """urn -> the layer of the resource (see :meth:`layer_of`), for every resource."""
        from stacks.spec import LAYERS

        top: dict[str, str] = {}  # urn -> urn of the top of its parent chain

        def top_of(urn: str) -> str:
            chain: list[str] = []
            while urn not in top:
                parent = self.by_urn[urn].get("parent")
                if parent not in self.by_urn or parent in chain or parent == urn:  # the top (or an edited plan's cycle)
                    top[urn] = urn
                    break
                chain.append(urn)
                urn = str(parent)
            for u in chain:
                top[u] = top[urn]
            return top[urn]

        out = {}
        for r in self.resources:
            parts = str(self.by_urn[top_of(r["urn"])].get("type") or "").split(":")
            if parts[0] == "crucible" and len(parts) > 1 and parts[1] in LAYERS:
                out[r["urn"]] = parts[1]
            elif parts[0] == "pulumi" and len(parts) > 1 and parts[1] == "providers":
                out[r["urn"]] = "providers"
            else:
                out[r["urn"]] = "stack"
        return out

    def layer_of(self, urn: str) -> str:
        """The layer a resource belongs to: `crucible:<layer>:…` at the top of its parent chain, else providers or
        stack."""
        return self.layers[urn]

    # -- compute ---------------------------------------------------------------------------------------------
    @functools.cached_property
    def node_classes(self) -> dict[Optional[str], Resource]:
        return {meta(r).get("name"): r for r in self.of_type(NODECLASS_TYPE)}

    @functools.cached_property
    def pools(self) -> tuple[PoolView, ...]:
        """Every labelled NodePool joined to its EC2NodeClass, in registration order."""
        out = []
        for np in self.of_type(NODEPOOL_TYPE):
            template = spec_of(np).get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            if POOL_LABEL not in labels:
                continue
            tspec = template.get("spec") or {}
            requirements = tspec.get("requirements") or ()
            taints = tuple(tspec.get("taints") or ())
            name = labels[POOL_LABEL]
            node_class = (tspec.get("nodeClassRef") or {}).get("name", name)
            nc = self.node_classes.get(node_class)
            nc_spec = spec_of(nc) if nc is not None else {}
            out.append(
                PoolView(
                    name=name,
                    nodepool=meta(np).get("name"),
                    urn=np["urn"],
                    node_class=node_class,
                    workload=labels.get(WORKLOAD_LABEL),
                    labels=labels,
                    instance_types=_requirement(requirements, INSTANCE_TYPE_LABEL),
                    capacity_types=_requirement(requirements, CAPACITY_TYPE_LABEL),
                    zones=_requirement(requirements, ZONE_LABEL),
                    limits=spec_of(np).get("limits") or {},
                    taints=taints,
                    accelerator_resource=next((t["key"] for t in taints if t.get("key") in DEVICE_RESOURCES), None),
                    efa_interfaces=sum(1 for i in nc_spec.get("networkInterfaces") or () if i.get("interfaceType") == "efa-only"),
                    max_pods=(nc_spec.get("kubelet") or {}).get("maxPods"),
                    node_class_found=nc is not None,
                )
            )
        return tuple(out)

    @functools.cached_property
    def _pools_by_name(self) -> dict[str, PoolView]:
        found: dict[str, PoolView] = {}
        for p in self.pools:
            found.setdefault(p.name, p)
        return found

    def pool(self, name: str) -> Optional[PoolView]:
        """The registered pool of that name (the first, were two NodePools to carry the same crucible.io/pool)."""
        return self._pools_by_name.get(name)

    @functools.cached_property
    def node_groups(self) -> tuple[NodeGroupView, ...]:
        return tuple(
            NodeGroupView(
                g["name"], g["inputs"].get("instanceTypes"), g["inputs"].get("capacityType"), g["inputs"].get("amiType"), g["inputs"].get("scalingConfig", {})
            )
            for g in self.of_type(NODEGROUP_TYPE)
        )

    # -- queues and teams ------------------------------------------------------------------------------------
    @functools.cached_property
    def queues(self) -> Queues:
        flavors: dict[Optional[str], FlavorView] = {}
        cluster_queues: dict[Optional[str], ClusterQueueView] = {}
        local: list[LocalQueueView] = []
        for r in self.resources:
            token = str(r.get("type") or "")
            if not token.startswith(KUEUE_PREFIX):
                continue
            m, s = meta(r), spec_of(r)
            if token.endswith(":ResourceFlavor"):
                flavors[m.get("name")] = FlavorView(m.get("name"), s.get("nodeLabels") or {}, s.get("topologyName"))
            elif token.endswith(":LocalQueue"):
                local.append(LocalQueueView(m.get("namespace", "default"), m.get("name"), s.get("clusterQueue"), (m.get("labels") or {}).get(TENANT_LABEL)))
        for cq in (r for r in self.resources if _is_kueue(str(r.get("type") or ""), "ClusterQueue")):
            s = spec_of(cq)
            names, quotas, pools = [], {}, set()
            for group in s.get("resourceGroups") or []:
                for flavor in group.get("flavors") or []:
                    names.append(flavor.get("name"))
                    res = {x["name"]: x for x in flavor.get("resources") or []}
                    quotas[flavor.get("name")] = {
                        "nominal": {k: x.get("nominalQuota") for k, x in res.items()},
                        "borrowingLimit": {k: x.get("borrowingLimit") for k, x in res.items() if "borrowingLimit" in x},
                        "lendingLimit": {k: x.get("lendingLimit") for k, x in res.items() if "lendingLimit" in x},
                    }
                    pinned = flavors.get(flavor.get("name"))
                    if pinned is not None and pinned.pool is not None:
                        pools.add(pinned.pool)
            name = meta(cq).get("name")
            cluster_queues[name] = ClusterQueueView(name, s.get("cohortName"), tuple(names), quotas, tuple(sorted(pools)), dict(s.get("preemption") or {}))
        return Queues(flavors, cluster_queues, tuple(local))

    @functools.cached_property
    def claims(self) -> tuple[ClaimView, ...]:
        return tuple(ClaimView(meta(c).get("namespace"), meta(c).get("name")) for c in self.of_type(PVC_TYPE))

    @functools.cached_property
    def teams(self) -> tuple[TeamView, ...]:
        """Tenant namespaces (labelled crucible.io/tenant), by namespace name."""
        namespaces = [n for n in self.of_type(NAMESPACE_TYPE) if (meta(n).get("labels") or {}).get(TENANT_LABEL)]
        bindings = self.of_type(ROLEBINDING_TYPE)
        queues = self.queues
        out = []
        for ns in sorted(namespaces, key=lambda n: n["inputs"]["metadata"]["name"]):
            m = ns["inputs"]["metadata"]
            labels = m.get("labels") or {}
            team, name = labels[TENANT_LABEL], m.get("name")
            lq = next((q for q in queues.local_queues if q.team == team), None)
            cq = queues.cluster_queues.get(lq.cluster_queue) if lq is not None else None
            roles: dict[str, list] = {}
            for b in bindings:
                if meta(b).get("namespace") == name or ns["urn"] in (b.get("property_dependencies") or {}).get("metadata", []):
                    people = [s.get("name") for s in b["inputs"].get("subjects") or [] if s.get("kind") == "Group"]  # not the hub's ServiceAccount
                    if people:
                        roles.setdefault(b["inputs"].get("roleRef", {}).get("name"), []).extend(people)
            claims = tuple(sorted((c.name for c in self.claims if c.namespace == name), key=lambda n: (n is None, n or "")))
            out.append(TeamView(team, name, ns["urn"], labels, bool(ns.get("protect")), lq, cq, roles, claims))
        return tuple(out)

    # -- add-ons ---------------------------------------------------------------------------------------------
    @functools.cached_property
    def releases(self) -> dict[Optional[str], Resource]:
        """Helm releases by chart (the last one registered when a chart is released twice)."""
        return {r["inputs"].get("chart"): r for r in self.of_type(RELEASE_TYPE)}

    def release_values(self, chart: str) -> dict:
        """The values of the release of ``chart`` (empty when there is none or they are hidden as a secret)."""
        release = self.releases.get(chart)
        values = release["inputs"].get("values") if release is not None else None
        return values if isinstance(values, dict) else {}

    @functools.cached_property
    def hub(self) -> Optional[HubView]:
        release = next((r for r in self.of_type(RELEASE_TYPE) if r["inputs"].get("chart") == "jupyterhub"), None)
        if release is None:
            return None
        values = release["inputs"].get("values")
        values = values if isinstance(values, dict) else {}  # hidden as a secret: nothing to show
        return HubView(release["urn"], release["inputs"].get("version"), release["inputs"].get("namespace"), values, tuple(hub_profiles(values)))

    # -- storage ---------------------------------------------------------------------------------------------
    @functools.cached_property
    def buckets(self) -> tuple[BucketView, ...]:
        return tuple(
            BucketView(b["inputs"].get("bucket"), bool(b.get("protect")), bool(b.get("retain_on_delete")), b["inputs"].get("forceDestroy", False))
            for b in sorted(self.of_type(BUCKET_TYPE), key=lambda r: r["inputs"].get("bucket", ""))
        )

    @functools.cached_property
    def file_systems(self) -> tuple[FileSystemView, ...]:
        associations = sorted(self.of_type(ASSOCIATION_TYPE), key=lambda r: r["inputs"].get("fileSystemPath", ""))
        subnets = {r["urn"]: r["inputs"].get("availabilityZone") for r in self.of_type(SUBNET_TYPE)}
        out = []
        for fs in self.of_type(LUSTRE_TYPE):
            inputs, deps = fs["inputs"], fs.get("property_dependencies") or {}
            links = tuple(
                {"path": a["inputs"].get("fileSystemPath"), "repository": a["inputs"].get("dataRepositoryPath")}
                for a in associations
                if fs["urn"] in (a.get("property_dependencies") or {}).get("fileSystemId", [])
            )
            out.append(
                FileSystemView(
                    name=fs["name"],
                    urn=fs["urn"],
                    deployment_type=inputs.get("deploymentType"),
                    storage_capacity=inputs.get("storageCapacity"),
                    per_unit_throughput=inputs.get("perUnitStorageThroughput"),
                    zone=next((subnets[u] for u in deps.get("subnetIds", []) if u in subnets), None),
                    efa=bool(inputs.get("efaEnabled")),
                    backup_retention_days=inputs.get("automaticBackupRetentionDays", 0),
                    protected=bool(fs.get("protect")),
                    repositories=links,
                )
            )
        return tuple(out)

    @functools.cached_property
    def lustre_claim(self) -> Optional[ClaimView]:
        """The PersistentVolumeClaim bound to a PersistentVolume of the FSx for Lustre CSI driver."""
        volumes = {meta(pv).get("name") for pv in self.of_type(PV_TYPE) if (spec_of(pv).get("csi") or {}).get("driver") == FSX_DRIVER}
        claim = next((c for c in self.of_type(PVC_TYPE) if spec_of(c).get("volumeName") in volumes), None)
        return ClaimView(meta(claim).get("namespace", "default"), meta(claim).get("name")) if claim is not None else None

    # -- state -----------------------------------------------------------------------------------------------
    @functools.cached_property
    def protected(self) -> tuple[Resource, ...]:
        """Custom resources `pulumi destroy` refuses to delete (protect), in registration order."""
        return tuple(r for r in self.resources if r.get("custom") and r.get("protect"))

    # -- workloads -------------------------------------------------------------------------------------------
    @functools.cached_property
    def workloads(self) -> dict:
        """The `workloads` block: for a live plan, every workload checked (stacks/tools/plan/workloads.py, with the
        rendered charts); for a saved document, its block checked again against its (possibly edited) resources."""
        if self.planned is not None:
            from stacks.tools.plan.workloads import planned_block

            return planned_block(self)
        from stacks.tools.plan import lands

        return lands.reevaluate({**(self.document or {}), "resources": self.resources})
