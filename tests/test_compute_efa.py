"""EFA pools: one zone, a cluster placement group, a self-referencing security group, every EFA interface."""

import pytest


import upstream
from helpers import plan, shared_dir
from addons.device_plugins import efa_values, neuron_values, nvidia_values
from components.catalog import load_catalog

CATALOG = load_catalog()  # instance types' facts: CATALOG.get(name)

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
P5 = {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4}
SERVE = {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 2}


@pytest.fixture(scope="module")
def run():
    return plan("prod", pools=[{**P5, "amiVersion": "v20251108"}, {**SERVE, "amiVersion": "v20251108"}])


def node_class(run, name):
    (found,) = [r for r in run.of_type(NODECLASS) if r.inputs["metadata"]["name"] == name]
    return found.inputs["spec"]


def test_every_efa_interface_of_the_instance_is_attached(run):
    interfaces = node_class(run, "train")["networkInterfaces"]
    efa = [i for i in interfaces if i["interfaceType"] == "efa-only"]
    assert len(efa) == CATALOG.get("p5.48xlarge").efa_interfaces
    assert {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"} in interfaces
    assert len({i["networkCardIndex"] for i in efa}) == len(efa)  # at most one EFA per network card
    assert "networkInterfaces" not in node_class(run, "serve")


@pytest.mark.parametrize("instance_type", ["trn1.32xlarge", "trn2.48xlarge", "p4d.24xlarge"])
def test_interface_count_follows_the_catalog_for_each_efa_type(instance_type):
    kind = "neuron" if instance_type.startswith("trn") else "gpu"
    run = plan("dev", pools=[{**P5, "kind": kind, "instanceTypes": [instance_type]}])
    efa = [i for i in run.one(NODECLASS).inputs["spec"]["networkInterfaces"] if i["interfaceType"] == "efa-only"]
    assert len(efa) == CATALOG.get(instance_type).efa_interfaces


def test_efa_pool_sits_in_one_zone_by_default(run):
    reqs = {
        r["key"]: r["values"]
        for r in next(r for r in run.of_type(NODEPOOL) if r.inputs["metadata"]["name"] == "train").inputs["spec"]["template"]["spec"]["requirements"]
    }
    assert reqs["topology.kubernetes.io/zone"] == ["us-east-1a"]
    assert len(node_class(run, "train")["subnetSelectorTerms"]) == 1


def test_cluster_placement_group_is_selected_by_the_node_class(run):
    group = run.one("aws:ec2/placementGroup:PlacementGroup")
    assert group.inputs["strategy"] == "cluster"
    assert node_class(run, "train")["placementGroupSelector"] == {"name": group.outputs["name"]}
    assert "placementGroupSelector" not in node_class(run, "serve")


def test_efa_security_group_allows_all_traffic_to_and_from_itself(run):
    sg = run.one("aws:ec2/securityGroup:SecurityGroup", "pool-train-efa")
    sg_id = sg.outputs["id"] if "id" in sg.outputs else None
    ingress = run.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "pool-train-efa-in").inputs
    egress = run.one("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "pool-train-efa-out").inputs
    for rule in (ingress, egress):
        assert rule["ipProtocol"] == "-1"
        assert rule["securityGroupId"] == rule["referencedSecurityGroupId"]
        assert sg_id is None or rule["securityGroupId"] == sg_id
    terms = node_class(run, "train")["securityGroupSelectorTerms"]
    cluster_sg = run.one("aws:eks/cluster:Cluster").outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert {"id": cluster_sg} in terms and {"id": ingress["securityGroupId"]} in terms and len(terms) == 2


def test_efa_pools_are_labelled_for_the_efa_device_plugin(run):
    labels = {r.inputs["metadata"]["name"]: r.inputs["spec"]["template"]["metadata"]["labels"] for r in run.of_type(NODEPOOL)}
    assert labels["train"]["crucible.io/efa"] == "true" and "crucible.io/efa" not in labels["serve"]


def test_efa_device_plugin_is_pinned_placed_on_efa_pools_and_tolerates_accelerator_taints(run):
    release = run.one(RELEASE, "aws-efa-k8s-device-plugin")
    assert release.inputs["chart"] == "aws-efa-k8s-device-plugin" and release.inputs["version"] == "0.5.30"
    assert release.inputs["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    values = release.inputs["values"]
    assert values["nodeSelector"] == {"crucible.io/efa": "true"}
    keys = {t["key"] for t in values["tolerations"]}
    assert keys == {"nvidia.com/gpu", "aws.amazon.com/neuron", "crucible.io/burn-in"}  # burn-in's EFA check needs the devices


def test_efa_device_plugin_values_only_set_keys_the_chart_has():
    shared_dir()
    defaults = upstream.values_file("extras/eks-charts/aws-efa-k8s-device-plugin.values.yaml")
    assert upstream.unknown_value_keys(efa_values(), defaults) == []
    assert upstream.unknown_value_keys({"nodeSelector": {}, "affinity": {}}, defaults) == ["affinity"]  # the check bites


def test_no_efa_plugin_without_an_efa_pool():
    run = plan("dev", pools=[SERVE])
    assert not [r for r in run.of_type(RELEASE) if r.name == "aws-efa-k8s-device-plugin"]


def test_nvidia_plugin_runs_on_al2023_gpu_nodes_only():
    values = nvidia_values()
    (term,) = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "crucible.io/accelerator", "operator": "In", "values": ["nvidia"]} in term["matchExpressions"]
    assert {"key": "crucible.io/ami-family", "operator": "In", "values": ["al2023"]} in term["matchExpressions"]
    assert values["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "crucible.io/burn-in", "operator": "Equal", "value": "pending", "effect": "NoSchedule"},  # burn-in's DCGM check needs the GPUs
    ]
    bottlerocket_only = plan("dev", pools=[{**SERVE, "amiFamily": "Bottlerocket"}])
    assert not [r for r in bottlerocket_only.of_type(RELEASE) if r.name == "nvidia-device-plugin"]
    release = plan("dev", pools=[SERVE]).one(RELEASE, "nvidia-device-plugin")
    assert (release.inputs["chart"], release.inputs["version"]) == ("nvidia-device-plugin", "0.20.0")


def test_neuron_plugin_without_the_scheduler_extension_for_neuron_pools():
    run = plan("dev", pools=[{**P5, "kind": "neuron", "instanceTypes": ["trn1.32xlarge"]}])
    release = run.one(RELEASE, "neuron")
    assert (release.inputs["chart"], release.inputs["version"]) == ("oci://public.ecr.aws/neuron/neuron-helm-chart", "1.10.0")
    values = release.inputs["values"]
    assert values == neuron_values()
    assert values["devicePlugin"]["nodeSelector"] == {"crucible.io/accelerator": "neuron"}
    assert {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"} in values["devicePlugin"]["tolerations"]
    assert values["scheduler"] == {"enabled": False}  # issue 13 defect 9: unused, and out of version skew
    assert not [r for r in run.of_type(RELEASE) if r.name == "nvidia-device-plugin"]
