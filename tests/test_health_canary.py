"""The fleet health canary (issue 15 item 8) and `crucible verify health`: the parsers on realistic nccl-tests output,
the driver's verdict, metrics and node marks (run against an in-memory API), what the platform layer registers
(strictly valid Kueue and MPIJob objects, lowest priority, idle capacity only), the spec's rules, and the health check
against the fake API server, healthy and faulty."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import upstream
from addons import canary_driver, health_canary
from components import labels
from components.benchmarks import parse_dd, parse_nccl
from fakekube import FakeCluster, Scenario
from helpers import addons_program, shipped_plan, spec_of
from stacks.tools.harness import run_program
from stacks.spec import ConfigError
from stacks.tools.verify.checks import CHECKS
from stacks.tools.verify.checks.base import Options
from stacks.tools.verify.kube import KubeClient, parse_kubeconfig
from stacks.tools.verify.runner import run_verify
from stacks.tools.verify.targets import targets_from_plan
from verify_data import DD_GNU, plan_document

DATA = Path(__file__).parent / "data"
TAGGED = (DATA / "nccl_tests_2_16_p5_two_nodes_tagged.log").read_text()
CRON, WPC, CQ, LQ = (
    "kubernetes:batch/v1:CronJob",
    "kubernetes:kueue.x-k8s.io/v1beta2:WorkloadPriorityClass",
    "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue",
    "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue",
)
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def untagged(text: str) -> str:
    return re.sub(r"^\[\d+,\d+\]<stdout>:", "", text, flags=re.M)


# ---- parsers on realistic output ----------------------------------------------------------------------------


def test_the_parser_reads_nccl_tests_output_as_mpirun_tag_output_prints_it():
    """The MPIJob's launcher runs `mpirun --tag-output`: every line starts with `[1,<rank>]<stdout>:` (Open MPI)."""
    result = parse_nccl(TAGGED)
    assert len(result.rows) == 31  # 8 B .. 8 GiB, doubling
    assert result.largest.size_bytes == 8 * 2**30
    assert result.peak_busbw_gbs == pytest.approx(165.18)
    assert result.avg_busbw_gbs == pytest.approx(54.7363)
    assert result.transport == "efa"
    assert result.wrong == 0


def test_tagged_and_untagged_output_read_the_same():
    assert parse_nccl(TAGGED) == parse_nccl(untagged(TAGGED))


def test_a_run_that_fell_back_to_sockets_is_seen_through_the_tags():
    text = TAGGED.replace("NET/OFI Selected provider is efa, fabric is efa-direct (found 32 nics)", "NET/Socket : Using [0]eth0:10.1.0.17<0>").replace(
        "Using network Libfabric", "Using network Socket"
    )
    assert parse_nccl(text).transport == "socket"


def test_verify_reads_the_parsers_from_components():
    """One implementation: verify's parsers module re-exports components/benchmarks.py (which the canary ships)."""
    from components import benchmarks
    from stacks.tools.verify import parsers

    assert parsers.parse_nccl is benchmarks.parse_nccl and parsers.parse_dd is benchmarks.parse_dd


# ---- the driver's verdict, metrics and node marks ------------------------------------------------------------

CONFIG = {
    "namespace": health_canary.NAMESPACE,
    "pool": "p5-train",
    "instanceType": "p5.48xlarge",
    "networkGbps": 3200,
    "minRatio": 0.5,
    "lustre": True,
    "lustreExpectedMBps": 7200.0,
    "timeoutSeconds": 1800,
    "admitSeconds": 900,
    "pollSeconds": 15,
    "resultsConfigMap": health_canary.RESULTS,
    "mpijob": {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": "canary-p5-train", "labels": {}},
        "spec": {"runPolicy": {"suspend": True}},
    },
}
FAST_LOG = DD_GNU + TAGGED.replace("165.18", "412.50")  # a peak of 412.5 GB/s: ratio 1.03
SLOW_LOG = DD_GNU + TAGGED  # a peak of 165.18 GB/s = 1321 Gbps: ratio 0.41 < 0.5


def config(**overrides) -> dict:
    out = copy.deepcopy(CONFIG)
    out.update(overrides)
    return out


def test_a_run_below_the_ratio_fails_naming_the_figures():
    verdict = canary_driver.evaluate(SLOW_LOG, config())
    assert verdict["outcome"] == "failed"
    assert verdict["ratio"] == pytest.approx(165.18 * 8 / 3200)
    assert "below 0.5" in verdict["problems"][0]
    assert verdict["lustreWriteMBps"] == pytest.approx(parse_dd(DD_GNU).mbps)


def test_a_run_at_the_ratio_passes():
    verdict = canary_driver.evaluate(FAST_LOG, config())
    assert (verdict["outcome"], verdict["problems"]) == ("passed", [])


def test_sockets_or_wrong_results_fail_whatever_the_bandwidth():
    socket = FAST_LOG.replace("NET/OFI Selected provider is efa", "NET/Socket : Using").replace("Using network Libfabric", "Using network Socket")
    assert "NCCL used TCP sockets, not EFA" in canary_driver.evaluate(socket, config())["problems"]
    wrong = re.sub(r"(\s)0(\s+\S+\s+\S+\s+\S+\s+)0$", r"\g<1>2\g<2>2", FAST_LOG, flags=re.M)
    assert canary_driver.evaluate(wrong, config())["outcome"] == "failed"


def test_a_log_without_results_is_an_error_not_a_verdict_on_the_nodes():
    verdict = canary_driver.evaluate("mpirun was unable to launch the specified application\n", config())
    assert verdict["outcome"] == "error"
    assert canary_driver.node_patch({"metadata": {"name": "n"}}, verdict) is None


def exposition_families(text: str) -> list[str]:
    """The text format's rules the canary relies on: every sample line well formed, each family's HELP and TYPE
    once and before its samples, a family's lines contiguous."""
    seen: list[str] = []
    for line in text.splitlines():
        if line.startswith("# "):
            kind, family = line.split(" ", 3)[1:3]
            assert kind in ("HELP", "TYPE")
        else:
            assert re.match(r'^[a-z_]+\{(\w+="[^"]*",?)+\} -?[\d.e+]+$', line), line
            family = line.split("{", 1)[0]
        if not seen or seen[-1] != family:
            assert family not in seen, f"family {family} split"
            seen.append(family)
    return seen


def test_the_metrics_put_the_measurement_beside_the_catalog_figure():
    text = canary_driver.prometheus_text({**canary_driver.evaluate(SLOW_LOG, config()), "when": 1767225600}, 1767225600)
    assert 'crucible_canary_nccl_bus_bandwidth_gbps{pool="p5-train",instance_type="p5.48xlarge"} 1321.44' in text
    assert 'crucible_canary_nccl_expected_gbps{pool="p5-train",instance_type="p5.48xlarge"} 3200' in text
    assert 'crucible_canary_last_run_outcome{pool="p5-train",instance_type="p5.48xlarge",outcome="failed"} 1' in text
    assert "crucible_canary_lustre_write_mbps" in text and "crucible_canary_lustre_expected_mbps" in text
    exposition_families(text)


def test_the_metrics_server_merges_the_pools_into_one_valid_exposition():
    texts = [canary_driver.prometheus_text({**canary_driver.evaluate(FAST_LOG, config(pool=p)), "when": 1}, 1) for p in ("a", "b")]
    merged = canary_driver.merge_exposition(texts)
    families = exposition_families(merged)
    assert merged.count("# TYPE crucible_canary_nccl_ratio gauge") == 1
    assert len(families) == len(set(families))


def node(name: str, taints=(), resource_version="7") -> dict:
    return {"metadata": {"name": name, "resourceVersion": resource_version, "labels": {}}, "spec": {"taints": list(taints)}}


def test_a_failed_run_labels_annotates_and_taints_the_node_guarding_the_taint_list():
    verdict = {**canary_driver.evaluate(SLOW_LOG, config()), "when": 1}
    other = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    patch = canary_driver.node_patch(node("n1", [other]), verdict)
    assert patch["metadata"]["labels"] == {labels.CANARY_LABEL: "failed"}
    assert json.loads(patch["metadata"]["annotations"][labels.CANARY_RESULT_ANNOTATION])["ratio"] == pytest.approx(verdict["ratio"])
    assert patch["spec"]["taints"] == [other, labels.CANARY_TAINT]  # the others kept: a merge patch replaces the list
    assert patch["metadata"]["resourceVersion"] == "7"  # a concurrent change to the node is refused, not lost


def test_a_passed_run_only_labels_and_a_tainted_node_is_not_tainted_twice():
    passed = canary_driver.node_patch(node("n1"), {**canary_driver.evaluate(FAST_LOG, config()), "when": 1})
    assert "spec" not in passed and passed["metadata"]["labels"] == {labels.CANARY_LABEL: "passed"}
    again = canary_driver.node_patch(node("n1", [labels.CANARY_TAINT]), {**canary_driver.evaluate(SLOW_LOG, config()), "when": 1})
    assert "spec" not in again


def test_the_driver_uses_the_label_names_of_components_labels():
    assert (canary_driver.CANARY_LABEL, canary_driver.RESULT_ANNOTATION, canary_driver.TAINT) == (
        labels.CANARY_LABEL,
        labels.CANARY_RESULT_ANNOTATION,
        labels.CANARY_TAINT,
    )


class MemoryApi:
    """The calls the driver makes, in memory: the MPI operator and Kueue played as `behaviour` says."""

    def __init__(self, behaviour: str, log: str, nodes=("n1", "n2")):
        self.behaviour, self.log_text = behaviour, log
        self.objects: dict[str, dict] = {f"/api/v1/nodes/{n}": node(n) for n in nodes}
        self.nodes = nodes
        self.patches: list[tuple[str, dict]] = []
        self.deleted: list[str] = []

    def get(self, path):
        obj = self.objects.get(path)
        if obj is not None and obj.get("kind") == "MPIJob" and self.behaviour != "never-admitted":
            obj["spec"]["runPolicy"]["suspend"] = False
            obj["status"] = {"conditions": [{"type": "Succeeded" if self.behaviour == "succeed" else "Failed", "status": "True"}]}
            name, ns = obj["metadata"]["name"], CONFIG["namespace"]
            for i, n in enumerate(self.nodes):
                self.objects[f"/api/v1/namespaces/{ns}/pods/{name}-worker-{i}"] = {
                    "metadata": {"name": f"{name}-worker-{i}", "labels": {"training.kubeflow.org/job-name": name, "training.kubeflow.org/job-role": "worker"}},
                    "spec": {"nodeName": n},
                }
            self.objects[f"/api/v1/namespaces/{ns}/pods/{name}-launcher"] = {
                "metadata": {"name": f"{name}-launcher", "labels": {"training.kubeflow.org/job-name": name, "training.kubeflow.org/job-role": "launcher"}},
                "spec": {},
            }
        return copy.deepcopy(obj)

    def list(self, path, selector):
        wanted = dict(kv.split("=") for kv in selector.split(","))
        return [
            copy.deepcopy(o)
            for p, o in self.objects.items()
            if p.startswith(path + "/") and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]

    def create(self, path, body):
        self.objects[f"{path}/{body['metadata']['name']}"] = copy.deepcopy(body)
        return body

    def merge_patch(self, path, body):
        self.patches.append((path, body))
        target = self.objects[path]
        for key in ("labels", "annotations"):
            target["metadata"].setdefault(key, {}).update((body.get("metadata") or {}).get(key) or {})
        if "spec" in body:
            target["spec"].update(body["spec"])
        if "data" in body:
            target["data"].update(body["data"])
        return target

    def delete(self, path):
        self.deleted.append(path)
        self.objects.pop(path, None)

    def log(self, path):
        return self.log_text


def drive(api: MemoryApi, **overrides) -> dict:
    clock = iter(range(1767225600, 1767225600 + 100000, 15))
    return canary_driver.run(api, config(**overrides), now=lambda: next(clock), sleep=lambda s: None)


def results_of(api: MemoryApi) -> dict:
    return api.objects[f"/api/v1/namespaces/{CONFIG['namespace']}/configmaps/{CONFIG['resultsConfigMap']}"]["data"]


def test_a_slow_pair_of_nodes_is_marked_and_recorded_and_the_run_removed():
    api = MemoryApi("succeed", SLOW_LOG)
    verdict = drive(api)
    assert verdict["outcome"] == "failed" and verdict["nodes"] == ["n1", "n2"]
    for n in ("n1", "n2"):
        marked = api.objects[f"/api/v1/nodes/{n}"]
        assert marked["metadata"]["labels"][labels.CANARY_LABEL] == "failed"
        assert labels.CANARY_TAINT in marked["spec"]["taints"]
    assert "crucible_canary_nccl_ratio" in results_of(api)["p5-train.prom"]
    assert json.loads(results_of(api)["p5-train.json"])["outcome"] == "failed"
    assert [p for p in api.deleted if "/mpijobs/" in p]  # nothing of the run is left


def test_a_healthy_run_labels_the_nodes_passed_and_a_second_run_updates_the_results_in_place():
    api = MemoryApi("succeed", FAST_LOG)
    drive(api)
    first = dict(results_of(api))
    api.log_text = SLOW_LOG
    drive(api)
    assert json.loads(first["p5-train.json"])["outcome"] == "passed"
    assert json.loads(results_of(api)["p5-train.json"])["outcome"] == "failed"
    assert any(p.endswith(CONFIG["resultsConfigMap"]) for p, _ in api.patches)


def test_a_run_kueue_never_admits_is_no_fault_of_the_nodes():
    """No idle capacity: the run waits admitMinutes, is withdrawn, and says so in the metrics; no node is touched."""
    api = MemoryApi("never-admitted", SLOW_LOG)
    verdict = drive(api)
    assert verdict["outcome"] == "not_admitted"
    assert not [p for p, _ in api.patches if "/nodes/" in p]
    assert 'outcome="not_admitted"} 1' in results_of(api)["p5-train.prom"]
    assert [p for p in api.deleted if "/mpijobs/" in p]


def test_the_run_is_submitted_suspended_to_the_canary_queue_at_the_canary_priority():
    pool = health_canary.CanaryPool("p5-train", "p5.48xlarge", 8, 32, 3200, ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},))
    job = health_canary.canary_mpijob(pool, canary_args(pool))
    assert job["spec"]["runPolicy"]["suspend"] is True  # Kueue's webhooks watch only team namespaces
    assert job["metadata"]["labels"] == {labels.QUEUE_LABEL: health_canary.LOCAL_QUEUE, health_canary.PRIORITY_LABEL: health_canary.PRIORITY_CLASS}
    upstream.assert_valid(job)


def canary_args(pool, **overrides):
    values = dict(
        system_pool="system",
        cohort="teams",
        covered=("cpu", "memory", "nvidia.com/gpu", "vpc.amazonaws.com/efa"),
        pools=(pool,),
        schedule="23 */6 * * *",
        min_ratio=0.5,
        nccl_image="img:1",
        driver_image="python:1",
    )
    values.update(overrides)
    return health_canary.HealthCanaryArgs(**values)


# ---- what the platform layer registers (train-p5 ships it on) ----------------------------------------------------


@functools.lru_cache(maxsize=None)
def train_p5():
    return shipped_plan("train-p5").run


def manifest(resource) -> dict:
    return resource.inputs


def test_train_p5_runs_one_canary_per_efa_gpu_pool_on_the_system_nodes():
    cronjobs = [r for r in train_p5().of_type(CRON) if r.name.startswith("health-canary-")]
    assert [r.inputs["metadata"]["name"] for r in cronjobs] == ["canary-p5-train"]
    spec = cronjobs[0].inputs["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert list(pod["nodeSelector"]) == [labels.POOL_LABEL] and labels.SYSTEM_TOLERATION in pod["tolerations"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert labels.QUEUE_LABEL not in (spec["jobTemplate"].get("metadata") or {}).get("labels", {})  # the driver is no Kueue workload


def test_the_canary_priority_is_below_every_other_workload_priority_class():
    classes = {r.inputs["metadata"]["name"]: r.inputs["value"] for r in train_p5().of_type(WPC)}
    assert classes[health_canary.PRIORITY_CLASS] == health_canary.CANARY_PRIORITY
    assert all(value > health_canary.CANARY_PRIORITY for name, value in classes.items() if name != health_canary.PRIORITY_CLASS)
    assert health_canary.CANARY_PRIORITY < 0  # below Kueue's default too: a job without a class outranks it


def test_the_canary_queue_only_borrows_idle_capacity_and_never_preempts():
    (queue,) = [r.inputs for r in train_p5().of_type(CQ) if r.inputs["metadata"]["name"] == health_canary.CLUSTER_QUEUE]
    team_queues = [r.inputs for r in train_p5().of_type(CQ) if r.inputs["metadata"]["name"] != health_canary.CLUSTER_QUEUE]
    assert queue["spec"]["cohortName"] == team_queues[0]["spec"]["cohortName"]
    quotas = [r["nominalQuota"] for g in queue["spec"]["resourceGroups"] for f in g["flavors"] for r in f["resources"]]
    assert quotas and set(quotas) == {"0"}
    assert queue["spec"]["preemption"] == {"withinClusterQueue": "Never", "reclaimWithinCohort": "Never", "borrowWithinCohort": {"policy": "Never"}}
    team_flavors = [f["name"] for f in team_queues[0]["spec"]["resourceGroups"][0]["flavors"]]
    assert [f["name"] for f in queue["spec"]["resourceGroups"][0]["flavors"]] == team_flavors


@pytest.mark.parametrize("kind", [WPC, CQ, LQ])
def test_the_canary_kueue_objects_are_strictly_valid_against_the_v1beta2_crds(kind):
    found = [r for r in train_p5().of_type(kind) if r.name.startswith("health-canary-")]
    assert found
    for r in found:
        upstream.assert_valid({k: v for k, v in r.inputs.items() if not k.startswith("__")})


@functools.lru_cache(maxsize=None)
def shipped_code() -> dict[str, str]:
    (code,) = [r for r in train_p5().of_type(CONFIG_MAP) if r.inputs["metadata"]["name"] == health_canary.CODE]
    return code.inputs["data"]


def test_the_shipped_mpijob_is_strictly_valid_and_runs_the_verify_line_after_the_lustre_write():
    cfg = json.loads(shipped_code()["pool-p5-train.json"])
    job = cfg["mpijob"]
    upstream.assert_valid(job)
    (launcher,) = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"]
    script = launcher["command"][2]
    assert script.index("dd if=/dev/zero") < script.index("/opt/nccl-tests/build/all_reduce_perf")
    worker = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"] == {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32"}  # the catalog's p5.48xlarge
    assert (cfg["networkGbps"], cfg["minRatio"]) == (3200, 0.5)


def test_the_configmap_ships_the_parsers_verify_uses_and_the_driver_runs_from_it_alone(tmp_path):
    """Written out and run in an isolated interpreter (no Crucible on the path): the driver imports only the standard
    library and the benchmarks.py beside it, exactly as in the pod."""
    code = shipped_code()
    assert code["crucible_benchmarks.py"] == (Path(__file__).parent.parent / "components" / "benchmarks.py").read_text()
    for name, text in code.items():
        (tmp_path / name).write_text(text)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import canary_driver, json; "
        "print(json.dumps(canary_driver.evaluate(open(sys.argv[2]).read(), json.load(open(sys.argv[3])))))"
    )
    (tmp_path / "run.log").write_text(SLOW_LOG)
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(tmp_path), str(tmp_path / "run.log"), str(tmp_path / "pool-p5-train.json")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["outcome"] == "failed"


def test_the_metrics_are_scraped_by_a_service_monitor():
    monitors = [
        r.inputs
        for r in train_p5().of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
        if r.inputs["metadata"]["namespace"] == health_canary.NAMESPACE
    ]
    assert [m["spec"]["endpoints"][0]["port"] for m in monitors] == ["metrics"]


# ---- the spec ---------------------------------------------------------------------------------------------------

TEAMS = [{"name": "ml", "memberGroups": ["ml-users"]}]
EFA_POOLS = [{"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": "v20251108"}]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_canary_is_off_by_default(stack):
    assert spec_of(stack).training.health_canary.enabled is False


def test_the_canary_needs_teams_and_an_efa_gpu_pool_said_in_one_pass():
    with pytest.raises(ConfigError) as err:
        spec_of("dev", teams=[], training={"healthCanary": {"enabled": True}}, addons={"mpiOperator": {"enabled": False}})
    text = str(err.value)
    assert text.count("training.healthCanary.enabled") >= 2, text
    assert "teams" in text and "mpiOperator" in text


@pytest.mark.parametrize(
    "settings, key, shown",
    [
        ({"schedule": "every 6 hours"}, "training.healthCanary.schedule", "'every 6 hours'"),
        ({"minBusBandwidthRatio": 0}, "training.healthCanary.minBusBandwidthRatio", "got 0"),
        ({"admitMinutes": 60, "timeoutMinutes": 30}, "training.healthCanary.admitMinutes", "got 60"),
        ({"driverImage": "python"}, "training.healthCanary.driverImage", "'python'"),
    ],
)
def test_bad_canary_settings_are_refused_naming_the_key_and_value(settings, key, shown):
    with pytest.raises(ConfigError) as err:
        spec_of("dev", pools=EFA_POOLS, teams=TEAMS, training={"healthCanary": {"enabled": True, **settings}})
    assert key in str(err.value) and shown in str(err.value), str(err.value)


def test_without_observability_there_is_no_service_monitor_but_the_canary_still_records():
    spec = spec_of("dev", pools=EFA_POOLS, teams=TEAMS, training={"healthCanary": {"enabled": True}}, addons={"observability": {"enabled": False}})
    run = run_program(addons_program(spec, output="workloads"), stack="test", config={})
    assert [r for r in run.of_type(CRON) if r.name.startswith("health-canary-")]
    assert not [r for r in run.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor") if "canary" in r.name]


# ---- crucible verify health ---------------------------------------------------------------------------------

HEALTHY_CONDITIONS = [{"type": "Ready", "status": "True"}] + [{"type": c, "status": "True"} for c in labels.NODE_HEALTH_CONDITIONS]


def gpu_node(name: str, *, burn_in="passed", conditions=None, canary=None, taints=()) -> dict:
    node_labels = {"karpenter.sh/nodepool": "train", "node.kubernetes.io/instance-type": "p5.48xlarge"}
    if burn_in:
        node_labels[labels.BURN_IN_LABEL] = burn_in
    annotations = {}
    if canary:
        node_labels[labels.CANARY_LABEL] = canary
        annotations[labels.CANARY_RESULT_ANNOTATION] = json.dumps(
            {"outcome": canary, "ratio": 0.31, "problems": ["bus bandwidth 124.0 GB/s is 0.31 of 3200 Gbps, below 0.5"]}
        )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels, "annotations": annotations},
        "spec": {"taints": list(taints)},
        "status": {"allocatable": {"nvidia.com/gpu": "8"}, "conditions": conditions if conditions is not None else copy.deepcopy(HEALTHY_CONDITIONS)},
    }


def results_configmap(outcome: str, ratio: float) -> tuple:
    data = {"train.json": json.dumps({"outcome": outcome, "ratio": ratio, "nodes": ["a", "b"]}), "train.prom": "x 1\n"}
    return ("api/v1", health_canary.NAMESPACE, "configmaps", {"metadata": {"name": health_canary.RESULTS, "namespace": health_canary.NAMESPACE}, "data": data})


@pytest.fixture
def health():
    started: list[FakeCluster] = []

    def run(nodes, extra=(), canary=True):
        cluster = FakeCluster(Scenario(objects=[("api/v1", None, "nodes", n) for n in nodes] + list(extra)))
        started.append(cluster)
        url = cluster.start()
        kubeconfig = f'apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters: [{{name: t, cluster: {{server: "{url}"}}}}]\nusers: [{{name: t, user: {{token: x}}}}]\ncontexts: [{{name: t, context: {{cluster: t, user: t}}}}]\n'
        client = KubeClient(parse_kubeconfig(kubeconfig), timeout=0.5)
        options = Options(check_timeout=5, deadline=20, poll_interval=0.01, request_timeout=0.5, cleanup_timeout=5)
        targets = dataclasses.replace(targets_from_plan(plan_document()), canary=canary)  # a stack with the canary, or without
        result = run_verify(client, targets, options, only=["health"])
        return {r.target: r for r in result.rows}, cluster

    yield run
    for cluster in started:
        cluster.stop()


def test_without_the_canary_health_never_reads_its_namespace(health):
    # verify's RBAC grants the results ConfigMap only where the stack installs the canary (addons/verify.py
    # CANARY_RULES): reading it elsewhere is a 403 in production.
    rows, cluster = health([gpu_node("a")], canary=False)
    assert rows["train"].status == "pass" and "canary" not in rows["train"].measured
    assert not [r for r in cluster.requests if f"/namespaces/{health_canary.NAMESPACE}/" in r]


def test_with_the_canary_verify_may_read_its_results_and_nothing_else_there(tmp_path):
    from stacks.tools.plan.locate import STACKS_DIR, plan_stack

    # train-p5 (canary on) with crucible verify's place in the cluster on too (prod has verify, not the canary)
    config = yaml.safe_load((STACKS_DIR / "Pulumi.train-p5.yaml").read_text())
    config["config"].setdefault("crucible:addons", {})["verify"] = {"enabled": True}
    (tmp_path / "Pulumi.train-p5.yaml").write_text(yaml.safe_dump(config))
    run = plan_stack(str(tmp_path / "Pulumi.train-p5.yaml")).run
    [role] = [
        r
        for r in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
        if r.inputs["metadata"].get("namespace") == health_canary.NAMESPACE and r.inputs["metadata"]["name"] == "crucible-verify"
    ]
    assert role.inputs["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [health_canary.RESULTS], "verbs": ["get"]}]
    namespace = run.one("kubernetes:core/v1:Namespace", "health-canary-ns")
    assert namespace.urn in role.dependencies  # created after the canary's namespace, not before it


def test_health_is_a_registered_verify_check():
    assert "health" in CHECKS


def test_a_healthy_pool_passes_and_reports_the_canarys_last_run(health):
    rows, cluster = health([gpu_node("a"), gpu_node("b", canary="passed")], [results_configmap("passed", 0.93)])
    assert rows["train"].status == "pass", rows["train"]
    assert rows["train"].measured == "2/2 nodes healthy, canary last run passed, ratio 0.93"
    assert rows["cpu"].status == "skip"  # scaled to zero
    assert not cluster.creates  # read only


@pytest.mark.parametrize(
    "bad, why",
    [
        (gpu_node("b", burn_in="failed"), "burn-in failed"),
        (
            gpu_node(
                "b",
                burn_in="failed",
                conditions=HEALTHY_CONDITIONS + [{"type": "CrucibleBurnIn", "status": "False", "reason": "DcgmDiagFailed", "message": "level 2: PCIe"}],
            ),
            "burn-in failed (DcgmDiagFailed: level 2: PCIe)",
        ),
        (
            gpu_node("b", conditions=HEALTHY_CONDITIONS[:1] + [{"type": "AcceleratedHardwareReady", "status": "False", "reason": "NvidiaXID79Error"}]),
            "AcceleratedHardwareReady=False (NvidiaXID79Error)",
        ),
        (gpu_node("b", canary="failed", taints=[labels.CANARY_TAINT]), "marked by the canary (bus bandwidth 124.0 GB/s is 0.31 of 3200 Gbps, below 0.5)"),
        (gpu_node("b", conditions=[{"type": "Ready", "status": "False"}]), "Ready=False"),
    ],
    ids=["burn-in", "burn-in-condition", "node-monitoring", "canary", "not-ready"],
)
def test_a_faulty_node_fails_its_pool_naming_the_node_and_the_cause(health, bad, why):
    rows, _ = health([gpu_node("a"), bad])
    row = rows["train"]
    assert row.status == "fail"
    assert row.detail == f"b: {why}"
    assert row.measured.startswith("1/2 nodes healthy")


def test_a_node_still_burning_in_or_not_yet_reported_on_is_said_not_failed(health):
    burning = gpu_node("a", burn_in="pending", conditions=[{"type": "Ready", "status": "True"}], taints=[labels.BURN_IN_STARTUP_TAINT])
    rows, _ = health([burning])
    assert rows["train"].status == "pass"
    assert "a: burn-in in progress" in rows["train"].detail and "node monitoring" in rows["train"].detail


def test_the_plan_shows_each_pools_canary_and_the_runtimes_restart_settings():
    from helpers import shipped_report

    document, lines = shipped_report("train-p5")
    resilience = document["resilience"]
    assert resilience["runtimes"]["torch-distributed-efa"] == {"maxRestarts": 3, "restartStrategy": "BlockingRecreate", "gracePeriodSeconds": 120}
    assert resilience["canary"] == {
        "p5-train": {"schedule": "23 */6 * * *", "instanceType": "p5.48xlarge", "networkGbps": 3200, "minRatio": 0.5, "lustre": True}
    }
    assert any(line.strip().startswith("canary  p5-train: '23 */6 * * *' on idle capacity") for line in lines)


# ---- the canary's MPIJob in the plan's workload checks -------------------------------------------------------------


def canary_entries(block: dict) -> dict[str, dict]:
    return {e["role"]: e for e in block["workloads"] if e["source"] == "canary"}


def test_the_mpijob_in_the_configmap_is_judged_like_every_workload_of_the_plan():
    """The driver applies the MPIJob at run time, so no resource of the plan is it: the plan reads it out of the code
    ConfigMap and judges the launcher and the two workers the MPI operator makes from it (lands, admitted, Pod
    Security, reaches)."""
    from helpers import shipped_report

    entries = canary_entries(shipped_report("train-p5")[0]["workloads"])
    job = json.loads(shipped_code()["pool-p5-train.json"])["mpijob"]
    assert set(entries) == {"Launcher", "Worker"}
    for role, entry in entries.items():
        assert entry["name"] == f"crucible-canary/MPIJob canary-p5-train {role}"
        assert entry["namespaces"] == [health_canary.NAMESPACE]
        assert entry["replicas"] == job["spec"]["mpiReplicaSpecs"][role]["replicas"]
        assert entry["template"] == job["spec"]["mpiReplicaSpecs"][role]["template"]  # the ConfigMap's, not a copy of the code
        assert set(entry["checks"]) == {"lands", "admitted", "podSecurity", "reaches"}
        assert all(check["ok"] for check in entry["checks"].values()), entry["checks"]
        assert entry["checks"]["lands"]["pools"] == [{"pool": "p5-train", "instanceTypes": ["p5.48xlarge"]}]
        admitted = entry["checks"]["admitted"]
        assert (admitted["queue"], admitted["clusterQueue"], admitted["flavor"]) == (health_canary.LOCAL_QUEUE, health_canary.CLUSTER_QUEUE, "p5-train")
        assert admitted["priority"] == {"class": health_canary.PRIORITY_CLASS, "value": health_canary.CANARY_PRIORITY}
    assert entries["Worker"]["replicas"] == 2


def judged_with_canary(edit) -> dict:
    """The train-p5 plan's workloads judged again with the canary's MPIJob edited inside the registered ConfigMap."""
    from helpers import report_copy
    from stacks.tools.plan.lands import evaluate, objects_of
    from stacks.tools.plan.workloads import canary_workloads

    document = report_copy("train-p5")
    (code,) = [r for r in document["resources"] if r["type"] == CONFIG_MAP and r["inputs"]["metadata"]["name"] == health_canary.CODE]
    key = health_canary.pool_config_key("p5-train")
    cfg = json.loads(code["inputs"]["data"][key])
    edit(cfg["mpijob"])
    code["inputs"]["data"][key] = json.dumps(cfg)
    block = document["workloads"]
    entries = [e for e in block["workloads"] if e["source"] != "canary"] + canary_workloads(objects_of(document["resources"]))
    return evaluate(document["resources"], entries, block.get("objects") or [], block.get("assumedResources") or [], block.get("deployNetwork"))


def test_a_canary_worker_asking_for_more_gpus_than_its_type_has_lands_nowhere_naming_the_canary():
    def more_gpus(job):
        (worker,) = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
        worker["resources"]["limits"]["nvidia.com/gpu"] = worker["resources"]["requests"]["nvidia.com/gpu"] = "16"  # p5.48xlarge has 8

    block = judged_with_canary(more_gpus)
    assert not canary_entries(block)["Worker"]["checks"]["lands"]["ok"]
    messages = [v["message"] for v in block["violations"] if v["level"] == "mandatory" and v["check"] == "lands"]
    assert messages == [
        "crucible-canary/MPIJob canary-p5-train Worker lands nowhere: pool p5-train: nvidia.com/gpu requests 16, p5.48xlarge has 8 allocatable"
    ], messages


def test_a_canary_run_to_a_queue_that_does_not_exist_is_never_admitted_naming_the_canary():
    def other_queue(job):
        job["metadata"]["labels"][labels.QUEUE_LABEL] = "nowhere"

    block = judged_with_canary(other_queue)
    failed = {v["workload"] for v in block["violations"] if v["level"] == "mandatory" and v["check"] == "admitted"}
    assert failed == {"crucible-canary/MPIJob canary-p5-train Launcher", "crucible-canary/MPIJob canary-p5-train Worker"}
    assert "nowhere" in canary_entries(block)["Worker"]["checks"]["admitted"]["summary"] + " ".join(
        canary_entries(block)["Worker"]["checks"]["admitted"]["reasons"]
    )
