"""Configs refused before any resource (issue 12, section E): each problem names the key path, the bad value and what
is allowed, and one pass reports every problem a file has."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.spec import ConfigError
from stacks.spec.loader import load_spec, load_stack_file
from helpers import shipped_report, spec_of, stack_config


def problems(env: str = "dev", extra: dict | None = None, **overrides) -> list[str]:
    config = stack_config(env, **overrides)
    config.update(extra or {})
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    return [str(p) for p in caught.value.problems]


def at(found: list[str], path: str) -> list[str]:
    return [p for p in found if p.startswith(f"{path}: ")]


def gpu_pool(**overrides) -> dict:
    return {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2, **overrides}


# ---- 1. pool limits below one node -------------------------------------------------------------------


def test_max_accelerators_below_one_node_of_the_smallest_type_is_refused():
    (problem,) = at(problems(pools=[gpu_pool(maxNodes=None, maxAccelerators=4)]), "crucible:pools[0].maxAccelerators")
    assert "got 4" in problem and "p5.48xlarge has 8" in problem and "at least 8" in problem


def test_max_accelerators_are_measured_against_the_smallest_type_of_a_mixed_pool():
    pool = gpu_pool(maxNodes=None, maxAccelerators=1, instanceTypes=["g6e.xlarge", "g6e.12xlarge"])
    spec_of(pools=[pool])  # g6e.xlarge has one GPU: one node fits
    (problem,) = at(
        problems(pools=[gpu_pool(maxNodes=None, maxAccelerators=3, instanceTypes=["g6e.12xlarge", "g6e.48xlarge"])]), "crucible:pools[0].maxAccelerators"
    )
    assert "g6e.12xlarge has 4" in problem and "at least 4" in problem


def test_max_accelerators_that_no_whole_number_of_nodes_reaches_is_refused():
    (problem,) = at(problems(pools=[gpu_pool(maxNodes=None, maxAccelerators=12)]), "crucible:pools[0].maxAccelerators")
    assert "got 12" in problem and "multiple of 8" in problem and "8 or 16" in problem


def test_max_nodes_below_one_node_is_refused():
    (problem,) = at(problems(pools=[gpu_pool(maxNodes=0)]), "crucible:pools[0].maxNodes")
    assert "got 0" in problem and "1..1000" in problem


# ---- 3. tags ------------------------------------------------------------------------------------------


def test_tag_keys_in_the_aws_namespace_are_refused_in_any_case():
    found = problems(tags={"aws:team": "ml", "AWS:cost": "x"})
    assert "reserved for AWS" in at(found, "crucible:tags.aws:team")[0]
    assert "reserved for AWS" in at(found, "crucible:tags.AWS:cost")[0]


def test_more_tags_than_aws_allows_once_crucibles_own_are_counted_are_refused():
    from stacks.spec.platform import USER_TAGS_MAX

    spec_of(tags={f"team{i}": "x" for i in range(USER_TAGS_MAX)})
    (problem,) = at(problems(tags={f"team{i}": "x" for i in range(USER_TAGS_MAX + 1)}), "crucible:tags")
    assert f"got {USER_TAGS_MAX + 1} tags" in problem and f"at most {USER_TAGS_MAX}" in problem
    assert "AWS allows 50" in problem and "crucible:stack" in problem


def test_crucible_leaves_room_it_claims_for_its_own_tags():
    """USER_TAGS_MAX reserves room for the provider's default tags and CRUCIBLE_RESOURCE_TAGS_MAX tags of a resource's
    own: no resource Crucible registers may carry more, or 50 user-allowed tags could exceed AWS's limit."""
    from stacks.spec.platform import CRUCIBLE_RESOURCE_TAGS_MAX

    document, _ = shipped_report("prod")
    most = max((len(r["inputs"]["tags"]), r["urn"]) for r in document["resources"] if isinstance(r["inputs"].get("tags"), dict))
    assert most[0] <= CRUCIBLE_RESOURCE_TAGS_MAX, most


def test_over_long_tag_keys_and_values_are_refused():
    found = problems(tags={"k" * 129: "v", "owner": "v" * 257})
    assert "129 characters" in at(found, f"crucible:tags.{'k' * 129}")[0]
    assert "257 characters" in at(found, "crucible:tags.owner")[0] and "at most 256" in at(found, "crucible:tags.owner")[0]


def test_tag_characters_outside_what_aws_allows_are_refused():
    found = problems(tags={"cost#center": "x", "owner": "a;b"})
    assert "'#' is not allowed" in at(found, "crucible:tags.cost#center")[0]
    assert "';' is not allowed" in at(found, "crucible:tags.owner")[0]
    spec_of(tags={"Cost Center": "ML/Research @ HQ: +1 = .x_y-z", "équipe": "données"})  # Unicode letters and spaces pass


def test_tags_crucible_sets_itself_cannot_be_overridden():
    found = problems(tags={"crucible:stack": "other", "karpenter.sh/discovery": "x"})
    assert "reserved for the tags Crucible, Karpenter and EKS set" in at(found, "crucible:tags.crucible:stack")[0]
    assert at(found, "crucible:tags.karpenter.sh/discovery")


# ---- 4. regions -----------------------------------------------------------------------------------------


def test_a_region_no_partition_has_is_refused_with_a_suggestion():
    (problem,) = at(problems(region="us-east-7", availabilityZones=["us-east-7a", "us-east-7b"]), "crucible:region")
    assert "got 'us-east-7'" in problem and "did you mean: us-east-2, us-east-1" in problem and "aws-us-gov: us-gov-west-1" in problem


def test_regions_of_every_partition_are_accepted():
    assert spec_of(region="us-gov-west-1", availabilityZones=["us-gov-west-1a", "us-gov-west-1b"]).region == "us-gov-west-1"
    assert spec_of(region="cn-north-1", availabilityZones=["cn-north-1a", "cn-north-1b"]).region == "cn-north-1"


def test_aws_region_different_from_crucible_region_is_refused():
    (problem,) = at(problems(extra={"aws:region": "eu-west-1"}), "aws:region")
    assert "got 'eu-west-1'" in problem and "crucible:region is 'us-west-2'" in problem
    config = stack_config("dev")
    config["aws:region"] = "us-west-2"
    assert load_spec(config, "test").region == "us-west-2"


# ---- 5. VPC CIDR ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["10.20.0.0/16", "172.16.0.0/16", "192.168.0.0/16", "100.64.0.0/16"])
def test_private_vpc_cidrs_are_accepted(cidr):
    assert spec_of(network={"vpcCidr": cidr}).network.vpc_cidr == cidr


def test_a_vpc_cidr_outside_the_private_ranges_is_refused():
    (problem,) = at(problems(network={"vpcCidr": "52.10.0.0/16"}), "crucible:network.vpcCidr")
    assert "got '52.10.0.0/16'" in problem and "10.0.0.0/8" in problem and "allowNonPrivateCidr" in problem


def test_a_public_vpc_cidr_is_accepted_when_explicitly_allowed():
    spec = spec_of(network={"vpcCidr": "52.10.0.0/16", "allowNonPrivateCidr": True})
    assert spec.network.allow_non_private_cidr and spec.network.vpc_cidr == "52.10.0.0/16"


def test_an_existing_vpc_outside_the_private_ranges_is_refused():
    existing = {"vpcId": "vpc-0abc", "privateSubnetIds": ["subnet-01", "subnet-02"], "vpcCidr": "8.8.0.0/16"}
    assert at(problems(network={"existing": existing}), "crucible:network.existing.vpcCidr")


# ---- 6. pool labels --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, words",
    [
        ("kubernetes.io/hostname", "'kubernetes.io' is restricted"),
        ("karpenter.sh/team", "'karpenter.sh' is restricted"),
        ("karpenter.k8s.aws/anything", "'karpenter.k8s.aws' is restricted"),
        ("example.k8s.io/x", "'k8s.io' is restricted"),
        ("karpenter.sh/capacity-type", "derived from the pool's `capacityTypes`"),
        ("topology.kubernetes.io/zone", "derived from the pool's `zones`"),
        ("crucible.io/pool", "Crucible sets this label itself"),
        ("Bad Key", "not a label name"),
        ("UPPER.example.com/x", "not a DNS subdomain"),
        ("a/" + "n" * 64, "not a label name"),
    ],
)
def test_pool_labels_that_karpenter_or_kubernetes_refuse_are_refused(key, words):
    (problem,) = at(problems(pools=[gpu_pool(labels={key: "x"})]), f"crucible:pools[0].labels.{key}")
    assert words in problem, problem


@pytest.mark.parametrize("value", ["-x", "a" * 64, "has space", "x_"])
def test_pool_label_values_that_are_not_label_values_are_refused(value):
    (problem,) = at(problems(pools=[gpu_pool(labels={"team": value})]), "crucible:pools[0].labels.team")
    assert "the value: got" in problem


def test_pool_labels_in_the_domains_karpenter_allows_are_accepted():
    labels = {
        "node.kubernetes.io/role": "train",
        "node-restriction.kubernetes.io/team": "ml",
        "node-role.kubernetes.io/gpu": "",
        "acme.example.com/cost-center": "A.1_b-2",
        "team": "ml",
    }
    assert dict(spec_of(pools=[gpu_pool(labels=labels)]).pools[0].labels) == labels


# ---- 7. one pass ---------------------------------------------------------------------------------------------------

MISTAKES = """\
config:
  aws:region: us-east-2
  crucible:environment: prod
  crucible:region: us-east-1
  crucible:availabilityZones: [us-east-1a, us-east-1b]
  crucible:layers: [network, cluster]
  crucible:tags: {aws:owner: me}
  crucible:network:
    vpcCidr: 8.0.0.0/16
  crucible:cluster:
    versoin: "1.34"
  crucible:storage:
    bucketPrefix: x
  crucible:pools:
    - name: train
      kind: gpu
      workload: training
      instanceTypes: [p5.48xlarge]
      maxAccelerators: 4
      labels: {kubernetes.io/hostname: x}
"""


def test_a_file_with_mistakes_in_many_sections_lists_them_all_in_one_pass(tmp_path: Path):
    path = tmp_path / "Pulumi.mistakes.yaml"
    path.write_text(MISTAKES)
    with pytest.raises(ConfigError) as caught:
        load_stack_file(path)
    found = [str(p) for p in caught.value.problems]
    for key in (
        "aws:region",  # the provider's region differs
        "crucible:tags.aws:owner",  # reserved tag
        "crucible:network.vpcCidr",  # public CIDR
        "crucible:cluster.versoin",  # unknown key (a typo)
        "crucible:storage",  # a section of a layer this stack does not build
        "crucible:pools",  # likewise
        "crucible:pools[0].maxAccelerators",  # below one node
        "crucible:pools[0].labels.kubernetes.io/hostname",  # restricted label
    ):
        assert at(found, key), f"no problem at {key} in one pass; got {found}"
    assert str(path) in caught.value.render()


def test_cross_section_rules_still_run_when_another_section_fails():
    found = problems(network={"vpcCidr": "not-a-cidr"}, pools=[gpu_pool(zones=["us-east-1a"])])
    assert at(found, "crucible:network.vpcCidr")
    assert "one of crucible:availabilityZones" in at(found, "crucible:pools[0].zones[0]")[0]


def test_bucket_names_are_checked_in_the_same_pass_as_everything_else():
    found = problems(storage={"bucketPrefix": "x" * 60}, tags={"aws:x": "y"})
    assert at(found, "crucible:storage.bucketPrefix") and at(found, "crucible:tags.aws:x")


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text("config:\n  crucible:environment: dev\n  crucible:pools: [a, b\n  crucible:region: us-east-1\n")
    with pytest.raises(ConfigError) as caught:
        load_stack_file(path)
    (problem,) = caught.value.problems
    assert problem.path == f"{path}:4:18" and "line 4" in problem.message and "not valid YAML" in problem.message


def test_team_rules_still_run_when_the_storage_section_fails():
    found = problems(storage={"lustre": {"storageCapacityGib": 1000}}, pools=[gpu_pool()], teams=[{"name": "ml", "adminGroups": ["a"], "shares": {"gpu": 50}}])
    assert at(found, "crucible:storage.lustre.storageCapacityGib")
    assert "unknown pool 'gpu'" in at(found, "crucible:teams[0].shares.gpu")[0]


def test_the_stack_tags_reach_what_karpenter_launches():
    from helpers import plan

    run = plan("dev", tags={"cost-center": "ml-42"}, pools=[gpu_pool(instanceTypes=["g6.xlarge"], maxNodes=1)])
    (node_class,) = run.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    assert node_class.inputs["spec"]["tags"] == {"crucible:stack": "test", "crucible:environment": "dev", "cost-center": "ml-42", "crucible.io/pool": "train"}


@pytest.mark.parametrize("key", ["eks:eks-cluster-name", "karpenter.k8s.aws/ec2nodeclass", "kubernetes.io/cluster/x", "karpenter.sh/nodeclaim"])
def test_tags_the_ec2nodeclass_refuses_are_refused(key):
    assert "reserved for the tags Crucible, Karpenter and EKS set" in at(problems(tags={key: "x"}), f"crucible:tags.{key}")[0]


# ---- Bottlerocket releases without the cluster's Kubernetes variant ------------------------------------------------


def test_a_bottlerocket_release_older_than_the_clusters_kubernetes_variant_is_refused():
    """Karpenter resolves bottlerocket@<release> to the SSM parameters of the aws-k8s-<cluster version> variant and
    finds none before the release that introduced it (1.47.0 for Kubernetes 1.34, bottlerocket-os/bottlerocket#4620):
    the EC2NodeClass never gets an image and the pool never a node."""
    old = gpu_pool(amiFamily="Bottlerocket", amiVersion="1.42.0")
    (problem,) = at(problems(pools=[old], cluster={"version": "1.34"}), "crucible:pools[0].amiVersion")
    assert "got '1.42.0'" in problem and "Bottlerocket 1.47.0 or later on Kubernetes 1.34" in problem
    load_spec(stack_config("dev", pools=[old], cluster={"version": "1.33"}), "test")  # 1.39.0 brought 1.33: accepted
