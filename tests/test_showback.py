"""Runtime showback (addons/showback.py): a PrometheusRule that prices Kueue's admitted usage per team and pool.

The rule must be a valid PrometheusRule for the vendored kube-prometheus-stack chart's CRD, every expression must
parse as PromQL (promql-parser, a real parser), and every metric it reads must be one Kueue v0.19.2 emits
(tests/fixtures/upstream_metrics/kueue-v0.19.2.txt, from kubernetes-sigs/kueue pkg/metrics/metrics.go at v0.19.2)
or one the rule itself records.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jsonschema
import pytest
import yaml

from addons.showback import BY_FLAVOR, BY_TEAM, BY_TEAM_DAY, IDLE_BY_FLAVOR, QUOTA_METRIC, RECORDED, USAGE_METRIC
from helpers import REPO, addons_program, shared_dir, spec_of
from stacks.derive.cost import flavor_prices
from stacks.tools.harness import run_program
from upstream import strict

promql = pytest.importorskip("promql_parser", reason="promql-parser (test extra) parses the rule's expressions")

RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
GPU_POOL = {"name": "gpu", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2, "amiVersion": "v20251108"}
CPU_POOL = {"name": "cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.xlarge"], "maxNodes": 4, "amiVersion": "v20251108"}
TEAMS = [{"name": "llm", "adminGroups": ["llm-admins"]}, {"name": "vision", "adminGroups": ["vision-admins"]}]


def addons_run(env: str = "prod", **overrides):
    spec = spec_of(env, **overrides)
    return spec, run_program(addons_program(spec), stack="test", config={})


@functools.lru_cache(maxsize=None)
def with_teams():
    return addons_run(pools=[GPU_POOL, CPU_POOL], teams=TEAMS)


def the_rule() -> dict:
    (rule,) = with_teams()[1].of_type(RULE)
    return rule.inputs


def kueue_metrics() -> set[str]:
    path = REPO / "tests" / "fixtures" / "upstream_metrics" / "kueue-v0.19.2.txt"
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


def exprs() -> list[str]:
    return [r["expr"] for g in the_rule()["spec"]["groups"] for r in g["rules"]]


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node):
        if isinstance(node, promql.VectorSelector):
            names.add(node.name)
        elif isinstance(node, promql.MatrixSelector):
            visit(node.vector_selector)
        for child in ("expr", "lhs", "rhs", "param"):
            if hasattr(node, child) and getattr(node, child) is not None and not isinstance(getattr(node, child), (str, float, int)):
                visit(getattr(node, child))
        for arg in getattr(node, "args", None) or []:
            visit(arg)

    visit(promql.parse(expr))
    return names


def test_the_rule_is_a_valid_prometheus_rule_for_the_vendored_chart():
    crd_file = Path(shared_dir(), "upstream", "charts", "kube-prometheus-stack-88.5.3", "charts", "crds", "crds", "crd-prometheusrules.yaml")
    crd = yaml.safe_load(crd_file.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    manifest = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", **the_rule()}
    found = sorted(e.message for e in jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"])).iter_errors(manifest))
    assert not found, found


def test_every_expression_parses_as_promql():
    for expr in exprs():
        promql.parse(expr)  # raises on a syntax error


def test_the_rule_reads_only_metrics_kueue_emits_and_reads_its_usage_and_quota():
    read = set().union(*(metric_names(e) for e in exprs()))
    assert {USAGE_METRIC, QUOTA_METRIC} <= read
    assert read - set(RECORDED) <= kueue_metrics(), read - set(RECORDED) - kueue_metrics()


def test_the_metric_names_were_vendored_from_kueue_v0_19_2():
    assert {USAGE_METRIC, QUOTA_METRIC} <= kueue_metrics()


def test_each_pool_is_priced_per_unit_of_its_accelerator_or_cpu():
    spec = with_teams()[0]
    prices = {p.flavor: p for p in flavor_prices(spec)}
    rules = [r for g in the_rule()["spec"]["groups"] for r in g["rules"] if r["record"] == BY_FLAVOR]
    assert len(rules) == 2
    for r in rules:
        assert metric_names(r["expr"]) == {USAGE_METRIC}
        flavor = r["expr"].split('flavor="')[1].split('"')[0]
        p = prices[flavor]
        assert f'resource="{p.resource}"' in r["expr"] and r["expr"].endswith(f"* {p.usd_per_unit_hour:.6g}")
    assert prices["gpu"].resource == "nvidia.com/gpu" and prices["cpu"].resource == "cpu"


def test_records_team_totals_idle_quota_and_a_day():
    records = {r["record"] for g in the_rule()["spec"]["groups"] for r in g["rules"]}
    assert records == set(RECORDED)
    team = next(r for g in the_rule()["spec"]["groups"] for r in g["rules"] if r["record"] == BY_TEAM)
    assert metric_names(team["expr"]) == {BY_FLAVOR}
    day = next(r for g in the_rule()["spec"]["groups"] for r in g["rules"] if r["record"] == BY_TEAM_DAY)
    assert metric_names(day["expr"]) == {BY_TEAM} and "[1d]" in day["expr"] and day["expr"].endswith("* 24")
    idle = [r for g in the_rule()["spec"]["groups"] for r in g["rules"] if r["record"] == IDLE_BY_FLAVOR]
    assert all({USAGE_METRIC, QUOTA_METRIC} <= metric_names(r["expr"]) and r["expr"].startswith("clamp_min(") for r in idle)


def test_prometheus_selects_the_rule_by_its_release_label():
    assert the_rule()["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert the_rule()["metadata"]["namespace"] == "monitoring"


def test_no_teams_or_no_observability_no_showback_rule():
    assert not addons_run(pools=[GPU_POOL])[1].of_type(RULE)
    assert not addons_run(pools=[GPU_POOL], teams=TEAMS, addons={"observability": {"enabled": False}})[1].of_type(RULE)
