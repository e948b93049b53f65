"""VPC network exposure: no world-open admin or all-port ingress, a closed default security group, flow logs on
every VPC, and VPC address space that shadows no internet address (SEC-NET-001, SEC-NET-002, SEC-NET-004)."""

from __future__ import annotations

import ipaddress

from pulumi_policy import EnforcementLevel

from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.security_groups import SEPARATE_RULES, SgRule, group_rules, separate_rule
from policies.support.tokens import DEFAULT_SECURITY_GROUP, FLOW_LOG, SECURITY_GROUP, VPC
from policies.support.values import text

# Ports that serve administrative or unauthenticated-by-default surfaces: never open to the internet.
ADMIN_PORTS = {
    22: "SSH",
    23: "Telnet",
    3389: "RDP",
    5985: "WinRM",
    5986: "WinRM over TLS",
    6443: "the Kubernetes API",
    10250: "the kubelet API",
    2379: "etcd",
    2380: "etcd peers",
    8265: "the Ray dashboard",
    10001: "the Ray client",
    6379: "the Ray GCS / Redis",
    8888: "Jupyter",
    9090: "Prometheus",
    3000: "Grafana",
    5432: "PostgreSQL",
    3306: "MySQL",
    988: "Lustre",
    2049: "NFS",
}


# SEC-NET-001 ---------------------------------------------------------------------------------------------------
def _exposure(rule: SgRule, public_alb: bool) -> str | None:
    if rule.direction != "ingress" or not rule.open_to_world():
        return None
    if rule.covers_all_ports():
        return "all ports"
    for port, name in ADMIN_PORTS.items():
        if rule.covers(port):
            return f"{name} (port {port})"
    if rule.covers(80) and not public_alb:
        return "HTTP (port 80)"
    return None


def _world_ingress(stack: Stack, ctx: Ctx) -> None:
    tag_key, tag_value = ctx.setting("publicAlbTagKey"), ctx.setting("publicAlbTagValue")
    judged: set[str] = set()
    for group in stack.of(SECURITY_GROUP):
        public_alb = str(group.tags.get(tag_key, "")) == tag_value
        with ctx.each():
            for rule in group_rules(stack, group):
                judged.add(rule.declared_by.urn)
                with ctx.each():
                    what = _exposure(rule, public_alb)
                    if what:
                        ctx.violation(
                            rule.declared_by,
                            f"opens {what} of security group {group.name!r} to the internet ({rule.sources()}); "
                            "allow only the VPC, a bastion/VPN range or another security group.",
                        )
    for group in stack.of(DEFAULT_SECURITY_GROUP):
        with ctx.each():
            if group_rules(stack, group):
                ctx.violation(
                    group,
                    "the VPC's default security group has rules; remove every ingress and egress rule so resources that fall back to it get no access.",
                )
    for rule_res in stack.of(SEPARATE_RULES):
        if rule_res.urn in judged:
            continue
        with ctx.each():  # a rule of a group that lives in another stack: judged without the group's tags
            rule = separate_rule(stack, rule_res)
            what = _exposure(rule, False)
            if what:
                ctx.violation(rule_res, f"opens {what} to the internet ({rule.sources()}); restrict the source.")


SEC_NET_001 = stack_policy(
    rule_id="SEC-NET-001",
    slug="no-world-ingress",
    description="No security group admits the internet (in any spelling: 0.0.0.0/0, ::/0, 0.0.0.0/1 + 128.0.0.0/1, "
    "any block covering a /8 of public space) on an admin surface (SSH, RDP, the Kubernetes and kubelet APIs, etcd, "
    "Ray, Jupyter, Prometheus, Grafana, databases, Lustre/NFS), HTTP or all ports (HTTP only on groups tagged as "
    "public load balancers), and the default security group has no rules.",
    check=_world_ingress,
    settings={
        "publicAlbTagKey": {"type": "string", "default": "crucible.io/exposure", "description": "Tag marking public load-balancer security groups."},
        "publicAlbTagValue": {"type": "string", "default": "public", "description": "Value of that tag."},
    },
    anchor="CKV_AWS_24, CKV_AWS_25, CKV_AWS_260, CKV_AWS_277, CKV2_AWS_12",
)


# SEC-NET-002 ---------------------------------------------------------------------------------------------------
def _flow_logs(stack: Stack, ctx: Ctx) -> None:
    for vpc in stack.of(VPC):
        with ctx.each():
            logs = stack.referrers(vpc, FLOW_LOG, "vpcId")
            if not logs:
                ctx.violation(
                    vpc,
                    "has no flow log, so there is no record of who talked to what during an incident; set `crucible:network.flowLogs: true`.",
                )


SEC_NET_002 = stack_policy(
    rule_id="SEC-NET-002",
    slug="vpc-flow-logs",
    description="Every VPC has flow logs, the network record incident response starts from.",
    check=_flow_logs,
    anchor="CKV2_AWS_11",
)


# SEC-NET-004 ---------------------------------------------------------------------------------------------------
# RFC 1918 and RFC 6598 shared address space: not routed on the internet (the spec's default allowed ranges too).
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]


def _private_cidr(vpc: Res, ctx: Ctx) -> None:
    cidr = text(vpc.get("cidrBlock"))
    if cidr is None:
        return
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return
    allowed = [ipaddress.ip_network(r) for r in ctx.setting("allowedRanges")]
    if not any(net.version == r.version and net.subnet_of(r) for r in allowed):
        ctx.violation(
            vpc,
            f"CIDR {cidr} is outside the private ranges ({', '.join(map(str, allowed))}): the VPC shadows those internet "
            "addresses for every node and pod. Use a private block, or list address space you own in allowedRanges.",
        )


SEC_NET_004 = resource_policy(
    rule_id="SEC-NET-004",
    slug="private-vpc-cidr",
    description="VPCs use private address space (RFC 1918, RFC 6598), so no internet destination is shadowed; a "
    "public block (crucible:network.allowNonPrivateCidr) is reported.",
    applies_to=VPC,
    checks=[_private_cidr],
    level=EnforcementLevel.ADVISORY,
    settings={
        "allowedRanges": {
            "type": "array",
            "items": {"type": "string"},
            "default": PRIVATE_RANGES,
            "description": "Address ranges a VPC CIDR may come from.",
        }
    },
)

POLICIES = [SEC_NET_001, SEC_NET_002, SEC_NET_004]
