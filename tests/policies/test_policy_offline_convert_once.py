"""policies.offline converts each resource's properties once per evaluation, not once per policy, and that changes
no verdict: the SDK's servicer still runs every policy with its own deserialisation, unknown handling and messages."""

from __future__ import annotations

import contextlib
import copy

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi.runtime.proto import analyzer_pb2

from helpers import shipped_report
from policies import offline
from policies.offline import PLAN_UNKNOWN, _analyze_request, _convert_once, _servicer, evaluate
from policies.pack import all_policies
from policies.support.rule import CATALOGUE_POLICIES


@contextlib.contextmanager
def _every_policy_converts():
    yield None


@pytest.fixture(scope="module")
def prod_resources() -> list[dict]:
    resources = copy.deepcopy(shipped_report("prod")[0]["resources"])
    # Unknowns too: a value the engine cannot know at preview turns a policy into "can't run during preview".
    cluster = next(r for r in resources if r["type"] == "aws:eks/cluster:Cluster")
    cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] = PLAN_UNKNOWN
    return resources


def test_converting_once_changes_no_verdict(prod_resources, monkeypatch):
    once = evaluate(prod_resources, "prod").to_json()
    monkeypatch.setattr(offline, "_convert_once", lambda policies: _every_policy_converts())
    per_policy = evaluate(prod_resources, "prod").to_json()
    assert once == per_policy
    assert any("during preview" in v["message"] for v in once["violations"])  # the unknown was judged as the SDK does


def test_each_message_is_converted_once(prod_resources, monkeypatch):
    """One Analyze request per resource (its properties and its provider's) and one AnalyzeStack entry per
    resource: at most four conversions per resource, whatever the number of policies. None at all would mean the
    SDK no longer converts through the names the evaluation replaces (and every policy converts again)."""
    seen = []

    @contextlib.contextmanager
    def watched(policies):
        with _convert_once(policies) as memo:
            seen.append(memo)
            yield memo

    monkeypatch.setattr(offline, "_convert_once", watched)
    evaluate(prod_resources, "prod")
    [memo] = seen
    assert 0 < memo.conversions <= 4 * len(prod_resources)
    assert memo.conversions * 10 < len(all_policies()) * len(prod_resources)


def test_the_sdk_gets_its_converters_back_after_an_evaluation():
    from pulumi_policy import policy as sdk

    before = sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy
    with pytest.raises(RuntimeError), _convert_once(all_policies()):
        assert sdk.json_format is not before[0]
        raise RuntimeError("a policy failed")
    assert (sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy) == before


def test_every_policy_of_the_pack_is_a_catalogue_rule_so_they_share_props():
    """Catalogue rules read props only through values.plain (a copy): one proxy per resource serves them all."""
    assert all(p in CATALOGUE_POLICIES for p in all_policies())


def test_a_policy_outside_the_catalogue_gets_props_of_its_own():
    """A policy that writes to its props (the SDK lets it) must not change what the next policy reads."""
    read = []

    def overwrite(args, report_violation):
        args.props["bucket"] = "changed"

    def record(args, report_violation):
        read.append(args.props["bucket"])

    policies = [
        ResourceValidationPolicy(name=name, description=name, validate=validate, enforcement_level=EnforcementLevel.ADVISORY)
        for name, validate in (("overwrite", overwrite), ("record", record))
    ]
    servicer = _servicer(policies)
    servicer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(), None)
    bucket = {"urn": "urn:pulumi:prod::crucible::aws:s3/bucket:Bucket::data", "type": "aws:s3/bucket:Bucket", "name": "data", "inputs": {"bucket": "data"}}
    with _convert_once(policies):
        servicer.Analyze(_analyze_request(bucket, {}), None)
    assert read == ["data"]
