"""`crucible diff`: changes by layer, stateful replacements called out, policy verdicts, cost delta."""

from __future__ import annotations

import copy

import pytest

from helpers import plan
from stacks.cli import main
from stacks.plan.diff import diff_plans, render


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


def test_renaming_the_cluster_is_a_loud_stateful_replacement(base):
    head = document(cluster={"name": "renamed"})
    diff = diff_plans(base, head)
    assert [(c.kind, c.type) for c in diff.dangerous] == [("replaced", "aws:eks/cluster:Cluster")]
    assert "STATEFUL RESOURCES WOULD BE DESTROYED OR REPLACED" in render(diff)


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
    assert diff_plans(old, new).cost["delta"] == {"min": 0.0, "max": 150.5}


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

