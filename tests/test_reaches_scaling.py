"""Reaches stays near linear in the workloads: a forbidden flow is answered per source from what it may open to any
peer, and results are recorded once per workload through a set. Both are exact: the verdicts are those of judging
each pair on its own."""

from __future__ import annotations

import copy
import json
import types

import pytest

pytest.importorskip("nca", reason="network-config-analyzer (test extra) is not installed")

from helpers import shipped_report  # noqa: E402
from stacks.tools.plan import lands, reaches  # noqa: E402


def _prod() -> dict:
    return json.loads(json.dumps(shipped_report("prod")[0], default=str))


def test_the_per_source_answer_is_the_pair_by_pair_answer(monkeypatch):
    asked = []
    per_source = reaches.Network.reaches_some

    def both(self, src, dst, ports="any", except_ports=None):
        answer = per_source(self, src, dst, ports, except_ports)
        asked.append((src.key if isinstance(src, reaches.Endpoint) else src, dst.key, answer, self.reachable(src, dst, ports, except_ports) is not None))
        return answer

    monkeypatch.setattr(reaches.Network, "reaches_some", both)
    reaches.forget_analyses()  # judge the pairs now, not from an analysis kept from another test
    lands.reevaluate(_prod())
    assert len(asked) > 100  # prod has many forbidden pairs (tenants x other teams' pods, system pods)
    assert not any(a[2] for a in asked)  # and reaches none of them
    open_ = _prod()  # no NetworkPolicy: forbidden flows are reached
    open_["resources"] = [r for r in open_["resources"] if r["type"] != "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    reaches.forget_analyses()
    lands.reevaluate(open_)
    assert [a for a in asked if a[2] != a[3]] == []
    assert any(a[2] for a in asked)


def test_a_plan_edited_to_open_a_forbidden_flow_is_still_caught():
    # every NetworkPolicy dropped: nothing is isolated, so every forbidden flow between pods is reached
    document = _prod()
    document["resources"] = [r for r in document["resources"] if r["type"] != "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    block = lands.reevaluate(document)
    forbidden = [v for v in block["violations"] if v["check"] == "reaches" and "allowed:" in v["message"]]
    assert forbidden


def test_each_flow_result_is_recorded_once_per_workload():
    analysis = reaches.Analysis(network=None, endpoints=[], tenants=set(), addresses={}, webhooks={}, exporters={})
    a = reaches.Endpoint("team-a", "p", {}, [], workload="job")
    result = {"flow": "f", "kind": "forbidden", "from": "x", "to": "y", "ports": ["TCP/1"], "ok": True}
    reaches._record(analysis, result, a, a)
    reaches._record(analysis, copy.deepcopy(result), a)
    reaches._record(analysis, {**result, "to": "z"}, a)
    assert analysis.results == {"job": [result, {**result, "to": "z"}]}


@pytest.mark.parametrize("networkpolicies", ["kept", "dropped"])
def test_pods_a_networkpolicy_cannot_tell_apart_are_analysed_once_with_the_same_verdicts(monkeypatch, networkpolicies):
    """NCA analyses one pod per class of namespace, labels and ports; every flow's verdict for every workload is the
    one of analysing each pod on its own (prod as planned, and with every NetworkPolicy dropped so that forbidden
    flows are reached and described)."""
    document = _prod()
    if networkpolicies == "dropped":
        document["resources"] = [r for r in document["resources"] if r["type"] != "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    analysed = []
    network = reaches.Network.__init__

    def counting(self, namespaces, endpoints, policies):
        network(self, namespaces, endpoints, policies)
        analysed.append((len(endpoints), len(self.peers)))

    monkeypatch.setattr(reaches.Network, "__init__", counting)
    reaches.forget_analyses()
    by_class = lands.reevaluate(copy.deepcopy(document))
    monkeypatch.setattr(reaches, "indistinguishable", lambda endpoint: endpoint.key)  # every pod a class of its own
    reaches.forget_analyses()
    one_by_one = lands.reevaluate(copy.deepcopy(document))
    (endpoints, classes), (_, each) = analysed
    assert classes < each  # prod has pods of one class (a job's workers, a notebook's profiles of one team)
    assert json.dumps(by_class, sort_keys=True, default=str) == json.dumps(one_by_one, sort_keys=True, default=str)


def test_nca_reads_back_exactly_the_documents_it_is_handed(monkeypatch):
    """The cluster file is JSON documents for NCA's libyaml loader: what it loads is what the check wrote (prod's
    namespaces, pods and NetworkPolicies, the charts' included), value for value and type for type."""
    import yaml

    written = reaches.cluster_file
    handed = []
    monkeypatch.setattr(reaches, "cluster_file", lambda documents: written(handed.append(list(documents)) or documents))
    reaches.forget_analyses()
    lands.reevaluate(_prod())
    (documents,) = handed
    assert {d["kind"] for d in documents} == {"Namespace", "Pod", "NetworkPolicy"}
    loaded = list(yaml.load_all(written(documents), Loader=yaml.CSafeLoader))
    assert json.dumps(loaded, sort_keys=True) == json.dumps(documents, sort_keys=True)
    assert loaded == documents


def test_closed_forbidden_pairs_are_counted_once_per_workload_and_rows_keep_the_first_recorded_order():
    analysis = reaches.Analysis(network=None, endpoints=[], tenants=set(), addresses={}, webhooks={}, exporters={})
    a1, a2 = reaches.Endpoint("team-a", "p1", {}, [], workload="job"), reaches.Endpoint("team-a", "p2", {}, [], workload="job")
    b, dns = reaches.Endpoint("team-b", "q", {}, [], workload="other"), reaches.Endpoint("kube-system", "dns", {}, [], system="kube-dns")
    required = {"flow": "dns", "kind": "required", "from": a1.key, "to": dns.key, "ports": ["UDP/53"], "ok": True, "reason": None}
    reaches._record(analysis, required, a1, dns)
    assert reaches._count_closed(analysis, "no-cross-team", a1, b)
    assert reaches._count_closed(analysis, "no-cross-team", a1, a2)  # both ends the job's: counted once for it
    assert not reaches._count_closed(analysis, "no-cross-team", dns, dns)  # no workload's: listed for the platform check
    assert analysis.closed == {"job": {"no-cross-team": 2}, "other": {"no-cross-team": 1}}

    row = reaches.reaches(types.SimpleNamespace(_reaches=analysis), {"name": "job"})  # a Context analysed already
    assert row["summary"] == "3 flows OK"
    assert row["flows"] == [
        {"flow": "dns", "kind": "required", "checked": 1, "failed": []},
        {"flow": "no-cross-team", "kind": "forbidden", "checked": 2, "failed": []},
    ]


def test_every_endpoint_has_a_key_of_its_own_even_when_a_system_endpoint_is_named_like_a_pod(monkeypatch):
    # results are told apart by their ends' keys (closed pairs are counted, not de-duplicated by name)
    system = {"name": "tool-0", "namespace": "kube-system", "labels": {"k8s-app": "tool"}, "ports": []}
    monkeypatch.setattr(reaches.table, "SYSTEM_ENDPOINTS", (system,))
    workload = {"name": "tool", "kind": "Deployment", "namespaces": ["kube-system"], "template": {"metadata": {"labels": {"app": "tool"}}, "spec": {}}}
    endpoints = reaches.endpoints_of([workload], [], [])
    keys = [e.key for e in endpoints]
    assert len(keys) == len(set(keys)) == 2 and "kube-system/tool-0" in keys


def test_every_flow_of_the_table_has_a_name_of_its_own():
    # a workload's rows are per flow name, and closed forbidden pairs are counted under it: two flows of one name
    # would add their counts into one row
    names = [flow["flow"] for flow in (*reaches.table.REQUIRED, *reaches.table.FORBIDDEN)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("networkpolicies", ["kept", "dropped"])
def test_forbidden_flows_judged_in_two_processes_give_the_results_of_one(monkeypatch, networkpolicies):
    """The worker judges the last sources of a large forbidden flow in a fork of itself; recorded in order, the
    results are those of judging every source in one process (prod as planned, and with every NetworkPolicy dropped so
    that forbidden pairs are open and listed), and the fork really ran."""
    from stacks.tools import second_core

    document = _prod()
    if networkpolicies == "dropped":
        document["resources"] = [r for r in document["resources"] if r["type"] != "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    ctx = lands.context(document["resources"], document["workloads"]["workloads"], document["workloads"]["objects"])
    inputs, _ = reaches._inputs(ctx)
    one = reaches._analysed(*inputs)
    forks = []
    real = second_core.forked
    monkeypatch.setattr(second_core, "forked", lambda *args: forks.append(args[0]) or real(*args))
    monkeypatch.setattr(reaches, "SPLIT_PAIRS", 0)
    two = reaches._analysed(*inputs, parallel=True)
    assert forks == [reaches._judged_parts]
    for field in ("results", "platform", "closed", "flows"):
        assert json.dumps(getattr(two, field), sort_keys=True, default=str) == json.dumps(getattr(one, field), sort_keys=True, default=str), field
    # and in the same order, which the rows follow
    assert {w: list(order) for w, order in two.flows.items()} == {w: list(order) for w, order in one.flows.items()}
    assert {w: [(r["flow"], r["from"], r["to"]) for r in found] for w, found in two.results.items()} == {
        w: [(r["flow"], r["from"], r["to"]) for r in found] for w, found in one.results.items()
    }
