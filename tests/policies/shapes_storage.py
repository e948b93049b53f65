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


# AI-KUEUE-001: quota promised beyond the pool, at any level of the Kueue hierarchy ----------------------------------
P2 = "ai-kueue-001-quota-fits-pool-limits"


def _kueue():
    from test_policy_kueue_options import KUEUE, cluster_queue, flavor

    return KUEUE, cluster_queue, flavor


@firing(P2, "one-queue-over-the-limit")
def _():
    _, cluster_queue, flavor = _kueue()
    return [node_pool(), flavor(), cluster_queue("big", gpus=80)], ["gpu-train", "big"]


@firing(P2, "nominal-plus-borrowing")
def _():
    _, cluster_queue, flavor = _kueue()
    return [node_pool(), flavor(), cluster_queue("borrows", gpus=32, borrowing=40)], ["borrows"]


@firing(P2, "queues-together")
def _():
    _, cluster_queue, flavor = _kueue()
    return [node_pool(), flavor(), cluster_queue("a", gpus=40), cluster_queue("b", gpus=40)], ["gpu-train"]


@firing(P2, "quota-on-the-cohort")
def _():
    from policy_builder import k8s

    kueue, cluster_queue, flavor = _kueue()
    groups = [{"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": "gpu-train", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 32}]}]}]
    cohort = k8s(kueue, "Cohort", "research", {"resourceGroups": groups})
    return [node_pool(), flavor(), cluster_queue("team", gpus=48), cohort], ["gpu-train"]
