"""Shapes of storage placement misconfigurations (issue 18 A.6): AI-FSX-001."""

from __future__ import annotations

from policy_builder import res
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


# AI-FSX-002 / DATA-FSX-004 -------------------------------------------------------------------------------------------
def _fsx():
    import test_policy_fsx as f

    return f


@firing("ai-fsx-002-lustre-security-group", "lustre-ports-open-to-the-internet")
def _():
    f = _fsx()
    group, rules = f.lustre_group(cidr="0.0.0.0/0")
    return [group, *rules, f.lustre(groups=[group])], ["fsx-sg-988", "fsx-sg-1018"]


@firing("ai-fsx-002-lustre-security-group", "lustre-ports-open-to-the-internet-in-halves")
def _():
    f = _fsx()
    group, rules = f.lustre_group(cidr="0.0.0.0/1")
    return [group, *rules, f.lustre(groups=[group])], ["fsx-sg-988", "fsx-sg-1018"]


@firing("ai-fsx-002-lustre-security-group", "lustre-client-ports-missing")
def _():
    f = _fsx()
    group, rules = f.lustre_group(ports=((988, 988),))
    return [group, *rules, f.lustre(groups=[group])], ["fsx"]


@firing("data-fsx-004-lustre-durability", "scratch")
def _():
    f = _fsx()
    fs = f.lustre(deploymentType="SCRATCH_2", automaticBackupRetentionDays=None, skipFinalBackup=None)
    return [fs, f.dra(fs)], ["fsx"]


@firing("data-fsx-004-lustre-durability", "no-backups-no-final-backup-no-export")
def _():
    f = _fsx()
    return [f.lustre(automaticBackupRetentionDays=None, skipFinalBackup=None)], ["fsx"]


@firing("data-fsx-004-lustre-durability", "export-without-changed-events")
def _():
    f = _fsx()
    fs = f.lustre()
    return [fs, f.dra(fs, events=("NEW",), name="partial")], ["partial"]


@firing("data-fsx-004-lustre-durability", "export-deleting-into-an-unversioned-bucket")
def _():
    f = _fsx()
    fs = f.lustre()
    bucket = res("aws:s3/bucket:Bucket", "datasets", {})
    return [fs, bucket, f.dra(fs, events=("NEW", "CHANGED", "DELETED"), bucket=bucket, name="deletes")], ["deletes"]


# REL-NODE-007: the Karpenter controller on nodes it manages ----------------------------------------------------------
def _karp():
    import test_policy_nodes as n

    return n


@firing("rel-node-007-karpenter-off-karpenter-nodes", "not-pinned-to-the-node-group")
def _():
    n = _karp()
    return [n.CLUSTER, n.system_group(), n.karpenter({"settings": {}})], ["karpenter"]


@firing("rel-node-007-karpenter-off-karpenter-nodes", "pinned-to-a-label-no-group-carries")
def _():
    n = _karp()
    return [n.CLUSTER, n.system_group(), n.karpenter({"nodeSelector": {"crucible.io/pool": "train"}})], ["karpenter"]


@firing("rel-node-007-karpenter-off-karpenter-nodes", "no-node-group-nor-fargate")
def _():
    n = _karp()
    return [n.CLUSTER, n.karpenter()], ["karpenter"]


@firing("rel-node-007-karpenter-off-karpenter-nodes", "split-stack-without-anti-affinity")
def _():
    n = _karp()
    return [n.karpenter({})], ["karpenter"]
