"""The deploy path of a stack: how `pulumi up` and kubectl users reach its Kubernetes API, where CI runs it, and the
secrets the real run needs.

`crucible runner` and the plan's `deploy` section decide the same way, from the stack's config: the runner labels
of the stack that builds the cluster (`cluster.apiAccess.runnerLabels`, default [self-hosted, crucible-<stack>]: a
self-hosted runner in a network admitted by `cluster.apiAccess`). A GitHub-hosted runner only where the config names
hosted labels (a public endpoint whose allow-list admits their egress range). A stack that does not build the cluster
deploys from where the stack it references does.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from stacks.spec import ConfigError, PlatformSpec, Problem
from stacks.spec.cluster import SELF_HOSTED_LABEL
from stacks.spec.loader import load_stack_file

if TYPE_CHECKING:
    from stacks.tools.plan.model import PlanModel
    from stacks.tools.plan.report import Section

HOSTED, SELF_HOSTED = "hosted", "self-hosted"
# The documentation ranges (RFC 5737): fine as shipped examples, but no runner or workstation has such an address.
DOCUMENTATION_RANGES = tuple(ipaddress.ip_network(block) for block in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
SSM_POLICY = "AmazonSSMManagedInstanceCore"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def cluster_spec_of(spec: PlatformSpec, path: Path, _seen: tuple[str, ...] = ()) -> tuple[PlatformSpec, Path]:
    """The spec (and config file) of the stack that builds ``spec``'s cluster: itself, or the stack it references,
    read from its config file beside ``path`` (as `crucible plan` resolves references)."""
    if spec.builds("cluster"):
        return spec, path
    name = (spec.stack_reference or "").rsplit("/", 1)[-1]
    ref_path = path.parent / f"Pulumi.{name}.yaml"
    if not ref_path.is_file():
        raise ConfigError(
            [
                Problem(
                    "crucible:stackReference",
                    f"got {spec.stack_reference!r}; to find where its cluster is reached from, {ref_path.name} must sit beside {path.name}",
                )
            ],
            str(path),
        )
    if str(ref_path.resolve()) in _seen:
        raise ConfigError([Problem("crucible:stackReference", f"stack references form a cycle through {ref_path.name}")], str(path))
    referenced, _, _ = load_stack_file(ref_path)
    return cluster_spec_of(referenced, ref_path, _seen + (str(path.resolve()),))


def runner_labels(spec: PlatformSpec, path: Path) -> tuple[str, ...]:
    """The `runs-on` labels of the runner that deploys ``spec``: those of the stack that builds its cluster (same
    cluster, same network, same runner), as configured in `cluster.apiAccess.runnerLabels`, else
    [self-hosted, crucible-<that stack>] — one runner per network, never one label for every stack."""
    cluster, _ = cluster_spec_of(spec, path)
    return cluster.cluster.api_access.runner_labels or (SELF_HOSTED_LABEL, f"crucible-{cluster.stack}")


def runner_kind(spec: PlatformSpec, path: Path) -> str:
    return SELF_HOSTED if SELF_HOSTED_LABEL in runner_labels(spec, path) else HOSTED


# ---- the plan's deploy section, read back from what the program registered --------------------------------------


def api_access(model: "PlanModel") -> Optional[dict]:
    """The ways into the API of the cluster the plan registered (None when it registered no cluster)."""
    clusters = model.of_type("aws:eks/cluster:Cluster")
    if not clusters:
        return None
    cluster = clusters[0]
    vpc = cluster["inputs"].get("vpcConfig", {})
    group = (model.outputs(cluster["urn"]).get("vpcConfig") or {}).get("clusterSecurityGroupId")
    ingress = [
        {
            "source": r["inputs"].get("referencedSecurityGroupId") or r["inputs"].get("cidrIpv4") or r["inputs"].get("cidrIpv6"),
            "port": r["inputs"].get("fromPort"),
        }
        for r in model.of_type(INGRESS)
        if group and r["inputs"].get("securityGroupId") == group and r["inputs"].get("fromPort") == 443
    ]
    entries = sorted(e["inputs"].get("principalArn") for e in model.of_type("aws:eks/accessEntry:AccessEntry") if e["inputs"].get("type") == "STANDARD")
    ssm = any(
        a["inputs"].get("policyArn", "").endswith(f"/{SSM_POLICY}") and "system-nodes" in a["name"]
        for a in model.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    public = bool(vpc.get("endpointPublicAccess"))
    ways = []
    if public:
        ways.append(f"public endpoint from {', '.join(vpc.get('publicAccessCidrs') or [])}")
    ways += [f"private endpoint from {'security group' if i['source'].startswith('sg-') else 'network'} {i['source']} (443)" for i in ingress]
    if ssm:
        ways.append("SSM tunnel to the private endpoint through a system node (kubectl users; nodes are in the cluster security group)")
    return {
        "endpoint": "public + private" if public else "private only",
        "publicAccessCidrs": list(vpc.get("publicAccessCidrs") or []) if public else [],
        "apiIngress": ingress,
        "waysIn": ways,
        "creatorAdmin": bool((cluster["inputs"].get("accessConfig") or {}).get("bootstrapClusterCreatorAdminPermissions")),
        "adminAccessEntries": entries,
    }


def _cluster_model(model: "PlanModel") -> tuple[Optional["PlanModel"], str]:
    """The model of the plan that builds the cluster (this one or one it references), and how to name it."""
    seen: Optional["PlanModel"] = model
    while seen is not None and not seen.spec.builds("cluster"):
        seen = seen.referenced
    return seen, ("this stack" if seen is model else f"stack {model.spec.stack_reference}")


def deploy_section(model: "PlanModel") -> Optional["Section"]:
    from stacks.tools.plan.report import Section

    owner, where = _cluster_model(model)
    if owner is None:
        return None
    planned = model.planned
    access = api_access(owner)
    if access is None:
        return None
    deploy_role = owner.spec.cluster.api_access.deploy_role_arn
    labels = list(runner_labels(planned.spec, planned.path))
    kind = SELF_HOSTED if SELF_HOSTED_LABEL in labels else HOSTED
    from stacks.derive.ec2_quotas import quota_needs

    needs, quota_notes = quota_needs(planned.spec)
    region = planned.spec.region
    notes = network_notes(owner.spec, access, where)
    data = {
        "cluster": where,
        **access,
        "deployRole": deploy_role,
        "permissionsBoundary": planned.spec.permissions_boundary,
        "runner": kind,
        "runnerLabels": labels,
        "networkNotes": notes,
        "quotas": [n.to_json(region) for n in needs],
        "quotaNotes": quota_notes,
    }
    lines = [f"endpoint   {access['endpoint']} (cluster of {where})"]
    lines += [f"way in     {way}" for way in access["waysIn"]]
    if not access["apiIngress"] and not access["publicAccessCidrs"]:
        lines.append("way in     NONE declared for the deployer: only from inside the cluster security group (cluster.apiAccess)")
    lines += [f"network    {note}" for note in notes]
    identity = (
        f"deploy role {deploy_role} (access entry, AmazonEKSClusterAdminPolicy, cluster scope)"
        if deploy_role
        else ("the cluster creator (bootstrapCreatorAdmin)" if access["creatorAdmin"] else "NO deploy role and no creator admin: `pulumi up` would get 401")
    )
    lines.append(f"identity   {identity}; {len(access['adminAccessEntries'])} admin access entries")
    boundary = planned.spec.permissions_boundary
    lines.append(
        f"iam        every IAM role bounded by {boundary} (crucible:permissionsBoundary; the bootstrap's deploy roles create roles only with it)"
        if boundary
        else "iam        NO permissions boundary (crucible:permissionsBoundary): the bootstrap's deploy roles cannot create this stack's IAM roles"
    )
    lines.append(
        f"runner     {'self-hosted' if kind == SELF_HOSTED else 'GitHub-hosted'}, runs-on {json.dumps(labels)} "
        f"(cluster.apiAccess.runnerLabels{'' if owner.spec.cluster.api_access.runner_labels else ', default'}) — `crucible runner {planned.spec.stack}`"
    )
    lines += [f"quota      {n.code} {n.name}: {n.vcpus_at_max:,} vCPUs at max ({', '.join(n.users)})" for n in needs]
    if needs:
        lines.append(f"           preflight: aws service-quotas get-service-quota --service-code ec2 --quota-code <code> --region {region}")
    lines += [f"note       {note}" for note in quota_notes]
    return Section("deploy", "Deploy path (how `pulumi up` and kubectl reach the API)", data, lines)


def network_notes(spec: PlatformSpec, access: dict, where: str = "this stack") -> list[str]:
    """What the declared way in needs beyond this stack (the network team's side), and allow-lists that admit nobody
    real: warnings for the plan's deploy section, never refusals (shipped examples use documentation ranges)."""
    notes = []
    network, cidrs = spec.network, spec.cluster.api_access.source_cidrs
    if spec.builds("network") and network.existing is None and network.transit_gateway_id:
        notes.append(
            f"transit gateway {network.transit_gateway_id}: {where} attaches the private subnets and routes "
            f"{', '.join(cidrs) or 'no block (no apiAccess.sourceCidrs)'} to it; the network team associates the attachment "
            "with a transit gateway route table and propagates the VPC CIDR to the company network's route table; a transit "
            "gateway of another account is shared with AWS RAM and the attachment accepted there before traffic flows"
        )
    elif cidrs:
        owner = "the existing VPC's owner" if network.existing is not None else f"the network's stack ({spec.stack_reference})"
        notes.append(f"{owner} routes {', '.join(cidrs)} from the private subnets' route tables back to the connected network")
    for cidr in access.get("publicAccessCidrs") or []:
        net = ipaddress.ip_network(cidr)
        if any(net.version == block.version and net.subnet_of(block) for block in DOCUMENTATION_RANGES):
            notes.append(
                f"WARNING publicAccessCidrs {cidr} is a documentation range (RFC 5737), no runner's or workstation's address: "
                "replace with your network's egress (the public addresses your runner and kubectl users leave from)"
            )
    return notes


def secrets_section(model: "PlanModel") -> "Section":
    from stacks.tools.plan.report import Section

    secrets = [s.to_json() for s in model.planned.secrets]
    if not secrets:
        return Section("secrets", "Secrets the real run needs", [], ["none"])
    lines = []
    for s in secrets:
        state = "set (encrypted in the stack config)" if s["state"] == "set" else f"MISSING: {s['command']}"
        lines.append(f"{s['key']:<40} for {s['neededBy']}: {state}")
    missing = sum(1 for s in secrets if s["state"] == "missing")
    if missing:
        lines.append(f"(`pulumi preview`/`up` stops before any resource until the {missing} missing secret{'s are' if missing > 1 else ' is'} set)")
    return Section("secrets", "Secrets the real run needs", secrets, lines)
