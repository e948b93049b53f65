"""Training at scale through Kueue (issue 15 items 1-3): gang admission, priorities and preemption from the team
config, topology-aware placement on EFA training pools.

Rules from kubernetes-sigs/kueue v0.19.2 (the pinned chart): apis/config/v1beta2 WaitForPodsReady, apis/kueue/v1beta2
ClusterQueuePreemption, pkg/scheduler/flavorassigner/tas_flavorassigner.go; the EKS user guide "Place distributed
AI/ML workloads with network topology labels" for the topology.k8s.aws/network-node-layer-* labels."""

from __future__ import annotations

import copy
import functools
import re
from types import SimpleNamespace

import pytest
import yaml

from helpers import REPO, shared_dir, shipped_plan, shipped_report, spec_of
from stacks.derive import admission
from stacks.derive.admission import PREFERRED_TOPOLOGY, PRIORITY_CLASS_LABEL, REQUIRED_TOPOLOGY, derived_timeout, preemption
from stacks.spec.schema import ConfigError
from stacks.tools.plan.admitted import Queues, kueue_release, preempts
from stacks.tools.plan.lands import evaluate, workloads_of

KUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def manifest(r: dict) -> dict:
    api, kind = r["type"].split(":")[1], r["type"].split(":")[2]
    return {"apiVersion": api, "kind": kind, **{k: v for k, v in r["inputs"].items() if k not in ("apiVersion", "kind")}}


def of_kind(document: dict, kind: str) -> list[dict]:
    return [manifest(r) for r in document["resources"] if r["type"] == KUEUE + kind]


def manager_config(document: dict) -> dict:
    return yaml.safe_load(kueue_release(document["resources"])["values"]["managerConfig"]["controllerManagerConfigYaml"])


# ---- derivations (pure, table-driven) ---------------------------------------------------------------------------

PREEMPTION_TABLE = [
    # borrowingLimit, lendingLimit, fair sharing -> withinClusterQueue, reclaimWithinCohort, borrowWithinCohort
    (True, True, True, ("LowerPriority", "Any", "Never")),
    (25, True, True, ("LowerPriority", "Any", "Never")),
    (True, False, True, ("LowerPriority", "Never", "Never")),
    (True, 0, True, ("LowerPriority", "Never", "Never")),
    (False, 50, True, ("LowerPriority", "Any", "Never")),
    # classical preemption (no fair sharing): a team that may borrow preempts lower priority to borrow
    (True, True, False, ("LowerPriority", "Any", "LowerPriority")),
    (25, 10, False, ("LowerPriority", "Any", "LowerPriority")),
    (False, True, False, ("LowerPriority", "Any", "Never")),
    (0, True, False, ("LowerPriority", "Any", "Never")),
    # lends nothing: the CRD refuses reclaimWithinCohort Never with a borrowWithinCohort policy
    (True, False, False, ("LowerPriority", "Never", "Never")),
]


@pytest.mark.parametrize("borrowing, lending, fair, expected", PREEMPTION_TABLE)
def test_preemption_is_derived_from_the_teams_borrowing_and_lending(borrowing, lending, fair, expected):
    got = preemption(borrowing, lending, fair)
    assert (got["withinClusterQueue"], got["reclaimWithinCohort"], got["borrowWithinCohort"]["policy"]) == expected


@pytest.mark.parametrize("borrowing, lending, fair, expected", PREEMPTION_TABLE)
def test_every_derived_preemption_passes_the_cluster_queue_crds_rules(borrowing, lending, fair, expected):
    shared_dir()
    from upstream import cel_errors, errors

    queue = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": "t"},
        "spec": {"preemption": preemption(borrowing, lending, fair)},
    }
    assert errors(queue) == [] and cel_errors(queue) == []


def pool(name, kind, efa=False):
    return SimpleNamespace(name=name, kind=kind, efa=efa)


@pytest.mark.parametrize(
    "pools, minutes, slowest",
    [
        # p5 with EFA: 60 launch + 90 join + 120 driver/fabric manager + 30 EFA + 600 image = 900 s, x1.5 = 22.5 -> 25 min
        ([pool("cpu", "cpu"), pool("p5", "gpu", efa=True)], 25, "p5"),
        # trn2 with EFA: 60 + 90 + 60 + 30 + 300 = 540 s, x1.5 = 13.5 -> 15 min
        ([pool("trn2", "neuron", efa=True)], 15, "trn2"),
        # the slowest accelerator pool decides, not the first
        ([pool("trn2", "neuron", efa=True), pool("g6e", "gpu")], 25, "g6e"),
        # only cpu pools: 60 + 90 + 120 = 270 s, x1.5 = 6.75 -> 10 min
        ([pool("cpu", "cpu")], 10, "cpu"),
        ([], 10, None),
    ],
)
def test_the_gang_timeout_is_the_slowest_accelerator_pools_node_start_up_with_margin(pools, minutes, slowest):
    got, name, _ = derived_timeout(pools)
    assert (got, name) == (minutes, slowest)


def test_a_stated_timeout_wins_and_the_recovery_timeout_follows_it():
    spec = spec_of("dev", queues={"gangAdmission": {"timeoutMinutes": 40}})
    gang = admission.gang_admission(spec)
    assert (gang.timeout_minutes, gang.recovery_timeout_minutes, gang.derived) == (40, 40, False)
    config = gang.config()
    assert config["timeout"] == "40m" and config["recoveryTimeout"] == "40m" and config["blockAdmission"] is False


# ---- config: defaults and refusals ------------------------------------------------------------------------------


def test_default_priority_classes_order_production_training_over_experiments_over_batch():
    spec = spec_of("dev")
    assert [(c.name, c.value) for c in spec.queues.priority_classes] == [("production-training", 10000), ("experiments", 1000), ("batch", 100)]
    assert spec.queues.default_priority_class == "experiments"


def test_bad_queues_config_is_refused_with_every_problem_named_in_one_pass():
    pools = [{"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 2, "amiVersion": "v20251108"}]
    teams = [{"name": "llm", "memberGroups": ["llm"], "priorityClass": "urgent"}]
    queues = {
        "priorityClasses": [{"name": "hi", "value": 10}, {"name": "hi", "value": 20}, {"name": "lo", "value": 10}],
        "defaultPriorityClass": "medium",
        "gangAdmission": {"backoffBaseSeconds": 600, "backoffMaxSeconds": 60},
        "topologyAwarePools": ["serve", "nope"],
    }
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", pools=pools, teams=teams, queues=queues)
    paths = {p.path: p.message for p in caught.value.problems}
    assert "got 'hi'; class names must be unique" in paths["crucible:queues.priorityClasses[1].name"]
    assert "a distinct value per class" in paths["crucible:queues.priorityClasses[2].value"]
    assert "unknown class 'medium'" in paths["crucible:queues.defaultPriorityClass"]
    assert "at least backoffBaseSeconds (600)" in paths["crucible:queues.gangAdmission.backoffMaxSeconds"]


@pytest.mark.parametrize("value", [0, -5, 1_000_000_001])
def test_a_priority_outside_the_user_range_is_refused(value):
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", queues={"priorityClasses": [{"name": "hi", "value": value}]})
    (problem,) = caught.value.problems
    assert problem.path == "crucible:queues.priorityClasses[0].value" and f"got {value}" in problem.message


def test_team_classes_and_topology_pools_must_name_what_the_stack_defines():
    pools = [
        {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 2, "amiVersion": "v20251108"},
        {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 2, "amiVersion": "v20251108"},
    ]
    teams = [{"name": "llm", "memberGroups": ["llm"], "priorityClass": "experiment"}]
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", pools=pools, teams=teams, queues={"topologyAwarePools": ["serve", "trian"]})
    paths = {p.path: p.message for p in caught.value.problems}
    assert "unknown class 'experiment'" in paths["crucible:teams[0].priorityClass"] and "did you mean: experiments?" in paths["crucible:teams[0].priorityClass"]
    assert "a serving pool without EFA; allowed: an EFA training pool" in paths["crucible:queues.topologyAwarePools[0]"]
    assert "unknown pool 'trian'" in paths["crucible:queues.topologyAwarePools[1]"]


# ---- what prod registers ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def prod() -> dict:
    return shipped_report("prod")[0]


def test_the_workload_priority_classes_are_strictly_valid_upstream_cel_included():
    shared_dir()
    from upstream import cel_errors, errors

    classes = of_kind(prod(), "WorkloadPriorityClass")
    # the teams' classes (queues.priorityClasses) and crucible verify's own, below every team's (addons/verify.py)
    assert {c["metadata"]["name"]: c["value"] for c in classes} == {"production-training": 10000, "experiments": 1000, "batch": 100, "crucible-verify": -1000}
    for c in classes:
        assert errors(c) == [] and cel_errors(c) == [], c["metadata"]["name"]


def test_the_kueue_configuration_turns_gang_admission_on_with_the_derived_timeout():
    spec = shipped_plan("prod").spec
    wait = manager_config(prod())["waitForPodsReady"]
    # prod's slowest accelerator pool is the p5 EFA pool `train`: 900 s of node start-up, 25 minutes with the margin
    assert wait == admission.gang_admission(spec).config()
    assert wait["timeout"] == "25m" and wait["recoveryTimeout"] == "25m"
    assert wait["requeuingStrategy"] == {"timestamp": "Eviction", "backoffBaseSeconds": 60, "backoffMaxSeconds": 3600, "backoffLimitCount": 6}


def test_gang_admission_uses_only_fields_the_pinned_charts_configuration_documents():
    """The chart's values.yaml carries the v1beta2 waitForPodsReady block commented out: every key Crucible sets is one of them."""
    text = (shared_dir() / "upstream" / "charts" / "kueue-0.19.2" / "values.yaml").read_text()
    block = re.search(r"^(\s*)#waitForPodsReady:\n((?:\1#\s.*\n)+)", text, re.M)
    assert block is not None
    documented = yaml.safe_load("waitForPodsReady:\n" + "\n".join(line.split("#", 1)[1] for line in block.group(2).splitlines()))["waitForPodsReady"]
    wait = manager_config(prod())["waitForPodsReady"]
    assert set(wait) <= set(documented)
    assert set(wait["requeuingStrategy"]) <= set(documented["requeuingStrategy"])


def test_the_rendered_kueue_chart_carries_the_gang_admission_configuration():
    from rendered import objects, release_of

    kueue = release_of("prod", "kueue")
    configs = [o for o in objects(kueue, "ConfigMap") if "controller_manager_config.yaml" in (o.get("data") or {})]
    assert len(configs) == 1
    rendered = yaml.safe_load(configs[0]["data"]["controller_manager_config.yaml"])
    assert rendered["waitForPodsReady"] == manager_config(prod())["waitForPodsReady"]


def test_topology_aware_scheduling_is_stated_on_in_the_chart_values():
    gates = kueue_release(prod()["resources"])["values"]["controllerManager"]["featureGates"]
    assert {"name": "TopologyAwareScheduling", "enabled": True} in gates


def test_each_cluster_queue_has_the_preemption_of_its_teams_borrowing_settings():
    spec = shipped_plan("prod").spec
    queues = {q["metadata"]["name"]: q["spec"]["preemption"] for q in of_kind(prod(), "ClusterQueue")}
    for team in spec.teams:
        assert queues[team.name] == preemption(team.borrowing.borrowing_limit, team.borrowing.lending_limit, True), team.name
    assert queues["search"]["reclaimWithinCohort"] == "Never"  # search lends none of its share
    assert queues["llm"]["reclaimWithinCohort"] == "Any"


@functools.lru_cache(maxsize=None)
def prod_queues() -> Queues:
    from stacks.tools.plan.lands import Context

    document = prod()
    block = document["workloads"]
    return Queues.build(Context.build([*document["resources"], *(block.get("assumedResources") or [])], block.get("objects") or []))


@pytest.mark.parametrize(
    "incoming, victim, expected",
    [
        ("production-training", "experiments", True),
        ("production-training", "batch", True),
        ("experiments", "batch", True),
        ("batch", None, True),  # a job without a class has priority 0
        ("experiments", "production-training", False),
        ("experiments", "experiments", False),
        (None, "batch", False),
    ],
)
def test_within_a_team_higher_priority_preempts_lower(incoming, victim, expected):
    assert preempts(prod_queues(), "llm", incoming, victim) is expected


def admitted(objects: list[dict], document: dict, namespaces=("llm",)) -> dict[str, dict]:
    block = document["workloads"]
    entries = workloads_of(objects, source="test", namespaces=list(namespaces))
    result = evaluate(document["resources"], entries, block.get("objects") or [], block.get("assumedResources") or [])
    return {e["name"]: e["checks"]["admitted"] for e in result["workloads"]}


def gpu_job(name="train", *, labels=None, annotations=None, pool="train") -> dict:
    resources = {"cpu": "96", "memory": "1000Gi", "nvidia.com/gpu": "8"}
    template = {
        "metadata": {"annotations": annotations or {}},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"karpenter.sh/nodepool": pool},
            "tolerations": [GPU_TOLERATION],
            "containers": [{"name": "main", "image": "busybox:1.36", "resources": {"requests": resources, "limits": resources}}],
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"kueue.x-k8s.io/queue-name": "default", **(labels or {})}},
        "spec": {"parallelism": 1, "completions": 1, "suspend": True, "template": template},
    }


def test_a_job_carrying_a_registered_priority_class_is_admitted_with_its_value():
    (verdict,) = admitted([gpu_job(labels={PRIORITY_CLASS_LABEL: "production-training"})], prod()).values()
    assert verdict["ok"], verdict
    assert verdict["priority"] == {"class": "production-training", "value": 10000}


def test_a_job_naming_an_unknown_priority_class_is_never_admitted():
    (verdict,) = admitted([gpu_job(labels={PRIORITY_CLASS_LABEL: "urgent"})], prod()).values()
    assert not verdict["ok"] and verdict["summary"] == "never admitted"
    assert any("no such WorkloadPriorityClass" in r and "urgent" in r for r in verdict["reasons"])


def test_the_examples_carry_the_default_priority_class():
    workloads = shipped_report("train-p5")[0]["workloads"]["workloads"]
    examples = [w for w in workloads if w["source"] == "example" and (w.get("kueue") or {}).get("labels", {}).get("kueue.x-k8s.io/queue-name")]
    assert examples
    for w in examples:
        assert w["kueue"]["labels"][PRIORITY_CLASS_LABEL] == "experiments", w["name"]
        assert w["checks"]["admitted"]["ok"], w["name"]


def test_the_plan_shows_each_teams_default_class_and_preemption():
    document, lines = shipped_report("prod")
    assert document["teams"]["search"]["priorityClass"] == "experiments"
    assert document["teams"]["search"]["preemption"]["reclaimWithinCohort"] == "Never"
    text = "\n".join(lines)
    assert "search: default priority class experiments; preemption within its queue LowerPriority, reclaim lent quota Never" in text
    assert "priority classes (label kueue.x-k8s.io/priority-class; none: 0): production-training 10000 > experiments 1000 > batch 100" in text
    assert "gang admission (waitForPodsReady): all pods Ready within 25m" in text and "pool train's node start-up budget 900 s" in text
    assert "topology-aware flavors: none" in text
    assert "node start-up budget per pool (admission to pods Ready on a new node): train 900 s, serve 870 s, inf 510 s, cpu 270 s" in text


# ---- topology-aware placement -----------------------------------------------------------------------------------


def test_no_topology_without_topology_aware_pools_and_the_examples_ask_for_none():
    document = shipped_report("train-p5")[0]
    assert of_kind(document, "Topology") == []
    assert all("topologyName" not in f["spec"] for f in of_kind(document, "ResourceFlavor"))
    for w in document["workloads"]["workloads"]:
        annotations = ((w.get("template") or {}).get("metadata") or {}).get("annotations") or {}
        assert not set(annotations) & set(admission.TOPOLOGY_ANNOTATIONS), w["name"]


@pytest.fixture(scope="module")
def tas(tmp_path_factory) -> dict:
    """train-p5 with its p5 pool topology-aware (as a stack with standing reserved nodes would set it)."""
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.report import build_report

    text = (REPO / "stacks" / "Pulumi.train-p5.yaml").read_text()
    assert "\n  crucible:teams:\n" in text
    edited = text.replace("\n  crucible:teams:\n", "\n  crucible:queues:\n    topologyAwarePools: [p5-train]\n  crucible:teams:\n", 1)
    path = tmp_path_factory.mktemp("tas") / "Pulumi.train-p5.yaml"
    path.write_text(edited)
    document, lines = build_report(plan_stack(str(path)))
    return {"document": document, "lines": lines}


def test_the_topology_is_strictly_valid_and_orders_the_eks_network_layers_then_the_host(tas):
    shared_dir()
    from upstream import cel_errors, errors

    (topology,) = of_kind(tas["document"], "Topology")
    assert errors(topology) == [] and cel_errors(topology) == []
    assert [level["nodeLabel"] for level in topology["spec"]["levels"]] == [
        "topology.k8s.aws/network-node-layer-1",
        "topology.k8s.aws/network-node-layer-2",
        "topology.k8s.aws/network-node-layer-3",
        "kubernetes.io/hostname",
    ]


def test_the_upstream_rules_catch_a_topology_with_the_host_above_a_network_layer():
    shared_dir()
    from upstream import cel_errors

    topology = admission.topology()
    topology["spec"]["levels"].reverse()
    assert cel_errors(topology) == ["spec.levels: the kubernetes.io/hostname label can only be used at the lowest level of topology"]


def test_only_the_topology_aware_pools_flavor_references_the_topology(tas):
    shared_dir()
    from upstream import cel_errors, errors

    flavors = {f["metadata"]["name"]: f for f in of_kind(tas["document"], "ResourceFlavor")}
    assert flavors["p5-train"]["spec"]["topologyName"] == "aws-network"
    assert "topologyName" not in flavors["cpu-prep"]["spec"]
    for f in flavors.values():
        assert errors(f) == [] and cel_errors(f) == [], f["metadata"]["name"]
    text = "\n".join(tas["lines"])
    assert "topology-aware flavors: p5-train (Topology aws-network)" in text


def test_the_flavors_wait_for_the_topology_they_reference(tas):
    resources = tas["document"]["resources"]
    (topology,) = [r for r in resources if r["type"] == KUEUE + "Topology"]
    (flavor,) = [r for r in resources if r["type"] == KUEUE + "ResourceFlavor" and r["inputs"]["metadata"]["name"] == "p5-train"]
    assert topology["urn"] in flavor["dependencies"]


def test_every_example_pod_set_on_the_topology_aware_pool_asks_for_the_bottom_network_layer(tas):
    on_pool = [w for w in tas["document"]["workloads"]["workloads"] if w["source"] == "example" and w["checks"]["admitted"].get("flavor") == "p5-train"]
    assert {w["kind"] for w in on_pool} >= {"Job", "TrainJob", "MPIJob", "RayJob"}
    for w in on_pool:
        annotations = (w["template"].get("metadata") or {}).get("annotations") or {}
        assert annotations.get(PREFERRED_TOPOLOGY) == "topology.k8s.aws/network-node-layer-3", w["name"]


def test_the_plan_still_admits_every_example_on_the_topology_aware_pool(tas):
    examples = [w for w in tas["document"]["workloads"]["workloads"] if w["source"] == "example"]
    assert examples
    for w in examples:
        assert w["checks"]["admitted"]["ok"], (w["name"], w["checks"]["admitted"])
    assert any("(TAS network-node-layer-3)" in w["checks"]["admitted"]["summary"] for w in examples)


def test_a_pod_set_without_a_topology_request_is_refused_by_a_topology_aware_flavor(tas):
    document = copy.deepcopy(tas["document"])
    (verdict,) = admitted([gpu_job(pool="p5-train")], document, namespaces=("pretrain",)).values()
    assert not verdict["ok"]
    assert any("flavor p5-train supports only TopologyAwareScheduling" in r for r in verdict["reasons"]), verdict


def test_a_pod_set_asking_for_a_level_the_topology_lacks_is_refused(tas):
    job = gpu_job(pool="p5-train", annotations={REQUIRED_TOPOLOGY: "topology.k8s.aws/network-node-layer-4"})
    (verdict,) = admitted([job], tas["document"], namespaces=("pretrain",)).values()
    assert not verdict["ok"]
    assert any("has no level topology.k8s.aws/network-node-layer-4" in r for r in verdict["reasons"]), verdict


def test_a_pod_set_asking_for_a_topology_is_refused_where_no_flavor_supports_it():
    job = gpu_job(pool="p5-train", annotations={REQUIRED_TOPOLOGY: "topology.k8s.aws/network-node-layer-3"})
    (verdict,) = admitted([job], shipped_report("train-p5")[0], namespaces=("pretrain",)).values()
    assert not verdict["ok"]
    assert any("flavor p5-train does not support TopologyAwareScheduling" in r for r in verdict["reasons"]), verdict
