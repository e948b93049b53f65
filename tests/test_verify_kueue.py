"""`crucible verify`'s kueue check: the WorkloadPriorityClasses and the Topology the plan declares are in the cluster
as declared (read from a fake API built from the real plan, with the verify group's RBAC enforced); a missing or a
different one fails naming it, one the plan does not declare is shown and not judged."""

from __future__ import annotations

import copy
import functools

import pytest

from addons.verify import CLUSTER_RULES, GROUP
from fakekube import KUEUE_API, FakeCluster, cluster_from_plan, verify_rbac
from helpers import REPO
from stacks.tools.verify.checks.base import Options
from stacks.tools.verify.kube import KubeClient, parse_kubeconfig
from stacks.tools.verify.runner import run_verify
from stacks.tools.verify.targets import targets_from_plan

WPC = "kubernetes:kueue.x-k8s.io/v1beta2:WorkloadPriorityClass"


@functools.lru_cache(maxsize=None)
def prod() -> dict:
    from helpers import shipped_report

    return shipped_report("prod")[0]


@pytest.fixture(scope="module")
def tas(tmp_path_factory) -> dict:
    """train-p5 with its p5 pool topology-aware (`queues.topologyAwarePools`): the plan registers the Topology; and
    verify's access on (`addons.verify`), for the RBAC it grants."""
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.report import build_report

    text = (REPO / "stacks" / "Pulumi.train-p5.yaml").read_text()
    edited = text.replace(
        "\n  crucible:teams:\n",
        "\n  crucible:queues:\n    topologyAwarePools: [p5-train]\n  crucible:addons:\n    verify:\n      enabled: true\n  crucible:teams:\n",
        1,
    )
    assert edited != text
    path = tmp_path_factory.mktemp("tas") / "Pulumi.train-p5.yaml"
    path.write_text(edited)
    return build_report(plan_stack(str(path)))[0]


def kubeconfig(url: str) -> str:
    return (
        "current-context: t\nclusters: [{name: t, cluster: {server: '%s'}}]\nusers: [{name: t, user: {token: verify}}]\n"
        "contexts: [{name: t, context: {cluster: t, user: t}}]\n" % url
    )


def verify_kueue(document: dict, edit=None):
    """Only the kueue check, against a cluster built from ``document`` (its objects edited by ``edit``)."""
    scenario = cluster_from_plan(document, group=GROUP)
    if edit:
        edit(scenario.objects)
    cluster = FakeCluster(scenario)
    try:
        client = KubeClient(parse_kubeconfig(kubeconfig(cluster.start())), timeout=0.5, backoff=0.01)
        result = run_verify(client, targets_from_plan(document), Options(check_timeout=5, deadline=10, request_timeout=0.5, poll_interval=0.01), only=["kueue"])
    finally:
        cluster.stop()
    return cluster, {r.target: r for r in result.rows if r.check == "kueue"}


def planned_classes(document: dict) -> dict[str, int]:
    return {r["inputs"]["metadata"]["name"]: r["inputs"]["value"] for r in document["resources"] if r["type"] == WPC}


def drop(plural: str, name: str):
    def edit(objects):
        objects[:] = [o for o in objects if not (o[2] == plural and o[3]["metadata"]["name"] == name)]

    return edit


def change(plural: str, name: str, how):
    def edit(objects):
        for o in objects:
            if o[2] == plural and o[3]["metadata"]["name"] == name:
                how(o[3])

    return edit


def test_every_priority_class_the_plan_declares_is_there_with_its_value():
    cluster, rows = verify_kueue(prod())
    classes = planned_classes(prod())
    assert classes and {t for t in rows if t.startswith("WorkloadPriorityClass/")} == {f"WorkloadPriorityClass/{n}" for n in classes}
    for name, value in classes.items():
        row = rows[f"WorkloadPriorityClass/{name}"]
        assert (row.status, row.measured, row.expected) == ("pass", f"value {value}", f"value {value}")
    assert rows["Topology"].status == "skip"  # prod declares no Topology (topologyAwarePools unset) and the cluster has none
    assert cluster.refused == []  # the verify group's ClusterRole allows the reads


def test_a_missing_priority_class_fails_naming_it():
    name = sorted(planned_classes(prod()))[0]
    _, rows = verify_kueue(prod(), drop("workloadpriorityclasses", name))
    row = rows[f"WorkloadPriorityClass/{name}"]
    assert (row.status, row.measured) == ("fail", "not found")
    assert row.detail == f"the plan declares WorkloadPriorityClass {name}; the cluster has none"
    assert all(r.status == "pass" for t, r in rows.items() if t.startswith("WorkloadPriorityClass/") and t != f"WorkloadPriorityClass/{name}")


def test_a_priority_class_with_another_value_fails_with_both_values():
    name, value = sorted(planned_classes(prod()).items())[0]
    _, rows = verify_kueue(prod(), change("workloadpriorityclasses", name, lambda o: o.update(value=value + 1)))
    row = rows[f"WorkloadPriorityClass/{name}"]
    assert row.status == "fail"
    assert row.detail == f"WorkloadPriorityClass {name} differs from the plan: value {value + 1} in the cluster, the plan says value {value}"


def test_a_class_the_plan_does_not_declare_is_shown_not_judged():
    def extra(objects):
        objects.append((KUEUE_API, None, "workloadpriorityclasses", {"metadata": {"name": "hand-made"}, "value": 5}))

    _, rows = verify_kueue(prod(), extra)
    assert rows["WorkloadPriorityClass/hand-made"].status == "skip" and "not declared by the plan" in rows["WorkloadPriorityClass/hand-made"].detail


def test_the_topology_the_plan_declares_is_there_with_its_levels_in_order(tas):
    cluster, rows = verify_kueue(tas)
    (topology,) = [r["inputs"] for r in tas["resources"] if r["type"] == "kubernetes:kueue.x-k8s.io/v1beta2:Topology"]
    name = topology["metadata"]["name"]
    assert f"Topology/{name}" in rows, [(r.target, r.status, r.detail) for r in rows.values()]
    row = rows[f"Topology/{name}"]
    assert row.status == "pass"
    assert row.expected == "levels " + " > ".join(level["nodeLabel"] for level in topology["spec"]["levels"])
    assert cluster.refused == []


def test_a_missing_or_reordered_topology_fails_naming_it(tas):
    (name,) = [r["inputs"]["metadata"]["name"] for r in tas["resources"] if r["type"] == "kubernetes:kueue.x-k8s.io/v1beta2:Topology"]
    _, rows = verify_kueue(tas, drop("topologies", name))
    assert (rows[f"Topology/{name}"].status, rows[f"Topology/{name}"].measured) == ("fail", "not found")

    _, rows = verify_kueue(tas, change("topologies", name, lambda o: o["spec"]["levels"].reverse()))
    row = rows[f"Topology/{name}"]
    assert row.status == "fail" and row.detail.startswith(f"Topology {name} differs from the plan: levels kubernetes.io/hostname > ")


def test_verify_may_list_priority_classes_and_topologies_and_nothing_more_of_kueue_cluster_wide():
    kueue = [r for r in CLUSTER_RULES if "kueue.x-k8s.io" in r["apiGroups"]]
    assert kueue == [{"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloadpriorityclasses", "topologies"], "verbs": ["list"]}]
    granted = [rule for scope, rule in verify_rbac(copy.deepcopy(prod()), GROUP) if scope is None and "kueue.x-k8s.io" in rule["apiGroups"]]
    assert granted == kueue  # what the stack registers for the verify group
