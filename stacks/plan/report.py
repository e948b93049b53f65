"""The plan report: sections that each add a JSON block and a few human lines.

A section is a function ``(planned) -> Section | None``; later layers add theirs to SECTIONS.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from stacks.harness import CapturedResource, PlanRun
from stacks.plan.locate import Planned
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
            {"name": group.name, "instanceTypes": group.inputs.get("instanceTypes"), "capacityType": group.inputs.get("capacityType"), **scaling}
        )
        lines.append(
            f"system     {', '.join(group.inputs.get('instanceTypes', []))} {group.inputs.get('capacityType', '').lower()} "
            f"x{scaling.get('desiredSize')} ({scaling.get('minSize')}..{scaling.get('maxSize')})"
        )
    stateful = [r for r in run.resources if r.custom and (r.protect or r.retain_on_delete)]
    data["protected"] = sorted(r.name for r in stateful if r.protect)
    lines.append(f"protect    {len(data['protected'])} resources protected" + (f": {', '.join(data['protected'])}" if data["protected"] else " (stateful resources are NOT protected)"))
    return Section("settings", "Key settings", data, lines)


SECTIONS: list[Callable[[Planned], Optional[Section]]] = [layers_section, settings_section]


def build_report(planned: Planned) -> tuple[dict, list[str]]:
    """The JSON document and the human lines of a plan."""
    document = {
        "stack": planned.run.stack,
        "project": planned.run.project,
        "environment": planned.spec.environment,
        "region": planned.spec.region,
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
