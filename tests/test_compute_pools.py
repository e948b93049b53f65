"""Pools from config: one EC2NodeClass + one NodePool each, labelled, tainted, limited and disrupted by profile."""

import pytest


import upstream
from helpers import plan, shared_dir, shipped_plan
from components.catalog import load_catalog, select

from stacks.tools.plan.locate import shipped_stacks

CATALOG = load_catalog()  # instance types' facts: CATALOG.get(name)

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"

GPU = {
    "name": "gpu",
    "kind": "gpu",
    "workload": "serving",
    "instanceTypes": ["g6e.xlarge", "g6e.2xlarge"],
    "capacityTypes": ["spot", "on-demand"],
    "maxNodes": 3,
}
NEURON = {"name": "trn", "kind": "neuron", "workload": "training", "instanceTypes": ["trn1.32xlarge"], "maxAccelerators": 64}
CPU = {"name": "cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.xlarge"], "maxNodes": 5}


@pytest.fixture(scope="module")
def run():
    return plan("dev", pools=[GPU, NEURON, CPU])


def manifest(r):
    return {k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}


def by_name(run, token, name):
    (found,) = [r for r in run.of_type(token) if r.inputs["metadata"]["name"] == name]
    return found


def test_each_pool_is_one_node_class_and_one_node_pool_named_after_it(run):
    assert sorted(r.inputs["metadata"]["name"] for r in run.of_type(NODEPOOL)) == ["cpu", "gpu", "trn"]
    assert sorted(r.inputs["metadata"]["name"] for r in run.of_type(NODECLASS)) == ["cpu", "gpu", "trn"]
    for name in ("cpu", "gpu", "trn"):
        ref = by_name(run, NODEPOOL, name).inputs["spec"]["template"]["spec"]["nodeClassRef"]
        assert ref == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}
    assert {c.type for c in run.resources if c.name.startswith("pool-")} >= {"crucible:compute:NodePool"}


def test_labels_name_pool_workload_and_accelerator(run):
    labels = {n: by_name(run, NODEPOOL, n).inputs["spec"]["template"]["metadata"]["labels"] for n in ("gpu", "trn", "cpu")}
    assert labels["gpu"]["crucible.io/pool"] == "gpu" and labels["gpu"]["crucible.io/workload"] == "serving"
    assert labels["gpu"]["crucible.io/accelerator"] == "nvidia"
    assert labels["trn"]["crucible.io/accelerator"] == "neuron" and labels["trn"]["crucible.io/workload"] == "training"
    assert "crucible.io/accelerator" not in labels["cpu"]


def test_accelerator_pools_carry_their_noschedule_taint(run):
    def taints(name):
        return by_name(run, NODEPOOL, name).inputs["spec"]["template"]["spec"].get("taints", [])

    assert taints("gpu") == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    assert taints("trn") == [{"key": "aws.amazon.com/neuron", "effect": "NoSchedule"}]
    assert taints("cpu") == []


def test_limits_are_the_catalog_capacity_at_max(run):
    gpu = [CATALOG.get(t) for t in GPU["instanceTypes"]]
    assert by_name(run, NODEPOOL, "gpu").inputs["spec"]["limits"] == {
        "cpu": str(3 * max(f.vcpu for f in gpu)),
        "memory": f"{-(-3 * max(f.memory_gib for f in gpu) // 1):.0f}Gi",
        "nvidia.com/gpu": str(3 * max(f.accelerator_count for f in gpu)),
    }
    trn = CATALOG.get("trn1.32xlarge")
    nodes = -(-64 // trn.accelerator_count)
    limits = by_name(run, NODEPOOL, "trn").inputs["spec"]["limits"]
    assert limits == {"cpu": str(nodes * trn.vcpu), "memory": f"{-(-nodes * trn.memory_gib // 1):.0f}Gi", "aws.amazon.com/neuron": "64"}
    assert set(by_name(run, NODEPOOL, "cpu").inputs["spec"]["limits"]) == {"cpu", "memory"}


def test_training_pools_never_drain_a_running_job(run):
    spec = by_name(run, NODEPOOL, "trn").inputs["spec"]
    assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert spec["template"]["spec"]["expireAfter"] == "Never"
    blocked = [b for b in spec["disruption"]["budgets"] if b["nodes"] == "0"]
    assert blocked and {"Underutilized", "Drifted"} <= set(blocked[0]["reasons"])


@pytest.mark.parametrize("name", ["gpu", "cpu"])
def test_serving_and_interactive_pools_consolidate_when_idle_or_underused(run, name):
    spec = by_name(run, NODEPOOL, name).inputs["spec"]
    assert spec["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    assert spec["template"]["spec"]["expireAfter"] != "Never"


def test_a_serving_pools_drain_ends_at_its_termination_grace_period():
    # Karpenter respects PodDisruptionBudgets while draining until terminationGracePeriod (NodePool docs): a
    # single-replica model's budget (minAvailable 1) would otherwise hold an expired node for ever
    from components.node_pool import DISRUPTION

    assert DISRUPTION["serving"]["terminationGracePeriod"] == "1h"
    assert "terminationGracePeriod" not in DISRUPTION["training"] and "terminationGracePeriod" not in DISRUPTION["interactive"]
    from helpers import shipped_report

    templates = [r["inputs"]["spec"]["template"] for r in shipped_report("prod")[0]["resources"] if r["type"] == "kubernetes:karpenter.sh/v1:NodePool"]
    grace = {(t["metadata"]["labels"]["crucible.io/workload"], t["spec"].get("terminationGracePeriod")) for t in templates}
    assert grace == {("training", None), ("serving", "1h"), ("interactive", None)}  # prod: train; serve and inf; cpu


def test_requirements_pin_types_capacity_types_and_zones(run):
    reqs = {r["key"]: r["values"] for r in by_name(run, NODEPOOL, "gpu").inputs["spec"]["template"]["spec"]["requirements"]}
    assert reqs["node.kubernetes.io/instance-type"] == GPU["instanceTypes"]
    assert reqs["karpenter.sh/capacity-type"] == ["spot", "on-demand"]
    assert reqs["topology.kubernetes.io/zone"] == ["us-west-2a", "us-west-2b"]


def test_families_resolve_to_catalog_types():
    run = plan("dev", pools=[{**CPU, "instanceTypes": ["m7i"]}])
    reqs = {r["key"]: r["values"] for r in run.one(NODEPOOL).inputs["spec"]["template"]["spec"]["requirements"]}
    types = reqs["node.kubernetes.io/instance-type"]
    assert types and all(t.startswith("m7i.") and t in load_catalog() for t in types)


def test_nodes_are_imdsv2_hop_1_encrypted_and_private(run):
    for node_class in run.of_type(NODECLASS):
        spec = node_class.inputs["spec"]
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert spec["associatePublicIPAddress"] is False
        assert spec["blockDeviceMappings"] and all(d["ebs"]["encrypted"] is True for d in spec["blockDeviceMappings"])


def test_node_volumes_use_the_clusters_node_volume_key(run):
    key = run.one("aws:kms/key:Key", "cluster-node-volumes").outputs["arn"]
    for node_class in run.of_type(NODECLASS):
        assert {d["ebs"]["kmsKeyID"] for d in node_class.inputs["spec"]["blockDeviceMappings"]} == {key}


def test_pools_that_mount_lustre_wait_for_the_fsx_node_agent(run):
    # trn (training) and cpu (interactive) mount the shared file system; gpu (serving) does not.
    startup = {n: by_name(run, NODEPOOL, n).inputs["spec"]["template"]["spec"].get("startupTaints") for n in ("trn", "cpu", "gpu")}
    assert startup["trn"] == startup["cpu"] == [{"key": "fsx.csi.aws.com/agent-not-ready", "effect": "NoExecute"}]
    assert startup["gpu"] is None


def test_no_startup_taint_without_a_lustre_file_system():
    run = plan("dev", pools=[NEURON], storage={"lustre": {"enabled": False}})
    assert "startupTaints" not in run.one(NODEPOOL).inputs["spec"]["template"]["spec"]


def test_hop_limit_two_only_when_stated():
    run = plan("dev", pools=[{**CPU, "imdsHopLimit": 2}])
    assert run.one(NODECLASS).inputs["spec"]["metadataOptions"]["httpPutResponseHopLimit"] == 2


def test_ami_alias_is_the_pinned_release_of_the_family():
    run = plan("prod", pools=[{**CPU, "amiVersion": "v20251108"}, {**GPU, "amiFamily": "Bottlerocket", "amiVersion": "1.47.0"}])
    assert by_name(run, NODECLASS, "cpu").inputs["spec"]["amiSelectorTerms"] == [{"alias": "al2023@v20251108"}]
    bottlerocket = by_name(run, NODECLASS, "gpu").inputs["spec"]
    assert bottlerocket["amiSelectorTerms"] == [{"alias": "bottlerocket@v1.47.0"}]
    assert [d["deviceName"] for d in bottlerocket["blockDeviceMappings"]] == ["/dev/xvda", "/dev/xvdb"]


def test_reserved_capacity_selects_reservations_by_id_and_tags():
    pool = {**GPU, "capacityTypes": ["reserved", "on-demand"], "capacityReservation": {"ids": ["cr-0123456789abcdef0"], "tags": {"team": "llm"}}}
    spec = plan("dev", pools=[pool]).one(NODECLASS).inputs["spec"]
    assert spec["capacityReservationSelectorTerms"] == [{"id": "cr-0123456789abcdef0"}, {"tags": {"team": "llm"}}]


def test_raid0_over_instance_store_when_every_type_has_it_or_when_stated():
    with_store = [t for t in [t.name for t in select(["g6e"])] if CATALOG.get(t).instance_store_gib > 0]
    spec = plan("dev", pools=[{**GPU, "instanceTypes": with_store[:2]}]).one(NODECLASS).inputs["spec"]
    assert spec["instanceStorePolicy"] == "RAID0"
    spec = plan("dev", pools=[{**GPU, "instanceTypes": with_store[:2], "instanceStoreRaid0": False}]).one(NODECLASS).inputs["spec"]
    assert "instanceStorePolicy" not in spec


def test_every_custom_resource_the_shipped_stacks_emit_validates_upstream():
    shared_dir()
    seen = 0
    for stack in shipped_stacks():
        run = shipped_plan(stack).run
        for r in run.of_type(NODEPOOL) + run.of_type(NODECLASS) + run.of_type("kubernetes:karpenter.sh/v1alpha1:NodeOverlay"):
            upstream.assert_valid(manifest(r))
            seen += 1
    assert seen >= 2 * 8 + 1, "the shipped stacks should exercise compute (research: a NodeOverlay)"


def test_upstream_validation_catches_an_invented_field(run):
    shared_dir()
    bad = manifest(by_name(run, NODECLASS, "gpu"))
    bad["spec"] = {**bad["spec"], "efaInterfaces": 32}
    assert any("efaInterfaces" in e for e in upstream.errors(bad))
