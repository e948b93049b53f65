"""EFA (Elastic Fabric Adapter) for multi-node training: the security group, EFA-capable instance types and
interface layout, and co-location of EFA nodes (AI-EFA-001 ... AI-EFA-003).

EFA traffic bypasses the kernel: a security group that does not allow all traffic to and from itself makes
NCCL hang or silently fall back to TCP; EFA does not cross availability zones.
"""

from __future__ import annotations

from policies.support.efa import (
    efa_launch_templates,
    efa_node_classes,
    efa_node_pools,
    layout_problems,
    launch_template_interfaces,
    node_class_interfaces,
    node_groups_using,
)
from policies.support.karpenter import INSTANCE_FAMILY, INSTANCE_TYPE
from policies.support.rule import Ctx, Res, Stack, stack_policy
from policies.support.security_groups import allows_all_to_and_from_itself, group_rules
from policies.support.tokens import PLACEMENT_GROUP, SECURITY_GROUP
from policies.support.values import as_list, dig, is_set, known, text

# EFA-capable types Crucible uses (facts.md, from `aws ec2 describe-instance-types --filters
# Name=network-info.efa-supported,Values=true`); extend through policy config when the catalog grows.
EFA_INSTANCE_TYPES = [
    "p4d.24xlarge",
    "p4de.24xlarge",
    "p5.48xlarge",
    "p5e.48xlarge",
    "p5en.48xlarge",
    "trn1.32xlarge",
    "trn1n.32xlarge",
    "trn2.48xlarge",
    "g5.48xlarge",
    "g6.48xlarge",
    "g6e.48xlarge",
]


# AI-EFA-001 ----------------------------------------------------------------------------------------------------
def _self_referencing(stack: Stack, groups: list[Res]) -> bool:
    for group in groups:
        ingress, egress = allows_all_to_and_from_itself(group_rules(stack, group))
        if ingress and egress:
            return True
    return False


def _efa_security_groups(stack: Stack, ctx: Ctx) -> None:
    attached: list[tuple[Res, list[Res]]] = []
    for nc in efa_node_classes(stack):
        attached.append((nc, stack.linked(nc, "spec", SECURITY_GROUP)))
    for lt in efa_launch_templates(stack):
        groups = stack.linked(lt, "networkInterfaces", SECURITY_GROUP) + stack.linked(lt, "vpcSecurityGroupIds", SECURITY_GROUP)
        attached.append((lt, groups))
    for node, groups in attached:
        with ctx.each():
            if not _self_referencing(stack, groups):
                names = ", ".join(g.name for g in groups) or "none of this stack"
                ctx.violation(
                    node,
                    f"EFA interfaces need a security group that allows all traffic (protocol -1) to and from itself, "
                    f"ingress and egress; the attached groups ({names}) do not. Add an ingress and an egress rule "
                    'with ip_protocol "-1" referencing the group itself (Crucible\'s EFA pools create one when '
                    "`crucible:pools[].efa: true`).",
                )


AI_EFA_001 = stack_policy(
    rule_id="AI-EFA-001",
    slug="efa-security-group",
    description="Every EFA node template is attached to a security group that allows all traffic to and from itself (ingress and egress), as EFA requires.",
    check=_efa_security_groups,
    anchor="EC2 EFA requirements; EKS security-group requirements; terraform-aws-eks all_self_efa",
)


# AI-EFA-002 ----------------------------------------------------------------------------------------------------
def _unsupported(types: list[str], allowed: list[str]) -> list[str]:
    return [t for t in types if t not in allowed]


def _efa_types(stack: Stack, ctx: Ctx) -> None:
    allowed = list(ctx.setting("efaInstanceTypes"))
    for lt in efa_launch_templates(stack):
        with ctx.each():
            problems = layout_problems(launch_template_interfaces(lt))
            types = [t for t in [text(lt.get("instanceType"))] if t]
            for group in node_groups_using(stack, lt):
                types += [known(t) for t in as_list(group.get("instanceTypes"))]
            bad = _unsupported(types, allowed)
            if bad:
                problems.append(f"{', '.join(sorted(set(bad)))} cannot use EFA")
            if problems:
                ctx.violation(lt, "; ".join(problems) + ". Use EFA-capable types (this policy's efaInstanceTypes).")
    for nc in efa_node_classes(stack):
        with ctx.each():
            problems = layout_problems(node_class_interfaces(nc))
            if problems:
                ctx.violation(nc, "; ".join(problems) + ".")
    for pool in efa_node_pools(stack):
        with ctx.each():
            types = pool.selected(INSTANCE_TYPE)
            if types is None:
                families = pool.selected(INSTANCE_FAMILY)
                ctx.violation(
                    pool.res,
                    f"EFA pool {pool.name!r} selects instances by "
                    + (f"family ({', '.join(sorted(families))})" if families else "no instance type at all")
                    + ", which includes sizes without EFA; list exact EFA-capable types in "
                    "`crucible:pools[].instanceTypes` (node.kubernetes.io/instance-type In [...]).",
                )
                continue
            bad = _unsupported(sorted(types), allowed)
            if bad:
                ctx.violation(
                    pool.res,
                    f"EFA pool {pool.name!r} allows {', '.join(bad)}, which cannot use EFA; remove them from "
                    "`crucible:pools[].instanceTypes` or turn off `crucible:pools[].efa`.",
                )


AI_EFA_002 = stack_policy(
    rule_id="AI-EFA-002",
    slug="efa-capable-types",
    description="EFA is only configured on EFA-capable instance types (a versioned allow-list), with a valid "
    "interface layout: the primary interface is never EFA-only and each network card takes one EFA interface.",
    check=_efa_types,
    settings={
        "efaInstanceTypes": {
            "type": "array",
            "items": {"type": "string"},
            "default": EFA_INSTANCE_TYPES,
            "description": "Instance types that support EFA (generated from describe-instance-types network-info.efa-supported=true).",
        }
    },
    anchor="EC2 EFA supported instance types; pulumi-eks getEfaNetworkInterfaces",
)


# AI-EFA-003 ----------------------------------------------------------------------------------------------------
def _cluster_strategy(stack: Stack, node: Res, prop: str, name) -> tuple[bool, str]:
    """(ok, why not) for the placement group a node template names through ``prop``."""
    groups = stack.linked(node, prop, PLACEMENT_GROUP)
    if not groups and isinstance(name, str):
        groups = [g for g in stack.of(PLACEMENT_GROUP) if g.get("name") == name]
    for group in groups:
        strategy = text(group.get("strategy"))
        if strategy != "cluster":
            return False, f'placement group {group.name!r} uses strategy {strategy!r}; EFA nodes need "cluster"'
    return True, ""


def _colocated(stack: Stack, ctx: Ctx) -> None:
    for lt in efa_launch_templates(stack):
        with ctx.each():
            name = dig(lt.props, "placement", "groupName")
            if not is_set(name):
                ctx.violation(
                    lt,
                    "EFA launch template without placement.groupName; launch EFA nodes into a cluster placement "
                    'group (aws.ec2.PlacementGroup(strategy="cluster")) for full-bisection bandwidth.',
                )
                continue
            ok, why = _cluster_strategy(stack, lt, "placement", name)
            if not ok:
                ctx.violation(lt, why + ".")
    for pool in efa_node_pools(stack):
        with ctx.each():
            zones = pool.zones()
            if zones is None or len(zones) != 1:
                ctx.violation(
                    pool.res,
                    f"EFA pool {pool.name!r} may place nodes in "
                    + (f"{len(zones)} zones ({', '.join(sorted(zones))})" if zones else "any zone")
                    + "; EFA does not cross availability zones: set `crucible:pools[].zones` to one zone "
                    "(topology.kubernetes.io/zone In [<zone>]).",
                )
            nc = pool.node_class(stack)
            if nc is not None and is_set(nc.get("spec", "placementGroupSelector")):
                ok, why = _cluster_strategy(stack, nc, "spec", nc.get("spec", "placementGroupSelector", "name"))
                if not ok:
                    ctx.violation(nc, why + ".")


AI_EFA_003 = stack_policy(
    rule_id="AI-EFA-003",
    slug="efa-colocation",
    description="EFA nodes are co-located: launch templates use a cluster placement group, and Karpenter EFA "
    "pools are restricted to a single availability zone.",
    check=_colocated,
    anchor="EFA docs (one AZ, cluster placement group); terraform-aws-eks enable_efa_support",
)

POLICIES = [AI_EFA_001, AI_EFA_002, AI_EFA_003]
