"""Where EFA is attached in a stack: launch templates (and the node groups that use them), Karpenter
EC2NodeClasses, and the NodePools that use those classes."""

from __future__ import annotations

from dataclasses import dataclass

from policies.support.karpenter import NodePool, efa_interfaces, node_pools
from policies.support.rule import Res, Stack
from policies.support.tokens import EC2_NODE_CLASS, EKS_NODE_GROUP, LAUNCH_TEMPLATE
from policies.support.values import as_list, number


def launch_template_interfaces(lt: Res) -> list:
    return as_list(lt.get("networkInterfaces"))


def node_class_interfaces(nc: Res) -> list:
    return as_list(nc.get("spec", "networkInterfaces"))


def efa_launch_templates(stack: Stack) -> list[Res]:
    return [lt for lt in stack.of(LAUNCH_TEMPLATE) if efa_interfaces(launch_template_interfaces(lt))]


def efa_node_classes(stack: Stack) -> list[Res]:
    return [nc for nc in stack.of(EC2_NODE_CLASS) if efa_interfaces(node_class_interfaces(nc))]


def efa_node_pools(stack: Stack) -> list[NodePool]:
    return [pool for pool in node_pools(stack) if pool.is_efa(stack)]


def node_groups_using(stack: Stack, lt: Res) -> list[Res]:
    """Managed node groups whose ``launchTemplate`` was computed from ``lt``, or names it."""
    found = stack.referrers(lt, EKS_NODE_GROUP, "launchTemplate")
    name = lt.get("name")
    for group in stack.of(EKS_NODE_GROUP):
        if group not in found and isinstance(name, str) and group.get("launchTemplate", "name") == name:
            found.append(group)
    return found


@dataclass(frozen=True)
class Interface:
    card: int
    device: int
    kind: str


def layout_problems(interfaces: list) -> list[str]:
    """What is wrong with an EFA interface layout: the primary interface (card 0, device 0) cannot be
    EFA-only (it carries the node's IP traffic), and a network card takes at most one EFA interface."""
    nics: list[Interface] = []
    for index, nic in enumerate(interfaces):
        if not isinstance(nic, dict):
            continue
        card = number(nic.get("networkCardIndex"))
        device = number(nic.get("deviceIndex"))
        kind = str(nic.get("interfaceType") or "interface")
        nics.append(Interface(int(card if card is not None else 0), int(device if device is not None else index), kind))
    problems = []
    if any(n.card == 0 and n.device == 0 and n.kind == "efa-only" for n in nics):
        problems.append('the primary interface (network card 0, device 0) is efa-only; make it "efa" or "interface"')
    per_card: dict[int, int] = {}
    for n in nics:
        if n.kind in ("efa", "efa-only"):
            per_card[n.card] = per_card.get(n.card, 0) + 1
    crowded = sorted(card for card, count in per_card.items() if count > 1)
    if crowded:
        problems.append(f"network card(s) {', '.join(map(str, crowded))} carry more than one EFA interface")
    return problems
