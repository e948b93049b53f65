"""The deploy path of a stack: how `pulumi up` and kubectl users reach its Kubernetes API, where CI runs it, and the
secrets the real run needs.

`crucible runner` and the plan's `deploy` section decide the same way, from the stack's config: a stack whose
cluster has a public endpoint deploys from a GitHub-hosted runner; a private-only endpoint needs a self-hosted
runner that reaches it (in the VPC, or in a peered or VPN-connected network admitted by `cluster.apiAccess`). A
stack that does not build the cluster deploys from where the stack it references does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from stacks.spec import ConfigError, PlatformSpec, Problem
from stacks.spec.loader import load_stack_file

if TYPE_CHECKING:
    from stacks.harness import PlanRun
    from stacks.plan.locate import Planned
    from stacks.plan.report import Section

HOSTED, SELF_HOSTED = "hosted", "self-hosted"
HOSTED_LABEL = "ubuntu-latest"
RUNNER_VARIABLE = "CRUCIBLE_PRIVATE_RUNNER_LABEL"  # repository variable: the label of the self-hosted runner
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
            [Problem("crucible:stackReference", f"got {spec.stack_reference!r}; to find where its cluster is reached from, {ref_path.name} must sit beside {path.name}")],
            str(path),
        )
    if str(ref_path.resolve()) in _seen:
        raise ConfigError([Problem("crucible:stackReference", f"stack references form a cycle through {ref_path.name}")], str(path))
    referenced, _, _ = load_stack_file(ref_path)
    return cluster_spec_of(referenced, ref_path, _seen + (str(path.resolve()),))


def runner_kind(spec: PlatformSpec, path: Path) -> str:
    cluster, _ = cluster_spec_of(spec, path)
    return HOSTED if cluster.cluster.endpoint_public_access else SELF_HOSTED


def runner_label(kind: str, private_label: Optional[str]) -> str:
    if kind == HOSTED:
        return HOSTED_LABEL
    if not private_label:
        raise ConfigError(
            [Problem(f"--private-label (repository variable {RUNNER_VARIABLE})", "not set, but a stack has a private-only endpoint: register a "
                     "self-hosted runner in the VPC (or a peered/VPN-connected network admitted by cluster.apiAccess) and set the variable to its label")],
            "runner",
        )
    return private_label


# ---- the plan's deploy section, read back from what the program registered --------------------------------------


def api_access(run: "PlanRun") -> Optional[dict]:
    """The ways into the API of the cluster ``run`` registered (None when it registered no cluster)."""
    clusters = run.of_type("aws:eks/cluster:Cluster")
    if not clusters:
        return None
    cluster = clusters[0]
    vpc = cluster.inputs.get("vpcConfig", {})
    group = (cluster.outputs.get("vpcConfig") or {}).get("clusterSecurityGroupId")
    ingress = [
        {"source": r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6"), "port": r.inputs.get("fromPort")}
        for r in run.of_type(INGRESS)
        if group and r.inputs.get("securityGroupId") == group and r.inputs.get("fromPort") == 443
    ]
    entries = sorted(e.inputs.get("principalArn") for e in run.of_type("aws:eks/accessEntry:AccessEntry") if e.inputs.get("type") == "STANDARD")
    ssm = any(
        a.inputs.get("policyArn", "").endswith(f"/{SSM_POLICY}") and "system-nodes" in a.name
        for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
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
        "creatorAdmin": bool((cluster.inputs.get("accessConfig") or {}).get("bootstrapClusterCreatorAdminPermissions")),
        "adminAccessEntries": entries,
    }


def _cluster_plan(planned: "Planned") -> tuple[Optional["Planned"], str]:
    seen = planned
    while seen is not None and not seen.spec.builds("cluster"):
        seen = seen.referenced
    return seen, ("this stack" if seen is planned else f"stack {planned.spec.stack_reference}")


def deploy_section(planned: "Planned") -> Optional["Section"]:
    from stacks.plan.report import Section

    owner, where = _cluster_plan(planned)
    if owner is None:
        return None
    access = api_access(owner.run)
    if access is None:
        return None
    deploy_role = owner.spec.cluster.api_access.deploy_role_arn
    kind = runner_kind(planned.spec, planned.path)
    from stacks.derive.ec2_quotas import quota_needs

    needs, quota_notes = quota_needs(planned.spec)
    region = planned.spec.region
    data = {
        "cluster": where,
        **access,
        "deployRole": deploy_role,
        "runner": kind,
        "quotas": [n.to_json(region) for n in needs],
        "quotaNotes": quota_notes,
    }
    lines = [f"endpoint   {access['endpoint']} (cluster of {where})"]
    lines += [f"way in     {way}" for way in access["waysIn"]]
    if not access["apiIngress"] and not access["publicAccessCidrs"]:
        lines.append("way in     NONE declared for the deployer: only from inside the cluster security group (cluster.apiAccess)")
    identity = f"deploy role {deploy_role} (access entry, AmazonEKSClusterAdminPolicy, cluster scope)" if deploy_role else (
        "the cluster creator (bootstrapCreatorAdmin)" if access["creatorAdmin"] else "NO deploy role and no creator admin: `pulumi up` would get 401"
    )
    lines.append(f"identity   {identity}; {len(access['adminAccessEntries'])} admin access entries")
    lines.append(
        f"runner     {'GitHub-hosted (' + HOSTED_LABEL + ')' if kind == HOSTED else 'self-hosted (label: repository variable ' + RUNNER_VARIABLE + ')'}"
        f" — `crucible runner {planned.spec.stack}`"
    )
    lines += [f"quota      {n.code} {n.name}: {n.vcpus_at_max:,} vCPUs at max ({', '.join(n.users)})" for n in needs]
    if needs:
        lines.append(f"           preflight: aws service-quotas get-service-quota --service-code ec2 --quota-code <code> --region {region}")
    lines += [f"note       {note}" for note in quota_notes]
    return Section("deploy", "Deploy path (how `pulumi up` and kubectl reach the API)", data, lines)


def secrets_section(planned: "Planned") -> "Section":
    from stacks.plan.report import Section

    secrets = [s.to_json() for s in planned.secrets]
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
