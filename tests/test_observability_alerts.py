"""Alert rules, dashboards and scrape targets as the program registers them.

The rules are unit-tested with a real evaluator: promtool (Debian's prometheus 2.42; tests/observability_data.py
finds it in .cache/tools or on PATH, the tests skip with the reason otherwise) runs `check rules` on the shipped rule
file and `test rules` on tests/data/promtool/*.yaml, where each alert fires on its bad series and stays silent on a
healthy one next to it (promtool fails on any alert not listed). The PrometheusRule and ServiceMonitors are validated
strictly against the CRDs of the vendored kube-prometheus-stack chart (charts/crds/crds).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from addons.alerts import RULES_FILE, rule_groups
from addons.dashboards import SIDECAR_LABEL, SIDECAR_LABEL_VALUE, dashboards_for, load
from addons.observability import DCGM_COUNTERS
from helpers import plan, shared_dir, shipped_plan
from observability_data import PROMTOOL_TESTS, promtool
from upstream import strict

PROMETHEUS_STACK = "kube-prometheus-stack-88.5.3"
CUSTOM = "kubernetes:monitoring.coreos.com/v1:"


GPU_POOL = {"name": "gpu", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2, "amiVersion": "v20251108", "efa": True}
TEAM = {"name": "research", "memberGroups": ["research"]}


@functools.lru_cache(maxsize=None)
def prod():
    """prod (observability on) with an EFA GPU pool, a team and Grafana: DCGM, Kueue and every dashboard but Neuron's."""
    return plan("prod", pools=[GPU_POOL], teams=[TEAM], addons={"observability": {"grafana": True}}, grafanaAdminPassword="from-the-secrets-provider")


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rule_dir(tmp_path_factory) -> Path:
    """The shipped rule file beside the promtool test files (they name it `alerts.yaml`)."""
    out = tmp_path_factory.mktemp("promtool")
    shutil.copy(RULES_FILE, out / "alerts.yaml")
    for path in PROMTOOL_TESTS.glob("*.yaml"):
        shutil.copy(path, out / path.name)
    return out


def crd_schema(kind: str) -> dict:
    path = Path(shared_dir(), "upstream", "charts", PROMETHEUS_STACK, "charts", "crds", "crds", f"crd-{kind.lower()}s.yaml")
    crd = yaml.safe_load(path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return strict(version["schema"]["openAPIV3Schema"])


def assert_valid(resource) -> None:
    manifest = {
        "apiVersion": resource.inputs["apiVersion"],
        "kind": resource.inputs["kind"],
        "metadata": resource.inputs["metadata"],
        "spec": resource.inputs["spec"],
    }
    problems = sorted(
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(crd_schema(manifest["kind"])).iter_errors(manifest)
    )
    assert not problems, f"{manifest['kind']} {manifest['metadata']['name']}:\n  " + "\n  ".join(problems)


def alerts_in_unit_tests() -> set[str]:
    names = set()
    for path in PROMTOOL_TESTS.glob("*.yaml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    names.add(check["alertname"])
    return names


# ---- the rules, through promtool ----------------------------------------------------------------------------


def test_promtool_accepts_the_shipped_rule_file(rule_dir):
    result = run_promtool("check", "rules", "alerts.yaml", cwd=rule_dir)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(p.name for p in PROMTOOL_TESTS.glob("*.yaml")))
def test_each_alert_fires_on_its_bad_series_and_not_on_a_healthy_one(rule_dir, case):
    result = run_promtool("test", "rules", case, cwd=rule_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_makes_it_fire():
    alerts = {rule["alert"] for group in rule_groups() for rule in group["rules"] if "alert" in rule}
    assert alerts - alerts_in_unit_tests() == set()


def test_a_broken_rule_fails_promtool(tmp_path):
    (tmp_path / "bad.yaml").write_text("groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum by (a (up)\n")
    assert run_promtool("check", "rules", "bad.yaml", cwd=tmp_path).returncode != 0


# ---- what the program registers ------------------------------------------------------------------------------


def test_the_alert_rules_ship_as_one_prometheus_rule_valid_against_the_chart_crd():
    rule = prod().one(CUSTOM + "PrometheusRule", "alerts")  # the showback rule is another (addons/showback.py)
    assert rule.inputs["metadata"]["namespace"] == "monitoring"
    assert rule.inputs["spec"]["groups"] == rule_groups()
    assert_valid(rule)


def test_prometheus_evaluates_every_prometheus_rule_not_only_the_charts():
    values = prod().one("kubernetes:helm.sh/v3:Release", "monitoring").inputs["values"]
    assert values["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False


def test_karpenter_and_the_load_balancer_controller_are_scraped():
    monitors = {r.inputs["metadata"]["name"]: r for r in prod().of_type(CUSTOM + "ServiceMonitor")}
    karpenter = monitors["karpenter"].inputs
    assert karpenter["metadata"]["namespace"] == "karpenter"
    assert karpenter["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"}
    assert [e["port"] for e in karpenter["spec"]["endpoints"]] == ["http-metrics"]  # karpenter chart templates/service.yaml
    lbc = monitors["aws-load-balancer-controller"].inputs
    services = {r.inputs["metadata"]["name"]: r.inputs for r in prod().of_type("kubernetes:core/v1:Service")}
    service = services["aws-load-balancer-controller-metrics"]
    assert service["metadata"]["namespace"] == lbc["metadata"]["namespace"] == "kube-system"
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "aws-load-balancer-controller",
        "app.kubernetes.io/instance": "aws-load-balancer-controller",
    }
    assert service["spec"]["ports"] == [{"name": "metrics-server", "port": 8080, "targetPort": "metrics-server"}]
    assert lbc["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    for monitor in monitors.values():
        assert_valid(monitor)


def test_the_service_monitors_and_rules_wait_for_the_release_that_installs_their_crds():
    run = prod()
    release = run.one("kubernetes:helm.sh/v3:Release", "monitoring")
    for resource in run.of_type(CUSTOM + "ServiceMonitor") + run.of_type(CUSTOM + "PrometheusRule"):
        assert release.urn in resource.dependencies, resource.name


def test_dashboards_ship_as_configmaps_labelled_for_the_grafana_sidecar():
    chart_values = yaml.safe_load(Path(shared_dir(), "upstream", "charts", PROMETHEUS_STACK, "values.yaml").read_text())
    sidecar = chart_values["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"], sidecar["searchNamespace"]) == (SIDECAR_LABEL, SIDECAR_LABEL_VALUE, "ALL")
    run = prod()
    maps = [r.inputs for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"].get("labels", {}).get(SIDECAR_LABEL) == SIDECAR_LABEL_VALUE]
    shipped = run.outputs["addons"]["observability"]["dashboards"]
    names = sorted(next(iter(m["data"])).removesuffix(".json") for m in maps)
    assert names and {"crucible-kueue", "crucible-karpenter"} <= set(names)
    assert names == sorted(shipped)
    for m in maps:
        ((key, body),) = m["data"].items()
        assert yaml.safe_load(body) == load(key.removesuffix(".json"))


def test_accelerator_dashboards_ship_only_with_their_accelerators():
    assert "crucible-gpu" in dashboards_for(["gpu"]) and "crucible-neuron" not in dashboards_for(["gpu"])
    assert "crucible-neuron" in dashboards_for(["neuron"]) and "crucible-efa" not in dashboards_for(["neuron"])
    assert set(dashboards_for([])) == {"crucible-kueue", "crucible-karpenter"}
    assert prod().outputs["addons"]["observability"]["dashboards"] == [
        "crucible-efa",
        "crucible-gpu",
        "crucible-karpenter",
        "crucible-kueue",
        "crucible-lustre",  # Grafana on and Lustre in the storage layer: its CloudWatch dashboard
        "crucible-serving",
    ]


def test_dcgm_exporter_runs_crucibles_counters():
    release = prod().one("kubernetes:helm.sh/v3:Release", "dcgm-exporter")
    assert release.inputs["values"]["customMetrics"] == DCGM_COUNTERS.read_text()


def test_kueue_serves_its_metrics_with_observability_on():
    values = prod().one("kubernetes:helm.sh/v3:Release", "kueue").inputs["values"]
    assert values["enablePrometheus"] is True


# ---- the charts, rendered (stacks/tools/plan/helm.py; skipped without Helm) -----------------------------------


def test_the_rendered_dcgm_exporter_reads_crucibles_counters_file():
    from rendered import objects, pod_spec, release_of

    rendered = release_of("train-p5", "dcgm-exporter")
    (config,) = objects(rendered, "ConfigMap", "exporter-metrics-config-map")
    assert config["data"]["metrics"].strip() == DCGM_COUNTERS.read_text().strip()
    (daemon,) = objects(rendered, "DaemonSet")
    container = pod_spec(daemon)["containers"][0]
    assert container["args"] == ["-f", "/etc/dcgm-exporter/default-counters.csv"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/dcgm-exporter/default-counters.csv")
    volume = next(v for v in pod_spec(daemon)["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "exporter-metrics-config-map"


def test_the_rendered_prometheus_selects_every_rule_service_monitor_and_pod_monitor():
    from rendered import objects, release_of

    (prometheus,) = objects(release_of("train-p5", "kube-prometheus-stack"), "Prometheus")
    spec = prometheus["spec"]
    # an empty selector selects every object (prometheus-operator); the chart's default selects its own release only
    assert spec["ruleSelector"] == {} and spec["serviceMonitorSelector"] == {} and spec["podMonitorSelector"] == {}


def test_the_rendered_node_exporter_collects_the_efa_devices():
    # The InfiniBand collector is on by default in node_exporter 1.12.1 (collector/infiniband_linux.go:
    # registerCollector("infiniband", defaultEnabled, ...)) and reads <sysfs>/class/infiniband, where the EFA driver
    # registers its rdmap* devices: the chart must not turn it off and must give it the host's /sys.
    from rendered import objects, pod_spec, release_of

    (exporter,) = [d for d in objects(release_of("train-p5", "kube-prometheus-stack"), "DaemonSet") if d["metadata"]["name"].endswith("node-exporter")]
    args = pod_spec(exporter)["containers"][0]["args"]
    assert "--path.sysfs=/host/sys" in args
    assert not [a for a in args if a.startswith(("--no-collector.infiniband", "--collector.disable-defaults", "--collector.infiniband.device-"))]
    assert {"operator": "Exists"} in pod_spec(exporter)["tolerations"]  # every node, the tainted EFA pools included


def test_without_grafana_no_dashboard_is_shipped_since_nothing_would_load_it():
    # the dashboards are ConfigMaps for the in-cluster Grafana's sidecar; a stack without it (the shipped staging and
    # inference: Prometheus only) would carry them for nothing
    run = shipped_plan("staging").run
    assert not [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"].get("labels", {}).get(SIDECAR_LABEL) == SIDECAR_LABEL_VALUE]
    assert run.outputs["addons"]["observability"]["dashboards"] == [] and run.outputs["addons"]["observability"]["grafana"] is False


def test_ray_nodes_are_scraped_by_a_pod_monitor_valid_against_the_chart_crd():
    # KubeRay's chart monitors the operator only; every head and worker carries ray.io/is-ray-node=yes and a `metrics`
    # port (ray-operator common/pod.go), which the Ray Serve rules and the serving dashboard read through this monitor
    from addons.kuberay import RAY_METRICS_PORT, RAY_NODE_LABEL

    run = prod()
    (monitor,) = [r for r in run.of_type(CUSTOM + "PodMonitor") if r.inputs["metadata"]["name"] == "ray-nodes"]
    assert_valid(monitor)
    spec = monitor.inputs["spec"]
    assert spec["namespaceSelector"] == {"any": True} and spec["selector"]["matchLabels"] == {RAY_NODE_LABEL: "yes"}
    assert [e["port"] for e in spec["podMetricsEndpoints"]] == [RAY_METRICS_PORT]
    assert run.one("kubernetes:helm.sh/v3:Release", "monitoring").urn in monitor.dependencies  # its CRD first
