"""Dashboards and alert rules query only what the exporters emit at the pinned versions.

Every panel query (addons/observability_data/dashboards/*.json) and every alert expression
(addons/observability_data/alerts.yaml) parses with a real PromQL parser (promql-parser), and every metric it names
is in a known-metric list built from the exporter's own source at the pinned tag (tests/data/metrics/*.txt, each
naming repo, tag and path), or, for DCGM, in the counters file Crucible gives dcgm-exporter.
"""

from __future__ import annotations

import pytest

from addons.alerts import rule_groups
from addons.dashboards import dashboard_names, load
from observability_data import dcgm_emitted, known_metrics, metric_list, metric_names, substitute_grafana_variables

# The Prometheus dashboards (crucible-lustre reads CloudWatch: tests/test_observability_lustre.py checks it).
DASHBOARDS = tuple(name for name in dashboard_names() if name != "crucible-lustre")


def panel_queries(dashboard: dict) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[tuple[str, str]]:
    return [(rule.get("alert") or rule["record"], rule["expr"]) for group in rule_groups() for rule in group["rules"]]


def unknown_in(expr: str) -> set[str]:
    return metric_names(expr) - known_metrics()


def test_the_dashboards_cover_accelerators_efa_queues_karpenter_serving_and_lustre():
    assert set(dashboard_names()) == {
        "crucible-gpu",
        "crucible-neuron",
        "crucible-efa",
        "crucible-kueue",
        "crucible-karpenter",
        "crucible-serving",
        "crucible-lustre",
    }


@pytest.mark.parametrize("name", DASHBOARDS)
def test_every_panel_query_parses_and_names_only_emitted_metrics(name):
    dashboard = load(name)
    queries = panel_queries(dashboard)
    assert queries, f"{name} has no queries"
    for title, expr in queries:
        names = metric_names(substitute_grafana_variables(expr))
        assert names, f"{name} / {title}: {expr!r} selects no metric"
        assert not unknown_in(substitute_grafana_variables(expr)), f"{name} / {title}: unknown metrics {sorted(unknown_in(substitute_grafana_variables(expr)))}"


def test_every_alert_expression_parses_and_names_only_emitted_metrics():
    for alert, expr in alert_expressions():
        assert metric_names(expr), f"{alert} selects no metric"
        assert not unknown_in(expr), f"{alert}: unknown metrics {sorted(unknown_in(expr))}"


def test_a_metric_no_exporter_emits_is_caught():
    # The check can fail: a DCGM field the counters file does not turn on, a misspelt Kueue metric, a syntax error.
    assert unknown_in("rate(DCGM_FI_DEV_NVLINK_BANDWIDTH_L0[5m])") == {"DCGM_FI_DEV_NVLINK_BANDWIDTH_L0"}
    assert unknown_in('sum(kueue_pending_workload{status="active"})') == {"kueue_pending_workload"}
    assert unknown_in("kueue_admission_wait_time_seconds_bucket") == set()  # a histogram's series
    with pytest.raises(ValueError):
        metric_names("sum by (a (up)")


def test_every_panel_reads_the_dashboard_data_source_variable():
    for name in DASHBOARDS:
        dashboard = load(name)
        assert [v["name"] for v in dashboard["templating"]["list"] if v["type"] == "datasource"] == ["datasource"]
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, f"{name} / {panel['title']}"


@pytest.mark.parametrize("name", dashboard_names())
def test_a_dashboard_is_listed_under_its_own_title_and_uid(name):
    # Grafana lists dashboards by title: every one shipped as its last panel's title ("Fair-share weighted share",
    # "Scheduling queue depth"...) until this test; the uid is what links and the sidecar's updates key on.
    dashboard = load(name)
    assert dashboard["uid"] == name
    assert dashboard["title"].startswith("Crucible / ")
    assert dashboard["title"] not in {panel.get("title") for panel in dashboard["panels"]}


def test_no_two_dashboards_share_a_title():
    titles = [load(name)["title"] for name in dashboard_names()]
    assert len(set(titles)) == len(titles)


def test_the_dcgm_counters_are_dcgm_exporter_fields_at_the_pinned_release():
    upstream = metric_list("dcgm-exporter")
    for field, kind in dcgm_emitted().items():
        assert field in upstream, f"{field} is not a field of dcgm-exporter 4.5.3-4.8.2 (etc/dcp-metrics-included.csv)"
        assert kind == upstream[field], f"{field}: {kind}, upstream says {upstream[field]}"


def test_the_dcgm_counters_turn_on_the_training_profiling_and_error_fields():
    fields = set(dcgm_emitted())
    profiling = {
        "DCGM_FI_PROF_SM_ACTIVE",
        "DCGM_FI_PROF_SM_OCCUPANCY",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "DCGM_FI_PROF_PCIE_RX_BYTES",
    }
    errors = {
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL",
        "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL",
        "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    }
    assert profiling <= fields and errors <= fields, sorted((profiling | errors) - fields)


def test_every_known_metric_list_names_its_source():
    for name in (
        "dcgm-exporter",
        "kueue",
        "karpenter",
        "kube-state-metrics",
        "node-exporter",
        "neuron-monitor",
        "ray-serve",
        "prometheus",
        "vllm",
        "vllm-neuron",
    ):
        assert metric_list(name), name  # metric_list asserts the `source:` header
