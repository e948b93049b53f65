"""AI-GPU-001, AI-GPU-002, AI-KARP-001 ... AI-KARP-003."""

from policy_builder import UNKNOWN, k8s, link, res, run, verdicts
from pools import GPU_TAINT, cpu_pool, node_pool

NEURON_TAINT = {"key": "aws.amazon.com/neuron", "effect": "NoSchedule"}


# AI-GPU-001
def test_accelerator_pools_with_their_taint_and_cpu_pools_without_pass():
    neuron = node_pool("trn", types=("trn2.48xlarge",), taints=(NEURON_TAINT,))
    assert verdicts("ai-gpu-001-accelerator-taints", [node_pool(), neuron, cpu_pool()]) == []


def test_accelerator_pools_without_their_taint_fire_however_they_select_gpus():
    by_type = node_pool("by-type", taints=())
    by_category = cpu_pool("by-category")
    by_category["inputs"]["spec"]["template"]["spec"]["requirements"] = [{"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["g"]}]
    by_manufacturer = cpu_pool("by-maker")
    by_manufacturer["inputs"]["spec"]["template"]["spec"]["requirements"] = [
        {"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]}
    ]
    neuron = node_pool("trn", types=("trn1.32xlarge",), taints=(GPU_TAINT,))
    assert verdicts("ai-gpu-001-accelerator-taints", [by_type, by_category, by_manufacturer, neuron]) == [
        ("by-category", "mandatory"),
        ("by-maker", "mandatory"),
        ("by-type", "mandatory"),
        ("trn", "mandatory"),
    ]


def test_gpu_node_groups_need_a_no_schedule_taint():
    tainted = res(
        "aws:eks/nodeGroup:NodeGroup",
        "tainted",
        {"instanceTypes": ["g6e.12xlarge"], "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]},
    )
    bare = res("aws:eks/nodeGroup:NodeGroup", "bare", {"instanceTypes": ["g6e.12xlarge"]})
    system = res("aws:eks/nodeGroup:NodeGroup", "system", {"instanceTypes": ["m7i.xlarge"]})
    assert verdicts("ai-gpu-001-accelerator-taints", [tainted, bare, system]) == [("bare", "mandatory")]


# AI-GPU-002
DEVICES = "ai-gpu-002-neuron-devices-for-non-root"
OWNERSHIP = "[settings.kubernetes]\ndevice-ownership-from-security-context = true\n"


def neuron_on(name: str, alias: str, user_data: str | None) -> list[dict]:
    pool = node_pool(name, types=("inf2.xlarge",), taints=(NEURON_TAINT,))
    spec = {"role": "r", "amiSelectorTerms": [{"alias": alias}], **({"userData": user_data} if user_data is not None else {})}
    return [pool, k8s("karpenter.k8s.aws/v1", "EC2NodeClass", name, spec)]


def test_a_bottlerocket_neuron_class_that_gives_the_devices_to_the_pods_user_passes():
    labels = OWNERSHIP + '\n[settings.kubernetes.node-labels]\n"crucible.io/pool" = "inf"\n'
    assert verdicts(DEVICES, neuron_on("inf", "bottlerocket@1.47.0", labels)) == []


def test_a_bottlerocket_neuron_class_without_device_ownership_fires():
    assert verdicts(DEVICES, neuron_on("inf", "bottlerocket@1.47.0", None)) == [("inf", "mandatory")]
    off = neuron_on("off", "bottlerocket@1.47.0", "[settings.kubernetes]\ndevice-ownership-from-security-context = false\n")
    assert verdicts(DEVICES, off) == [("off", "mandatory")]


def test_al2023_neuron_and_bottlerocket_gpu_classes_need_no_setting():
    # AL2023: the Neuron driver package installs its udev rule (KERNEL=="neuron*", MODE="0666"); NVIDIA's toolkit makes its nodes world-accessible on both
    gpu = [
        node_pool("serve", types=("g6e.xlarge",)),
        k8s("karpenter.k8s.aws/v1", "EC2NodeClass", "serve", {"role": "r", "amiSelectorTerms": [{"alias": "bottlerocket@1.47.0"}]}),
    ]
    assert verdicts(DEVICES, neuron_on("inf", "al2023@v20251108", None) + gpu) == []


# AI-KARP-004
def test_a_time_sliced_pool_with_an_overlay_per_advertised_count_and_the_gate_on_passes():
    from shapes_compute import P_SLICED, karpenter, overlay, sliced_pool

    assert verdicts(P_SLICED, [*sliced_pool(), overlay("nb-gpu-4", "nb", 4), karpenter()]) == []


def test_a_time_sliced_pool_karpenter_sizes_by_physical_gpus_fires_naming_the_types():
    from shapes_compute import P_SLICED, karpenter, sliced_pool

    (message,) = [v.message for v in run([*sliced_pool(), karpenter()]).of(P_SLICED)]
    assert "no NodeOverlay gives g6.xlarge the nvidia.com/gpu it advertises" in message and "a node per shared pod" in message


def test_a_pool_without_time_slicing_needs_no_overlay():
    from shapes_compute import P_SLICED, karpenter

    assert verdicts(P_SLICED, [node_pool("serve", types=("g6.xlarge",)), karpenter()]) == []


# AI-KARP-001
def test_pools_with_cpu_memory_and_accelerator_limits_pass():
    assert verdicts("ai-karp-001-pool-limits", [node_pool(), cpu_pool()]) == []


def test_pools_without_limits_or_without_the_accelerator_limit_fire():
    unlimited = cpu_pool("unlimited", limits={})
    no_gpu_limit = node_pool("no-gpu-limit", limits={"cpu": "1536", "memory": "16384Gi"})
    assert verdicts("ai-karp-001-pool-limits", [unlimited, no_gpu_limit]) == [("no-gpu-limit", "mandatory"), ("unlimited", "mandatory")]


# AI-KARP-002
def test_training_pool_with_crucible_training_profile_passes():
    assert verdicts("ai-karp-002-training-disruption", [node_pool()]) == []


def test_training_pool_that_consolidates_and_expires_fires_twice():
    pool = node_pool(disruption={"consolidationPolicy": "WhenEmptyOrUnderutilized", "budgets": [{"nodes": "10%"}]}, expire="720h")
    assert verdicts("ai-karp-002-training-disruption", [pool]) == [("gpu-train", "mandatory")] * 2


def test_training_pool_with_default_expiry_or_short_grace_fires():
    default_expiry = node_pool("default-expiry", expire=None)
    short_grace = node_pool("short-grace", terminationGracePeriod="60s")
    assert verdicts("ai-karp-002-training-disruption", [default_expiry, short_grace]) == [("default-expiry", "mandatory"), ("short-grace", "mandatory")]


def test_a_finite_expiry_is_accepted_when_configured_long_enough():
    pool = node_pool(expire="2160h")
    config = {"ai-karp-002-training-disruption": {"minExpireAfterHours": 720}}
    assert verdicts("ai-karp-002-training-disruption", [pool], config=config) == []
    assert verdicts("ai-karp-002-training-disruption", [node_pool(expire="168h")], config=config) == [("gpu-train", "mandatory")]


def test_serving_pools_may_consolidate_and_dev_only_advises():
    serving = cpu_pool(disruption={"consolidationPolicy": "WhenEmptyOrUnderutilized"}, expire="720h")
    assert verdicts("ai-karp-002-training-disruption", [serving]) == []
    training = node_pool(expire="720h")
    assert verdicts("ai-karp-002-training-disruption", [training], env="dev") == [("gpu-train", "advisory")]


# AI-KARP-003
def karpenter(values):
    return res(
        "kubernetes:helm.sh/v3:Release",
        "karpenter",
        {"chart": "oci://public.ecr.aws/karpenter/karpenter", "version": "1.14.1", "namespace": "karpenter", "values": values},
    )


QUEUE = res("aws:sqs/queue:Queue", "interruptions", {"messageRetentionSeconds": 300})
SPOT_RULE = res(
    "aws:cloudwatch/eventRule:EventRule", "spot", {"eventPattern": '{"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}'}
)
SPOT_POOL = node_pool("spot-gpu", capacity=("spot", "on-demand"))


def test_spot_accelerator_pool_with_interruption_handling_passes():
    release = karpenter({"settings": {"interruptionQueue": "crucible-interruptions"}})
    assert verdicts("ai-karp-003-spot-interruption-handling", [SPOT_POOL, release, QUEUE, SPOT_RULE]) == []


def test_spot_accelerator_pool_without_interruption_handling_fires():
    release = karpenter({"settings": {"clusterName": "c"}})
    assert verdicts("ai-karp-003-spot-interruption-handling", [SPOT_POOL, release]) == [("spot-gpu", "mandatory")]


def test_on_demand_or_cpu_spot_pools_need_no_interruption_handling():
    cpu_spot = cpu_pool(capacity=("spot",))
    assert verdicts("ai-karp-003-spot-interruption-handling", [node_pool(), cpu_spot]) == []


def test_values_computed_at_preview_from_the_queue_count_as_configured():
    release = link(karpenter(UNKNOWN), "values", QUEUE)
    assert verdicts("ai-karp-003-spot-interruption-handling", [SPOT_POOL, release, QUEUE, SPOT_RULE]) == []


def test_values_computed_at_preview_from_elsewhere_cannot_be_judged():
    assert verdicts("ai-karp-003-spot-interruption-handling", [SPOT_POOL, karpenter(UNKNOWN), QUEUE, SPOT_RULE]) == [("", "advisory")]
