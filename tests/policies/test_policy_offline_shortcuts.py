"""policies.offline does once per evaluation what the SDK's servicer does once per policy (each resource's properties
converted once; one proxy, options object and provider per resource; each resource handed only to the policies of its
type; the stack built once for all stack policies), and that changes no verdict: the SDK's deserialisation, unknown
handling, enforcement levels and messages still decide, and the verdicts equal the SDK's own path's."""

from __future__ import annotations

import contextlib
import copy

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi.runtime.proto import analyzer_pb2

from helpers import shipped_report
from policies import offline
from policies.offline import PLAN_UNKNOWN, _analyze_request, _offline_shortcuts, _servicer, evaluate
from policies.pack import all_policies
from policies.support import rule
from policies.support.rule import CATALOGUE_POLICIES
from policies.support.values import Unknown, plain


@contextlib.contextmanager
def _no_shortcuts(policies, servicer):
    yield None  # evaluate then calls the servicer's Analyze and AnalyzeStack as the engine would


def _sdk_path(monkeypatch, *args, **kwargs) -> dict:
    """The verdicts of the SDK's own path: no shortcut taken."""
    with monkeypatch.context() as patched:
        patched.setattr(offline, "_offline_shortcuts", _no_shortcuts)
        return evaluate(*args, **kwargs).to_json()


@pytest.fixture(scope="module")
def prod_resources() -> list[dict]:
    resources = copy.deepcopy(shipped_report("prod")[0]["resources"])
    # Unknowns too: a value the engine cannot know at preview turns a policy into "can't run during preview".
    cluster = next(r for r in resources if r["type"] == "aws:eks/cluster:Cluster")
    cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] = PLAN_UNKNOWN
    return resources


def test_the_shortcuts_change_no_verdict(prod_resources, monkeypatch):
    taken = evaluate(prod_resources, "prod").to_json()
    assert taken == _sdk_path(monkeypatch, prod_resources, "prod")
    assert any("during preview" in v["message"] for v in taken["violations"])  # the unknown was judged as the SDK does


def test_the_shortcuts_change_no_verdict_at_a_first_preview():
    """Ids and computed outputs unknown: the stack policies that need one report "can't run" as the SDK's do."""
    document = shipped_report("prod")[0]
    from stacks.tools.plan.model import PlanModel

    model = PlanModel.from_document(copy.deepcopy(document))
    with pytest.MonkeyPatch.context() as monkeypatch:
        taken = evaluate(model.resources, "prod", outputs=model.all_outputs, preview=True).to_json()
        assert taken == _sdk_path(monkeypatch, model.resources, "prod", outputs=model.all_outputs, preview=True)


def test_the_shortcuts_change_no_verdict_where_stack_and_resource_policies_fire(prod_resources, monkeypatch):
    """A plan that breaks many rules at once: every dependency edge dropped (the ordering rules fire), a public bucket
    policy and a cluster endpoint opened (resource rules fire)."""
    broken = copy.deepcopy(prod_resources)
    for r in broken:
        r["dependencies"], r["property_dependencies"] = [], {}
    cluster = next(r for r in broken if r["type"] == "aws:eks/cluster:Cluster")
    cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] = True
    taken = evaluate(broken, "prod").to_json()
    assert len({v["policy"] for v in taken["violations"] if v["level"] == "mandatory"}) >= 5
    assert taken == _sdk_path(monkeypatch, broken, "prod")


def test_stack_rules_leave_the_stack_they_share_as_they_found_it(prod_resources, monkeypatch):
    """Every stack rule reads one shared view of the stack: no rule may change a resource's props in it (the next
    rule would read the change). After an evaluation, each props a rule read equals a fresh copy of the resource's."""
    shared = []
    stack_of = rule._stack_of

    def recording(resources):
        stack = stack_of(resources)
        shared.append(stack)
        return stack

    monkeypatch.setattr(rule, "_stack_of", recording)
    evaluate(prod_resources, "prod")
    assert shared and all(stack is shared[0] for stack in shared), "one stack for every stack rule"
    read = [res for res in shared[0].resources if "props" in res.__dict__]
    assert len(read) > 100
    assert [res.urn for res in read if _comparable(res.__dict__["props"]) != _comparable(plain(res._raw_props))] == []


def _comparable(value):
    """An Unknown marker (compared by identity) as its sentinel and path."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return ("unknown", value.sentinel, value.path) if isinstance(value, Unknown) else value


def test_each_message_is_converted_once(prod_resources, monkeypatch):
    """One Analyze request per resource (its properties and its provider's) and one AnalyzeStack entry per
    resource: at most four conversions per resource, whatever the number of policies. None at all would mean the
    SDK no longer converts through the names the evaluation replaces (and every policy converts again)."""
    seen = []

    @contextlib.contextmanager
    def watched(policies, servicer):
        with _offline_shortcuts(policies, servicer) as memo:
            seen.append(memo)
            yield memo

    monkeypatch.setattr(offline, "_offline_shortcuts", watched)
    evaluate(prod_resources, "prod")
    [memo] = seen
    assert 0 < memo.conversions <= 4 * len(prod_resources)
    assert memo.conversions * 10 < len(all_policies()) * len(prod_resources)


def test_the_sdk_gets_its_converters_back_after_an_evaluation():
    from pulumi_policy import policy as sdk

    before = sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy
    with pytest.raises(RuntimeError), _offline_shortcuts(all_policies(), _servicer()):
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
    with _offline_shortcuts(policies, servicer):
        servicer.Analyze(_analyze_request(bucket, {}), None)
    assert read == ["data"]


def test_a_resource_policy_is_handed_only_the_resources_of_its_types(prod_resources, monkeypatch):
    """The private-endpoint rule applies to EKS clusters: of prod's resources it is handed the one cluster."""
    [policy] = [p for p in all_policies() if p.name == "sec-eks-002-private-endpoint"]
    handed = []
    validate = policy.validate

    def counting(args, report_violation):
        handed.append(args.resource_type)
        return validate(args, report_violation)

    monkeypatch.setattr(policy, "validate", counting)
    evaluate(prod_resources, "prod")
    assert handed == ["aws:eks/cluster:Cluster"]
