"""Shapes of storage placement misconfigurations (issue 18 A.6): AI-FSX-001."""

from __future__ import annotations

from pools import node_pool
from shapes import firing
from test_policy_fsx import lustre, subnet

P1 = "ai-fsx-001-lustre-in-training-zone"


def fs_in_a():
    sn = subnet()
    return [sn, lustre(subnet_res=sn)]


@firing(P1, "pool-in-another-zone")
def _():
    return [*fs_in_a(), node_pool("train", zones=("us-east-1b",))], ["fsx"]


@firing(P1, "pool-spanning-the-zone-and-others")
def _():
    return [*fs_in_a(), node_pool("train", zones=("us-east-1a", "us-east-1b"))], ["fsx"]


@firing(P1, "pool-without-a-zone-requirement")
def _():
    return [*fs_in_a(), node_pool("train", zones=None)], ["fsx"]
