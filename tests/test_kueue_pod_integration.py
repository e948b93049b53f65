"""Kueue's pod integration queues only what is meant to be queued (issue 16: notebooks inside team quotas).

The rule, from kubernetes-sigs/kueue v0.19.2 (the pin, components/versions.py), pkg/controller/jobs/pod/pod_webhook.go
`PodWebhook.Default`: a pod is left alone when its namespace does not match `managedJobsNamespaceSelector`
(`integrations.podOptions` is gone from the v1beta2 Configuration: SetupWebhook never sets its selectors) or when
an ancestor is a job Kueue manages; otherwise a pod with no `kueue.x-k8s.io/queue-name` label is given `default`
when its namespace has a LocalQueue `default`, and a pod with a queue name is gated (`manageJobsWithoutQueueName`
is off, so a pod without one stays ungated). Crucible's team namespaces all have the LocalQueue `default`, so:

- outside the team namespaces (the platform's: kube-system, monitoring, serving-system, the hub's…) no pod is gated;
- inside them every pod is the team's work and is admitted against the team's quota: its own integration's job
  (Job, Ray, MPI, TrainJob, JobSet, LeaderWorkerSet) or, for a bare pod or a Deployment's, the pod itself.

Served models take the team's accelerators, so they ARE queued, and say so: the Deployment's pod template and the
LeaderWorkerSet carry the team's queue label (no reliance on the defaulting), and a LeaderWorkerSet group is one
workload through Kueue's `leaderworkerset.x-k8s.io/leaderworkerset` integration (leaderworkerset_webhook.go Default
copies the label to both templates and marks the pods suspended-by-parent; one Workload per group), never its pods one
by one. The admitted check decides each of these, and these tests hold the shipped stacks to it."""

from __future__ import annotations


import pytest
import yaml

from components.labels import QUEUE_LABEL, QUEUED_NAMESPACE_LABEL, TENANT_LABEL
from helpers import report_copy, shipped_report
from stacks.tools.plan.admitted import kueue_release
from stacks.tools.plan.lands import reevaluate

STACKS = ("dev", "prod", "inference", "research")


def _config(document: dict) -> dict:
    return yaml.safe_load(kueue_release(document["resources"])["values"]["managerConfig"]["controllerManagerConfigYaml"])


def _team_namespaces(document: dict) -> set[str]:
    return {
        r["inputs"]["metadata"]["name"]
        for r in document["resources"]
        if r["type"] == "kubernetes:core/v1:Namespace" and TENANT_LABEL in (r["inputs"]["metadata"].get("labels") or {})
    }


def _in(entry: dict, namespaces: set[str]) -> bool:
    return bool(set(entry["namespaces"]) & namespaces)


@pytest.mark.parametrize("stack", STACKS)
def test_kueue_manages_the_namespaces_labelled_for_it_only_and_never_pods_without_a_queue_name(stack):
    config = _config(shipped_report(stack)[0])
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {QUEUED_NAMESPACE_LABEL: "true"}}
    assert config["manageJobsWithoutQueueName"] is False
    assert "podOptions" not in config["integrations"]  # not in v1beta2; 0.19.2 would not read it
    assert {"pod", "leaderworkerset.x-k8s.io/leaderworkerset"} <= set(config["integrations"]["frameworks"])


@pytest.mark.parametrize("stack", STACKS)
def test_no_platform_pod_is_gated(stack):
    document = shipped_report(stack)[0]
    teams = _team_namespaces(document)
    outside = [e for e in document["workloads"]["workloads"] if not _in(e, teams)]
    assert outside
    for entry in outside:
        verdict = entry["checks"]["admitted"]
        labelled = QUEUE_LABEL in ((entry.get("kueue") or {}).get("labels") or {})
        # only work that names a queue itself is queued outside the teams (verify's probes on its own queue)
        assert verdict["summary"].startswith("not queued") or labelled, (entry["name"], verdict)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_of_a_team_namespace_is_admitted_by_the_teams_queue(stack):
    document = shipped_report(stack)[0]
    teams = _team_namespaces(document)
    inside = [e for e in document["workloads"]["workloads"] if _in(e, teams) and set(e["namespaces"]) <= teams]
    assert inside
    for entry in inside:
        verdict = entry["checks"]["admitted"]
        assert verdict["ok"] and not verdict["summary"].startswith("not queued"), (entry["name"], verdict)
        assert verdict["queue"] == "default", (entry["name"], verdict)


def _served(document: dict) -> list[dict]:
    return [
        e for e in document["workloads"]["workloads"] if (e.get("kueue") or {}).get("labels", {}).get("crucible.io/model") or e["kind"] == "LeaderWorkerSet"
    ]


def test_served_models_carry_their_teams_queue_label_and_are_admitted_on_their_pools():
    document = shipped_report("inference")[0]
    served = [e for e in document["workloads"]["workloads"] if e["kind"] in ("Deployment", "LeaderWorkerSet") and e["name"].startswith("serving/")]
    assert {e["kind"] for e in served} == {"Deployment", "LeaderWorkerSet"}
    for entry in served:
        verdict = entry["checks"]["admitted"]
        if entry["kind"] == "Deployment":  # the pods are the workloads; their template names the queue
            assert entry["template"]["metadata"]["labels"][QUEUE_LABEL] == "default", entry["name"]
            assert verdict["summary"].endswith("as Pod"), (entry["name"], verdict)
        else:  # the LeaderWorkerSet names it; Kueue admits each group whole
            assert entry["kueue"]["labels"][QUEUE_LABEL] == "default", entry["name"]
            assert " as " not in verdict["summary"], (entry["name"], verdict)
        assert verdict["ok"] and verdict["clusterQueue"] == "serving", (entry["name"], verdict)
    groups = {e["role"]: e["checks"]["admitted"] for e in served if e["kind"] == "LeaderWorkerSet"}
    assert set(groups) == {"leader", "worker"} and groups["leader"]["flavors"] == groups["worker"]["flavors"]


def test_without_the_leaderworkerset_integration_a_group_would_be_queued_pod_by_pod_and_is_refused():
    document = report_copy("inference")
    release = kueue_release(document["resources"])
    config = yaml.safe_load(release["values"]["managerConfig"]["controllerManagerConfigYaml"])
    config["integrations"]["frameworks"].remove("leaderworkerset.x-k8s.io/leaderworkerset")
    release["values"]["managerConfig"]["controllerManagerConfigYaml"] = yaml.safe_dump(config)
    again = {e["name"]: e["checks"]["admitted"] for e in reevaluate(document)["workloads"]}
    (leader,) = [v for k, v in again.items() if k.startswith("serving/LeaderWorkerSet") and k.endswith("leader")]
    assert not leader["ok"] and leader["summary"] == "queued pod by pod"
    assert "a group can hold part of its accelerators while its other pods wait" in leader["reasons"][-1]
