"""policies.offline.evaluate: the plan JSON shape in, a report out, through the SDK's analyzer servicer."""

import json

import pytest
from pulumi.runtime import rpc

from policies.offline import PolicyConfigError, _struct, evaluate
from policies.pack import all_policies
from policy_builder import UNKNOWN, res

OPEN_CLUSTER = {
    "urn": "urn:pulumi:prod::crucible::aws:eks/cluster:Cluster::eks",
    "type": "aws:eks/cluster:Cluster",
    "name": "eks",
    "inputs": {"version": "1.34", "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True}},
}


def test_minimal_resource_dicts_are_enough():
    report = evaluate([OPEN_CLUSTER], "prod")
    assert {"sec-eks-001-secrets-encryption", "sec-eks-002-private-endpoint"} <= {v.policy for v in report.mandatory_violations}


def test_report_shape_and_json():
    report = evaluate([OPEN_CLUSTER], "prod")
    document = json.loads(json.dumps(report.to_json()))
    assert document["evaluated"] == len(all_policies())
    assert set(document) == {"evaluated", "violations"}
    finding = next(v for v in document["violations"] if v["policy"] == "sec-eks-002-private-endpoint")
    assert finding["level"] == "mandatory" and finding["urn"] == OPEN_CLUSTER["urn"]
    assert "Cluster 'eks'" in finding["message"] and "crucible:cluster.endpointPublicAccess" in finding["message"]


def test_disabled_policies_are_not_evaluated():
    dev = evaluate([], "dev")
    disabled = {"data-s3-006-no-force-destroy", "data-s3-007-object-lock", "sec-s3-008-access-logging"}
    assert dev.evaluated == len(all_policies()) - len(disabled)
    off = evaluate([OPEN_CLUSTER], "prod", {"sec-eks-002-private-endpoint": "disabled"})
    assert off.evaluated == len(all_policies()) - 1 and not off.of("sec-eks-002-private-endpoint")


def test_config_overrides_merge_levels_and_settings_on_the_environment_file():
    report = evaluate([OPEN_CLUSTER], "prod", {"sec-eks-002-private-endpoint": {"enforcementLevel": "advisory", "requirePrivateEndpoint": False}})
    # private endpoint no longer required; the endpoint is still open to 0.0.0.0/0 (no CIDRs): one advisory finding
    assert [(v.level) for v in report.of("sec-eks-002-private-endpoint")] == ["advisory"]


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"sec-eks-999-typo": "advisory"}, "no such policy"),
        ({"sec-eks-002-private-endpoint": {"requirePrivateEndpint": True}}, "not a setting"),
        ({"sec-eks-002-private-endpoint": {"requirePrivateEndpoint": "yes"}}, "expected boolean"),
        ({"sec-eks-003-control-plane-logs": {"requiredLogTypes": ["api", "kubelet"]}}, "is not one of"),
        ({"sec-eks-005-supported-version": "sometimes"}, "not an enforcement level"),
    ],
)
def test_bad_config_is_refused_with_the_key_path(config, problem):
    with pytest.raises(PolicyConfigError, match=problem):
        evaluate([], "prod", config)


def test_unknown_environment_is_refused():
    # bootstrap.json: the delivery identities' own program (prod's levels and its exemptions, tests/test_bootstrap.py)
    with pytest.raises(PolicyConfigError, match="available: bootstrap, dev, prod, staging"):
        evaluate([], "qa")


def test_resources_need_urn_type_and_name():
    with pytest.raises(ValueError, match="lacks type"):
        evaluate([{"urn": "urn:x", "name": "x"}], "prod")


@pytest.mark.parametrize("marker", [UNKNOWN, rpc.UNKNOWN])
def test_plan_marker_and_engine_sentinel_are_both_unknown_at_preview(marker):
    # an unknown key ARN is still a key: secrets encryption is satisfied
    cluster = res("aws:eks/cluster:Cluster", "eks", {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": marker}}})
    assert evaluate([cluster], "prod").of("sec-eks-001-secrets-encryption") == []
    # an unknown trust policy cannot be judged: the SDK's advisory "can't run policy ... during preview"
    role = res("aws:iam/role:Role", "r", {"assumeRolePolicy": marker})
    [finding] = evaluate([role], "prod").of("sec-iam-002-scoped-trust")
    assert finding.level == "advisory" and "during preview" in finding.message and finding.urn == role["urn"]


def test_internal_keys_are_not_sent_to_policies():
    # the engine marshals properties with SkipInternalKeys; so does the offline path
    assert set(_struct({"__defaults": ["forceDestroy"], "forceDestroy": True}).keys()) == {"forceDestroy"}


def test_resources_with_a_provider_reference_are_analyzed():
    provider = res("pulumi:providers:aws", "aws", {"region": "us-east-1"})
    cluster = dict(OPEN_CLUSTER, provider=f"{provider['urn']}::04da6b54-80e4-46f7-96ec-b56ff0331ba9")
    report = evaluate([provider, cluster], "prod")
    assert report.of("sec-eks-002-private-endpoint")
