"""VPC network exposure: no world-open admin or all-port ingress, a closed default security group, and flow
logs on every VPC (SEC-NET-001, SEC-NET-002)."""

from __future__ import annotations

from policies.support.rule import Ctx, Stack, stack_policy
from policies.support.security_groups import SEPARATE_RULES, SgRule, group_rules, separate_rule
from policies.support.tokens import DEFAULT_SECURITY_GROUP, FLOW_LOG, SECURITY_GROUP, VPC

ADMIN_PORTS = {22: "SSH", 3389: "RDP"}


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
                    "the VPC's default security group has rules; remove every ingress and egress rule so resources "
                    "that fall back to it get no access.",
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
    description="No security group admits the internet (0.0.0.0/0, ::/0) on SSH, RDP, HTTP or all ports (HTTP "
    "only on groups tagged as public load balancers), and the default security group has no rules.",
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
                    "has no flow log, so there is no record of who talked to what during an incident; set "
                    "`crucible:network.flowLogs: true`.",
                )


SEC_NET_002 = stack_policy(
    rule_id="SEC-NET-002",
    slug="vpc-flow-logs",
    description="Every VPC has flow logs, the network record incident response starts from.",
    check=_flow_logs,
    anchor="CKV2_AWS_11",
)

POLICIES = [SEC_NET_001, SEC_NET_002]
