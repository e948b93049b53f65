"""`crucible verify` with the REAL prod plan against a fake API built from that plan (tests/fakekube.py
`cluster_from_plan`: its namespaces and Pod Security labels, Karpenter pools, Kueue queues, flavors and priority
classes, nodes per the catalog launched when a pod asks for them, the verify group's RBAC enforced).

A healthy cluster passes, each injected fault fails the check that owns it, nothing is left behind, every call is
allowed by the RBAC the stack ships and every rule of it is used.
"""

from __future__ import annotations

import functools

import pytest

from addons.verify import GROUP, NAMESPACE, PRIORITY_CLASS, QUEUE
from fakekube import FakeCluster, catalog_node, cluster_from_plan, verify_rbac
from stacks.tools.plan.pod_security import workload_violations
from stacks.tools.verify.checks.base import Options
from stacks.tools.verify.kube import KubeClient, KubeError, parse_kubeconfig
from stacks.tools.verify.runner import run_verify
from stacks.tools.verify.targets import targets_from_plan
from verify_data import dd_streams, nccl_log

TEAMS = ("llm", "search", "vision")


@functools.lru_cache(maxsize=None)
def _document() -> dict:
    from helpers import shipped_report

    return shipped_report("prod")[0]


def _options(**overrides) -> Options:
    values = dict(check_timeout=4, deadline=40, poll_interval=0.01, request_timeout=0.5, device_settle=0.1, cleanup_timeout=5, pool_timeout=3)
    values.update(overrides)
    return Options(**values)


def _kubeconfig(url: str) -> str:
    return (
        "current-context: t\nclusters: [{name: t, cluster: {server: '%s'}}]\nusers: [{name: t, user: {token: verify}}]\n"
        "contexts: [{name: t, context: {cluster: t, user: t}}]\n" % url
    )


def healthy(**overrides):
    values = dict(group=GROUP, nccl_log=nccl_log(), lustre_log=dd_streams(4))
    values.update(overrides)
    return cluster_from_plan(_document(), **values)


@pytest.fixture
def start():
    started: list[FakeCluster] = []

    def run(scenario, **options):
        cluster = FakeCluster(scenario)
        started.append(cluster)
        client = KubeClient(parse_kubeconfig(_kubeconfig(cluster.start())), timeout=0.5, backoff=0.01)
        return cluster, run_verify(client, targets_from_plan(_document()), _options(**options))

    yield run
    for cluster in started:
        cluster.stop()


@pytest.fixture(scope="module")
def healthy_run():
    cluster = FakeCluster(healthy())
    client = KubeClient(parse_kubeconfig(_kubeconfig(cluster.start())), timeout=0.5, backoff=0.01)
    try:
        yield cluster, run_verify(client, targets_from_plan(_document()), _options())
    finally:
        cluster.stop()


def by_check(result, check: str) -> dict:
    return {r.target: r for r in result.rows if r.check == check}


def assert_nothing_left(cluster: FakeCluster) -> None:
    assert cluster.labelled() == [], f"left behind: {[o['metadata']['name'] for o in cluster.labelled()]}"


# ---- a healthy prod cluster ----------------------------------------------------------------------------------


def test_a_healthy_prod_cluster_passes_every_check(healthy_run):
    cluster, result = healthy_run
    assert result.passed, [(r.check, r.target, r.status, r.detail) for r in result.rows if r.status not in ("pass", "skip")]
    assert {r.check for r in result.rows} == {"pools", "devices", "health", "kueue", "queues", "lustre", "jupyterhub", "nccl"}
    assert cluster.refused == []  # no 403: not from RBAC, not from Pod Security


def test_devices_expect_one_nodes_figures_from_the_catalog(healthy_run):
    _, result = healthy_run
    devices = by_check(result, "devices")
    assert (devices["train"].measured, devices["train"].expected) == ("gpu 8, efa 32", "gpu 8, efa 32")
    assert devices["serve"].expected == "gpu 1, efa 0" and devices["inf"].expected == "neuron 1, efa 0"


def test_the_nccl_mpijob_asks_one_p5_per_worker_through_the_verify_queue(healthy_run):
    cluster, result = healthy_run
    [(key, body)] = [(k, b) for k, b in cluster.bodies.items() if k[0] == "mpijobs"]
    assert key[1] == NAMESPACE
    assert body["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == QUEUE
    assert body["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == PRIORITY_CLASS
    worker = body["spec"]["mpiReplicaSpecs"]["Worker"]
    limits = worker["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert worker["replicas"] == 2 and limits["nvidia.com/gpu"] == "8" and limits["vpc.amazonaws.com/efa"] == "32"
    assert cluster.admissions[(NAMESPACE, key[2])] == (QUEUE, "train")
    assert by_check(result, "nccl")["train"].status == "pass"


def test_probes_use_the_verify_queue_and_team_samples_land_on_the_cpu_flavor(healthy_run):
    cluster, _ = healthy_run
    probes = {k: v for k, v in cluster.admissions.items() if k[0] == NAMESPACE}
    assert {v for v in probes.values()} >= {(QUEUE, "train"), (QUEUE, "serve"), (QUEUE, "inf")}
    samples = {k[0]: v for k, v in cluster.admissions.items() if k[0] in TEAMS}
    assert samples == {team: (team, "cpu") for team in TEAMS}  # never the first flavor of the ClusterQueue (a p5)
    for (plural, namespace, _), body in cluster.bodies.items():
        if plural == "jobs" and namespace in TEAMS:
            assert body["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == PRIORITY_CLASS


def test_the_hub_is_reached_from_a_pod_its_network_policy_admits_not_the_api_server_proxy(healthy_run):
    cluster, result = healthy_run
    assert by_check(result, "jupyterhub")["jupyterhub/hub"].status == "pass"
    assert not any("/proxy" in r for r in cluster.requests)
    [body] = [b for (p, ns, _), b in cluster.bodies.items() if p == "pods" and ns == "jupyterhub"]
    assert body["metadata"]["labels"]["hub.jupyter.org/network-access-hub"] == "true"


def test_lustre_is_written_by_several_clients_and_streams_on_the_training_pool(healthy_run):
    cluster, result = healthy_run
    row = by_check(result, "lustre")[f"{NAMESPACE}/lustre"]
    assert row.status == "pass" and len(row.data["clients"]) == 2 and row.data["streamsPerClient"] == 4
    assert row.data["expectedWriteMBps"] == 3600.0
    assert row.data["writeMBps"] == pytest.approx(sum(c["writeMBps"] for c in row.data["clients"]), abs=0.2)
    assert row.data["ratio"] == pytest.approx(row.data["writeMBps"] / 3600.0, abs=1e-3) and "provisioned" in row.data["ratioMeaning"]
    pods = [b for (p, ns, _), b in cluster.bodies.items() if p == "pods" and ns == NAMESPACE]
    assert len(pods) == 2 and all(b["spec"]["nodeSelector"]["karpenter.sh/nodepool"] == "train" for b in pods)
    assert all(b["spec"]["nodeSelector"]["topology.kubernetes.io/zone"] == "us-east-1a" for b in pods)


def test_everything_verify_creates_meets_restricted_and_has_a_ttl(healthy_run):
    cluster, _ = healthy_run
    assert cluster.bodies
    for (plural, _, name), body in cluster.bodies.items():
        assert workload_violations(body, "restricted") == [], name
        spec = body["spec"]
        if plural == "jobs":
            assert spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0, name
        elif plural == "mpijobs":
            assert spec["runPolicy"]["activeDeadlineSeconds"] > 0 and spec["runPolicy"]["ttlSecondsAfterFinished"] > 0, name
        else:
            assert plural == "pods" and spec["activeDeadlineSeconds"] > 0, name


def test_nothing_is_left_and_cleanup_is_clean(healthy_run):
    cluster, result = healthy_run
    assert result.cleanup.ok and result.cleanup.deleted
    assert_nothing_left(cluster)


def test_every_call_is_allowed_by_the_stacks_rbac_and_every_granted_verb_is_used(healthy_run):
    cluster, _ = healthy_run
    grants = verify_rbac(_document(), GROUP)
    assert grants and cluster.refused == []
    used = set(cluster.calls)
    unused = []
    for scope, rule in grants:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    if not any(v == verb and g == group and r == resource and (scope is None or ns == scope) for v, g, r, ns in used):
                        unused.append((scope, group, resource, verb))
    assert unused == [], f"granted but never called: {unused}"
    assert not any("*" in v for _, rule in grants for v in (*rule["verbs"], *rule["resources"], *rule["apiGroups"]))


def test_the_rbac_refuses_what_verify_does_not_need(start):
    cluster = FakeCluster(healthy())
    client = KubeClient(parse_kubeconfig(_kubeconfig(cluster.start())), timeout=0.5)
    try:
        for path, body in (
            ("/api/v1/namespaces/llm/pods", {"metadata": {"name": "x"}, "spec": {}}),  # no bare pods in team namespaces
            ("/api/v1/namespaces", {"metadata": {"name": "x"}}),  # no namespaces
            ("/api/v1/namespaces/llm/secrets", {"metadata": {"name": "x"}}),
        ):
            with pytest.raises(KubeError) as err:
                client.create(path, body)
            assert err.value.status == 403 and "cannot create" in err.value.message
        with pytest.raises(KubeError):
            client.get("/api/v1/namespaces/llm/secrets/s")
    finally:
        cluster.stop()


def test_pod_security_refuses_a_pod_without_the_restricted_security_context():
    cluster = FakeCluster(healthy(group=None))
    client = KubeClient(parse_kubeconfig(_kubeconfig(cluster.start())), timeout=0.5)
    try:
        with pytest.raises(KubeError) as err:
            client.create(f"/api/v1/namespaces/{NAMESPACE}/pods", {"metadata": {"name": "bare"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        assert err.value.status == 403 and 'violates PodSecurity "restricted:latest"' in err.value.message
    finally:
        cluster.stop()


# ---- each injected fault fails the check that owns it ----------------------------------------------------------


def _with_node(pool: str, instance_type: str, **allocatable) -> dict:
    scenario = healthy()
    n = catalog_node("ip-10-30-9-9", pool, instance_type, 32)
    n["status"]["allocatable"].update(allocatable)
    return {**scenario.probe_nodes, pool: n}


def _only_failing(result) -> set[tuple[str, str]]:
    return {(r.check, r.target) for r in result.rows if r.status not in ("pass", "skip")}


def test_a_node_advertising_fewer_gpus_fails_devices(start):
    cluster, result = start(healthy(probe_nodes=_with_node("train", "p5.48xlarge", **{"nvidia.com/gpu": "7"})))
    row = by_check(result, "devices")["train"]
    assert row.status == "fail" and row.measured == "gpu 7, efa 32" and row.expected == "gpu 8, efa 32"
    assert ("devices", "train") in _only_failing(result) and not result.passed
    assert_nothing_left(cluster)


def test_a_node_advertising_fewer_efa_devices_fails_devices(start):
    cluster, result = start(healthy(probe_nodes=_with_node("train", "p5.48xlarge", **{"vpc.amazonaws.com/efa": "16"})))
    row = by_check(result, "devices")["train"]
    assert row.status == "fail" and row.measured == "gpu 8, efa 16"
    assert_nothing_left(cluster)


def test_nccl_falling_back_to_tcp_fails_nccl(start):
    import verify_data

    slow = [(s, c, t * 100, a / 100, b / 100, t2 * 100, a2 / 100, b2 / 100) for s, c, t, a, b, t2, a2, b2 in verify_data.NCCL_ROWS]
    cluster, result = start(healthy(nccl_log=nccl_log(rows=slow, transport_line="NCCL INFO NET/Socket : Using [0]eth0:10.30.2.3<0>")))
    row = by_check(result, "nccl")["train"]
    assert row.status == "fail" and "TCP sockets" in row.detail
    assert _only_failing(result) == {("nccl", "train")}
    assert_nothing_left(cluster)


def test_a_queue_that_never_admits_fails_queues_for_that_team_only(start):
    scenario = healthy()
    scenario.objects = [o for o in scenario.objects if not (o[2] == "clusterqueues" and o[3]["metadata"]["name"] == "search")]
    cluster, result = start(scenario)
    queues = by_check(result, "queues")
    assert queues["search/default"].status == "fail" and "not admitted" in queues["search/default"].detail
    assert queues["llm/default"].status == "pass" and queues["vision/default"].status == "pass"
    assert _only_failing(result) == {("queues", "search/default")}
    assert_nothing_left(cluster)


def test_an_unwritable_lustre_mount_fails_lustre(start):
    cluster, result = start(healthy(lustre_readonly=True))
    row = by_check(result, "lustre")[f"{NAMESPACE}/lustre"]
    assert row.status == "fail" and "Read-only file system" in row.detail
    assert _only_failing(result) == {("lustre", f"{NAMESPACE}/lustre")}
    assert_nothing_left(cluster)


def test_a_hub_that_does_not_answer_fails_jupyterhub(start):
    cluster, result = start(healthy(hub_status=503, hub_body='{"message": "Service Unavailable"}'))
    row = by_check(result, "jupyterhub")["jupyterhub/hub"]
    assert row.status == "fail" and row.measured == "HTTP 503"
    assert _only_failing(result) == {("jupyterhub", "jupyterhub/hub")}
    assert_nothing_left(cluster)


def test_a_pool_that_never_gets_a_node_times_out_alone_within_its_budget(start):
    scenario = healthy()
    scenario.probe_nodes = {k: v for k, v in scenario.probe_nodes.items() if k != "serve"}
    cluster, result = start(scenario, check_timeout=3, pool_timeout=1)
    devices = by_check(result, "devices")
    assert devices["serve"].status == "timeout" and "budget" in devices["serve"].detail
    assert devices["train"].status == "pass" and devices["inf"].status == "pass"  # the slow pool did not starve the rest
    assert_nothing_left(cluster)


# ---- the API as production serves it -------------------------------------------------------------------------


def test_a_throttled_and_paginating_api_still_passes(start):
    cluster, result = start(healthy(throttle=3, flaky=2, page_size=1))
    assert result.passed, _only_failing(result)
    assert_nothing_left(cluster)


def test_verify_polls_never_watches_and_reads_every_list_in_pages(healthy_run):
    # issue 18 B.6: verify follows its probes by polling within each check's budget (stacks/tools/verify/kube.py);
    # every collection it reads is a paginated list (limit, then continue), so a large cluster is read page by page
    cluster, result = healthy_run
    assert result.passed
    assert not [q for q in cluster.queries if q[2].get("watch")] and "watch" not in {verb for verb, *_ in cluster.calls}
    lists = [(path, q) for method, path, q in cluster.queries if method == "GET" and path != "/version" and cluster._parse(path)[3] is None]
    assert lists and [path for path, q in lists if not q.get("limit")] == []


def test_objects_held_by_finalizers_are_waited_for(start):
    cluster, result = start(healthy(finalize_after={"pods": 3, "jobs": 2}))
    assert result.passed and result.cleanup.ok
    assert_nothing_left(cluster)


def test_an_object_stuck_terminating_fails_the_cleanup_naming_its_finalizer(start):
    cluster, result = start(healthy(stuck=("pods",)), cleanup_timeout=0.5)
    assert not result.cleanup.ok and not result.passed
    assert any("still Terminating" in e and "crucible.test/slow-controller" in e for e in result.cleanup.errors)


def test_a_terminating_node_is_not_the_one_judged(start):
    scenario = healthy()
    draining = catalog_node("ip-10-30-7-7", "train", "p5.48xlarge", 32)
    draining["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    draining["status"]["allocatable"]["nvidia.com/gpu"] = "0"  # its device plugin already gone
    scenario.objects.append(("api/v1", None, "nodes", draining))
    cluster, result = start(scenario)
    row = by_check(result, "devices")["train"]
    assert row.status == "pass" and row.data["node"] != "ip-10-30-7-7" and row.data["probe"]
