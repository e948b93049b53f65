"""Shapes of EFA misconfigurations: AI-EFA-001 ... 003."""

from __future__ import annotations

from policy_builder import UNKNOWN, link, res
from pools import node_pool
from shapes import firing
from test_policy_efa import efa_group, efa_launch_template, efa_node_class, placement_group

P1, P2, P3 = "ai-efa-001-efa-security-group", "ai-efa-002-efa-capable-types", "ai-efa-003-efa-colocation"


@firing(P1, "no-self-egress")
def _():
    group, rules = efa_group(self_out=False)
    return [group, *rules, efa_node_class(groups=[group])], ["train"]


@firing(P1, "no-self-ingress")
def _():
    group, rules = efa_group(self_in=False)
    return [group, *rules, efa_node_class(groups=[group])], ["train"]


@firing(P1, "no-group-of-the-stack")
def _():
    return [efa_node_class()], ["train"]


@firing(P2, "a-type-without-efa")
def _():
    return [efa_node_class(), node_pool(types=("p5.48xlarge", "g6.xlarge"), node_class="train")], ["gpu-train"]


@firing(P2, "selected-by-family")
def _():
    pool = node_pool(node_class="train", labels={"crucible.io/efa": "true"})
    pool["inputs"]["spec"]["template"]["spec"]["requirements"] = [{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p5"]}]
    return [pool], ["gpu-train"]


@firing(P2, "efa-only-primary-interface")
def _():
    return [efa_node_class("primary", nics=[{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "efa-only"}])], ["primary"]


@firing(P2, "node-group-types-of-a-launch-template")
def _():
    lt = efa_launch_template()
    group = res("aws:eks/nodeGroup:NodeGroup", "efa-group", {"instanceTypes": ["p5.48xlarge", "m7i.large"], "launchTemplate": {"id": UNKNOWN, "version": "1"}})
    return [lt, link(group, "launchTemplate", lt)], ["efa-lt"]


@firing(P3, "multi-zone-pool")
def _():
    return [efa_node_class(), node_pool(node_class="train", zones=("us-east-1a", "us-east-1b"))], ["gpu-train"]


@firing(P3, "spread-placement-group")
def _():
    spread = placement_group("spread", strategy="spread")
    return [spread, efa_node_class(pg=spread), node_pool(node_class="train")], ["train"]


@firing(P3, "launch-template-without-placement")
def _():
    return [efa_launch_template("no-pg", pg_name=None)], ["no-pg"]


@firing(P3, "pool-without-a-zone-requirement")
def _():
    pg = placement_group()
    return [pg, efa_node_class(pg=pg), node_pool(node_class="train", zones=None)], ["gpu-train"]
