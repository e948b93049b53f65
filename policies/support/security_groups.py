"""Security-group rules of one group, whichever way the program declares them.

A group's rules may be inline (``SecurityGroup.ingress/egress``) or separate resources
(``vpc.SecurityGroupIngressRule/EgressRule``, ``ec2.SecurityGroupRule``). A separate rule belongs to a group when
the group's URN is a property dependency of its ``securityGroupId``; it references its own group ("self") when
that URN is also a dependency of ``referencedSecurityGroupId`` / ``sourceSecurityGroupId`` (or ``self: true``).
Ids are unknown at preview; URNs are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from policies.support.cidrs import reaches_internet
from policies.support.rule import Res, Stack
from policies.support.tokens import (
    DEFAULT_SECURITY_GROUP,
    SECURITY_GROUP,
    SG_EGRESS_RULE,
    SG_INGRESS_RULE,
    SG_RULE,
    SUBNET,
    VPC,
    any_of,
)
from policies.support.values import Unknown, as_list, flag, is_set, known, number, text

WORLD = frozenset({"0.0.0.0/0", "::/0"})
ALL = "-1"
_PROTOCOLS = {"-1": ALL, "all": ALL, "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}
NETWORK = any_of(VPC, SUBNET)


@dataclass(frozen=True)
class SgRule:
    declared_by: Res
    direction: str  # ingress | egress
    protocol: str  # -1 (all), tcp, udp, icmp or the raw value
    from_port: Optional[float]
    to_port: Optional[float]
    cidrs: tuple[Any, ...]  # strings, or Unknown when computed
    cidr_from_network: bool  # the CIDR properties were computed from a VPC or subnet of this stack
    self_ref: bool
    other_group: bool  # references another security group or prefix list

    def all_traffic(self) -> bool:
        return self.protocol == ALL

    def covers(self, port: int, protocol: str = "tcp") -> bool:
        if self.protocol == ALL:
            return True
        if self.protocol != protocol:
            return False
        low = self.from_port if self.from_port is not None else 0
        high = self.to_port if self.to_port is not None else low
        if low == -1:  # "all ports" spelling
            return True
        return low <= port <= high

    def covers_all_ports(self) -> bool:
        if self.protocol == ALL:
            return True
        return self.protocol in ("tcp", "udp") and (self.from_port or 0) <= 0 and (self.to_port or 0) >= 65535

    def open_to_world(self) -> bool:
        """True when the sources/destinations cover the internet in any spelling (``cidrs.reaches_internet``). A computed CIDR is not the world when it was
        derived from a VPC or subnet; otherwise the verdict waits for the value (unknown at preview)."""
        blocks = []
        for cidr in self.cidrs:
            if isinstance(cidr, Unknown):
                if self.cidr_from_network:
                    continue
                known(cidr)
            else:
                blocks.append(cidr)
        return reaches_internet(blocks)  # 0.0.0.0/0, ::/0, 0.0.0.0/1 + 128.0.0.0/1, 1.2.3.4/0 ...: by coverage

    def sources(self) -> str:
        parts = [c for c in self.cidrs if isinstance(c, str)]
        if any(isinstance(c, Unknown) for c in self.cidrs):
            parts.append("<computed CIDR>")
        if self.self_ref:
            parts.append("itself")
        if self.other_group:
            parts.append("another security group")
        return ", ".join(parts) or "nothing"


def _protocol(value: Any) -> str:
    raw = str(known(value) if value is not None else ALL).lower()
    return _PROTOCOLS.get(raw, raw)


def _cidrs(*values: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, Unknown):
            out.append(value)
            continue
        for item in as_list(value) if isinstance(value, list) else ([value] if value is not None else []):
            out.append(item)
    return tuple(out)


def _depends_on_network(stack: Stack, res: Res, *props: str) -> bool:
    return any(stack.linked(res, prop, NETWORK) for prop in props)


def _inline(stack: Stack, group: Res) -> list[SgRule]:
    rules = []
    for direction in ("ingress", "egress"):
        entries = group.get(direction)
        for entry in as_list(entries):
            if not isinstance(entry, dict):
                continue
            rules.append(
                SgRule(
                    declared_by=group,
                    direction=direction,
                    protocol=_protocol(entry.get("protocol")),
                    from_port=number(entry.get("fromPort")),
                    to_port=number(entry.get("toPort")),
                    cidrs=_cidrs(entry.get("cidrBlocks"), entry.get("ipv6CidrBlocks")),
                    cidr_from_network=_depends_on_network(stack, group, direction),
                    self_ref=flag(entry.get("self")) is True,
                    other_group=is_set(entry.get("securityGroups")) or is_set(entry.get("prefixListIds")),
                )
            )
    return rules


def separate_rule(stack: Stack, rule: Res, group: Optional[Res] = None) -> SgRule:
    """One rule resource as an ``SgRule``; ``group`` is the group it belongs to, when that group is in the stack."""
    group_urn = group.urn if group is not None else None
    if SG_RULE(rule.type):
        referenced = group_urn is not None and group_urn in rule.property_dependencies.get("sourceSecurityGroupId", ())
        self_ref = flag(rule.get("self")) is True or referenced
        return SgRule(
            declared_by=rule,
            direction=text(rule.get("type")) or "ingress",
            protocol=_protocol(rule.get("protocol")),
            from_port=number(rule.get("fromPort")),
            to_port=number(rule.get("toPort")),
            cidrs=_cidrs(rule.get("cidrBlocks"), rule.get("ipv6CidrBlocks")),
            cidr_from_network=_depends_on_network(stack, rule, "cidrBlocks", "ipv6CidrBlocks"),
            self_ref=self_ref,
            other_group=(is_set(rule.get("sourceSecurityGroupId")) and not self_ref) or is_set(rule.get("prefixListIds")),
        )
    referenced = group_urn is not None and group_urn in rule.property_dependencies.get("referencedSecurityGroupId", ())
    self_ref = referenced or _same_known(rule.get("referencedSecurityGroupId"), rule.get("securityGroupId"))
    return SgRule(
        declared_by=rule,
        direction="egress" if SG_EGRESS_RULE(rule.type) else "ingress",
        protocol=_protocol(rule.get("ipProtocol")),
        from_port=number(rule.get("fromPort")),
        to_port=number(rule.get("toPort")),
        cidrs=_cidrs(rule.get("cidrIpv4"), rule.get("cidrIpv6")),
        cidr_from_network=_depends_on_network(stack, rule, "cidrIpv4", "cidrIpv6"),
        self_ref=self_ref,
        other_group=(is_set(rule.get("referencedSecurityGroupId")) and not self_ref) or is_set(rule.get("prefixListId")),
    )


SEPARATE_RULES = any_of(SG_INGRESS_RULE, SG_EGRESS_RULE, SG_RULE)


def _separate(stack: Stack, group: Res) -> list[SgRule]:
    return [separate_rule(stack, rule, group) for rule in stack.referrers(group, SEPARATE_RULES, "securityGroupId")]


def _same_known(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a == b


def group_rules(stack: Stack, group: Res) -> list[SgRule]:
    """Every rule of ``group`` (a SecurityGroup or DefaultSecurityGroup of ``stack``)."""
    rules = _inline(stack, group)
    if SECURITY_GROUP(group.type) or DEFAULT_SECURITY_GROUP(group.type):
        rules += _separate(stack, group)
    return rules


def allows_all_to_and_from_itself(rules: list[SgRule]) -> tuple[bool, bool]:
    """(ingress, egress): whether all traffic from / to the group itself is allowed."""
    ingress = any(r.direction == "ingress" and r.all_traffic() and r.self_ref for r in rules)
    egress = any(r.direction == "egress" and r.all_traffic() and r.self_ref for r in rules)
    return ingress, egress
