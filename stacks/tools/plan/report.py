"""The plan report: sections that each add a JSON block and a few human lines.

A section is a function ``(planned) -> Section | None``; later layers add theirs to SECTIONS.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from components.accelerators import DEVICE_RESOURCES
from components.labels import NODEPOOL_LABEL, TENANT_LABEL
from stacks.tools.harness import CapturedResource, PlanRun
from stacks.tools.plan.deploy import deploy_section, secrets_section
from stacks.tools.plan.locate import Planned
from stacks.spec import LAYERS


@dataclass
class Section:
    key: str  # the JSON key
    title: str
    data: Any
    lines: list[str] = field(default_factory=list)


def layer_of(run: PlanRun, resource: CapturedResource) -> str:
    """The layer a resource belongs to: the `crucible:<layer>:…` component at the top of its parent chain."""
    by_urn = {r.urn: r for r in run.resources}
    top = resource
    while top.parent in by_urn:
        top = by_urn[top.parent]
    parts = top.type.split(":")
    if parts[0] == "crucible" and parts[1] in LAYERS:
        return parts[1]
    if parts[0] == "pulumi" and parts[1] == "providers":
        return "providers"
    return "stack"


def short_type(token: str) -> str:
    return token.rsplit(":", 1)[-1]


def layers_section(planned: Planned) -> Section:
    run = planned.run
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in run.resources:
        if r.custom:
            counts[layer_of(run, r)][r.type] += 1
    order = [*LAYERS, "providers", "stack"]
    data = {layer: dict(sorted(counts[layer].items())) for layer in order if counts.get(layer)}
    lines = []
    for layer, types in data.items():
        total = sum(types.values())
        detail = ", ".join(f"{short_type(t)} {n}" for t, n in sorted(types.items(), key=lambda kv: (-kv[1], kv[0])))
        lines.append(f"{layer:<10} {total:>4}  {detail}")
    lines.append(f"{'total':<10} {sum(sum(t.values()) for t in data.values()):>4}")
    return Section("layers", "Resources by layer", data, lines)


def settings_section(planned: Planned) -> Optional[Section]:
    """Key settings as registered (read back from the captured resources, not from the config)."""
    run = planned.run
    data: dict[str, Any] = {}
    lines: list[str] = []
    vpcs = run.of_type("aws:ec2/vpc:Vpc")
    if vpcs:
        subnets = run.of_type("aws:ec2/subnet:Subnet")
        zones = sorted({s.inputs.get("availabilityZone") for s in subnets})
        nats = len(run.of_type("aws:ec2/natGateway:NatGateway"))
        endpoints = sorted(e.inputs.get("serviceName", "").rsplit(".", 1)[-1] if e.inputs.get("vpcEndpointType") == "Gateway" else e.inputs.get("serviceName", "").split(".", 3)[-1] for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"))
        data["network"] = {
            "vpcCidr": vpcs[0].inputs.get("cidrBlock"),
            "zones": zones,
            "natGateways": nats,
            "endpoints": endpoints,
            "flowLogs": bool(run.of_type("aws:ec2/flowLog:FlowLog")),
        }
        lines.append(
            f"network    VPC {data['network']['vpcCidr']} over {', '.join(zones)}; NAT gateways {nats}; "
            f"endpoints: {', '.join(endpoints) or 'none'}; flow logs {'on' if data['network']['flowLogs'] else 'off'}"
        )
    clusters = run.of_type("aws:eks/cluster:Cluster")
    if clusters:
        c = clusters[0]
        vpc_config = c.inputs.get("vpcConfig", {})
        encryption = c.inputs.get("encryptionConfig", {})
        access = c.inputs.get("accessConfig", {})
        keys = run.of_type("aws:kms/key:Key")
        data["cluster"] = {
            "name": c.inputs.get("name"),
            "version": c.inputs.get("version"),
            "endpointPrivateAccess": vpc_config.get("endpointPrivateAccess"),
            "endpointPublicAccess": vpc_config.get("endpointPublicAccess"),
            "publicAccessCidrs": vpc_config.get("publicAccessCidrs", []),
            "secretsEncryption": "secrets" in encryption.get("resources", []),
            "logTypes": c.inputs.get("enabledClusterLogTypes", []),
            "authenticationMode": access.get("authenticationMode"),
            "creatorAdmin": access.get("bootstrapClusterCreatorAdminPermissions"),
            "adminAccessEntries": sum(1 for e in run.of_type("aws:eks/accessEntry:AccessEntry") if e.inputs.get("type") == "STANDARD"),
            "addons": sorted(a.inputs.get("addonName") for a in run.of_type("aws:eks/addon:Addon")),
            "protected": c.protect,
            "kmsKeyRotation": all(k.inputs.get("enableKeyRotation") for k in keys),
        }
        endpoint = "private only" if not data["cluster"]["endpointPublicAccess"] else f"private + public from {', '.join(data['cluster']['publicAccessCidrs'])}"
        lines.append(f"cluster    EKS {data['cluster']['version']} {data['cluster']['name']!r}: endpoint {endpoint}")
        lines.append(
            f"           secrets encrypted with KMS ({'rotation on' if data['cluster']['kmsKeyRotation'] else 'ROTATION OFF'}); "
            f"logs: {', '.join(data['cluster']['logTypes']) or 'none'}; auth {data['cluster']['authenticationMode']}, "
            f"creator admin {'yes' if data['cluster']['creatorAdmin'] else 'no'}, {data['cluster']['adminAccessEntries']} admin access entries"
        )
        lines.append(f"           add-ons: {', '.join(data['cluster']['addons'])}")
    for group in run.of_type("aws:eks/nodeGroup:NodeGroup"):
        scaling = group.inputs.get("scalingConfig", {})
        data.setdefault("nodeGroups", []).append(
            {
                "name": group.name,
                "instanceTypes": group.inputs.get("instanceTypes"),
                "capacityType": group.inputs.get("capacityType"),
                "amiType": group.inputs.get("amiType"),
                **scaling,
            }
        )
        lines.append(
            f"system     {', '.join(group.inputs.get('instanceTypes', []))} {group.inputs.get('capacityType', '').lower()} "
            f"x{scaling.get('desiredSize')} ({scaling.get('minSize')}..{scaling.get('maxSize')}), {group.inputs.get('amiType')}"
        )
    stateful = [r for r in run.resources if r.custom and (r.protect or r.retain_on_delete)]
    protected = [r for r in stateful if r.protect]
    data["protected"] = sorted(r.name for r in protected)
    by_type = Counter(short_type(r.type) for r in protected)
    summary = ", ".join(f"{kind} {count}" for kind, count in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])))
    lines.append(f"protect    {len(protected)} resources protected" + (f": {summary}" if protected else " (stateful resources are NOT protected)"))
    return Section("settings", "Key settings", data, lines)


def _configured_efa(run: PlanRun, pool: str) -> int:
    """EFA interfaces per node as registered: the EFA-only interfaces of the pool's EC2NodeClass."""
    for r in run.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
        if r.inputs.get("metadata", {}).get("name") == pool:
            return sum(1 for i in r.inputs.get("spec", {}).get("networkInterfaces", []) if i.get("interfaceType") == "efa-only")
    return 0


def _configured_max_pods(run: PlanRun, pool: str) -> Optional[int]:
    """Pods per node as registered: the kubelet maxPods of the pool's EC2NodeClass (None: Karpenter's ENI count)."""
    for r in run.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
        if r.inputs.get("metadata", {}).get("name") == pool:
            return (r.inputs.get("spec", {}).get("kubelet") or {}).get("maxPods")
    return None


def _money(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def capacity_section(planned: Planned) -> Optional[Section]:
    """Per pool: what it can run at its limit (instance catalog figures), and the EFA interfaces per node as
    registered on its EC2NodeClass against the instance maximum."""
    if not planned.spec.builds("compute") or not planned.spec.pools:
        return None
    from stacks.derive.capacity import pool_capacity

    data: dict[str, Any] = {}
    rows = [("pool", "kind/workload", "instance types", "nodes", "pods/node", "accelerators", "accel memory", "vCPU", "memory", "EFA per node", "$/h at max")]
    for pool in planned.spec.pools:
        cap = pool_capacity(pool)
        configured = _configured_efa(planned.run, pool.name)
        entry = cap.to_json()
        pods = _configured_max_pods(planned.run, pool.name)
        entry.update(workload=pool.workload, capacityTypes=list(pool.capacity_types), efaInterfacesPerNode=configured, maxPodsPerNode=pods)
        entry["efaShare"] = round(configured / cap.efa_max, 4) if cap.efa_max else 0.0
        data[pool.name] = entry
        types = ", ".join(cap.instance_types) if len(cap.instance_types) <= 3 else f"{', '.join(cap.instance_types[:2])} +{len(cap.instance_types) - 2}"
        if not cap.efa_max:
            efa = f"no EFA, {cap.network_gbps:g} Gbps"
        elif not configured:
            efa = f"EFA off (max {cap.efa_max}), {cap.network_gbps:g} Gbps"
        else:
            efa = f"{configured}/{cap.efa_max} EFA, {cap.network_gbps:g} Gbps, {round(100 * configured / cap.efa_max)}%"
        accel = f"{cap.accelerators} {cap.accelerator_resource.split('/')[-1]}" if cap.accelerator_resource else "-"
        accel_mem = f"{cap.accelerator_memory_gib:,.0f} GiB" if cap.accelerator_resource else "-"
        price = _money(cap.per_hour_low) if round(cap.per_hour_low) == round(cap.per_hour_high) else f"{_money(cap.per_hour_low)}-{_money(cap.per_hour_high)}"
        rows.append((pool.name, f"{pool.kind}/{pool.workload}", types, str(cap.max_nodes), str(pods) if pods is not None else "ENI-limited", accel, accel_mem, str(cap.vcpu), f"{cap.memory_gib:,} GiB", efa, price))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(at max: each pool at its maxNodes/maxAccelerators; $/h from the catalog's on-demand list prices in its reference region, cheapest to dearest type)")
    lines.append("(pods/node: the EC2NodeClass kubelet maxPods, from the VPC CNI's prefix delegation on the pool's smallest type)")
    return Section("capacity", "Capacity per pool (at max)", data, lines)


def storage_section(planned: Planned) -> Optional[Section]:
    """Buckets and file systems as registered, with the Lustre sizing: capacity, aggregate throughput, throughput per
    training accelerator at the pools' maximum, and the time to write one checkpoint (stacks/derive/storage_sizing.py)."""
    spec, run = planned.spec, planned.run
    if not spec.builds("storage"):
        return None
    from stacks.derive.placement import lustre_zone
    from stacks.derive.storage_sizing import lustre_sizing, training_accelerators
    from stacks.spec.storage import SCRATCH_2_BASELINE_PER_TIB

    data: dict[str, Any] = {"buckets": [], "fileSystems": [], "warnings": []}
    lines: list[str] = []
    for b in sorted(run.of_type("aws:s3/bucket:Bucket"), key=lambda r: r.inputs.get("bucket", "")):
        data["buckets"].append({"name": b.inputs.get("bucket"), "protected": b.protect, "retainOnDelete": b.retain_on_delete, "forceDestroy": b.inputs.get("forceDestroy", False)})
    if data["buckets"]:
        lines.append(f"buckets    {', '.join(b['name'] for b in data['buckets'])} (SSE-KMS, versioned, private, TLS-only)")
    accelerators = training_accelerators(spec)
    associations = run.of_type("aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation")
    subnets = {r.urn: r.inputs.get("availabilityZone") for r in run.of_type("aws:ec2/subnet:Subnet")}
    for fs in run.of_type("aws:fsx/lustreFileSystem:LustreFileSystem"):
        kind = fs.inputs.get("deploymentType")
        per_tib = fs.inputs.get("perUnitStorageThroughput") or SCRATCH_2_BASELINE_PER_TIB
        sizing = lustre_sizing(kind, fs.inputs.get("storageCapacity"), per_tib, accelerators, spec.storage.checkpoint_size_gib, spec.storage.min_throughput_per_accelerator_mbps)
        # The zone of the registered subnet; a subnet from another stack (split stacks): the derived zone.
        zone = next((subnets[u] for u in fs.property_dependencies.get("subnetIds", []) if u in subnets), None) or lustre_zone(spec)
        links = [
            {"path": a.inputs.get("fileSystemPath"), "repository": a.inputs.get("dataRepositoryPath")}
            for a in sorted(associations, key=lambda r: r.inputs.get("fileSystemPath", ""))
            if fs.urn in a.property_dependencies.get("fileSystemId", [])
        ]
        entry = {
            "name": fs.name,
            "zone": zone,
            "efa": bool(fs.inputs.get("efaEnabled")),
            "backupRetentionDays": fs.inputs.get("automaticBackupRetentionDays", 0),
            "protected": fs.protect,
            "repositories": links,
            **sizing.to_json(),
        }
        data["fileSystems"].append(entry)
        where = f" in {zone}" if zone else ""
        lines.append(f"lustre     {fs.name}{where}: {sizing.line()}")
        if accelerators is None:
            lines.append("           (no training accelerator pools: throughput per accelerator not computed)")
        if links:
            lines.append("           linked: " + ", ".join(f"{l['path']} <-> {l['repository']}" for l in links))
        warning = sizing.warning()
        if warning:
            data["warnings"].append(warning)
            lines.append(f"           {warning}")
    return Section("storage", "Storage", data, lines)


def hub_profiles(values: dict) -> list[dict]:
    """The notebook profiles of a JupyterHub release's values (`singleuser.profileList`)."""
    profiles = []
    for entry in (values.get("singleuser") or {}).get("profileList") or []:
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
            }
        )
    return profiles


def _hub_values(run: PlanRun) -> Optional[dict]:
    hub = next((r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == "jupyterhub"), None)
    if hub is None:
        return None
    values = hub.inputs.get("values")
    return values if isinstance(values, dict) else {}  # values hidden as a secret: nothing to show


def notebooks_section(planned: Planned) -> Optional[Section]:
    """JupyterHub as registered: profiles (pool, accelerator, node selector), authenticator and exposure; plus the
    observability and pipeline add-ons. Read back from the captured releases, not from the config."""
    run = planned.run
    releases = {r.inputs.get("chart"): r for r in run.of_type("kubernetes:helm.sh/v3:Release")}
    hub = releases.get("jupyterhub")
    data: dict[str, Any] = {}
    lines: list[str] = []
    values = _hub_values(run)  # None exactly when there is no hub release
    if hub is not None:
        profiles = hub_profiles(values)
        service = (values.get("proxy") or {}).get("service") or {}
        scheme = (service.get("annotations") or {}).get("service.beta.kubernetes.io/aws-load-balancer-scheme")
        exposure = "private (ClusterIP)" if service.get("type", "ClusterIP") == "ClusterIP" else f"{service.get('type')} ({scheme or 'scheme unset'})"
        cull = values.get("cull") or {}
        data["jupyterhub"] = {
            "chart": hub.inputs.get("version"),
            "namespace": hub.inputs.get("namespace"),
            "authenticator": ((values.get("hub") or {}).get("config") or {}).get("JupyterHub", {}).get("authenticator_class"),
            "exposure": exposure,
            "tls": bool(((values.get("proxy") or {}).get("https") or {}).get("enabled")),
            "cullTimeoutSeconds": cull.get("timeout") if cull.get("enabled") else None,
            "profiles": profiles,
        }
        j = data["jupyterhub"]
        lines.append(f"jupyterhub {j['chart']} in {j['namespace']}: auth {j['authenticator']}, proxy {exposure}{', TLS' if j['tls'] else ''}, idle cull {j['cullTimeoutSeconds'] or 'off'}s")
        for p in profiles:
            where = f"pool {p['pool']}" if p["pool"] else "any node"
            accel = f"{p['accelerators']} x {p['accelerator']}" if p["accelerator"] else "no accelerator"
            lines.append(f"  profile {p['slug']:<16} {where:<22} {accel}{'  (default)' if p['default'] else ''}")
    monitoring = releases.get("kube-prometheus-stack")
    if monitoring is not None:
        values = monitoring.inputs.get("values") if isinstance(monitoring.inputs.get("values"), dict) else {}
        prom = (values.get("prometheus") or {}).get("prometheusSpec") or {}
        exporters = sorted(c for c in ("dcgm-exporter",) if c in releases) + (["neuron-monitor"] if run.of_type("crucible:platform:NeuronMonitor") else [])
        data["observability"] = {
            "prometheusStack": monitoring.inputs.get("version"),
            "retention": prom.get("retention"),
            "grafana": bool((values.get("grafana") or {}).get("enabled")),
            "exporters": exporters,
        }
        o = data["observability"]
        lines.append(f"observability kube-prometheus-stack {o['prometheusStack']}, retention {o['retention']}, grafana {'on' if o['grafana'] else 'off'}, exporters: {', '.join(exporters) or 'none'}")
    argo = releases.get("argo-workflows")
    if argo is not None:
        server = ((argo.inputs.get("values") or {}) if isinstance(argo.inputs.get("values"), dict) else {}).get("server") or {}
        data["argo"] = {"chart": argo.inputs.get("version"), "authModes": server.get("authModes"), "serviceType": server.get("serviceType")}
        lines.append(f"argo       workflows {argo.inputs.get('version')}: server {server.get('serviceType')}, auth {', '.join(server.get('authModes') or [])}")
    kuberay = releases.get("kuberay-operator")
    if kuberay is not None:
        data["kuberay"] = {"chart": kuberay.inputs.get("version"), "namespace": kuberay.inputs.get("namespace")}
        lines.append(f"kuberay    operator {kuberay.inputs.get('version')} (RayJob, RayCluster, RayService)")
    if not data:
        return None
    return Section("notebooks", "Notebooks, observability and pipelines", data, lines)


def _accelerator_of(quota: dict) -> Optional[str]:
    """The accelerator resource a flavor's quota is about (nonzero nominal or borrowing), if any."""
    for name in DEVICE_RESOURCES:
        if any(str(quota[part].get(name, "0")) not in ("0", "") for part in ("nominal", "borrowingLimit")):
            return name
    return None


def teams_section(planned: Planned) -> Optional[Section]:
    """Per team, as registered: namespace and Pod Security level, LocalQueue -> ClusterQueue, and the queue's
    quota per pool (nominal; + borrowing limit) for accelerators, cpu and memory."""
    run = planned.run
    namespaces = [n for n in run.of_type("kubernetes:core/v1:Namespace") if (n.inputs.get("metadata", {}).get("labels") or {}).get(TENANT_LABEL)]
    if not namespaces:
        return None
    queues = {q.inputs.get("metadata", {}).get("name"): q for q in run.resources if q.type.startswith("kubernetes:kueue.x-k8s.io/") and q.type.endswith(":ClusterQueue")}
    local = [q for q in run.resources if q.type.startswith("kubernetes:kueue.x-k8s.io/") and q.type.endswith(":LocalQueue")]
    bindings = run.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    claims = run.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    hub_values = _hub_values(run)
    profiles = [p["slug"] for p in hub_profiles(hub_values)] if hub_values is not None else []
    data: dict[str, Any] = {}
    rows = [("team", "namespace", "PSA", "queue", "pool", "accelerators", "cpu", "memory", "borrow up to")]
    for ns in sorted(namespaces, key=lambda n: n.inputs["metadata"]["name"]):
        meta = ns.inputs["metadata"]
        labels = meta.get("labels") or {}
        team, name = labels[TENANT_LABEL], meta.get("name")
        lq = next((q for q in local if (q.inputs.get("metadata") or {}).get("labels", {}).get(TENANT_LABEL) == team), None)
        cq_name = (lq.inputs.get("spec") or {}).get("clusterQueue") if lq else None
        cq = queues.get(cq_name)
        quotas: dict[str, Any] = {}
        for group in ((cq.inputs.get("spec") or {}).get("resourceGroups") or []) if cq else []:
            for flavor in group.get("flavors") or []:
                res = {r["name"]: r for r in flavor.get("resources") or []}
                quotas[flavor["name"]] = {
                    "nominal": {k: r.get("nominalQuota") for k, r in res.items()},
                    "borrowingLimit": {k: r.get("borrowingLimit") for k, r in res.items() if "borrowingLimit" in r},
                    "lendingLimit": {k: r.get("lendingLimit") for k, r in res.items() if "lendingLimit" in r},
                }
        roles = {}
        for b in bindings:
            if b.inputs.get("metadata", {}).get("namespace") == name or ns.urn in b.property_dependencies.get("metadata", []):
                roles.setdefault(b.inputs.get("roleRef", {}).get("name"), []).extend(s.get("name") for s in b.inputs.get("subjects") or [])
        data[team] = {
            "namespace": name,
            "podSecurity": labels.get("pod-security.kubernetes.io/enforce"),
            "workload": labels.get("crucible.io/workload"),
            "protected": ns.protect,
            "localQueue": (lq.inputs.get("metadata") or {}).get("name") if lq else None,
            "clusterQueue": cq_name,
            "cohort": (cq.inputs.get("spec") or {}).get("cohortName") if cq else None,
            "groups": roles,
            "quotas": quotas,
            "claims": sorted((c.inputs.get("metadata") or {}).get("name") for c in claims if (c.inputs.get("metadata") or {}).get("namespace") == name),
            # Notebooks run in the hub's namespace; every user the hub admits chooses among the same profiles.
            "notebookProfiles": profiles,
        }
        queue = f"{data[team]['localQueue']} -> {cq_name}" if lq else "none"
        first = True
        for pool, q in (quotas or {"-": {"nominal": {}, "borrowingLimit": {}}}).items():
            kind = _accelerator_of(q)
            if kind:
                accel = f"{q['nominal'].get(kind, '0')} {kind.split('/')[-1]}"
                borrowing = f"+{q['borrowingLimit'].get(kind, '0')} {kind.split('/')[-1]}"
            else:
                accel, borrowing = "-", f"+{q['borrowingLimit'].get('cpu', '0')} cpu"
            lead = (team, name, data[team]["podSecurity"], queue) if first else ("", "", "", "")
            rows.append((*lead, pool, accel, str(q["nominal"].get("cpu", "-")), str(q["nominal"].get("memory", "-")), borrowing))
            first = False
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(nominal Kueue quota per pool; 'borrow up to': the accelerators (cpu on cpu pools) the team may borrow from idle quota of the cohort)")
    for team, entry in sorted(data.items()):
        lines.append(f"{team}: volumes {', '.join(entry['claims']) or 'none'}; groups " + ("; ".join(f"{role}: {', '.join(groups)}" for role, groups in sorted(entry["groups"].items())) or "none"))
    if hub_values is not None:
        lines.append(f"notebook profiles (JupyterHub namespace, for every user the hub admits): {', '.join(profiles) or 'none'}")
    return Section("teams", "Teams (tenancy and Kueue queues)", data, lines)


def cost_section(planned: Planned) -> Section:
    """$/h of what this stack builds: the always-on baseline (minimum scale) and every pool at its limit."""
    from stacks.derive.cost import stack_cost

    cost = stack_cost(planned.spec)
    low, high = cost.at_maximum
    lines = [f"at minimum scale (pools empty): {_money(cost.at_minimum)}/h = " + (" + ".join(f"{i.item} {_money(i.per_hour_high)}" for i in cost.baseline) or "nothing always-on")]
    if cost.pools:
        lines.append(f"at maximum scale (every pool at its limit): {_money(low)}-{_money(high)}/h (cheapest to dearest allowed type, on-demand)")
    lines.append(f"(catalog list prices; not included: {cost.to_json()['excludes']})")
    return Section("cost", "Cost per hour", cost.to_json(), lines)


def policies_section(planned: Planned) -> Section:
    """The policy pack's verdicts on the registered resources (the very policies `pulumi preview` runs)."""
    from stacks.tools.plan.verdicts import evaluate, render

    verdicts = evaluate([r.to_json() for r in planned.run.resources], planned.spec.environment)
    return Section("policies", "Policies", verdicts, render(verdicts))


def workloads_section(planned: Planned) -> Optional[Section]:
    from stacks.tools.plan.workloads import workloads_section as section

    return section(planned)


SECTIONS: list[Callable[[Planned], Optional[Section]]] = [
    layers_section,
    settings_section,
    deploy_section,
    secrets_section,
    capacity_section,
    storage_section,
    notebooks_section,
    teams_section,
    cost_section,
    workloads_section,  # where each pod lands (and, later, whether it is admitted and what it reaches)
    policies_section,  # last: the verdict is the plan's last word
]


def build_report(planned: Planned) -> tuple[dict, list[str]]:
    """The JSON document and the human lines of a plan."""
    document = {
        "stack": planned.run.stack,
        "project": planned.run.project,
        "environment": planned.spec.environment,
        "region": planned.spec.region,
        # the cluster's Kubernetes version, also where the cluster comes from a stack reference (Helm renders with it)
        "kubernetesVersion": planned.spec.cluster.version,
        "config": str(planned.path),
        "resources": [r.to_json() for r in planned.run.resources],
        "outputs": planned.run.outputs,
    }
    lines = [
        f"crucible plan: stack {planned.run.stack} ({planned.spec.environment}, {planned.spec.region}) from {planned.path}",
        f"layers built: {', '.join(planned.spec.layers)}" + (f"; below them from {planned.spec.stack_reference}" if planned.spec.stack_reference else ""),
    ]
    for make in SECTIONS:
        section = make(planned)
        if section is None:
            continue
        document[section.key] = section.data
        lines.append("")
        lines.append(section.title)
        lines.extend(f"  {line}" for line in section.lines)
    return document, lines
