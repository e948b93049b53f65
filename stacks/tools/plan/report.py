"""The plan report: sections that each add a JSON block and a few human lines.

A section is a function ``(model) -> Section | None`` over the plan's read model (stacks/tools/plan/model.py:
:class:`PlanModel`, built once per plan from the registered resources); later layers add theirs to SECTIONS.
Sections only render: what was registered they read from the model, and figures the plan does not hold (catalog
capacity, $/h, Lustre sizing) from stacks/derive.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from components.accelerators import DEVICE_RESOURCES
from stacks.spec import LAYERS
from stacks.tools.plan.deploy import deploy_section, secrets_section
from stacks.tools.plan.locate import Planned
from stacks.tools.plan.model import PlanModel, meta, short_type, spec_of
from stacks.tools.plan.serving import serving_section


@dataclass
class Section:
    key: str  # the JSON key
    title: str
    data: Any
    lines: list[str] = field(default_factory=list)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned columns, a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _by_count(counts: Counter) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def layers_section(model: PlanModel) -> Section:
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in model.resources:
        if r["custom"]:
            counts[model.layer_of(r["urn"])][r["type"]] += 1
    order = [*LAYERS, "providers", "stack"]
    data = {layer: dict(sorted(counts[layer].items())) for layer in order if counts.get(layer)}
    lines = []
    for layer, types in data.items():
        detail = ", ".join(f"{short_type(t)} {n}" for t, n in _by_count(Counter(types)))
        lines.append(f"{layer:<10} {sum(types.values()):>4}  {detail}")
    lines.append(f"{'total':<10} {sum(sum(t.values()) for t in data.values()):>4}")
    return Section("layers", "Resources by layer", data, lines)


def _endpoint_name(endpoint: dict) -> str:
    service = endpoint["inputs"].get("serviceName", "")
    return service.rsplit(".", 1)[-1] if endpoint["inputs"].get("vpcEndpointType") == "Gateway" else service.split(".", 3)[-1]


def _network(model: PlanModel) -> Optional[tuple[dict, str]]:
    vpcs = model.of_type("aws:ec2/vpc:Vpc")
    if not vpcs:
        return None
    zones = sorted({s["inputs"].get("availabilityZone") for s in model.of_type("aws:ec2/subnet:Subnet")})
    nats = len(model.of_type("aws:ec2/natGateway:NatGateway"))
    endpoints = sorted(_endpoint_name(e) for e in model.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"))
    data = {
        "vpcCidr": vpcs[0]["inputs"].get("cidrBlock"),
        "zones": zones,
        "natGateways": nats,
        "endpoints": endpoints,
        "flowLogs": bool(model.of_type("aws:ec2/flowLog:FlowLog")),
    }
    line = (
        f"network    VPC {data['vpcCidr']} over {', '.join(zones)}; NAT gateways {nats}; "
        f"endpoints: {', '.join(endpoints) or 'none'}; flow logs {'on' if data['flowLogs'] else 'off'}"
    )
    return data, line


def _cluster(model: PlanModel) -> Optional[tuple[dict, list[str]]]:
    clusters = model.of_type("aws:eks/cluster:Cluster")
    if not clusters:
        return None
    c = clusters[0]
    inputs = c["inputs"]
    vpc_config, encryption, access = inputs.get("vpcConfig", {}), inputs.get("encryptionConfig", {}), inputs.get("accessConfig", {})
    d = {
        "name": inputs.get("name"),
        "version": inputs.get("version"),
        "endpointPrivateAccess": vpc_config.get("endpointPrivateAccess"),
        "endpointPublicAccess": vpc_config.get("endpointPublicAccess"),
        "publicAccessCidrs": vpc_config.get("publicAccessCidrs", []),
        "secretsEncryption": "secrets" in encryption.get("resources", []),
        "logTypes": inputs.get("enabledClusterLogTypes", []),
        "authenticationMode": access.get("authenticationMode"),
        "creatorAdmin": access.get("bootstrapClusterCreatorAdminPermissions"),
        "adminAccessEntries": sum(1 for e in model.of_type("aws:eks/accessEntry:AccessEntry") if e["inputs"].get("type") == "STANDARD"),
        "addons": sorted(a["inputs"].get("addonName") for a in model.of_type("aws:eks/addon:Addon")),
        "protected": c["protect"],
        "kmsKeyRotation": all(k["inputs"].get("enableKeyRotation") for k in model.of_type("aws:kms/key:Key")),
    }
    endpoint = "private only" if not d["endpointPublicAccess"] else f"private + public from {', '.join(d['publicAccessCidrs'])}"
    lines = [
        f"cluster    EKS {d['version']} {d['name']!r}: endpoint {endpoint}",
        f"           secrets encrypted with KMS ({'rotation on' if d['kmsKeyRotation'] else 'ROTATION OFF'}); "
        f"logs: {', '.join(d['logTypes']) or 'none'}; auth {d['authenticationMode']}, "
        f"creator admin {'yes' if d['creatorAdmin'] else 'no'}, {d['adminAccessEntries']} admin access entries",
        f"           add-ons: {', '.join(d['addons'])}",
    ]
    return d, lines


def settings_section(model: PlanModel) -> Optional[Section]:
    """Key settings as registered (read back from the captured resources, not from the config)."""
    data: dict[str, Any] = {}
    lines: list[str] = []
    network = _network(model)
    if network is not None:
        data["network"], line = network
        lines.append(line)
    cluster = _cluster(model)
    if cluster is not None:
        data["cluster"], more = cluster
        lines.extend(more)
    for group in model.node_groups:
        data.setdefault("nodeGroups", []).append(
            {"name": group.name, "instanceTypes": group.instance_types, "capacityType": group.capacity_type, "amiType": group.ami_type, **group.scaling}
        )
        lines.append(
            f"system     {', '.join(group.instance_types or [])} {(group.capacity_type or '').lower()} "
            f"x{group.scaling.get('desiredSize')} ({group.scaling.get('minSize')}..{group.scaling.get('maxSize')}), {group.ami_type}"
        )
    protected = model.protected
    data["protected"] = sorted(r["name"] for r in protected)
    summary = ", ".join(f"{kind} {count}" for kind, count in _by_count(Counter(short_type(r["type"]) for r in protected)))
    lines.append(f"protect    {len(protected)} resources protected" + (f": {summary}" if protected else " (stateful resources are NOT protected)"))
    return Section("settings", "Key settings", data, lines)


def _money(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def _capacity_row(pool, registered, cap) -> tuple[str, ...]:
    types = ", ".join(cap.instance_types) if len(cap.instance_types) <= 3 else f"{', '.join(cap.instance_types[:2])} +{len(cap.instance_types) - 2}"
    configured = registered.efa_interfaces
    if not cap.efa_max:
        efa = f"no EFA, {cap.network_gbps:g} Gbps"
    elif not configured:
        efa = f"EFA off (max {cap.efa_max}), {cap.network_gbps:g} Gbps"
    else:
        efa = f"{configured}/{cap.efa_max} EFA, {cap.network_gbps:g} Gbps, {round(100 * configured / cap.efa_max)}%"
    accel = f"{cap.accelerators} {cap.accelerator_resource.split('/')[-1]}" if cap.accelerator_resource else "-"
    accel_mem = f"{cap.accelerator_memory_gib:,.0f} GiB" if cap.accelerator_resource else "-"
    price = _money(cap.per_hour_low) if round(cap.per_hour_low) == round(cap.per_hour_high) else f"{_money(cap.per_hour_low)}-{_money(cap.per_hour_high)}"
    pods = str(registered.max_pods) if registered.max_pods is not None else "ENI-limited"
    return (
        pool.name,
        f"{cap.kind}/{registered.workload}",
        types,
        str(cap.max_nodes),
        pods,
        accel,
        accel_mem,
        str(cap.vcpu),
        f"{cap.memory_gib:,} GiB",
        efa,
        price,
    )


def capacity_section(model: PlanModel) -> Optional[Section]:
    """Per pool: what it can run at its limit (instance catalog figures for the pool as configured), and as
    registered (its NodePool and EC2NodeClass): workload, capacity types, EFA interfaces per node of its EC2NodeClass against the instance
    maximum, and kubelet maxPods."""
    spec = model.spec
    if spec is None or not spec.builds("compute") or not model.pools:
        return None
    from stacks.derive.capacity import pool_capacity

    data: dict[str, Any] = {}
    shared: list[str] = []
    rows = [("pool", "kind/workload", "instance types", "nodes", "pods/node", "accelerators", "accel memory", "vCPU", "memory", "EFA per node", "$/h at max")]
    for pool in spec.pools:  # in the config's order; figures for the pools the plan registers
        registered = model.pool(pool.name)
        if registered is None:
            continue
        cap = pool_capacity(pool)
        entry = cap.to_json()
        entry.update(
            workload=registered.workload,
            capacityTypes=list(registered.capacity_types),
            efaInterfacesPerNode=registered.efa_interfaces,
            maxPodsPerNode=registered.max_pods,
        )
        entry["efaShare"] = round(registered.efa_interfaces / cap.efa_max, 4) if cap.efa_max else 0.0
        if cap.accelerator_resource:
            per_node = cap.accelerators_per_node()
            entry["effectiveAcceleratorsPerNode"] = {t: advertised for t, (_, advertised) in per_node.items()}
            if cap.replicas > 1:
                shared.append(
                    f"{pool.name}: GPU time-slicing x{cap.replicas}: effective {cap.accelerator_resource} per node "
                    + ", ".join(f"{t} {advertised} ({physical} GPU{'s' if physical != 1 else ''})" for t, (physical, advertised) in per_node.items())
                    + f"; {cap.shared_accelerators} at max ({cap.accelerators} physical), the unit of the NodePool limit and the Kueue quotas; "
                    "NodeOverlays tell Karpenter each type's advertised count"
                )
        data[pool.name] = entry
        rows.append(_capacity_row(pool, registered, cap))
    lines = _table(rows)
    lines.extend(shared)
    lines.append(
        "(at max: each pool at its maxNodes/maxAccelerators; $/h from the catalog's on-demand list prices in its reference region, cheapest to dearest type)"
    )
    lines.append("(pods/node: the EC2NodeClass kubelet maxPods, from the VPC CNI's prefix delegation on the pool's smallest type)")
    return Section("capacity", "Capacity per pool (at max)", data, lines)


def node_health_section(model: PlanModel) -> Optional[Section]:
    """Per pool as registered: fixed fleet or elastic, its startup taints, its burn-in (the DaemonSet and its checks),
    which node conditions repair its nodes and after how long (Karpenter's AWS repair policies, with the nodeRepair
    gate as the Karpenter release sets it), and what its disruption budgets let drain."""
    from components.karpenter import REPAIR_POLICIES
    from components.labels import BURN_IN_LABEL, POOL_LABEL

    nodepools = {(r["inputs"].get("metadata") or {}).get("name"): r["inputs"].get("spec") or {} for r in model.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    if not nodepools:
        return None
    gates = ((model.release_values("oci://public.ecr.aws/karpenter/karpenter").get("settings") or {}).get("featureGates")) or {}
    repair_on = gates.get("nodeRepair") is True
    agent = any(r["inputs"].get("addonName") == "eks-node-monitoring-agent" for r in model.of_type("aws:eks/addon:Addon"))
    burn_ins: dict[str, list[dict]] = {}
    for ds in model.of_type("kubernetes:apps/v1:DaemonSet"):
        meta = ds["inputs"].get("metadata") or {}
        if meta.get("namespace") != "crucible-burn-in":
            continue
        pod = ((ds["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}
        checks = [c.get("name") for c in pod.get("initContainers") or []]
        commands = [" ".join(c.get("command") or [])[len("/bin/sh -c ") :].split(" > ")[0] for c in pod.get("initContainers") or []]
        burn_ins.setdefault((pod.get("nodeSelector") or {}).get(POOL_LABEL), []).append({"daemonSet": meta.get("name"), "checks": checks, "commands": commands})
    kinds = {p.name: p.kind for p in model.spec.pools} if model.spec is not None else {}
    data: dict[str, Any] = {
        "karpenterFeatureGates": dict(gates),
        "nodeMonitoringAgent": agent,
        "repairBypassesBudgets": "a node unhealthy past its toleration is force-terminated without drain, disruption budgets not applied; never more than 20% of a NodePool at once (Karpenter docs, Node Auto Repair)",
        "pools": {},
    }
    rows = [("pool", "capacity", "startup taints", "burn-in", "repaired when (after)")]
    for name, spec in nodepools.items():
        tspec = (spec.get("template") or {}).get("spec") or {}
        startup = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}" for t in tspec.get("startupTaints") or []]
        kind = kinds.get(name, "cpu")
        repair = [
            {"condition": c, "status": st, "after": d, "setBy": by}
            for c, st, d, by, ks in REPAIR_POLICIES
            if kind in ks and (repair_on and (agent or by == "kubelet"))
        ]
        budgets = (spec.get("disruption") or {}).get("budgets") or []
        capacity = f"fixed: {spec['replicas']} nodes" if "replicas" in spec else "elastic"
        burn = burn_ins.get(name) or []
        data["pools"][name] = {
            "capacity": "fixed" if "replicas" in spec else "elastic",
            "replicas": spec.get("replicas"),
            "limits": dict(spec.get("limits") or {}),
            "startupTaints": startup,
            "burnIn": burn,
            "burnInTaint": any(t.get("key") == BURN_IN_LABEL for t in tspec.get("startupTaints") or []),
            "repair": repair,
            "disruptionBudgets": budgets,
        }
        burn_text = "; ".join(f"{b['daemonSet']}: {', '.join(b['commands'])}" for b in burn) or "none"
        by_after: dict[str, list[str]] = {}
        for r in repair:
            text = "Ready not True" if r["condition"] == "Ready" else f"{r['condition'].removesuffix('Ready')}"
            if text not in by_after.setdefault(r["after"], []):
                by_after[r["after"]].append(text)
        repair_text = "; ".join(f"{after}: {', '.join(conds)}" for after, conds in sorted(by_after.items(), key=lambda kv: kv[0])) or "no repair"
        rows.append((name, capacity, ", ".join(startup) or "-", burn_text, repair_text))
    lines = _table(rows)
    lines.append("(repaired when: a condition False that long, names without 'Ready': AcceleratedHardware = AcceleratedHardwareReady=False, …)")
    lines.append(
        f"(Karpenter feature gates: nodeRepair {gates.get('nodeRepair', False)}, staticCapacity {gates.get('staticCapacity', False)}; "
        f"EKS node monitoring agent: {'installed' if agent else 'not installed'}: it sets every condition above but Ready)"
    )
    lines.append(
        "(repair force-terminates an unhealthy node without drain; disruption budgets apply only to voluntary disruption: a training pool's "
        "budget (0 for Drifted/Underutilized, consolidation only when empty) never drains a healthy running job; a job on a repaired node is "
        "requeued by Kueue)"
    )
    lines.append(
        "(burn-in: a new node registers with crucible.io/burn-in=pending and the startup taint; the DaemonSet's verdict removes the taint "
        "(passed) or taints, records (condition CrucibleBurnIn, Event) and deletes the node (failed), which Karpenter replaces)"
    )
    return Section("nodeHealth", "Node health, repair and burn-in per pool", data, lines)


def storage_section(model: PlanModel) -> Optional[Section]:
    """Buckets and file systems as registered, with the Lustre sizing: capacity, aggregate throughput, throughput per
    training accelerator at the pools' maximum, and the time to write one checkpoint (stacks/derive/storage_sizing.py)."""
    spec = model.spec
    if spec is None or not spec.builds("storage"):
        return None
    from stacks.derive.placement import lustre_zone
    from stacks.derive.storage_sizing import lustre_sizing, training_accelerators
    from stacks.spec.storage import SCRATCH_2_BASELINE_PER_TIB

    data: dict[str, Any] = {"buckets": [], "fileSystems": [], "warnings": []}
    lines: list[str] = []
    data["buckets"] = [{"name": b.name, "protected": b.protected, "retainOnDelete": b.retain_on_delete, "forceDestroy": b.force_destroy} for b in model.buckets]
    if data["buckets"]:
        lines.append(f"buckets    {', '.join(b['name'] for b in data['buckets'])} (SSE-KMS, versioned, private, TLS-only)")
    accelerators = training_accelerators(spec)
    for fs in model.file_systems:
        per_tib = fs.per_unit_throughput or SCRATCH_2_BASELINE_PER_TIB
        sizing = lustre_sizing(
            fs.deployment_type, fs.storage_capacity, per_tib, accelerators, spec.storage.checkpoint_size_gib, spec.storage.min_throughput_per_accelerator_mbps
        )
        zone = fs.zone or lustre_zone(spec)  # a subnet from another stack (split stacks): the derived zone
        links = list(fs.repositories)
        entry = {
            "name": fs.name,
            "zone": zone,
            "efa": fs.efa,
            "backupRetentionDays": fs.backup_retention_days,
            "protected": fs.protected,
            "repositories": links,
            **sizing.to_json(),
        }
        data["fileSystems"].append(entry)
        where = f" in {zone}" if zone else ""
        lines.append(f"lustre     {fs.name}{where}: {sizing.line()}")
        if accelerators is None:
            lines.append("           (no training accelerator pools: throughput per accelerator not computed)")
        if links:
            lines.append("           linked: " + ", ".join(f"{link['path']} <-> {link['repository']}" for link in links))
        warning = sizing.warning()
        if warning:
            data["warnings"].append(warning)
            lines.append(f"           {warning}")
    return Section("storage", "Storage", data, lines)


def _jupyterhub(model: PlanModel) -> Optional[tuple[dict, list[str]]]:
    hub = model.hub
    if hub is None:
        return None
    profiles = list(hub.profiles)
    j = {
        "chart": hub.chart_version,
        "namespace": hub.namespace,
        "authenticator": hub.authenticator,
        "exposure": hub.exposure,
        "tls": hub.tls,
        "cullTimeoutSeconds": hub.cull_timeout_seconds,
        "profiles": profiles,
    }
    lines = [
        f"jupyterhub {j['chart']} in {j['namespace']}: auth {j['authenticator']}, proxy {j['exposure']}{', TLS' if j['tls'] else ''}, idle cull {j['cullTimeoutSeconds'] or 'off'}s"
    ]
    teams = sorted({p["team"] for p in profiles if p.get("team")})
    if teams:
        lines.append(
            "  notebooks run in the team namespaces, admitted by each team's LocalQueue; a user sees the profiles of the teams whose hub groups they are in"
        )
    for p in profiles:
        where = f"pool {p['pool']}" if p["pool"] else "any node"
        accel = f"{p['accelerators']} x {p['accelerator']}" if p["accelerator"] else "no accelerator"
        team = f"  ns {p['namespace']}, queue {p['queue'] or 'none'}, groups {', '.join(p['groups']) or 'none'}" if p.get("team") else ""
        lines.append(f"  profile {p['slug']:<22} {where:<22} {accel}{'  (default)' if p['default'] and not p.get('team') else ''}{team}")
    return j, lines


def _observability(model: PlanModel) -> Optional[tuple[dict, str]]:
    monitoring = model.releases.get("kube-prometheus-stack")
    if monitoring is None:
        return None
    values = model.release_values("kube-prometheus-stack")
    prom = (values.get("prometheus") or {}).get("prometheusSpec") or {}
    exporters = sorted(c for c in ("dcgm-exporter",) if c in model.releases) + (["neuron-monitor"] if model.of_type("crucible:platform:NeuronMonitor") else [])
    o = {
        "prometheusStack": monitoring["inputs"].get("version"),
        "retention": prom.get("retention"),
        "grafana": bool((values.get("grafana") or {}).get("enabled")),
        "exporters": exporters,
    }
    return (
        o,
        f"observability kube-prometheus-stack {o['prometheusStack']}, retention {o['retention']}, grafana {'on' if o['grafana'] else 'off'}, exporters: {', '.join(exporters) or 'none'}",
    )


def notebooks_section(model: PlanModel) -> Optional[Section]:
    """JupyterHub as registered: profiles (pool, accelerator, node selector), authenticator and exposure; plus the
    observability and pipeline add-ons. Read back from the captured releases, not from the config."""
    data: dict[str, Any] = {}
    lines: list[str] = []
    hub = _jupyterhub(model)
    if hub is not None:
        data["jupyterhub"], more = hub
        lines.extend(more)
    observability = _observability(model)
    if observability is not None:
        data["observability"], line = observability
        lines.append(line)
    argo = model.releases.get("argo-workflows")
    if argo is not None:
        server = model.release_values("argo-workflows").get("server") or {}
        data["argo"] = {"chart": argo["inputs"].get("version"), "authModes": server.get("authModes"), "serviceType": server.get("serviceType")}
        lines.append(
            f"argo       workflows {argo['inputs'].get('version')}: server {server.get('serviceType')}, auth {', '.join(server.get('authModes') or [])}"
        )
    kuberay = model.releases.get("kuberay-operator")
    if kuberay is not None:
        data["kuberay"] = {"chart": kuberay["inputs"].get("version"), "namespace": kuberay["inputs"].get("namespace")}
        lines.append(f"kuberay    operator {kuberay['inputs'].get('version')} (RayJob, RayCluster, RayService)")
    if not data:
        return None
    return Section("notebooks", "Notebooks, observability and pipelines", data, lines)


def _accelerator_of(quota: dict) -> Optional[str]:
    """The accelerator resource a flavor's quota is about (nonzero nominal or borrowing), if any."""
    for name in DEVICE_RESOURCES:
        if any(str(quota[part].get(name, "0")) not in ("0", "") for part in ("nominal", "borrowingLimit")):
            return name
    return None


def _quota_rows(lead: tuple[str, ...], quotas: dict) -> list[tuple[str, ...]]:
    """One row per pool of a team's quotas (a team without quotas: one row), the team's cells on the first only."""
    rows = []
    for pool, q in (quotas or {"-": {"nominal": {}, "borrowingLimit": {}}}).items():
        kind = _accelerator_of(q)
        if kind:
            accel = f"{q['nominal'].get(kind, '0')} {kind.split('/')[-1]}"
            borrowing = f"+{q['borrowingLimit'].get(kind, '0')} {kind.split('/')[-1]}"
        else:
            accel, borrowing = "-", f"+{q['borrowingLimit'].get('cpu', '0')} cpu"
        rows.append(
            (*(lead if not rows else ("",) * len(lead)), pool, accel, str(q["nominal"].get("cpu", "-")), str(q["nominal"].get("memory", "-")), borrowing)
        )
    return rows


def teams_section(model: PlanModel) -> Optional[Section]:
    """Per team, as registered: namespace and Pod Security level, LocalQueue -> ClusterQueue, and the queue's
    quota per pool (nominal; + borrowing limit) for accelerators, cpu and memory."""
    if not model.teams:
        return None
    hub_profiles = list(model.hub.profiles) if model.hub is not None else []
    by_team = any(p.get("team") for p in hub_profiles)
    data: dict[str, Any] = {}
    rows = [("team", "namespace", "PSA", "queue", "pool", "accelerators", "cpu", "memory", "borrow up to")]
    for t in model.teams:
        lq, cq = t.local_queue, t.cluster_queue
        cq_name = lq.cluster_queue if lq is not None else None
        data[t.team] = {
            "namespace": t.namespace,
            "podSecurity": t.pod_security,
            "workload": t.workload,
            "protected": t.protected,
            "localQueue": lq.name if lq is not None else None,
            "clusterQueue": cq_name,
            "cohort": cq.cohort if cq is not None else None,
            "groups": t.groups,
            "quotas": dict(cq.quotas) if cq is not None else {},
            "claims": list(t.claims),
            # With teams, a team's notebook profiles run in its namespace and quota, for the members of its hub groups.
            "notebookProfiles": [p["slug"] for p in hub_profiles if not by_team or p.get("team") == t.team],
            "priorityClass": _team_class(model, t.team),
            "preemption": dict(cq.preemption) if cq is not None else {},
        }
        queue = f"{lq.name} -> {cq_name}" if lq is not None else "none"
        rows.extend(_quota_rows((t.team, t.namespace, t.pod_security, queue), data[t.team]["quotas"]))
    lines = _table(rows)
    lines.append("(nominal Kueue quota per pool; 'borrow up to': the accelerators (cpu on cpu pools) the team may borrow from idle quota of the cohort)")
    for team, entry in sorted(data.items()):
        lines.append(
            f"{team}: volumes {', '.join(entry['claims']) or 'none'}; groups "
            + ("; ".join(f"{role}: {', '.join(groups)}" for role, groups in sorted(entry["groups"].items())) or "none")
        )
    if model.hub is not None and by_team:
        for team, entry in sorted(data.items()):
            lines.append(
                f"{team}: notebook profiles (in its namespace and quota): {', '.join(entry['notebookProfiles']) or 'none (no nominal quota on a notebook pool)'}"
            )
    elif model.hub is not None:
        lines.append(f"notebook profiles (JupyterHub namespace, for every user the hub admits): {', '.join(p['slug'] for p in hub_profiles) or 'none'}")
    for team, entry in sorted(data.items()):
        p = entry["preemption"]
        lines.append(
            f"{team}: default priority class {entry['priorityClass'] or 'none'}; preemption within its queue {p.get('withinClusterQueue', 'Never')}, "
            f"reclaim lent quota {p.get('reclaimWithinCohort', 'Never')}, preempt to borrow {(p.get('borrowWithinCohort') or {}).get('policy', 'Never')}"
        )
    lines.extend(_admission_lines(model))
    return Section("teams", "Teams (tenancy and Kueue queues)", data, lines)


def _team_class(model: PlanModel, team: str) -> Optional[str]:
    from stacks.spec.teams import team_priority_class

    spec = model.spec
    found = next((t for t in spec.teams if t.name == team), None) if spec is not None else None
    return team_priority_class(found, spec) if found is not None else None


def _derivation(model: PlanModel, gang_admission: Callable) -> str:
    if model.spec is None:
        return ""
    gang = gang_admission(model.spec)
    if not gang.derived or gang.slowest_pool is None:
        return " (queues.gangAdmission.timeoutMinutes)" if not gang.derived else ""
    return f" (timeout derived: pool {gang.slowest_pool}'s node start-up budget {gang.slowest_seconds} s x 1.5, in whole 5 minutes)"


def _admission_lines(model: PlanModel) -> list[str]:
    """Kueue's priority classes, gang admission and topology-aware flavors, as the plan registers them."""
    from stacks.derive.admission import gang_admission
    from stacks.tools.plan.admitted import kueue_release

    out = []
    classes = sorted(
        ((meta(r).get("name"), (r.get("inputs") or {}).get("value")) for r in model.resources if str(r.get("type", "")).endswith(":WorkloadPriorityClass")),
        key=lambda c: -(c[1] or 0),
    )
    if classes:
        out.append("priority classes (label kueue.x-k8s.io/priority-class; none: 0): " + " > ".join(f"{name} {value}" for name, value in classes))
    release = kueue_release(model.resources)
    values = (release or {}).get("values")
    if isinstance(values, dict):
        import yaml

        text = (values.get("managerConfig") or {}).get("controllerManagerConfigYaml")
        wait = (yaml.safe_load(text) if isinstance(text, str) else {}).get("waitForPodsReady") if text else None
        if wait:
            strategy = wait.get("requeuingStrategy") or {}
            out.append(
                f"gang admission (waitForPodsReady): all pods Ready within {wait.get('timeout')} or the job is evicted and its quota released; "
                f"a running job with a pod not Ready for {wait.get('recoveryTimeout')} likewise; requeued after {strategy.get('backoffBaseSeconds')} s "
                f"doubling to {strategy.get('backoffMaxSeconds')} s, deactivated after {strategy.get('backoffLimitCount')} requeues"
                + _derivation(model, gang_admission)
            )
        else:
            out.append("gang admission (waitForPodsReady): not configured")
    if model.spec is not None and model.spec.pools:
        from stacks.derive.admission import pool_startup_seconds

        out.append(
            "node start-up budget per pool (admission to pods Ready on a new node): "
            + ", ".join(f"{p.name} {pool_startup_seconds(p)} s" for p in model.spec.pools)
        )
    tas = sorted((f.name, f.topology) for f in model.queues.flavors.values() if f.topology and f.name)
    out.append(
        "topology-aware flavors: " + (", ".join(f"{name} (Topology {topology})" for name, topology in tas) if tas else "none (queues.topologyAwarePools)")
    )
    return out


def cost_section(model: PlanModel) -> Section:
    """$/h and $/month of what this stack builds: fixed costs (minimum scale), every pool at its limit by capacity
    type, what spot would save and whether it is safe, per-team showback, and the usage-priced items left out."""
    from stacks.derive.cost import HOURS_PER_MONTH, stack_cost

    cost = stack_cost(model.spec)
    data = cost.to_json()
    _m = lambda v: f"${v:,.3f}" if 0 < v < 1 else _money(v)  # noqa: E731 - NAT's $0.045/h stays $0.045
    month = lambda per_hour: _m(per_hour * HOURS_PER_MONTH)  # noqa: E731
    span = lambda low, high: _m(low) if round(low, 2) == round(high, 2) else f"{_m(low)}-{_m(high)}"  # noqa: E731
    mspan = lambda low, high: month(low) if round(low, 2) == round(high, 2) else f"{month(low)}-{month(high)}"  # noqa: E731
    lines = [f"fixed (paid at minimum scale, pools empty): {_m(cost.at_minimum)}/h = {month(cost.at_minimum)}/month"]
    for i in cost.baseline:
        lines.append(f"  {i.item}: {span(i.per_hour_low, i.per_hour_high)}/h ({i.basis})")
    for p in cost.pools:
        if p.replicas is not None and p.static_per_hour_high:
            lines.append(
                f"  fixed fleet of pool {p.pool}: {p.replicas} nodes ({p.replicas - p.reserved_nodes} beyond any reservation) "
                f"{span(p.static_per_hour_low, p.static_per_hour_high)}/h, running whatever the demand (static NodePool)"
            )
        if p.reserved_nodes:
            size = "size assumed: the pool's limit; state it with cost.reservedNodes" if p.reserved_assumed else "cost.reservedNodes"
            lines.append(
                f"  reservation of pool {p.pool}: {p.reserved_nodes} x {p.reserved_type} {_m(p.reserved_per_hour)}/h, paid whether used or not ({size})"
            )
    if cost.pools:
        lines.append("pools at their limit (beyond any reservation):")
        rows = [("pool", "workload", "capacity types", "max nodes", "$/h at max", "$/month at max", "capacity")]
        for p in cost.pools:
            low, high = p.at_max
            fleet = f"fixed ({p.replicas} nodes)" if p.replicas is not None else "elastic"
            rows.append((p.pool, p.workload, "/".join(p.capacity_types), str(p.max_nodes), span(low, high), mspan(low, high), fleet))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines.extend("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)
        low, high = cost.at_maximum
        lines.append(
            f"at maximum scale (every pool at its limit): {span(low, high)}/h = {mspan(low, high)}/month (all spot, cheapest type … all on-demand, dearest type)"
        )
        lines.append("spot where safe (what spot would save at max against all on-demand):")
        for p in cost.pools:
            s = p.spot
            if s.percent is None:
                lines.append(f"  {p.pool}: no published spot saving for its types (spot priced as on-demand); safe for {p.workload}? {s.why}")
                continue
            if not {"spot", "on-demand"} & set(p.capacity_types):
                lines.append(f"  {p.pool}: reserved capacity only (a fixed cost above); spot would not lower it")
                continue
            state = "allows spot" if s.allowed else "/".join(p.capacity_types) + " only"
            lines.append(
                f"  {p.pool} ({state}): spot saves {span(s.savings_low, s.savings_high)}/h at its limit ({s.percent:g}%+ off); safe for {p.workload}? {s.why}"
            )
    if cost.teams:
        lines.append("showback per team at maximum scale:")
        for t in cost.teams:
            low, high = t.at_max
            lines.append(f"  {t.team}: {span(low, high)}/h = {mspan(low, high)}/month ({t.share_percent:.1f}% share, fixed {_m(t.fixed_share)}/h)")
        lines.append(f"  (split rule: {data['showback']['rule']})")
    from stacks.derive.prices import service_prices

    elsewhere = model.spec.region != service_prices().reference_region
    note = f"; this stack is in {model.spec.region}, where prices differ" if elsewhere else ""
    lines.append(f"({data['priceBasis']}{note}; spot: {data['spotBasis']}; {HOURS_PER_MONTH} h/month)")
    lines.append(f"usage-priced, not in the figures: {', '.join(cost.usage_priced)}")
    return Section("cost", "Cost per hour and per month", data, lines)


def policies_section(model: PlanModel) -> Section:
    """The policy pack's verdicts on the registered resources (the very policies `pulumi preview` runs)."""
    from stacks.tools.plan.verdicts import evaluate, render

    judged = getattr(model.planned, "judged", None)  # judged on the second core while the program ran
    verdicts = judged.result() if judged is not None else None
    if verdicts is None:
        verdicts = evaluate(model.resources, model.spec.environment, model.all_outputs)
    return Section("policies", "Policies", verdicts, render(verdicts))


def workloads_section(model: PlanModel) -> Optional[Section]:
    from stacks.tools.plan.workloads import workloads_section as section

    return section(model)


def resilience_section(model: PlanModel) -> Optional[Section]:
    """How training jobs survive failure, read back from what is registered: the restart budget and grace period
    of each ClusterTrainingRuntime (its JobSet failurePolicy), and the fleet health canary per pool (its CronJob
    and the driver's config in its ConfigMap: schedule, the catalog figure it measures against, the ratio)."""
    from addons.health_canary import CODE as CANARY_CODE, pool_configs

    data: dict[str, Any] = {"runtimes": {}, "canary": {}}
    lines: list[str] = []
    for r in model.of_type("kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime"):
        template = (spec_of(r).get("template") or {}).get("spec") or {}
        policy = template.get("failurePolicy") or {}
        jobs = template.get("replicatedJobs") or [{}]
        grace = ((((jobs[0].get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("terminationGracePeriodSeconds")
        name = meta(r).get("name")
        data["runtimes"][name] = {"maxRestarts": policy.get("maxRestarts"), "restartStrategy": policy.get("restartStrategy"), "gracePeriodSeconds": grace}
        lines.append(
            f"runtime {name}: gang restarts up to {policy.get('maxRestarts', 0)} ({policy.get('restartStrategy', 'Recreate')}), "
            f"{grace}s to checkpoint on SIGTERM; Kueue evictions requeue without using the budget; jobs resume from $CHECKPOINT_DIR/latest"
        )
    configs: dict[str, dict] = {}
    for r in model.of_type("kubernetes:core/v1:ConfigMap"):
        if meta(r).get("name") == CANARY_CODE and isinstance((r.get("inputs") or {}).get("data"), dict):
            configs.update(pool_configs(r["inputs"]["data"]))
    for r in model.of_type("kubernetes:batch/v1:CronJob"):
        pool = (meta(r).get("labels") or {}).get("crucible.io/pool")
        if meta(r).get("namespace") != "crucible-canary" or pool is None:
            continue
        cfg = configs.get(pool, {})
        data["canary"][pool] = {
            "schedule": spec_of(r).get("schedule"),
            "instanceType": cfg.get("instanceType"),
            "networkGbps": cfg.get("networkGbps"),
            "minRatio": cfg.get("minRatio"),
            "lustre": cfg.get("lustre"),
        }
        lines.append(
            f"canary  {pool}: '{spec_of(r).get('schedule')}' on idle capacity (priority crucible-canary), 2 x {cfg.get('instanceType')} all-reduce vs "
            f"{cfg.get('networkGbps')} Gbps, below ratio {cfg.get('minRatio')} the nodes are tainted crucible.io/canary-failed for a person to replace"
            + ("; Lustre write" if cfg.get("lustre") else "")
        )
    if not lines:
        return None
    return Section("resilience", "Training resilience (restarts, checkpoints, fleet health canary)", data, lines)


SECTIONS: list[Callable[[PlanModel], Optional[Section]]] = [
    layers_section,
    settings_section,
    deploy_section,
    secrets_section,
    capacity_section,
    node_health_section,
    storage_section,
    notebooks_section,
    teams_section,
    resilience_section,
    cost_section,
    serving_section,  # each served model's replica shape, placement, scaling signal and start path
    workloads_section,  # where each pod lands (and, later, whether it is admitted and what it reaches)
    policies_section,  # last: the verdict is the plan's last word
]


def build_report(planned: Planned) -> tuple[dict, list[str]]:
    """The JSON document and the human lines of a plan."""
    model = PlanModel.of(planned)
    spec = planned.spec
    document = {
        "stack": planned.run.stack,
        "project": planned.run.project,
        "environment": spec.environment,
        "region": spec.region,
        # the cluster's Kubernetes version, also where the cluster comes from a stack reference (Helm renders with it)
        "kubernetesVersion": spec.cluster.version,
        "config": str(planned.path),
        "resources": model.resources,
        "outputs": planned.run.outputs,
        # what the mocks computed beyond the inputs (ids, ARNs, auto-names): `crucible check` hands the pack the
        # outputs the engine would, rebuilt from these and the (possibly edited) inputs
        "computedOutputs": model.computed_outputs(),
    }
    lines = [
        f"crucible plan: stack {planned.run.stack} ({spec.environment}, {spec.region}) from {planned.path}",
        f"layers built: {', '.join(spec.layers)}" + (f"; below them from {spec.stack_reference}" if spec.stack_reference else ""),
    ]
    # The charts render in Helm's own processes while this one computes the sections; the policies, the costliest
    # section that needs no chart, are computed first so the two overlap. With a second core (the CLI's worker,
    # stacks/tools/second_core.py), the workload checks' context is built first instead (it waits for the charts),
    # so that the reach analysis runs there while this core computes the rest; the policies, judged there during the
    # program, are then taken last, when the worker has had the longest to judge the stack. Sections are pure
    # functions of the model: the order they are computed in changes nothing in the report, which lists them in
    # SECTIONS order.
    if model.planned is not None:
        from stacks.tools.plan.workloads import prefetch_charts, start_checks

        prefetch_charts(model)
        start_checks(model)  # with a second core: the reach analysis runs there while this one computes the rest
    policies = [make for make in SECTIONS if make is policies_section]
    others = [make for make in SECTIONS if make is not policies_section]
    judged_there = getattr(model.planned, "judged", None) is not None
    sections = {make: make(model) for make in (others + policies if judged_there else policies + others)}
    for make in SECTIONS:
        section = sections[make]
        if section is None:
            continue
        document[section.key] = section.data
        lines.append("")
        lines.append(section.title)
        lines.extend(f"  {line}" for line in section.lines)
    return document, lines
