"""Logs off the nodes (addons/logs.py) and the managed option (addons/managed_observability.py) as the program
registers them, and the config that chooses them."""

from __future__ import annotations

import functools
import json

import pytest

from helpers import plan, spec_of
from stacks.spec import ConfigError

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ADDON = "aws:eks/addon:Addon"
CLUSTER = "crucible-test"
KINDS = ("application", "dataplane", "host", "performance")


@functools.lru_cache(maxsize=None)
def prod():
    return plan("prod")


@functools.lru_cache(maxsize=None)
def managed(grafana: bool = True):
    return plan("prod", addons={"observability": {"managed": {"enabled": True, "grafana": grafana}}})


def problems(env: str, **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_of(env, **overrides)
    return {p.path: p.message for p in caught.value.problems}


def cluster_log_groups(run) -> dict[str, dict]:
    return {r.inputs["name"]: r for r in run.of_type(LOG_GROUP) if r.inputs["name"].startswith("/aws/containerinsights/")}


# ---- logs --------------------------------------------------------------------------------------------------


def test_prod_ships_container_node_and_dataplane_logs_through_the_cloudwatch_observability_addon():
    run = prod()
    addon = run.one(ADDON, "cluster-logs-addon")
    assert addon.inputs["addonName"] == "amazon-cloudwatch-observability"
    (association,) = addon.inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "cloudwatch-agent"
    role = next(r for r in run.of_type("aws:iam/role:Role") if r.name == "cluster-logs-role")
    assert association["roleArn"] == role.outputs["arn"]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policies = {r.inputs["policyArn"] for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if r.inputs["role"] == role.outputs["name"]}
    assert policies == {"arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"}


def test_the_log_groups_exist_first_encrypted_with_their_key_and_kept_for_the_environments_retention():
    run = prod()
    groups = cluster_log_groups(run)
    assert sorted(groups) == sorted(f"/aws/containerinsights/{CLUSTER}/{k}" for k in KINDS)
    key = run.one("aws:kms/key:Key", "cluster-logs-key")
    addon = run.one(ADDON, "cluster-logs-addon")
    for group in groups.values():
        assert group.inputs["retentionInDays"] == 90
        assert group.inputs["kmsKeyId"] == key.outputs["arn"]
        assert group.urn in addon.dependencies  # Fluent Bit finds its groups; it creates none without key or retention
    statement = next(s for s in json.loads(key.inputs["policy"])["Statement"] if s.get("Principal") == {"Service": "logs.us-east-1.amazonaws.com"})
    assert statement["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/containerinsights/{CLUSTER}/*"}
    }
    assert key.inputs["enableKeyRotation"] is True


def test_logs_are_off_in_dev_and_keep_the_dev_retention_when_turned_on():
    assert not spec_of("dev").addons.observability.logs.enabled
    assert spec_of("dev", addons={"observability": {"enabled": True, "logs": {"enabled": True}}}).addons.observability.logs.retention_days == 14


def test_a_retention_cloudwatch_does_not_accept_is_refused_naming_the_key():
    found = problems("prod", addons={"observability": {"logs": {"retentionDays": 45}}})
    message = found["crucible:addons.observability.logs.retentionDays"]
    assert "45" in message and "90" in message  # the bad value and what is allowed


# ---- managed Prometheus and Grafana --------------------------------------------------------------------------


def test_the_managed_option_is_off_by_default():
    run = prod()
    assert not run.of_type("aws:amp/workspace:Workspace") and not run.of_type("aws:grafana/workspace:Workspace")
    values = run.one("kubernetes:helm.sh/v3:Release", "monitoring").inputs["values"]
    assert "remoteWrite" not in values["prometheus"]["prometheusSpec"]


def test_managed_prometheus_gets_remote_write_with_sigv4_through_pod_identity():
    run = managed()
    workspace = run.one("aws:amp/workspace:Workspace")
    values = run.one("kubernetes:helm.sh/v3:Release", "monitoring").inputs["values"]
    (target,) = values["prometheus"]["prometheusSpec"]["remoteWrite"]
    assert target["sigv4"] == {"region": "us-east-1"}
    # the workspace's id (the harness's physical name) between the regional endpoint and the remote write path
    assert target["url"] == f"https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{workspace.outputs['name']}/api/v1/remote_write"
    association = next(
        r for r in run.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") if r.inputs["serviceAccount"] == "kube-prometheus-stack-prometheus"
    )
    assert association.inputs["namespace"] == "monitoring"
    role = next(r for r in run.of_type("aws:iam/role:Role") if r.outputs.get("arn") == association.inputs["roleArn"])
    policies = {r.inputs["policyArn"] for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if r.inputs["role"] == role.outputs["name"]}
    assert policies == {"arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess"}
    assert workspace.inputs["alias"] == "crucible-test"
    assert workspace.protect  # prod protects what holds data: the metric history


def test_managed_grafana_reads_the_workspace_and_is_optional():
    run = managed()
    grafana = run.one("aws:grafana/workspace:Workspace")
    assert (grafana.inputs["accountAccessType"], grafana.inputs["permissionType"]) == ("CURRENT_ACCOUNT", "SERVICE_MANAGED")
    assert grafana.inputs["authenticationProviders"] == ["AWS_SSO"] and grafana.inputs["dataSources"] == ["PROMETHEUS"]
    role = next(r for r in run.of_type("aws:iam/role:Role") if r.outputs.get("arn") == grafana.inputs["roleArn"])
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "grafana.amazonaws.com"}
    assert not managed(False).of_type("aws:grafana/workspace:Workspace")


def test_crucible_diff_knows_what_replaces_the_managed_workspaces():
    from stacks.tools.plan import replacement

    assert replacement.missing_from_table({r.type for r in managed().resources}) == []


def test_a_managed_option_that_is_not_a_boolean_is_refused_naming_the_key():
    found = problems("prod", addons={"observability": {"managed": {"enabled": "yes please"}}})
    assert "yes please" in found["crucible:addons.observability.managed.enabled"]


# ---- Lustre near full (a CloudWatch alarm: FSx publishes its capacity to CloudWatch only) -------------------------


def test_lustre_near_full_alarms_on_the_free_fraction_of_the_fullest_disk():
    # FreeDataStorageCapacity's Minimum is the bytes free on the fullest disk (FSx for Lustre user guide, "Monitoring
    # with Amazon CloudWatch"); the alarm compared it with 10% of the whole file system, so on a 4-disk file system it
    # fired with 60% of that disk still free. Now: Minimum × disks (SampleCount over a minute) / capacity < 10%.
    run = prod()
    lustre = run.one("aws:fsx/lustreFileSystem:LustreFileSystem")
    captured = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "lustre-alarms-near-full")
    alarm = captured.inputs
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    for qid, stat in (("fullest", "Minimum"), ("disks", "SampleCount")):
        metric = queries[qid]["metric"]
        assert (metric["namespace"], metric["metricName"], metric["stat"], metric["period"]) == ("AWS/FSx", "FreeDataStorageCapacity", stat, 60)
        assert metric["dimensions"]["FileSystemId"].startswith("fs-")
    assert lustre.urn in captured.property_dependencies["metricQueries"]  # the id of the stack's own file system
    assert queries["free"]["expression"] == f"fullest * disks / {lustre.inputs['storageCapacity'] * 1024**3}"
    assert queries["free"]["returnData"] is True and not any(q.get("returnData") for i, q in queries.items() if i != "free")
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 0.10)
    assert 60 * alarm["evaluationPeriods"] == 900
    assert "statistic" not in alarm and "metricName" not in alarm  # a metric-math alarm names no single metric


def test_no_lustre_alarm_without_lustre():
    run = plan("prod", storage={"lustre": {"enabled": False}})
    assert not run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
