"""Reaches, the AWS side: what the security groups in the plan let through, PURE Python over the registered
aws:ec2/securityGroup (inline ingress/egress), aws:ec2/securityGroupRule and aws:vpc/securityGroupIngressRule /
EgressRule resources. A connection from members of groups A to members of groups B on a port is allowed when an
egress rule of some group of A and an ingress rule of some group of B admit it (security groups are stateful:
replies need no rule).

Who carries which groups:
- nodes of a Karpenter pool: its EC2NodeClass `securityGroupSelectorTerms` ids; managed node groups: the cluster
  security group (EKS puts it on them);
- the control plane's ENIs: the cluster security group (and `vpcConfig.securityGroupIds`);
- FSx for Lustre: the file system's `securityGroupIds`.

The cluster security group is the group EKS creates: the node classes select it but the plan does not register it.
EKS gives it two rules of its own (Amazon EKS security group requirements,
https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html): inbound all traffic from itself, outbound
all traffic to 0.0.0.0/0; they are modelled here.

Required (FSx for Lustre: https://docs.aws.amazon.com/fsx/latest/LustreGuide/limit-access-security-groups.html —
988 and 1018-1023 TCP between clients and the file system both ways, and within the file system's group; EFA:
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html#efa-start-security — all traffic to and from the
group itself): nodes ↔ Lustre, nodes ↔ control plane 443, EFA groups to and from themselves, the declared deploy
network (cluster.apiAccess) → API 443.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODEGROUP = "aws:eks/nodeGroup:NodeGroup"
CLUSTER = "aws:eks/cluster:Cluster"
LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
VPC = "aws:ec2/vpc:Vpc"
EFA_INTERFACES = ("efa", "efa-only")
LUSTRE_PORTS = ((988, 988), (1018, 1023))
_PROTOCOLS = {"-1": "all", "all": "all", "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}


@dataclass(frozen=True)
class Rule:
    group: str  # the id of the group the rule belongs to
    direction: str  # ingress | egress
    protocol: str  # all | tcp | udp | icmp | raw
    low: int
    high: int
    peer_group: Optional[str] = None
    cidr: Optional[str] = None
    by: str = ""  # the resource that declares it

    def admits(self, protocol: str, low: int, high: int) -> bool:
        if self.protocol == "all":
            return True
        return self.protocol == protocol and (self.low == -1 or (self.low <= low and high <= self.high))


def _protocol(value: Any) -> str:
    raw = str(value if value is not None else "-1").lower()
    return _PROTOCOLS.get(raw, raw)


def _ports(protocol: str, low: Any, high: Any) -> tuple[int, int]:
    if protocol == "all" or low is None:
        return (0, 65535)
    low = int(low)
    return (low, int(high) if high is not None else low)


def _group_id(resource: Mapping) -> str:
    """A registered group's id as the plan knows it: its `id` input when given, else the harness's mock id."""
    inputs = resource.get("inputs") or {}
    if isinstance(inputs.get("id"), str):
        return inputs["id"]
    from stacks.tools.harness import mock_resource_id

    return mock_resource_id(resource.get("type", ""), resource.get("name", ""))


def rules_of(resources: Sequence[Mapping]) -> list[Rule]:
    """Every rule, whichever way it is written (inline, SecurityGroupRule, vpc Ingress/EgressRule)."""
    out: list[Rule] = []
    for r in resources:
        inputs, token, name = r.get("inputs") or {}, r.get("type"), r.get("name", "")
        if token == SG:
            gid = _group_id(r)
            for direction in ("ingress", "egress"):
                for entry in inputs.get(direction) or []:
                    proto = _protocol(entry.get("protocol"))
                    low, high = _ports(proto, entry.get("fromPort"), entry.get("toPort"))
                    peers = [("group", gid)] if entry.get("self") else []
                    peers += [("group", g) for g in entry.get("securityGroups") or []]
                    peers += [("cidr", c) for c in [*(entry.get("cidrBlocks") or []), *(entry.get("ipv6CidrBlocks") or [])]]
                    out.extend(Rule(gid, direction, proto, low, high, v if k == "group" else None, v if k == "cidr" else None, name) for k, v in peers)
        elif token in (INGRESS, EGRESS):
            proto = _protocol(inputs.get("ipProtocol"))
            low, high = _ports(proto, inputs.get("fromPort"), inputs.get("toPort"))
            cidr = inputs.get("cidrIpv4") or inputs.get("cidrIpv6")
            out.append(
                Rule(
                    str(inputs.get("securityGroupId")),
                    "ingress" if token == INGRESS else "egress",
                    proto,
                    low,
                    high,
                    inputs.get("referencedSecurityGroupId"),
                    cidr,
                    name,
                )
            )
        elif token == SG_RULE:
            proto = _protocol(inputs.get("protocol"))
            low, high = _ports(proto, inputs.get("fromPort"), inputs.get("toPort"))
            gid = str(inputs.get("securityGroupId"))
            peer = gid if inputs.get("self") else inputs.get("sourceSecurityGroupId")
            direction = str(inputs.get("type") or "ingress")
            if peer:
                out.append(Rule(gid, direction, proto, low, high, peer, None, name))
            for c in [*(inputs.get("cidrBlocks") or []), *(inputs.get("ipv6CidrBlocks") or [])]:
                out.append(Rule(gid, direction, proto, low, high, None, c, name))
    return out


@dataclass(frozen=True)
class Party:
    """Members of a set of groups, at an address range (for CIDR rules)."""

    name: str
    groups: frozenset
    cidr: Optional[str]


def _covers(rule_cidr: Optional[str], cidr: Optional[str]) -> bool:
    if rule_cidr == "0.0.0.0/0":
        return True  # every IPv4 address, wherever the party is (a split stack's plan does not know the VPC's range)
    if not rule_cidr or not cidr:
        return False
    try:
        return ipaddress.ip_network(cidr, strict=False).subnet_of(ipaddress.ip_network(rule_cidr, strict=False))
    except (TypeError, ValueError):
        return False


def _side(rules: Iterable[Rule], direction: str, own: Party, other: Party, protocol: str, low: int, high: int) -> bool:
    for rule in rules:
        if rule.direction != direction or rule.group not in own.groups or not rule.admits(protocol, low, high):
            continue
        if (rule.peer_group and rule.peer_group in other.groups) or _covers(rule.cidr, other.cidr):
            return True
    return False


def allowed(rules: Sequence[Rule], src: Party, dst: Party, protocol: str = "tcp", low: int = 0, high: Optional[int] = None) -> bool:
    high = low if high is None else high
    return _side(rules, "egress", src, dst, protocol, low, high) and _side(rules, "ingress", dst, src, protocol, low, high)


def _vpc_cidr(resources: Sequence[Mapping]) -> Optional[str]:
    return next((r["inputs"]["cidrBlock"] for r in resources if r.get("type") == VPC and isinstance((r.get("inputs") or {}).get("cidrBlock"), str)), None)


def parties(resources: Sequence[Mapping]) -> dict:
    """Nodes per pool, the control plane, the Lustre file systems, EFA groups and the cluster security group."""
    registered = {_group_id(r) for r in resources if r.get("type") == SG}
    vpc = _vpc_cidr(resources)
    pools: dict[str, Party] = {}
    efa: dict[str, str] = {}  # group id -> pool
    selected: set = set()
    for r in resources:
        if r.get("type") != NODECLASS:
            continue
        spec = (r.get("inputs") or {}).get("spec") or {}
        name = ((r.get("inputs") or {}).get("metadata") or {}).get("name")
        ids = frozenset(t["id"] for t in spec.get("securityGroupSelectorTerms") or [] if isinstance(t, dict) and t.get("id"))
        selected |= ids
        pools[f"nodes of pool {name}"] = Party(f"nodes of pool {name}", ids, vpc)
        if any(i.get("interfaceType") in EFA_INTERFACES for i in spec.get("networkInterfaces") or []):
            for g in ids & registered:
                efa[g] = name
    made_by_eks = sorted(selected - registered)
    cluster_sg = made_by_eks[0] if len(made_by_eks) == 1 else None
    control = set()
    for r in resources:
        if r.get("type") == CLUSTER:
            control |= set(((r.get("inputs") or {}).get("vpcConfig") or {}).get("securityGroupIds") or [])
    if cluster_sg:
        control.add(cluster_sg)
        for r in resources:
            if r.get("type") == NODEGROUP:
                name = (r.get("inputs") or {}).get("nodeGroupName") or r.get("name")
                pools[f"nodes of node group {name}"] = Party(f"nodes of node group {name}", frozenset({cluster_sg}), vpc)
    lustre = {
        r.get("name"): Party(f"Lustre {r.get('name')}", frozenset((r.get("inputs") or {}).get("securityGroupIds") or []), vpc)
        for r in resources
        if r.get("type") == LUSTRE
    }
    return {
        "pools": pools,
        "control": Party("control plane", frozenset(control), vpc) if control else None,
        "lustre": lustre,
        "efa": efa,
        "cluster_sg": cluster_sg,
    }


def eks_default_rules(cluster_sg: Optional[str]) -> list[Rule]:
    if not cluster_sg:
        return []
    return [
        Rule(cluster_sg, "ingress", "all", 0, 65535, cluster_sg, None, "EKS cluster security group (default rule)"),
        Rule(cluster_sg, "egress", "all", 0, 65535, None, "0.0.0.0/0", "EKS cluster security group (default rule)"),
    ]


def _result(flow: str, src: str, dst: str, ports: str, ok: bool) -> dict:
    return {
        "flow": flow,
        "from": src,
        "to": dst,
        "ports": ports,
        "ok": ok,
        "reason": None if ok else "no egress rule of the source and ingress rule of the destination admit it",
    }


def aws_flows(resources: Sequence[Mapping], deploy_network: Optional[Mapping] = None) -> list[dict]:
    """Every required AWS flow of the plan, OK or not (``deploy_network``: {"cidrs", "securityGroupIds"}, the
    declared cluster.apiAccess)."""
    found = parties(resources)
    rules = [*rules_of(resources), *eks_default_rules(found["cluster_sg"])]
    out: list[dict] = []
    for nodes in found["pools"].values():
        for fs in found["lustre"].values():
            for low, high in LUSTRE_PORTS:
                ports = f"TCP/{low}" + (f"-{high}" if high != low else "")
                out.append(_result("nodes → Lustre", nodes.name, fs.name, ports, allowed(rules, nodes, fs, "tcp", low, high)))
                out.append(_result("Lustre → nodes", fs.name, nodes.name, ports, allowed(rules, fs, nodes, "tcp", low, high)))
        if found["control"] is not None:
            out.append(_result("nodes → control plane", nodes.name, "control plane", "TCP/443", allowed(rules, nodes, found["control"], "tcp", 443)))
            out.append(_result("control plane → nodes", "control plane", nodes.name, "TCP/443", allowed(rules, found["control"], nodes, "tcp", 443)))
    for fs in found["lustre"].values():
        for low, high in LUSTRE_PORTS:
            ports = f"TCP/{low}" + (f"-{high}" if high != low else "")
            out.append(_result("Lustre → Lustre", fs.name, fs.name, ports, allowed(rules, fs, fs, "tcp", low, high)))
    for group, pool in sorted(found["efa"].items()):
        me = Party(f"EFA group {group} (pool {pool})", frozenset({group}), None)
        out.append(
            {
                **_result(
                    "EFA group ↔ itself",
                    me.name,
                    me.name,
                    "all",
                    _side(rules, "ingress", me, me, "all", 0, 65535) and _side(rules, "egress", me, me, "all", 0, 65535),
                ),
                "reason": None,
            }
        )
        if not out[-1]["ok"]:
            out[-1]["reason"] = "EFA needs all traffic allowed from and to the group itself, in both directions"
    deploy = deploy_network or {}
    if found["control"] is not None:
        for cidr in deploy.get("cidrs") or []:
            src = Party(f"deploy network {cidr}", frozenset(), cidr)
            out.append(_result("deploy network → API", src.name, "control plane", "TCP/443", _side(rules, "ingress", found["control"], src, "tcp", 443, 443)))
        for group in deploy.get("securityGroupIds") or []:
            src = Party(f"deploy security group {group}", frozenset({group}), None)
            # The source group is outside the plan: its egress is the deployer's to give; the API side is ours.
            out.append(_result("deploy network → API", src.name, "control plane", "TCP/443", _side(rules, "ingress", found["control"], src, "tcp", 443, 443)))
    return out


def security_groups_check(ctx) -> list[dict]:
    """PLAN_CHECKS entry: the AWS flows of the Context's resources and declared deploy network."""
    return aws_flows(ctx.resources, getattr(ctx, "deploy_network", None))
