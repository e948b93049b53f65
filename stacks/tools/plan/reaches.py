"""Reaches: what each pod can talk to, computed from every NetworkPolicy of the plan and the charts by a real
analyzer — np-guard's network-config-analyzer (NCA, PyPI `network-config-analyzer`) — and checked against the flow
table (stacks/tools/plan/flows.py). PURE over plan resources and plain Kubernetes objects, so `crucible check` re-evaluates
a saved plan.

The analysed cluster is: the plan's Namespaces (plus kube-system, and each namespace a workload runs in), one or
two pods per workload pod group and namespace (two when it has more than one replica, so pod-to-pod flows inside a
group are real flows between two pods), the system endpoints of flows.SYSTEM_ENDPOINTS the charts would run, and
the NetworkPolicies: registered ones, rendered chart ones (``extra_objects``), and — when the JupyterHub chart was
not rendered — the singleuser NetworkPolicy z2jh renders, modelled from the release's values over the chart's
defaults (:func:`jupyterhub_singleuser_policy`).

NCA runs once per plan (:class:`Network`, built lazily on the lands Context); each flow is then a containment test
of a connectivity cube in NCA's allowed connections.

What NCA does not take as Kubernetes does, modelled here (see tests/test_reaches_analyzer.py):
- it refuses `policyTypes: [Egress, Ingress]` (only the order Ingress, Egress) and an `ingress`/`egress` section
  its policyTypes leave out, both of which the API server accepts (a section not in policyTypes is ignored):
  :func:`normalise_policy` puts policyTypes in the order NCA reads and drops ignored sections;
- an ipBlock never matches pod addresses in NCA (as the NetworkPolicy API leaves it to the implementation); EKS's
  VPC CNI policy agent does match pod addresses with ipBlocks (aws/amazon-network-policy-controller-k8s#41). A
  forbidden flow is therefore also judged by address (:meth:`Network.reachable_by_address`): the source's egress
  to the pods' range (the VPC CIDR) meeting the destination's ingress from it. Required flows are judged by
  NCA's selector semantics only (an allow that works only by address is not counted on).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

from components.labels import TENANT_LABEL
from stacks.tools import second_core
from stacks.tools.plan import flows as table
from stacks.tools.plan.lands import CHECKS, PLAN_CHECKS, RELEASE_TYPE, STARTS, Context, _kind, _meta
from stacks.tools.plan.reaches_aws import security_groups_check

RAY_KINDS = ("RayJob", "RayCluster", "RayService")
JOB_KINDS = ("MPIJob", "TrainJob", "RayJob", "RayCluster", "RayService", "LeaderWorkerSet")
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
VPC_TYPE = "aws:ec2/vpc:Vpc"
JUPYTERHUB_CHART = "jupyterhub"

# z2jh 4.x singleuser.networkPolicy and cloudMetadata defaults (values.yaml of the pinned chart); the vendored chart's
# values.yaml is read instead when it is there.
Z2JH_NETPOL_DEFAULTS = {
    "enabled": True,
    "ingress": [],
    "egress": [],
    "egressAllowRules": {
        "cloudMetadataServer": False,
        "dnsPortsCloudMetadataServer": True,
        "dnsPortsKubeSystemNamespace": True,
        "dnsPortsPrivateIPs": True,
        "nonPrivateIPs": True,
        "privateIPs": False,
    },
    "interNamespaceAccessLabels": "ignore",
    "allowedIngressPorts": [],
}
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


# ---- inputs: policies as Kubernetes takes them ------------------------------------------------------------------


def normalise_policy(policy: Mapping) -> dict:
    """A NetworkPolicy as the API server takes it, in the form NCA reads: policyTypes defaulted (Ingress, plus
    Egress when there is an egress section) and ordered Ingress, Egress; sections policyTypes leave out dropped."""
    obj = copy.deepcopy(dict(policy))
    spec = obj.setdefault("spec", {}) or {}
    obj["spec"] = spec
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
    spec["policyTypes"] = [t for t in ("Ingress", "Egress") if t in types]
    for section, kind in (("ingress", "Ingress"), ("egress", "Egress")):
        if kind not in spec["policyTypes"]:
            spec.pop(section, None)
        elif spec.get(section) is None:
            spec.pop(section, None)
    spec.setdefault("podSelector", {})
    obj["apiVersion"], obj["kind"] = "networking.k8s.io/v1", "NetworkPolicy"
    return obj


def _merged(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in over.items()}}
    return copy.deepcopy(over)


def _chart_defaults() -> tuple[dict, str]:
    shared = os.environ.get("CRUCIBLE_SHARED")
    root = os.path.join(shared, "upstream", "charts") if shared else None
    if root and os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            if name.startswith("jupyterhub-") and os.path.exists(os.path.join(root, name, "values.yaml")):
                with open(os.path.join(root, name, "values.yaml")) as f:
                    values = yaml.safe_load(f) or {}
                single = values.get("singleuser") or {}
                return {"networkPolicy": single.get("networkPolicy") or {}, "cloudMetadata": single.get("cloudMetadata") or {}}, name
    return {"networkPolicy": Z2JH_NETPOL_DEFAULTS, "cloudMetadata": {"ip": "169.254.169.254"}}, "z2jh defaults"


def jupyterhub_singleuser_policy(release_inputs: Mapping) -> Optional[dict]:
    """The `singleuser` NetworkPolicy z2jh's templates/singleuser/netpol.yaml renders for this release's values
    (None when the release disables it or hides its values)."""
    values = release_inputs.get("values")
    if not isinstance(values, dict):
        return None
    defaults, _ = _chart_defaults()
    single = values.get("singleuser") or {}
    netpol = _merged(defaults["networkPolicy"], single.get("networkPolicy") or {})
    if not netpol.get("enabled", True):
        return None
    metadata_ip = (_merged(defaults["cloudMetadata"], single.get("cloudMetadata") or {})).get("ip", "169.254.169.254")
    app = values.get("nameOverride") or JUPYTERHUB_CHART
    release = release_inputs.get("name") or JUPYTERHUB_CHART
    match = lambda component: {"component": component, "app": app, "release": release}  # noqa: E731 - legacy matchLabels
    rules = netpol.get("egressAllowRules") or {}
    egress: list[dict] = [
        {"to": [{"podSelector": {"matchLabels": match("hub")}}], "ports": [{"port": 8081}]},
        {"to": [{"podSelector": {"matchLabels": match("proxy")}}], "ports": [{"port": 8000}]},
        {"to": [{"podSelector": {"matchLabels": match("autohttps")}}], "ports": [{"port": 8080}, {"port": 8443}]},
    ]
    dns_to: list[dict] = []
    if rules.get("dnsPortsCloudMetadataServer"):
        dns_to.append({"ipBlock": {"cidr": f"{metadata_ip}/32"}})
    if rules.get("dnsPortsKubeSystemNamespace"):
        dns_to.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}})
    if rules.get("dnsPortsPrivateIPs"):
        dns_to.extend({"ipBlock": {"cidr": c}} for c in PRIVATE)
    if dns_to:
        egress.append({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], "to": dns_to})
    if rules.get("nonPrivateIPs"):
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [*PRIVATE, f"{metadata_ip}/32"]}}]})
    if rules.get("privateIPs"):
        egress.append({"to": [{"ipBlock": {"cidr": c}} for c in PRIVATE]})
    if rules.get("cloudMetadataServer"):
        egress.append({"to": [{"ipBlock": {"cidr": f"{metadata_ip}/32"}}]})
    egress.extend(copy.deepcopy(netpol.get("egress") or []))
    ingress: list[dict] = []
    if netpol.get("allowedIngressPorts"):
        ingress.append({"ports": [{"port": p} for p in netpol["allowedIngressPorts"]]})
    source: dict = {"podSelector": {"matchLabels": {"hub.jupyter.org/network-access-singleuser": "true"}}}
    sources = [source]
    if netpol.get("interNamespaceAccessLabels") == "accept":
        source["namespaceSelector"] = {"matchLabels": {}}
        sources.append({"namespaceSelector": {"matchLabels": {"hub.jupyter.org/network-access-singleuser": "true"}}})
    ingress.append({"ports": [{"port": "notebook-port"}], "from": sources})
    ingress.extend(copy.deepcopy(netpol.get("ingress") or []))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "singleuser",
            "namespace": release_inputs.get("namespace") or "default",
            "annotations": {"crucible.io/modelled-from": "z2jh values"},
        },
        "spec": {"podSelector": {"matchLabels": match("singleuser-server")}, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress},
    }


def _releases(resources: Iterable[Mapping]) -> list[dict]:
    return [r.get("inputs") or {} for r in resources if r.get("type") == RELEASE_TYPE]


def _chart_name(inputs: Mapping) -> str:
    return str(inputs.get("chart", "")).rsplit("/", 1)[-1]


def policies_of(resources: Sequence[Mapping], objects: Sequence[Mapping]) -> list[dict]:
    """Every NetworkPolicy the cluster will have: registered, rendered, and z2jh's singleuser one when the
    JupyterHub release was not rendered (no rendered NetworkPolicy in its namespace)."""
    found = [normalise_policy(o) for o in objects if _kind(o) == "NetworkPolicy"]
    rendered_in = {_meta(o).get("namespace") for o in objects if _kind(o) == "NetworkPolicy" and not (_meta(o).get("labels") or {}).get(TENANT_LABEL)}
    for inputs in _releases(resources):
        if _chart_name(inputs) == JUPYTERHUB_CHART and (inputs.get("namespace") or "default") not in rendered_in:
            modelled = jupyterhub_singleuser_policy(inputs)
            if modelled:
                found.append(normalise_policy(modelled))
    return found


# ---- endpoints ---------------------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    namespace: str
    name: str  # the pod's name in the analysed cluster
    labels: dict
    ports: list  # container ports
    workload: Optional[str] = None  # the workload entry's name; None for a system endpoint
    kind: str = ""
    role: Optional[str] = None
    job: Optional[tuple] = None  # (namespace, kind, object, file): the job it belongs to
    system: Optional[str] = None  # the flows.SYSTEM_ENDPOINTS name
    source: str = ""
    exposes: list = field(default_factory=list)

    @functools.cached_property
    def key(self) -> str:  # asked of every pair of a forbidden flow: computed once (namespace and name never change)
        return f"{self.namespace}/{self.name}"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:200].strip("-") or "pod"


def _labels_match(selector: Mapping, labels: Mapping) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if str(labels.get(k)) != str(v):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        if op == "In" and str(labels.get(key)) not in values or op == "NotIn" and key in labels and str(labels[key]) in values:
            return False
        if op == "Exists" and key not in labels or op == "DoesNotExist" and key in labels:
            return False
    return True


def _container_ports(spec: Mapping) -> list[dict]:
    ports = []
    for c in [*(spec.get("containers") or []), *(c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")]:
        for p in c.get("ports") or []:
            if p.get("containerPort") is not None:
                ports.append({k: p[k] for k in ("name", "containerPort", "protocol") if k in p})
    return ports


def _workload_labels(workload: Mapping, namespace: str, releases: Sequence[Mapping]) -> dict:
    labels = dict(((workload.get("template") or {}).get("metadata") or {}).get("labels") or {})
    if workload.get("kind") == "NotebookProfile":
        # KubeSpawner's pod labels under z2jh: component, app, release and the chart's singleuser extraLabels.
        # The hub of the notebook's namespace, else the stack's hub (team profiles run in the team namespaces).
        hubs = [r for r in releases if _chart_name(r) == JUPYTERHUB_CHART]
        hub = next((r for r in hubs if (r.get("namespace") or "default") == namespace), hubs[0] if hubs else {})
        values = hub.get("values") if isinstance(hub.get("values"), dict) else {}
        labels.update({"component": "singleuser-server", "app": values.get("nameOverride") or JUPYTERHUB_CHART, "release": hub.get("name") or JUPYTERHUB_CHART})
        labels.update({"hub.jupyter.org/network-access-hub": "true", **((values.get("singleuser") or {}).get("extraLabels") or {})})
    if workload.get("kind") in RAY_KINDS and workload.get("role"):
        # what KubeRay puts on every Ray pod (ray-operator common/pod.go labelPod)
        labels.setdefault("ray.io/node-type", "head" if workload["role"] == "head" else "worker")
        if _ray_node(workload):
            labels.setdefault("ray.io/is-ray-node", "yes")
    return {k: str(v) for k, v in labels.items()}


def _ray_node(workload: Mapping) -> bool:
    """A Ray head or worker pod (not a RayJob's submitter, a plain Job's pod)."""
    role = str(workload.get("role") or "")
    return workload.get("kind") in RAY_KINDS and (role == "head" or role.startswith("worker"))


def _pod_ports(workload: Mapping, spec: Mapping) -> list[dict]:
    """The pod's container ports; a Ray pod also has the `metrics` port KubeRay adds to its Ray container (8080,
    ray-operator common/pod.go DefaultHeadPodTemplate/DefaultWorkerPodTemplate), where Ray serves its metrics."""
    ports = _container_ports(spec)
    if _ray_node(workload) and not any(p.get("name") == "metrics" for p in ports):
        ports.append({"name": "metrics", "containerPort": 8080})
    return ports


def endpoints_of(workloads: Sequence[Mapping], resources: Sequence[Mapping], objects: Sequence[Mapping]) -> list[Endpoint]:
    """The analysed pods: per workload pod group and namespace one pod (two when it has several replicas), and the
    system endpoints the flows name that no workload already provides."""
    releases = _releases(resources)
    out: list[Endpoint] = []
    used: set[str] = set()
    for workload in workloads:
        spec = (workload.get("template") or {}).get("spec") or {}
        if spec.get("hostNetwork"):
            continue  # host-network pods are outside NetworkPolicy
        for namespace in workload.get("namespaces") or ["default"]:
            labels = _workload_labels(workload, namespace, releases)
            count = 2 if int(workload.get("replicas") or 1) > 1 else 1
            base = _slug(str(workload.get("name")))
            for i in range(count):
                name = f"{base}-{i}"
                while f"{namespace}/{name}" in used:
                    name += "x"
                used.add(f"{namespace}/{name}")
                job = (namespace, workload.get("kind"), workload.get("object"), workload.get("file")) if workload.get("kind") in JOB_KINDS else None
                out.append(
                    Endpoint(
                        namespace,
                        name,
                        labels,
                        _pod_ports(workload, spec),
                        workload.get("name"),
                        workload.get("kind") or "",
                        workload.get("role"),
                        job,
                        None,
                        workload.get("source", ""),
                        list(workload.get("exposes") or []),
                    )
                )
    namespaces = _namespaces(resources, objects, out)
    charts = {_chart_name(r) for r in releases}
    for system in table.SYSTEM_ENDPOINTS:
        namespace = system["namespace"]
        if namespace is None:  # in the namespace of the `when` release, wherever the stack installs it
            namespace = next((r.get("namespace") or "default" for r in releases if _chart_name(r) == system.get("when")), None)
            if namespace is None:
                continue
        if namespace not in namespaces and namespace != "kube-system":
            continue
        if system.get("when") and system["when"] not in charts:
            continue
        same = [e for e in out if e.namespace == namespace and _labels_match({"matchLabels": system["labels"]}, e.labels)]
        if same:
            for e in same:
                e.system = system["name"]
            continue
        name = system["name"]
        while f"{namespace}/{name}" in used:  # every endpoint's key is its own: results are told apart by it
            name += "x"
        used.add(f"{namespace}/{name}")
        out.append(Endpoint(namespace, name, dict(system["labels"]), list(system.get("ports") or []), system=system["name"], source="system"))
    return out


def _namespaces(resources: Sequence[Mapping], objects: Sequence[Mapping], endpoints: Sequence[Endpoint]) -> dict[str, dict]:
    out: dict[str, dict] = {"kube-system": {}, "default": {}}
    for o in objects:
        if _kind(o) == "Namespace" and _meta(o).get("name"):
            out[_meta(o)["name"]] = dict(_meta(o).get("labels") or {})
    for r in _releases(resources):
        out.setdefault(r.get("namespace") or "default", {})
    for e in endpoints:
        out.setdefault(e.namespace, {})
    for name, labels in out.items():
        labels["kubernetes.io/metadata.name"] = name  # the API server sets it on every namespace
    return out


def vpc_cidr(resources: Sequence[Mapping]) -> Optional[str]:
    for r in resources:
        if r.get("type") == VPC_TYPE and isinstance((r.get("inputs") or {}).get("cidrBlock"), str):
            return r["inputs"]["cidrBlock"]
    return None


# ---- the analyzer ------------------------------------------------------------------------------------------------


class AnalyzerUnavailable(RuntimeError):
    pass


def load_analyzer() -> bool:
    """Import network-config-analyzer now; False when it is not installed (the check says so when it runs).

    The import is a fifth of a second of CPU (its explanation tracker brings BeautifulSoup, soupsieve and lxml): a
    plan pays it while Helm renders the charts, which the analysis needs, instead of after."""
    try:
        import nca.CoreDS.ConnectivityProperties  # noqa: F401
        import nca.CoreDS.Peer  # noqa: F401
        import nca.NetworkConfig.ResourcesHandler  # noqa: F401
        import nca.Resources.PolicyResources.NetworkPolicy  # noqa: F401
    except ImportError:
        return False
    return True


def _port_props(ports: Sequence[str] | str):
    """NCA connectivity dimensions for ["TCP/443", "UDP/53", "TCP/1-65535"] (or "any": all)."""
    from nca.CoreDS.PortSet import PortSet
    from nca.CoreDS.ProtocolSet import ProtocolSet

    if ports == "any":
        return [{}]
    out = []
    for item in ports:
        proto, _, span = str(item).partition("/")
        low, _, high = span.partition("-")
        ps = PortSet()
        ps.add_port_range(int(low), int(high or low))
        out.append({"protocols": ProtocolSet.get_protocol_set_with_single_protocol(proto.upper()), "dst_ports": ps})
    return out


@contextlib.contextmanager
def _quiet_nca(log):
    """NCA's parsers print warnings to the `stderr` they imported: send those to ``log`` too."""
    import sys

    patched = {m: m.stderr for name, m in list(sys.modules.items()) if name.startswith("nca.") and hasattr(getattr(m, "stderr", None), "write")}
    for module in patched:
        module.stderr = log
    try:
        yield
    finally:
        for module, original in patched.items():
            module.stderr = original


def cluster_file(documents: Sequence[Mapping]) -> str:
    """The file NCA reads the cluster from: each document as JSON, which is YAML (NCA reads it with libyaml). The
    json module's C encoder writes it in a tenth of the time PyYAML takes to write the same documents in block style."""
    return "\n---\n".join(json.dumps(document) for document in documents)


def indistinguishable(endpoint: Endpoint) -> tuple:
    """What a NetworkPolicy can tell a pod by: its namespace, labels and container ports."""
    return (endpoint.namespace, json.dumps(endpoint.labels, sort_keys=True), json.dumps(endpoint.ports, sort_keys=True))


class Network:
    """One NCA run over the analysed cluster; ``allows``/``reachable`` answer flows against its connectivity.

    Pods a NetworkPolicy cannot tell apart are analysed as one: a policy selects pods by namespace and labels only,
    and names ports by the pod's container ports, so two pods of one namespace with the same labels and ports have
    the same connections to and from everything. NCA sees one pod of each such class (its cost grows with the pods
    it analyses: 638 of them fall into 372 classes at ten teams), and every question about a pod is asked about its
    class's pod."""

    runs = 0  # NCA runs in this process (tests check one per plan)

    def __init__(self, namespaces: Mapping[str, Mapping], endpoints: Sequence[Endpoint], policies: Sequence[Mapping]):
        try:
            from nca.CoreDS.Peer import BasePeerSet
            from nca.NetworkConfig.ResourcesHandler import ResourcesHandler
            from nca.Resources.PolicyResources.NetworkPolicy import PolicyConnectionsFilter
        except ImportError as error:
            raise AnalyzerUnavailable(f"network-config-analyzer is not installed ({error}); pip install 'crucible[test]'") from error
        start = time.perf_counter()
        documents = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": dict(labels)}} for n, labels in namespaces.items()]
        analysed: dict[tuple, Endpoint] = {}
        self._stand_in: dict[str, str] = {}  # endpoint key -> the key of the pod analysed for its class
        for e in endpoints:
            self._stand_in[e.key] = analysed.setdefault(indistinguishable(e), e).key
        for e in analysed.values():
            container = {"name": "main", "image": "analysed"}
            if e.ports:
                container["ports"] = e.ports
            documents.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": e.name, "namespace": e.namespace, "labels": e.labels},
                    "spec": {"containers": [container]},
                }
            )
        documents.extend(policies)
        with tempfile.TemporaryDirectory(prefix="crucible-reaches-") as tmp:
            path = os.path.join(tmp, "cluster.yaml")
            with open(path, "w") as f:
                f.write(cluster_file(documents))
            BasePeerSet.reset()
            log = io.StringIO()
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), _quiet_nca(log):
                try:
                    config = ResourcesHandler().get_network_config(None, None, None, [path])
                except SyntaxError as error:
                    raise ValueError(f"network-config-analyzer refused the cluster's NetworkPolicies: {error.msg}") from error
                self.allowed = config.allowed_connections(res_conns_filter=PolicyConnectionsFilter.only_all_allowed_connections()).all_allowed_conns
        self.log = log.getvalue()
        self.peers = {str(p): p for p in config.peer_container.get_all_peers_group()}
        self.seconds = time.perf_counter() - start
        self._reached_cache: dict = {}  # reaches_some: (source class, ports, except) -> keys of the pods reached
        Network.runs += 1

    def _key(self, end) -> str:
        """What a question about ``end`` is asked about: its class's pod, or the address."""
        return self._stand_in[end.key] if isinstance(end, Endpoint) else str(end)

    def _peer(self, end):
        from nca.CoreDS.Peer import IpBlock, PeerSet

        if isinstance(end, Endpoint):
            return PeerSet({self.peers[self._stand_in[end.key]]})
        return PeerSet({IpBlock(str(end))})

    def _props(self, src, dst, ports):
        """Connections of ``ports`` from ``src`` to ``dst`` (None: to every peer)."""
        from nca.CoreDS.ConnectivityProperties import ConnectivityProperties

        ends = {"src_peers": self._peer(src)} if dst is None else {"src_peers": self._peer(src), "dst_peers": self._peer(dst)}
        total = None
        for dims in _port_props(ports):
            props = ConnectivityProperties.make_conn_props_from_dict({**ends, **dims})
            total = props if total is None else total | props
        return total

    def allows(self, src, dst, ports) -> bool:
        """Every connection of ``ports`` from ``src`` to ``dst`` (endpoints or CIDRs) is allowed (answered once per
        pair of classes and ports)."""
        cache = self.__dict__.setdefault("_allows_cache", {})
        key = (isinstance(src, Endpoint), self._key(src), isinstance(dst, Endpoint), self._key(dst), ports if isinstance(ports, str) else tuple(ports))
        if key not in cache:
            cache[key] = self._props(src, dst, ports).contained_in(self.allowed)
        return cache[key]

    def reachable(self, src, dst, ports="any", except_ports=None) -> Optional[str]:
        """What of ``ports`` (minus ``except_ports``) from ``src`` to ``dst`` is allowed, or None."""
        wanted = self._props(src, dst, ports)
        if except_ports:
            wanted = wanted - self._props(src, dst, except_ports)
        found = wanted & self.allowed
        if not found:
            return None
        return _describe(found)

    def reaches_some(self, src, dst: Endpoint, ports="any", except_ports=None) -> bool:
        """Whether :meth:`reachable` finds anything from ``src`` to the pod ``dst``, answered from what ``src`` may
        open to any peer (computed once per source and ports): the destinations of
        ``(connections of ports - except_ports from src) & allowed`` are exactly the pods some connection reaches.
        A forbidden flow is checked for thousands of pairs; only those this finds are described pair by pair."""
        cache = self._reached_cache
        key = (self._key(src), ports if isinstance(ports, str) else tuple(ports), tuple(except_ports) if except_ports else ())
        reached = cache.get(key)
        if reached is None:
            wanted = self._props(src, None, ports)
            if except_ports:
                wanted = wanted - self._props(src, None, except_ports)
            peers = (wanted & self.allowed).project_on_one_dimension("dst_peers")
            # the keys of the analysed pods reached: a question per pair is then a set lookup
            reached = cache[key] = {k for k, peer in self.peers.items() if peer in peers}
        return self._stand_in[dst.key] in reached

    def reachable_by_address(self, src: Endpoint, dst: Endpoint, pod_cidr: str, except_ports=None) -> Optional[str]:
        """What ``src`` may open to ``dst`` when ipBlocks match pod addresses (the VPC CNI's policy agent: pods
        have addresses of ``pod_cidr``): ``src``'s egress to that range meeting ``dst``'s ingress from it, per
        protocol. Judged per range, not per address: a may-reach, for forbidden flows."""
        out = self._address_sides("out", src, pod_cidr, tuple(except_ports or ()))
        into = self._address_sides("in", dst, pod_cidr, ())
        # a forbidden flow asks this of every pair of pods (hundreds of thousands at ten teams), and the sides are
        # few (interned by _address_sides): each meeting of two is computed once
        met = self.__dict__.setdefault("_met_cache", {})
        key = (id(out), id(into))
        if key not in met:
            parts = []
            for proto, sent, received in zip(PROTOCOLS, out, into):
                if sent is not None and received is not None:
                    both = sent & received
                    if both:
                        parts.append(f"{proto} {both}")
            met[key] = "; ".join(parts) or None
        return met[key]

    def _address_sides(self, direction: str, end: Endpoint, cidr: str, except_ports: tuple) -> tuple:
        """Per protocol of PROTOCOLS, the ports ``end`` may send to (out) / receive from (in) ``cidr`` (None: none),
        cached per analysed pod; equal sides are one object (kept alive by the cache). The cluster's connectivity is
        cut to the range's side and to each protocol once per range and direction (:meth:`_range_side`); each pod
        then intersects only with those small parts, which is the same set: (allowed ∩ range ∩ protocol) ∩ pod."""
        from nca.CoreDS.ConnectivityProperties import ConnectivityProperties

        cache = self.__dict__.setdefault("_sides_cache", {})
        key = (direction, self._stand_in[end.key], cidr, except_ports)
        sides = cache.get(key)
        if sides is None:
            pod = ConnectivityProperties.make_conn_props_from_dict({"src_peers" if direction == "out" else "dst_peers": self._peer(end)})
            excluded = self._props(end, cidr, list(except_ports)) if except_ports else None
            interned_ports = self.__dict__.setdefault("_port_sets", {})
            per_protocol = []
            for part in self._range_side(direction, cidr):
                part = pod & part if part else part  # NCA copies the left operand: the small one
                if part and excluded is not None:
                    part = part - excluded
                ports = _port_intervals(part) if part else None
                per_protocol.append(None if ports is None else interned_ports.setdefault(str(ports), ports))
            found_sides = tuple(per_protocol)
            interned = self.__dict__.setdefault("_sides", {})
            sides = cache[key] = interned.setdefault(tuple(id(x) for x in found_sides), found_sides)
        return sides

    def _range_side(self, direction: str, cidr: str) -> list:
        """Per protocol of PROTOCOLS, the cluster's allowed connections to (out) / from (in) the address range."""
        from nca.CoreDS.ConnectivityProperties import ConnectivityProperties

        cache = self.__dict__.setdefault("_range_cache", {})
        key = (direction, cidr)
        if key not in cache:
            from nca.CoreDS.Peer import IpBlock, PeerSet

            side = "dst_peers" if direction == "out" else "src_peers"
            cache[key] = [
                ConnectivityProperties.make_conn_props_from_dict({side: PeerSet({IpBlock(cidr)}), **_port_props([f"{proto}/1-65535"])[0]}) & self.allowed
                for proto in PROTOCOLS
            ]
        return cache[key]


PROTOCOLS = ("TCP", "UDP", "SCTP")


def _port_intervals(props):
    ports = props.project_on_one_dimension("dst_ports")
    return getattr(ports, "port_set", ports)


def _describe(props) -> str:
    """NCA's simplified cubes without their peers: "TCP 443; UDP 53", or "all connections"."""
    text = str(props.get_simplified_connections_representation(True))
    parts = []
    for cube in re.findall(r"\{([^}]*)\}", text):
        fields = [f for f in re.split(r",(?=[a-z_]+:)", cube) if not f.startswith(("src_peers:", "dst_peers:"))]
        parts.append(" ".join(f.split(":", 1)[1] for f in fields) or "all connections")
    return "; ".join(dict.fromkeys(parts)) or "all connections"


# ---- the check ---------------------------------------------------------------------------------------------------


def _services(objects: Sequence[Mapping]) -> list[dict]:
    return [o for o in objects if _kind(o) == "Service"]


def _target_ports(service: Mapping, port_ref: Any, endpoint: Endpoint) -> list[str]:
    """The container ports on ``endpoint`` a Service port (by number or name; None: all) sends to."""
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        if port_ref is not None and port_ref not in (sp.get("port"), sp.get("name")):
            continue
        target = sp.get("targetPort", sp.get("port"))
        proto = str(sp.get("protocol") or "TCP").upper()
        if isinstance(target, str) and not target.isdigit():
            found = [p for p in endpoint.ports if p.get("name") == target]
            if not found:
                out.append(f"{proto}/named:{target}")
            out.extend(f"{str(p.get('protocol') or 'TCP').upper()}/{p['containerPort']}" for p in found)
        elif target is not None:
            out.append(f"{proto}/{int(target)}")
    return out


def _behind(service: Mapping, endpoints: Sequence[Endpoint]) -> list[Endpoint]:
    selector = (service.get("spec") or {}).get("selector") or {}
    ns = _meta(service).get("namespace") or "default"
    return [e for e in endpoints if e.namespace == ns and selector and _labels_match({"matchLabels": selector}, e.labels)]


def webhook_targets(objects: Sequence[Mapping], endpoints: Sequence[Endpoint]) -> dict[str, list[str]]:
    """Endpoint key -> the ports the API server calls it on, for every webhook whose clientConfig names a Service."""
    services = {((_meta(s).get("namespace") or "default"), _meta(s).get("name")): s for s in _services(objects)}
    out: dict[str, list[str]] = {}
    for config in (o for o in objects if _kind(o) in WEBHOOK_KINDS):
        for hook in config.get("webhooks") or []:
            ref = (hook.get("clientConfig") or {}).get("service") or {}
            service = services.get((ref.get("namespace") or "default", ref.get("name")))
            if service is None:
                continue
            for e in _behind(service, endpoints):
                out.setdefault(e.key, []).extend(_target_ports(service, ref.get("port", 443), e))
    return out


def exporter_targets(objects: Sequence[Mapping], endpoints: Sequence[Endpoint]) -> dict[str, list[str]]:
    """Endpoint key -> the ports Prometheus scrapes on it, from every ServiceMonitor and PodMonitor."""
    out: dict[str, list[str]] = {}
    for monitor in (o for o in objects if _kind(o) in ("ServiceMonitor", "PodMonitor")):
        spec = monitor.get("spec") or {}
        own = _meta(monitor).get("namespace") or "default"
        chooser = spec.get("namespaceSelector") or {}
        in_ns = (lambda ns: True) if chooser.get("any") else (lambda ns, names=tuple(chooser.get("matchNames") or [own]): ns in names)  # noqa: B008 - the names, bound once
        selector = spec.get("selector") or {}
        if _kind(monitor) == "ServiceMonitor":
            for service in _services(objects):
                if not in_ns(_meta(service).get("namespace") or "default") or not _labels_match(selector, _meta(service).get("labels") or {}):
                    continue
                for e in _behind(service, endpoints):
                    for ep in spec.get("endpoints") or []:
                        ref = ep.get("port") if ep.get("port") is not None else ep.get("targetPort")
                        out.setdefault(e.key, []).extend(_target_ports(service, ref, e))
        else:
            for e in endpoints:
                if in_ns(e.namespace) and _labels_match(selector, e.labels):
                    for ep in spec.get("podMetricsEndpoints") or []:
                        found = [p for p in e.ports if p.get("name") == ep.get("port")] if ep.get("port") else []
                        out.setdefault(e.key, []).extend(f"{str(p.get('protocol') or 'TCP').upper()}/{p['containerPort']}" for p in found)
    return out


@dataclass
class Analysis:
    network: Optional[Network]  # None when the flows were judged by the second core (only the results came back)
    endpoints: list[Endpoint]
    tenants: set
    addresses: dict
    webhooks: dict
    exporters: dict
    results: dict = field(default_factory=dict)  # workload name -> [flow result]: every one but the closed pairs below
    platform: list = field(default_factory=list)  # results between pods the platform runs and no workload is (KEDA → Prometheus)
    seen: dict = field(default_factory=dict, repr=False)  # workload name -> {identity of each result recorded}
    # workload name -> {forbidden flow: pairs found closed}: counted, not listed (a forbidden flow asks of every pair of
    # pods, hundreds of thousands at ten teams, and a closed pair says nothing a count does not)
    closed: dict = field(default_factory=dict)
    flows: dict = field(default_factory=dict)  # workload name -> {flow: kind}, in the order first recorded


def _resolve(analysis: Analysis, end: Mapping, src: Optional[Endpoint] = None) -> list:
    if "address" in end:
        value = table.ADDRESSES[end["address"]]
        return [analysis.addresses.get(value, value)] if analysis.addresses.get(value, value) else []
    if "endpoint" in end:
        return [e for e in analysis.endpoints if e.system == end["endpoint"]]
    role = end["role"]
    eps = analysis.endpoints
    if role == "pod":
        return [e for e in eps if e.workload]
    if role == "notebook":
        return [e for e in eps if e.kind == "NotebookProfile"]
    if role == "ray-head":
        return [e for e in eps if e.kind in RAY_KINDS and e.role == "head"]
    if role == "team-ray-head":
        return [e for e in eps if e.kind in RAY_KINDS and e.role == "head" and e.namespace in analysis.tenants]
    if role in ("own-team-ray-head", "own-team-serve"):
        # A notebook of a team namespace: its own team's Ray heads (a notebook of the hub namespace: every team's).
        kinds = RAY_KINDS if role == "own-team-ray-head" else {"RayService"}
        return [
            e
            for e in eps
            if e.kind in kinds
            and e.role == "head"
            and e.namespace in analysis.tenants
            and (src is None or src.namespace not in analysis.tenants or e.namespace == src.namespace)
        ]
    if role == "exposed":
        return [e for e in eps if e.exposes]
    if role == "webhook":
        return [e for e in eps if e.key in analysis.webhooks]
    if role == "exporter":
        return [e for e in eps if e.key in analysis.exporters]
    if role == "job-pod":
        return [e for e in eps if e.job]
    if role == "same-job":
        return [e for e in eps if src is not None and e.job and e.job == src.job and e.key != src.key]
    if role == "tenant":
        return [e for e in eps if e.workload and e.namespace in analysis.tenants]
    if role == "other-team":
        return [e for e in eps if src is not None and e.namespace in analysis.tenants and e.namespace != src.namespace]
    if role == "system":
        return [e for e in eps if e.namespace not in analysis.tenants]
    raise KeyError(f"flows.py names role {role!r}, which stacks/tools/plan/reaches.py does not define")


def _ports_for(analysis: Analysis, flow: Mapping, dst) -> Any:
    ports = flow["ports"]
    if ports == "exposed":
        return sorted({f"{str(p.get('protocol') or 'TCP').upper()}/{p['port']}" for p in dst.exposes})
    if ports == "webhook":
        return sorted(set(analysis.webhooks.get(dst.key, [])))
    if ports == "scraped":
        return sorted(set(analysis.exporters.get(dst.key, [])))
    return ports


def _name(end) -> str:
    return end.key if isinstance(end, Endpoint) else str(end)


def _record(analysis: Analysis, result: dict, *ends) -> None:
    """Add ``result`` to the results of each workload among ``ends``, once (a set of seen results per workload:
    comparing with every result already there made recording quadratic in the flows)."""
    # a result is a function of its flow, kind, ends and ports (the verdict and reason follow from them)
    ports = result["ports"]
    identity = (result["flow"], result["kind"], result["from"], result["to"], tuple(ports) if isinstance(ports, list) else ports)
    workloads = [end.workload for end in ends if isinstance(end, Endpoint) and end.workload]
    if not workloads:
        # both ends are system endpoints (flows.SYSTEM_ENDPOINTS): no workload's row would show it; the plan check
        # `reaches (platform pods)` does
        if result not in analysis.platform:
            analysis.platform.append(result)
        return
    results, seen, flows = analysis.results, analysis.seen, analysis.flows
    for workload in workloads:
        known = seen.get(workload)
        if known is None:
            known = seen[workload] = set()
            results[workload] = []
        if identity not in known:
            known.add(identity)
            results[workload].append(result)
            flows.setdefault(workload, {}).setdefault(result["flow"], result["kind"])


def _count_closed(analysis: Analysis, flow: str, src, dst) -> bool:
    """Count a forbidden flow found closed between ``src`` and ``dst`` for each workload among them, once each (one
    pair is asked once per flow); False when neither end is a workload's (_record lists it for the platform check)."""
    workloads = {end.workload for end in (src, dst) if isinstance(end, Endpoint) and end.workload}
    if not workloads:
        return False
    for workload in sorted(workloads):
        counts = analysis.closed.setdefault(workload, {})
        counts[flow] = counts.get(flow, 0) + 1
        analysis.flows.setdefault(workload, {}).setdefault(flow, "forbidden")
    return True


def _inputs(ctx: Context) -> tuple[tuple, str]:
    """What the analysis of a Context is a function of (namespaces, endpoints, policies, addresses, webhooks,
    exporters) and their digest."""
    known = ctx.__dict__.get("_reaches_inputs")
    if known is not None:
        return known
    workloads = list(getattr(ctx, "workloads", None) or [])
    endpoints = endpoints_of(workloads, ctx.resources, ctx.objects)
    namespaces = _namespaces(ctx.resources, ctx.objects, endpoints)
    policies = policies_of(ctx.resources, ctx.objects)
    addresses = {"vpc": vpc_cidr(ctx.resources)}
    webhooks, exporters = webhook_targets(ctx.objects, endpoints), exporter_targets(ctx.objects, endpoints)
    # The verdicts are a function of these inputs alone (the flow table is fixed): a plan checked again with edits
    # that change none of them (`crucible check` of an edited plan, most tests) reuses the analysis.
    digest = hashlib.sha256(
        json.dumps([namespaces, [asdict(e) for e in endpoints], policies, addresses, webhooks, exporters], sort_keys=True, default=str).encode()
    ).hexdigest()
    found = ctx.__dict__["_reaches_inputs"] = ((namespaces, endpoints, policies, addresses, webhooks, exporters), digest)
    return found


def start(ctx: Context) -> None:
    """lands.STARTS entry: hand the analysis to the command's second core (stacks/tools/second_core.py), if it has
    one, before the other checks run here; analyse() takes the result. Without one, nothing: analyse() computes."""
    worker = second_core.current()
    if worker is None:
        return
    inputs, digest = _inputs(ctx)
    with _analyses_lock:
        if digest in _analyses or digest in _handed_over:
            return
        _handed_over[digest] = worker.submit(flow_results, *inputs)
        while len(_handed_over) > 16:
            _handed_over.pop(next(iter(_handed_over)))


def analyse(ctx: Context) -> Analysis:
    """Build the analysed cluster from the Context (its resources, objects and workloads), run NCA once and judge
    every flow of the table; results are kept per workload."""
    cached = ctx.__dict__.get("_reaches")
    if cached is not None:
        return cached
    inputs, digest = _inputs(ctx)
    with _analyses_lock:
        known = _analyses.get(digest)
        handed_over = _handed_over.pop(digest, None)
    if known is not None:
        ctx.__dict__["_reaches"] = known
        return known
    analysis = None
    if handed_over is not None:
        try:
            results, platform, closed, flows = handed_over.result(timeout=HANDED_OVER_TIMEOUT)
        except second_core.WorkerLost:
            pass  # computed here instead
        else:
            namespaces, endpoints, _, addresses, webhooks, exporters = inputs
            analysis = Analysis(
                None, endpoints, _tenants(namespaces), addresses, webhooks, exporters, results=results, platform=platform, closed=closed, flows=flows
            )
    if analysis is None:
        analysis = _analysed(*inputs)
    with _analyses_lock:
        _analyses[digest] = analysis
        while len(_analyses) > 16:
            _analyses.pop(next(iter(_analyses)))
    ctx.__dict__["_reaches"] = analysis
    return analysis


_analyses_lock = threading.Lock()
_analyses: dict[str, Analysis] = {}  # input digest -> analysis, the 16 newest (read-only once made)
_handed_over: dict[str, second_core.Pending] = {}  # input digest -> the flow results the second core computes
# A worker still without the results after this long is stuck, not slow (a 10x plan's analysis takes seconds): it is
# stopped and the analysis computed here.
HANDED_OVER_TIMEOUT = 900.0


def forget_analyses() -> None:
    """Drop the analyses kept for reuse (a test that measures a fresh one)."""
    with _analyses_lock:
        _analyses.clear()
        _handed_over.clear()


def flow_results(
    namespaces: dict, endpoints: list[Endpoint], policies: list, addresses: dict, webhooks: dict, exporters: dict
) -> tuple[dict, list, dict, dict]:
    """The analysis's results per workload and between platform pods (what the checks read; the second core's
    call: NCA's objects stay in the process that made them)."""
    analysis = _analysed(namespaces, endpoints, policies, addresses, webhooks, exporters, parallel=True)
    return analysis.results, analysis.platform, analysis.closed, analysis.flows


def _tenants(namespaces: Mapping[str, Mapping]) -> set:
    return {n for n, labels in namespaces.items() if labels.get(TENANT_LABEL)}


def _analysed(
    namespaces: dict, endpoints: list[Endpoint], policies: list, addresses: dict, webhooks: dict, exporters: dict, parallel: bool = False
) -> Analysis:
    """Run NCA once over the analysed cluster and judge every flow of the table (``parallel``: in a process with no
    thread, the worker, a large forbidden flow is judged in two processes)."""
    network = Network(namespaces, endpoints, policies)
    analysis = Analysis(network, endpoints, _tenants(namespaces), addresses, webhooks, exporters)
    for flow in table.REQUIRED:
        for src in _resolve(analysis, flow["from"]):
            for dst in _resolve(analysis, flow["to"], src if isinstance(src, Endpoint) else None):
                ports = _ports_for(analysis, flow, dst)
                named = [p for p in ports if "named:" in p] if isinstance(ports, list) else []
                ports = [p for p in ports if "named:" not in p] if isinstance(ports, list) else ports
                ok = not named and (not ports or network.allows(src, dst, ports))
                why = None if ok else (f"named port {', '.join(named)} is on no container" if named else "not allowed by the NetworkPolicies")
                _record(
                    analysis,
                    {"flow": flow["flow"], "kind": "required", "from": _name(src), "to": _name(dst), "ports": ports, "ok": ok, "reason": why},
                    src,
                    dst,
                )
    vpc = analysis.addresses.get("vpc")
    plans = []
    for flow in table.FORBIDDEN:
        # each exception's ends resolved once per flow (not per pair: thousands of pairs at ten teams), by name
        exceptions = [({_name(e) for e in _resolve(analysis, ex)}, ex["ports"]) for ex in flow.get("except") or []]
        plans.append((flow, exceptions, _resolve(analysis, flow["from"])))
    helper = None
    if parallel and sum(len(sources) for _, _, sources in plans) * len(analysis.endpoints) >= SPLIT_PAIRS:
        # The last sources of each flow are judged in a fork (it shares the analysed cluster), on the core the command
        # leaves idle while it waits; the two parts' results are recorded in order, the worker's first.
        cut = [round(len(sources) * OWN_SHARE) for _, _, sources in plans]
        halves = [(flow, exceptions, sources[:n]) for (flow, exceptions, sources), n in zip(plans, cut)]
        rest = [(flow, exceptions, sources[n:]) for (flow, exceptions, sources), n in zip(plans, cut)]
        if vpc:
            # what each pod may receive from the pods' range is asked of every destination by both halves: computed
            # once, before the fork, which inherits it
            for endpoint in analysis.endpoints:
                network._address_sides("in", endpoint, vpc, ())
        helper = second_core.forked(_judged_parts, analysis, rest, vpc)
        if helper is not None:
            plans = halves
    if helper is None:
        for flow, exceptions, sources in plans:
            _judge_forbidden(analysis, analysis, flow, exceptions, sources, vpc)
        return analysis
    mine = _judged_parts(analysis, plans, vpc)
    try:
        theirs = helper.result()
    except second_core.WorkerLost:
        theirs = _judged_parts(analysis, rest, vpc)  # the fork failed: judged here
    for first, second in zip(mine, theirs):
        _merge(analysis, first)
        _merge(analysis, second)
    return analysis


# A forbidden flow's sources are judged in two processes (the worker and a fork of it) from this many pairs
# (sources x endpoints, an upper bound): prod has a few thousand, a 10x plan hundreds of thousands. The fork takes
# the smaller share: every object it touches first costs it a copy of its memory page (reference counts are writes),
# which made it half again as slow per source as the worker at 10x.
SPLIT_PAIRS = 100_000
OWN_SHARE = 0.6


def _judged_parts(analysis: Analysis, plans: list, vpc: Optional[str]) -> list[tuple[dict, list, dict, dict]]:
    """Each forbidden flow of ``plans`` (flow, exceptions, sources) judged into a part of its own: its results,
    platform results, closed counts and flows, as :func:`_merge` records them."""
    parts = []
    for flow, exceptions, sources in plans:
        part = Analysis(None, [], set(), {}, {}, {})
        _judge_forbidden(analysis, part, flow, exceptions, sources, vpc)
        parts.append((part.results, part.platform, part.closed, part.flows))
    return parts


def _merge(analysis: Analysis, part: tuple[dict, list, dict, dict]) -> None:
    """Record a part of a flow's results into ``analysis`` as recording them here would have."""
    results, platform, closed, flows = part
    for result in platform:
        if result not in analysis.platform:
            analysis.platform.append(result)
    for workload, found in results.items():
        seen = analysis.seen.setdefault(workload, set())
        listed = analysis.results.setdefault(workload, [])
        for result in found:
            ports = result["ports"]
            identity = (result["flow"], result["kind"], result["from"], result["to"], tuple(ports) if isinstance(ports, list) else ports)
            if identity not in seen:
                seen.add(identity)
                listed.append(result)
    for workload, counts in closed.items():
        mine = analysis.closed.setdefault(workload, {})
        for flow, count in counts.items():
            mine[flow] = mine.get(flow, 0) + count
    for workload, kinds in flows.items():
        order = analysis.flows.setdefault(workload, {})
        for flow, kind in kinds.items():
            order.setdefault(flow, kind)


def _judge_forbidden(analysis: Analysis, target: Analysis, flow: Mapping, exceptions: list, sources: list, vpc: Optional[str]) -> None:
    """Judge a forbidden flow from ``sources`` to its destinations in ``analysis``, recording into ``target``."""
    network = analysis.network
    # The verdict of a pair is one of the pods' classes (Network: a question about a pod is asked about its class's
    # pod) and of the ports excepted for the destination: judged once per such key, recorded per pair.
    verdicts: dict[tuple, tuple[Optional[str], str]] = {}
    for src in sources:
        pods_of_src = isinstance(src, Endpoint)
        src_class = (pods_of_src, network._key(src))
        for dst in _resolve(analysis, flow["to"], src if pods_of_src else None):
            dst_name = _name(dst)
            excepted = [p for names, ports in exceptions if dst_name in names for p in ports] or None
            to_pod = isinstance(dst, Endpoint)
            judged = (src_class, to_pod, network._key(dst), tuple(excepted) if excepted else None)
            verdict = verdicts.get(judged)
            if verdict is None:
                verdict = verdicts[judged] = _forbidden_verdict(network, flow, src, dst, excepted, vpc)
            found, level = verdict
            if found is None and _count_closed(target, flow["flow"], src, dst):
                continue
            _record(
                target,
                {
                    "flow": flow["flow"],
                    "kind": "forbidden",
                    "from": _name(src),
                    "to": dst_name,
                    "ports": flow["ports"],
                    "ok": found is None,
                    "level": level,
                    "reason": None if found is None else f"allowed: {found}",
                },
                src,
                dst,
            )


def _forbidden_verdict(network: Network, flow: Mapping, src, dst, excepted: Optional[list], vpc: Optional[str]) -> tuple[Optional[str], str]:
    """What of a forbidden flow ``src`` may open to ``dst`` (None: nothing) and at which level it counts."""
    to_pod = isinstance(dst, Endpoint)
    if to_pod and not network.reaches_some(src, dst, flow["ports"], excepted):
        found = None
    else:
        found = network.reachable(src, dst, flow["ports"], excepted)
    if found is None and isinstance(src, Endpoint) and to_pod and vpc:
        # EKS enforces NetworkPolicy with the VPC CNI's agent, whose ipBlocks match pod addresses
        # (aws/amazon-network-policy-controller-k8s#41): an egress ipBlock covering the pod range reaches pods whose
        # ingress admits that range. Advisory: pods share the VPC's address range with what tenants must reach by
        # address (interface endpoints, Lustre), so no ipBlock can tell them apart until pods get an address range of
        # their own (VPC CNI custom networking).
        by_ip = network.reachable_by_address(src, dst, vpc, excepted)
        return (f"{by_ip} through an ipBlock covering the pods' addresses ({vpc})" if by_ip else None), "advisory"
    return found, "mandatory"


def reaches(ctx: Context, workload: Mapping) -> dict:
    """The reaches check for one workload: every flow of the table it takes part in, OK or why not."""
    try:
        analysis = analyse(ctx)
    except AnalyzerUnavailable as error:
        # Said on every row, not passed silently: the flows were not computed.
        return {"ok": True, "summary": "not checked", "reasons": [], "flows": [], "skipped": str(error)}
    name = workload.get("name")
    found = analysis.results.get(name, [])
    closed = analysis.closed.get(name, {})
    checked = len(found) + sum(closed.values())
    failed = [f for f in found if not f["ok"] and f.get("level", "mandatory") == "mandatory"]
    warned = [f for f in found if not f["ok"] and f.get("level") == "advisory"]
    text = lambda f: f"{f['flow']}: {f['from']} → {f['to']} {','.join(f['ports']) if isinstance(f['ports'], list) else f['ports']} — {f['reason']}"  # noqa: E731
    reasons = [text(f) for f in failed]
    if not checked:
        summary = "no flow of the table"
    elif failed:
        summary = f"{len(failed)} of {checked} flows fail"
    else:
        summary = f"{checked - len(warned)} flows OK"
    if warned:
        summary += f", {len(warned)} advisory"
    # a row per flow, in the order the workload's flows were first recorded
    by_flow = {flow: {"flow": flow, "kind": kind, "checked": closed.get(flow, 0), "failed": []} for flow, kind in analysis.flows.get(name, {}).items()}
    for f in found:
        row = by_flow.setdefault(f["flow"], {"flow": f["flow"], "kind": f["kind"], "checked": 0, "failed": []})
        row["checked"] += 1
        if not f["ok"]:
            row["failed"].append({k: f[k] for k in ("from", "to", "ports", "reason")})
    return {"ok": not failed, "summary": summary, "reasons": reasons, "advisories": [text(f) for f in warned], "flows": list(by_flow.values())}


def platform_flows_check(ctx: Context) -> list[dict]:
    """PLAN_CHECKS entry: the flows of the table between pods the platform runs that no workload row shows (both
    ends system endpoints, e.g. KEDA's operator querying Prometheus for the ScaledObjects' triggers)."""
    try:
        analysis = analyse(ctx)
    except AnalyzerUnavailable:
        return []  # the workloads' reaches rows say "not checked" with the reason
    return [dict(f) for f in analysis.platform]


STARTS.append(start)
CHECKS.append(("reaches", "reaches", reaches))
PLAN_CHECKS.append(("reaches (platform pods)", platform_flows_check))
PLAN_CHECKS.append(("reaches (security groups)", security_groups_check))


# ---- what a load balancer sends to ------------------------------------------------------------------------------


def _backend_services(ingress: Mapping) -> list[tuple[str, Any]]:
    spec = ingress.get("spec") or {}
    backends = [spec.get("defaultBackend")] if spec.get("defaultBackend") else []
    for rule in spec.get("rules") or []:
        backends.extend(p.get("backend") for p in ((rule.get("http") or {}).get("paths") or []))
    out = []
    for b in backends:
        service = (b or {}).get("service") or {}
        port = service.get("port") or {}
        if service.get("name"):
            out.append((service["name"], port.get("number", port.get("name"))))
    return out


def exposed_ports(objects: Sequence[Mapping], template: Mapping, namespace: Optional[str] = None) -> list[dict]:
    """The container ports of a pod template a load balancer sends to directly (ALB Ingress or NLB Service in
    `target-type: ip` mode): [{"port", "protocol", "via"}]. Instance-mode targets are reached through the node's
    NodePort, outside NetworkPolicy's pod selectors, and are not listed."""
    labels = (template.get("metadata") or {}).get("labels") or {}
    fake = Endpoint(namespace or "default", "probe", {k: str(v) for k, v in labels.items()}, _container_ports(template.get("spec") or {}))
    services = {_meta(s).get("name"): s for s in _services(objects) if (_meta(s).get("namespace") or namespace) == namespace or namespace is None}
    out: list[dict] = []

    def add(service: Mapping, ref: Any, via: str) -> None:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector or not _labels_match({"matchLabels": selector}, fake.labels):
            return
        for port in _target_ports(service, ref, fake):
            proto, _, number = port.partition("/")
            if number.isdigit():
                item = {"port": int(number), "protocol": proto, "via": via}
                if item not in out:
                    out.append(item)

    for o in objects:
        annotations = _meta(o).get("annotations") or {}
        if _kind(o) == "Ingress" and annotations.get("alb.ingress.kubernetes.io/target-type") == "ip":
            for name, ref in _backend_services(o):
                if name in services:
                    add(services[name], ref, f"Ingress {_meta(o).get('name')}")
        if (
            _kind(o) == "Service"
            and (o.get("spec") or {}).get("type") == "LoadBalancer"
            and annotations.get("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type") == "ip"
        ):
            add(o, None, f"Service {_meta(o).get('name')}")
    return out
