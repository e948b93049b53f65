"""AI-KUEUE-001 ... AI-KUEUE-003, DATA-PUL-001 ... DATA-PUL-003."""

from policy_builder import k8s, link, res, verdicts
from pools import node_pool

KUEUE = "kueue.x-k8s.io/v1beta2"


def flavor(name="gpu-train", pool="gpu-train", tolerations=True, version=KUEUE, **labels):
    spec = {"nodeLabels": {"karpenter.sh/nodepool": pool, **labels}}
    if tolerations:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return k8s(version, "ResourceFlavor", name, spec)


def cluster_queue(name="training", flavor_name="gpu-train", gpus=64, cpu=1536, memory="16384Gi", borrowing=None, preemption=None, selector=None):
    gpu = {"name": "nvidia.com/gpu", "nominalQuota": gpus}
    if borrowing is not None:
        gpu["borrowingLimit"] = borrowing
    spec = {
        "namespaceSelector": selector if selector is not None else {},
        "resourceGroups": [
            {
                "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                "flavors": [{"name": flavor_name, "resources": [{"name": "cpu", "nominalQuota": cpu}, {"name": "memory", "nominalQuota": memory}, gpu]}],
            }
        ],
    }
    if preemption:
        spec["preemption"] = preemption
    return k8s(KUEUE, "ClusterQueue", name, spec)


# AI-KUEUE-001 (the pool's limits: cpu 1536, memory 16384Gi, nvidia.com/gpu 64)
def test_quotas_within_the_pool_limits_pass():
    assert verdicts("ai-kueue-001-quota-fits-pool-limits", [node_pool(), flavor(), cluster_queue()]) == []


def test_quotas_beyond_the_pool_limits_fire_on_the_queue_and_in_total_on_the_flavor():
    too_big = cluster_queue("too-big", gpus=80)
    borrows = cluster_queue("borrows", gpus=32, borrowing=40)
    halves = [cluster_queue("a", gpus=40, cpu=768, memory="8Ti"), cluster_queue("b", gpus=40, cpu=768, memory="8Ti")]  # only GPUs overflow
    assert verdicts("ai-kueue-001-quota-fits-pool-limits", [node_pool(), flavor(), too_big]) == [("gpu-train", "mandatory"), ("too-big", "mandatory")]
    assert verdicts("ai-kueue-001-quota-fits-pool-limits", [node_pool(), flavor(), borrows]) == [("borrows", "mandatory")]
    assert verdicts("ai-kueue-001-quota-fits-pool-limits", [node_pool(), flavor(), *halves]) == [("gpu-train", "mandatory")]


def test_cpu_quantities_are_compared_as_quantities():
    milli = cluster_queue(cpu="1536000m")
    over = cluster_queue("over", cpu="1537")
    assert verdicts("ai-kueue-001-quota-fits-pool-limits", [node_pool(), flavor(), milli]) == []
    assert verdicts("ai-kueue-001-quota-fits-pool-limits", [node_pool(), flavor(), over]) == [("gpu-train", "mandatory"), ("over", "mandatory")]


# AI-KUEUE-002
def test_flavor_matching_its_pool_passes_for_v1beta2_and_v1beta1():
    assert verdicts("ai-kueue-002-flavor-matches-pool", [node_pool(), flavor()]) == []
    assert verdicts("ai-kueue-002-flavor-matches-pool", [node_pool(), flavor(version="kueue.x-k8s.io/v1beta1")]) == []


def test_a_flavor_that_states_its_pools_taint_as_node_taints_passes():
    # Kueue admits onto it only pod sets that tolerate the taint (flavorassigner.go), which then schedule there
    stated = flavor(tolerations=False)
    stated["inputs"]["spec"]["nodeTaints"] = [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    assert verdicts("ai-kueue-002-flavor-matches-pool", [node_pool(), stated]) == []


def test_a_flavor_stating_another_taint_than_its_pools_fires():
    other = flavor("other", pool="gpu-train", tolerations=False)
    other["inputs"]["spec"]["nodeTaints"] = [{"key": "aws.amazon.com/neuron", "effect": "NoSchedule"}]
    assert verdicts("ai-kueue-002-flavor-matches-pool", [node_pool(), other]) == [("other", "mandatory")]


def test_flavor_without_toleration_with_a_foreign_label_or_unknown_pool_fires():
    untolerated = flavor("untolerated", tolerations=False)
    foreign = flavor("foreign", **{"node.kubernetes.io/instance-type": "p4d.24xlarge"})
    missing = flavor("missing", pool="nowhere")
    unnamed = k8s(KUEUE, "ResourceFlavor", "unnamed", {"nodeLabels": {"team": "x"}})
    assert verdicts("ai-kueue-002-flavor-matches-pool", [node_pool(), untolerated, foreign, missing, unnamed]) == [
        ("foreign", "mandatory"),
        ("missing", "mandatory"),
        ("unnamed", "mandatory"),
        ("untolerated", "mandatory"),
    ]


# AI-KUEUE-003
def namespace(name, checkpointing=True):
    labels = {"crucible.io/tenant": name}
    if checkpointing:
        labels["crucible.io/checkpointing"] = "enabled"
    return k8s("v1", "Namespace", name, metadata={"labels": labels})


def local_queue(ns, queue="training"):
    lq = k8s(KUEUE, "LocalQueue", f"{ns['name']}-training", {"clusterQueue": queue}, metadata={"namespace": ns["name"]})
    return link(lq, "metadata", ns)


PREEMPTING = {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"}


def test_preemption_into_checkpointing_namespaces_with_local_queues_passes():
    ns = namespace("vision")
    queue = cluster_queue(preemption=PREEMPTING, selector={"matchLabels": {"crucible.io/tenant": "vision"}})
    assert verdicts("ai-kueue-003-preemption-checkpoint-contract", [ns, local_queue(ns), queue]) == []


def test_preemption_into_a_namespace_without_the_contract_is_advised():
    ns = namespace("vision", checkpointing=False)
    queue = cluster_queue(preemption=PREEMPTING)
    assert verdicts("ai-kueue-003-preemption-checkpoint-contract", [ns, local_queue(ns), queue]) == [("vision", "advisory")]


def test_tenant_namespace_admitted_without_a_local_queue_is_advised_and_system_namespaces_are_not():
    ns = namespace("vision")
    system = k8s("v1", "Namespace", "karpenter")
    queue = cluster_queue(preemption=PREEMPTING)
    assert verdicts("ai-kueue-003-preemption-checkpoint-contract", [ns, system, queue]) == [("vision", "advisory")]


def test_queues_that_never_preempt_need_no_contract():
    assert verdicts("ai-kueue-003-preemption-checkpoint-contract", [namespace("vision", checkpointing=False), cluster_queue()]) == []


# DATA-PUL-001 ... DATA-PUL-003
def stateful(protect=False, delete_before_replace=False):
    return [
        res("aws:s3/bucket:Bucket", "named-bucket", {"bucket": "crucible-checkpoints"}, protect=protect, delete_before_replace=delete_before_replace),
        res("aws:s3/bucketV2:BucketV2", "auto-bucket", {}, protect=protect, delete_before_replace=delete_before_replace),
        res("aws:fsx/lustreFileSystem:LustreFileSystem", "fsx", {"storageCapacity": 1200}, protect=protect, delete_before_replace=delete_before_replace),
        res("aws:kms/key:Key", "key", {}, protect=protect, delete_before_replace=delete_before_replace),
        res("aws:eks/cluster:Cluster", "eks", {"name": "crucible-prod"}, protect=protect, delete_before_replace=delete_before_replace),
        k8s("v1", "PersistentVolumeClaim", "home", protect=protect, delete_before_replace=delete_before_replace),
        k8s("v1", "Namespace", "vision", metadata={"labels": {"crucible.io/tenant": "vision"}}, protect=protect, delete_before_replace=delete_before_replace),
        k8s("v1", "Namespace", "jupyterhub", protect=protect, delete_before_replace=delete_before_replace),
    ]


NOT_STATEFUL = [
    k8s("v1", "Namespace", "karpenter"),
    res("aws:ec2/securityGroup:SecurityGroup", "sg", {}, delete_before_replace=True),
]
ALL_STATEFUL = sorted(r["name"] for r in stateful())
NAMED = ["eks", "home", "jupyterhub", "named-bucket", "vision"]


def test_protected_stateful_resources_pass():
    for policy in ("data-pul-001-protect-stateful", "data-pul-002-no-delete-before-replace", "data-pul-003-protect-named-stateful"):
        assert verdicts(policy, stateful(protect=True) + NOT_STATEFUL) == []


def test_unprotected_stateful_resources_fire_in_prod_and_are_advised_in_dev():
    assert verdicts("data-pul-001-protect-stateful", stateful() + NOT_STATEFUL) == [(n, "mandatory") for n in ALL_STATEFUL]
    assert verdicts("data-pul-001-protect-stateful", stateful(), env="dev") == [(n, "advisory") for n in ALL_STATEFUL]


def test_delete_before_replace_on_stateful_resources_fires():
    assert verdicts("data-pul-002-no-delete-before-replace", stateful(protect=True, delete_before_replace=True) + NOT_STATEFUL) == [
        (n, "mandatory") for n in ALL_STATEFUL
    ]


def test_explicitly_named_stateful_resources_must_be_protected():
    assert verdicts("data-pul-003-protect-named-stateful", stateful() + NOT_STATEFUL) == [(n, "mandatory") for n in NAMED]
