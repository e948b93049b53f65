"""The Lustre dashboard: FSx publishes to CloudWatch only, so Grafana reads it through a CloudWatch data source with a
Pod Identity role, and every panel asks CloudWatch only for what FSx for Lustre documents it publishes
(tests/data/metrics/fsx-lustre-cloudwatch.txt: metric names and their valid statistics)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from addons.dashboards import load
from addons.grafana_cloudwatch import DATA_SOURCE_UID, GRAFANA_SERVICE_ACCOUNT, READ_METRICS
from helpers import shipped_plan
from observability_data import metric_list

DASHBOARD = "crucible-lustre"
RELEASE = "kubernetes:helm.sh/v3:Release"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def targets() -> list[tuple[str, dict]]:
    return [(panel["title"], target) for panel in load(DASHBOARD)["panels"] for target in panel.get("targets", [])]


def documented() -> dict[str, set[str]]:
    return {name: set(stats.split(",")) for name, stats in metric_list("fsx-lustre-cloudwatch").items()}


def test_every_metric_query_asks_for_a_documented_fsx_metric_and_statistic():
    metrics = [(title, t) for title, t in targets() if "expression" not in t]
    assert metrics
    for title, t in metrics:
        assert t["namespace"] == "AWS/FSx", title
        assert t["metricName"] in documented(), f"{title}: {t['metricName']} is not an FSx for Lustre metric"
        assert t["statistic"] in documented()[t["metricName"]], f"{title}: {t['statistic']} of {t['metricName']}"
        assert t["dimensions"] == {"FileSystemId": "$filesystem"}, title  # the one dimension FSx for Lustre metrics take


def test_a_math_expression_reads_only_queries_of_its_own_panel():
    for panel in load(DASHBOARD)["panels"]:
        ids = {t["id"] for t in panel.get("targets", []) if "expression" not in t}
        for t in panel.get("targets", []):
            if "expression" in t:
                names = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", t["expression"])) - {"PERIOD"}
                assert names and names <= ids, f"{panel['title']}: {t['expression']!r} reads {sorted(names - ids)}"


def test_every_panel_and_the_file_system_variable_use_the_provisioned_cloudwatch_data_source():
    dashboard = load(DASHBOARD)
    source = {"type": "cloudwatch", "uid": DATA_SOURCE_UID}
    assert [v["datasource"] for v in dashboard["templating"]["list"]] == [source]
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == source and all(t["datasource"] == source for t in panel["targets"]), panel["title"]


def test_a_metric_fsx_does_not_publish_is_caught():
    assert "ThroughputUtilization" not in documented()  # the check can fail: names come from the user guide, not from us
    assert "p99" not in documented()["DataReadBytes"]


# ---- what prod registers (Grafana on, Lustre on) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def prod():
    return shipped_plan("prod").run


def test_prod_ships_the_lustre_dashboard(prod):
    names = {r.inputs["metadata"]["name"] for r in prod.of_type("kubernetes:core/v1:ConfigMap")}
    assert f"dashboard-{DASHBOARD}" in names


def test_grafana_gets_a_cloudwatch_data_source_in_the_stacks_region(prod):
    values = prod.one(RELEASE, "monitoring").inputs["values"]
    [source] = values["grafana"]["additionalDataSources"]
    assert (source["type"], source["uid"], source["jsonData"]) == ("cloudwatch", DATA_SOURCE_UID, {"authType": "default", "defaultRegion": "us-east-1"})


def test_grafanas_service_account_has_a_role_that_may_only_read_metrics(prod):
    [association] = [a for a in prod.of_type(ASSOCIATION) if a.inputs["serviceAccount"] == GRAFANA_SERVICE_ACCOUNT]
    assert association.inputs["namespace"] == "monitoring"
    [policy] = [p for p in prod.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.startswith("grafana-cloudwatch")]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert [(s["Effect"], sorted(s["Action"]), s["Resource"]) for s in statements] == [("Allow", sorted(READ_METRICS), "*")]


def test_the_monitoring_release_waits_for_grafanas_pod_identity_association(prod):
    # Pod Identity injects credentials when a pod is created: a Grafana started before the association has none.
    [association] = [a for a in prod.of_type(ASSOCIATION) if a.inputs["serviceAccount"] == GRAFANA_SERVICE_ACCOUNT]
    assert association.urn in prod.one(RELEASE, "monitoring").dependencies


def test_without_grafana_there_is_no_cloudwatch_data_source_nor_lustre_dashboard():
    run = shipped_plan("staging").run  # Lustre, observability, no in-cluster Grafana
    assert not [a for a in run.of_type(ASSOCIATION) if a.inputs["serviceAccount"] == GRAFANA_SERVICE_ACCOUNT]
    assert f"dashboard-{DASHBOARD}" not in {r.inputs["metadata"]["name"] for r in run.of_type("kubernetes:core/v1:ConfigMap")}
    assert "additionalDataSources" not in run.one(RELEASE, "monitoring").inputs["values"].get("grafana", {})


# ---- the real chart ---------------------------------------------------------------------------------------------


def test_the_chart_provisions_the_data_source_for_the_service_account_the_role_is_for():
    from rendered import objects, release_of

    rendered = release_of("prod", "kube-prometheus-stack")
    assert [sa["metadata"]["name"] for sa in objects(rendered, "ServiceAccount") if sa["metadata"]["name"].endswith("-grafana")] == [GRAFANA_SERVICE_ACCOUNT]
    [config] = objects(rendered, "ConfigMap", "kube-prometheus-stack-grafana-datasource")
    provisioned = yaml.safe_load(config["data"]["datasource.yaml"])["datasources"]
    [cloudwatch] = [d for d in provisioned if d["type"] == "cloudwatch"]
    assert cloudwatch["uid"] == DATA_SOURCE_UID and cloudwatch["jsonData"]["authType"] == "default"
