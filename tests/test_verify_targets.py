"""VerifyTargets are read from a plan document: captured resources first, per-node figures from `capacity`."""

from __future__ import annotations

import pytest

from stacks.tools.verify.targets import TargetsError, node_expectations, targets_from_plan
from components.labels import QUEUE_LABEL
from stacks.tools.verify.workloads import nccl_mpijob, probe_job
from verify_data import plan_document


def test_pools_come_from_labelled_nodepools_with_their_node_class_and_taints():
    targets = targets_from_plan(plan_document())
    assert [p.name for p in targets.pools] == ["cpu", "train"]
    train = next(p for p in targets.pools if p.name == "train")
    assert train.node_class == "train" and train.instance_types == ("p5.48xlarge",)
    assert train.accelerator_resource == "nvidia.com/gpu" and train.workload == "training"
    assert train.efa == 32
    exp = train.expectation("p5.48xlarge")
    assert (exp.accelerators, exp.efa, exp.network_gbps) == (8, 32, 3200)
    assert train.expectation("p4d.24xlarge") is None


def test_a_pool_finds_the_local_queue_whose_cluster_queue_reaches_it_through_a_flavor():
    targets = targets_from_plan(plan_document())
    by_name = {p.name: p for p in targets.pools}
    assert by_name["train"].queue == ("team-research", "training")
    assert by_name["cpu"].queue is None


def test_team_queues_lustre_claim_and_hub():
    targets = targets_from_plan(plan_document())
    assert [(q.namespace, q.name, q.cluster_queue) for q in targets.queues] == [
        ("team-research", "training", "research"),
        ("team-vision", "training", "research"),
    ]
    assert (targets.lustre.namespace, targets.lustre.claim, targets.lustre.zone, targets.lustre.expected_write_mbps) == (
        "shared-data",
        "lustre",
        "us-east-1a",
        1200.0,
    )
    assert (targets.hub.namespace, targets.hub.service) == ("jupyterhub", "hub")


def test_without_a_capacity_section_the_nodepools_types_get_the_catalogs_figures():
    targets = targets_from_plan(plan_document(capacity=False, storage=False, hub=False))
    train = next(p for p in targets.pools if p.name == "train")
    assert train.efa == 32 and [(e.instance_type, e.accelerators, e.efa) for e in train.per_type] == [("p5.48xlarge", 8, 32)]
    assert targets.notes == ()
    assert targets.lustre.expected_write_mbps is None and targets.hub is None


def test_a_type_outside_the_catalog_leaves_a_note_and_only_presence_is_checked():
    document = plan_document(capacity=False)
    for r in document["resources"]:
        if r["name"] == "train" and r["type"].endswith(":NodePool"):
            r["inputs"]["spec"]["template"]["spec"]["requirements"][0]["values"] = ["p99.mystery"]
    train = next(p for p in targets_from_plan(document).pools if p.name == "train")
    assert train.per_type == () and train.efa == 32
    assert any("train" in n for n in targets_from_plan(document).notes)


def test_the_documented_list_shape_of_capacity_is_accepted():
    capacity = [
        {
            "pool": "train",
            "instanceTypes": ["p5.48xlarge", "p5e.48xlarge"],
            "acceleratorsPerNode": 8,
            "acceleratorResource": "nvidia.com/gpu",
            "efaPerNode": 32,
            "networkGbpsPerNode": 3200,
        }
    ]
    figures = node_expectations(capacity, "train")
    assert [e.instance_type for e in figures.per_type] == ["p5.48xlarge", "p5e.48xlarge"]
    assert figures.efa == 32 and figures.accelerator_resource == "nvidia.com/gpu"
    assert node_expectations(capacity, "other") is None


def test_a_document_without_resources_is_refused():
    with pytest.raises(TargetsError, match="crucible plan"):
        targets_from_plan({"stack": "x"})


def test_a_real_plan_document_reads_without_error():
    from helpers import shipped_report

    document, _ = shipped_report("dev")
    targets = targets_from_plan(document)
    assert targets.stack == "dev"
    assert all(p.node_class for p in targets.pools)


def test_probe_job_is_queued_suspended_pinned_to_the_pool_and_tolerates_its_taint():
    train = next(p for p in targets_from_plan(plan_document()).pools if p.name == "train")
    job = probe_job("probe", train, "training", "busybox", 120)
    assert job["metadata"]["labels"][QUEUE_LABEL] == "training" and job["spec"]["suspend"] is True
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"karpenter.sh/nodepool": "train"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["containers"][0]["resources"]["requests"] == {"nvidia.com/gpu": "1"}
    assert job["spec"]["activeDeadlineSeconds"] == 120


def test_nccl_mpijob_reuses_the_example_without_its_checkpoint_volume_and_labels_its_pods():
    train = next(p for p in targets_from_plan(plan_document()).pools if p.name == "train")
    job = nccl_mpijob("cv-nccl", train, "p5.48xlarge", 8, "training", "nccl-tests", 300, {"crucible.io/verify": "run1"})
    worker = job["spec"]["mpiReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 2
    assert worker["template"]["metadata"]["labels"]["crucible.io/verify"] == "run1"
    assert "volumes" not in worker["template"]["spec"] or all(v["name"] != "checkpoints" for v in worker["template"]["spec"]["volumes"])
    limits = worker["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "8" and limits["vpc.amazonaws.com/efa"] == "32"
    assert "-np" in job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"]
    assert job["spec"]["runPolicy"]["activeDeadlineSeconds"] == 300 and job["spec"]["runPolicy"]["cleanPodPolicy"] == "All"
    assert job["metadata"]["labels"] == {QUEUE_LABEL: "training"}


def test_nccl_mpijob_is_valid_upstream():
    from upstream import assert_valid

    train = next(p for p in targets_from_plan(plan_document()).pools if p.name == "train")
    assert_valid(nccl_mpijob("cv-nccl", train, "p5.48xlarge", 8, None, "nccl-tests", 300, {"crucible.io/verify": "run1"}))


# ---- the real prod plan: per-node figures, not pool totals -------------------------------------------------


@pytest.fixture(scope="module")
def prod_targets():
    from helpers import shipped_report

    document, _ = shipped_report("prod")
    return targets_from_plan(document)


def test_prod_per_node_figures_come_from_the_catalog_not_the_pool_totals(prod_targets):
    # The capacity section's per-type `accelerators` is the pool at max nodes (64 GPUs on 8 p5 nodes); one p5.48xlarge
    # has 8 H100s and 32 EFA interfaces (AWS: "P5 instances ... 8 NVIDIA H100 GPUs ... 3200 Gbps EFA").
    pools = {p.name: p for p in prod_targets.pools}
    train = pools["train"].expectation("p5.48xlarge")
    assert (train.accelerators, train.efa, train.network_gbps) == (8, 32, 3200)
    serve = pools["serve"]
    assert [(e.instance_type, e.accelerators, e.efa) for e in serve.per_type] == [("g6e.xlarge", 1, 0), ("g6e.2xlarge", 1, 0), ("g6e.12xlarge", 4, 0)]
    inf = pools["inf"]
    assert [(e.instance_type, e.accelerators) for e in inf.per_type] == [("inf2.xlarge", 1), ("inf2.8xlarge", 1)]
    assert all(e.accelerators == 0 and e.efa == 0 for e in pools["cpu"].per_type)


def test_prod_nccl_mpijob_asks_one_nodes_gpus_and_efa_per_worker(prod_targets):
    train = next(p for p in prod_targets.pools if p.name == "train")
    exp = train.per_type[0]
    job = nccl_mpijob("cv-nccl", train, exp.instance_type, exp.accelerators, None, "nccl-tests", 300, {"crucible.io/verify": "run1"})
    worker = job["spec"]["mpiReplicaSpecs"]["Worker"]
    limits = worker["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert worker["replicas"] == 2 and limits["nvidia.com/gpu"] == "8" and limits["vpc.amazonaws.com/efa"] == "32"
