"""`crucible diff`: changes by layer, stateful replacements called out, policy verdicts, cost delta."""

from __future__ import annotations

import copy

import pytest

from helpers import plan
from stacks.tools.cli import main
from stacks.tools.plan.diff import diff_plans, render


def document(**overrides) -> dict:
    run = plan("dev", stack="pr", **overrides)
    return {"resources": [r.to_json() for r in run.resources]}


@pytest.fixture(scope="module")
def base() -> dict:
    return document()


def test_identical_plans_have_no_changes(base):
    assert diff_plans(base, copy.deepcopy(base)).changes == []


def test_a_config_change_shows_added_resources_in_their_layer(base):
    head = document(network={"natGateways": "perAz"})
    diff = diff_plans(base, head)
    added = [c for c in diff.changes if c.kind == "added"]
    assert {c.type for c in added} == {"aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip"}
    assert {c.layer for c in added} == {"network"}
    assert not diff.dangerous


def test_an_in_place_update_lists_the_changed_fields(base):
    head = document(cluster={"logTypes": ["api", "audit", "authenticator", "scheduler"]})
    (change,) = [c for c in diff_plans(base, head).changes if c.type == "aws:eks/cluster:Cluster"]
    assert change.kind == "updated" and change.fields == ["enabledClusterLogTypes"]


@pytest.fixture(scope="module")
def renamed_cluster(base):
    return diff_plans(base, document(cluster={"name": "renamed"}))


def test_renaming_the_cluster_is_a_loud_stateful_replacement(renamed_cluster):
    replaced = {(c.type, c.name): c for c in renamed_cluster.dangerous}
    assert replaced[("aws:eks/cluster:Cluster", "cluster")].replaces == ["name"]
    # EKS names the control-plane log group after the cluster (/aws/eks/<name>/cluster): a new, empty one.
    assert replaced[("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane")].replaces == ["name"]
    assert "STATEFUL RESOURCES WOULD BE DESTROYED OR REPLACED" in render(renamed_cluster)


def test_renaming_the_cluster_keeps_the_file_system_and_its_volumes(renamed_cluster):
    # The file system's security group description named the cluster, and a security group's description forces
    # replacement: the group, then the file system holding its id (securityGroupIds), then its volume, would go.
    lost = {c.type for c in renamed_cluster.dangerous}
    assert not lost & {"aws:fsx/lustreFileSystem:LustreFileSystem", "kubernetes:core/v1:PersistentVolume", "kubernetes:core/v1:PersistentVolumeClaim"}


def test_renaming_a_kubernetes_object_replaces_it(base):
    # The provider replaces an object whose name or namespace changes: a renamed claim is a new claim.
    head = copy.deepcopy(base)
    claim = next(r for r in head["resources"] if r["type"] == "kubernetes:core/v1:PersistentVolumeClaim")
    claim["inputs"]["metadata"]["name"] = "renamed"
    (change,) = diff_plans(base, head).dangerous
    assert change.kind == "replaced" and change.type == "kubernetes:core/v1:PersistentVolumeClaim"
    other = copy.deepcopy(base)
    storage_class = next(r for r in other["resources"] if r["type"] == "kubernetes:storage.k8s.io/v1:StorageClass")
    storage_class["inputs"]["metadata"]["name"] = "renamed"
    (change,) = diff_plans(base, other).changes
    assert change.kind == "replaced" and not change.stateful


def test_removing_a_resource_without_an_alias_is_a_removal(base):
    head = copy.deepcopy(base)
    head["resources"] = [r for r in head["resources"] if not r["urn"].endswith("aws:kms/key:Key::cluster-secrets")]
    (change,) = diff_plans(base, head).dangerous
    assert change.kind == "removed" and change.type == "aws:kms/key:Key" and not change.protected


def test_a_rename_with_an_alias_is_not_a_removal(base):
    head = copy.deepcopy(base)
    key = next(r for r in head["resources"] if r["type"] == "aws:kms/key:Key")
    old = key["urn"]
    key["urn"] = old.replace("::cluster-secrets", "::secrets-key")
    key["aliases"] = [old]
    kinds = {c.kind for c in diff_plans(base, head).changes if c.type == "aws:kms/key:Key"}
    assert kinds <= {"updated"} and not diff_plans(base, head).dangerous


def test_policy_verdicts_that_changed_are_reported(base):
    head = copy.deepcopy(base)
    head["policies"] = {"violations": [{"policy": "sec-eks-002", "urn": base["resources"][0]["urn"], "level": "mandatory"}]}
    diff = diff_plans(base, head)
    assert [v["policy"] for v in diff.policies_new] == ["sec-eks-002"] and diff.policies_fixed == []


def test_cost_delta_at_minimum_and_maximum_scale():
    from stacks.derive.cost import NAT_GATEWAY_PER_HOUR, stack_cost
    from helpers import spec_of

    pool = {"name": "gpu", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 2}
    base_spec = spec_of("dev", stack="pr", pools=[pool])
    head_spec = spec_of("dev", stack="pr", pools=[{**pool, "maxNodes": 6}], network={"natGateways": "perAz"})
    base_doc, head_doc = {"cost": stack_cost(base_spec).to_json()}, {"cost": stack_cost(head_spec).to_json()}
    cost = diff_plans(base_doc, head_doc).cost
    g6 = stack_cost(head_spec).pools[0].per_hour_high / 6  # one g6.xlarge, from the catalog
    extra_nat = (len(head_spec.availability_zones) - 1) * NAT_GATEWAY_PER_HOUR
    assert cost["delta"]["min"] == round(extra_nat, 2)
    assert cost["delta"]["max"] == round(extra_nat + 4 * g6, 2)


def test_plans_without_a_cost_section_fall_back_to_the_pools_at_max():
    old = {"capacity": {"a": {"perHourAtMax": {"low": 1.0, "high": 100.0}}}}
    new = {"capacity": {"a": {"perHourAtMax": {"low": 1.0, "high": 250.5}}}}
    assert diff_plans(old, new).cost["delta"] == {"min": 0.0, "maxLow": 0.0, "max": 150.5}  # the range: low end unchanged


def test_markdown_rendering_for_pull_requests(base):
    text = render(diff_plans(base, document(network={"natGateways": "perAz"})), markdown=True)
    assert text.startswith("### crucible diff") and "### layer network" in text and "`+ aws:ec2/natGateway:NatGateway" in text


def test_cli_diff_of_two_plan_files_and_fail_on_data_loss(tmp_path, base, capsys):
    import json

    head = copy.deepcopy(base)
    head["resources"] = [r for r in head["resources"] if r["type"] != "aws:eks/cluster:Cluster"]
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "head.json").write_text(json.dumps(head))
    assert main(["diff", str(tmp_path / "base.json"), str(tmp_path / "head.json")]) == 0
    assert main(["diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"), "--fail-on-data-loss"]) == 1
    assert "REMOVED aws:eks/cluster:Cluster" in capsys.readouterr().out


def test_default_bucket_names_moving_to_the_accounts_namespace_are_stateful_replacements(base):
    # Before, every default-named stack had crucible-<stack>-<region>-<name>; the same plan with that prefix stated is
    # exactly what such a stack registered. S3 cannot rename a bucket: the new names replace all three buckets.
    old_names = document(storage={"bucketPrefix": "crucible-pr-us-west-2"})
    diff = diff_plans(old_names, base)
    replaced = [c for c in diff.dangerous if c.type == "aws:s3/bucket:Bucket"]
    assert sorted(c.name for c in replaced) == ["artifacts", "checkpoints", "datasets"]
    assert all(c.kind == "replaced" and "bucket" in c.fields and "bucketNamespace" in c.fields for c in replaced)
    assert "STATEFUL RESOURCES WOULD BE DESTROYED OR REPLACED" in render(diff)


def _edited(base: dict, type_token: str, edit, name: str | None = None) -> dict:
    head = copy.deepcopy(base)
    resource = next(r for r in head["resources"] if r["type"] == type_token and (name is None or r["name"] == name))
    edit(resource)
    return head


def test_a_changed_vpc_cidr_replaces_the_vpc_and_everything_holding_its_id(base):
    # The provider replaces a VPC whose cidrBlock changes (terraform-provider-aws vpc_.go: ForceNew); its subnets
    # (vpcId, cidrBlock), route tables and security groups (vpcId) follow, and the file system in a replaced subnet.
    diff = diff_plans(base, document(network={"vpcCidr": "10.99.0.0/16"}))
    kinds = {(c.type, c.name): c for c in diff.changes}
    vpc = kinds[("aws:ec2/vpc:Vpc", "network")]
    assert vpc.kind == "replaced" and vpc.replaces == ["cidrBlock"]
    subnet = next(c for (t, _), c in kinds.items() if t == "aws:ec2/subnet:Subnet")
    assert subnet.kind == "replaced" and "cidrBlock" in subnet.replaces
    assert all(c.kind == "replaced" for (t, _), c in kinds.items() if t in ("aws:ec2/routeTable:RouteTable", "aws:ec2/securityGroup:SecurityGroup"))
    lustre = kinds[("aws:fsx/lustreFileSystem:LustreFileSystem", "lustre")]
    assert lustre in diff.dangerous and "subnetIds ← Subnet network-private-us-west-2a" in lustre.replaces
    assert "REPLACED aws:fsx/lustreFileSystem:LustreFileSystem lustre" in render(diff)


def test_an_in_place_network_update_replaces_nothing_downstream(base):
    (change,) = [c for c in diff_plans(base, _edited(base, "aws:ec2/vpc:Vpc", lambda r: r["inputs"].update(enableDnsHostnames=False))).changes]
    assert change.kind == "updated" and change.replaces == []


def test_a_smaller_file_system_is_a_replacement_a_larger_one_an_update(base):
    fs = "aws:fsx/lustreFileSystem:LustreFileSystem"
    capacity = next(r for r in base["resources"] if r["type"] == fs)["inputs"]["storageCapacity"]
    larger = _edited(base, fs, lambda r: r["inputs"].update(storageCapacity=capacity + 2400))
    grown, shrunk = diff_plans(base, larger), diff_plans(larger, base)
    assert [c.kind for c in grown.changes if c.type == fs] == ["updated"]
    assert [c.kind for c in shrunk.changes if c.type == fs] == ["replaced"]


def test_switching_a_rule_from_a_group_to_a_cidr_replaces_it(base):
    token = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

    def to_cidr(rule):
        rule["inputs"].pop("referencedSecurityGroupId", None)
        rule["inputs"]["cidrIpv4"] = "10.20.0.0/16"

    changed = [c for c in diff_plans(base, _edited(base, token, to_cidr)).changes if c.type == token]
    assert [c.kind for c in changed] == ["replaced"] and "cidrIpv4" in changed[0].replaces
    ported = [c for c in diff_plans(base, _edited(base, token, lambda r: r["inputs"].update(toPort=2000))).changes if c.type == token]
    assert [c.kind for c in ported] == ["updated"]  # ModifySecurityGroupRules changes a rule's ports in place


def test_a_create_only_input_replaces_unless_the_program_ignores_later_changes(base):
    # accessConfig.bootstrapClusterCreatorAdminPermissions is ForceNew (terraform-provider-aws eks/cluster.go).
    def flip(cluster):
        cluster["ignore_changes"] = []  # as a program that did not ignore it would register the cluster
        access = cluster["inputs"].setdefault("accessConfig", {})
        access["bootstrapClusterCreatorAdminPermissions"] = not access.get("bootstrapClusterCreatorAdminPermissions", False)

    token = "aws:eks/cluster:Cluster"
    (replaced,) = [c for c in diff_plans(base, _edited(base, token, flip)).changes if c.type == token]
    assert replaced.kind == "replaced" and replaced.replaces == ["accessConfig.bootstrapClusterCreatorAdminPermissions"]

    def flip_ignored(cluster):
        flip(cluster)
        cluster["ignore_changes"] = ["accessConfig.bootstrapClusterCreatorAdminPermissions"]  # as Crucible does

    assert [c for c in diff_plans(base, _edited(base, token, flip_ignored)).changes if c.type == token] == []


def test_removing_cluster_encryption_once_set_replaces_it(base):
    token = "aws:eks/cluster:Cluster"
    cluster = next(r for r in base["resources"] if r["type"] == token)
    assert cluster["inputs"].get("encryptionConfig")  # Crucible always encrypts secrets
    (change,) = [c for c in diff_plans(base, _edited(base, token, lambda r: r["inputs"].pop("encryptionConfig"))).changes if c.type == token]
    assert change.kind == "replaced" and change.replaces == ["encryptionConfig"]


def test_a_bucket_replacement_says_what_happens_to_the_data(base):
    head = _edited(base, "aws:s3/bucket:Bucket", lambda r: r["inputs"].update(bucket="elsewhere"), name="datasets")
    text = render(diff_plans(base, head))
    assert "REPLACED aws:s3/bucket:Bucket datasets (replaced by: bucket)" in text
    assert "S3 cannot rename a bucket" in text and "crucible:storage.bucketPrefix" in text


def test_renaming_protected_buckets_is_shown_as_data_loss_that_protection_stops():
    old = document(protect=True, storage={"bucketPrefix": "crucible-pr-us-west-2"})
    diff = diff_plans(old, document(protect=True))
    buckets = [c for c in diff.dangerous if c.type == "aws:s3/bucket:Bucket"]
    assert len(buckets) == 3 and all(c.protected and c.kind == "replaced" for c in buckets)
    text = render(diff)
    assert "REPLACED aws:s3/bucket:Bucket datasets (replaced by: bucket, bucketNamespace) — protected: `pulumi up` stops here" in text
    assert "the data does not move to the new one" in text and "S3 cannot rename a bucket" in text
