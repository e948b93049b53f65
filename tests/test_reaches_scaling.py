"""Reaches stays near linear in the workloads: a forbidden flow is answered per source from what it may open to any
peer, and results are recorded once per workload through a set. Both are exact: the verdicts are those of judging
each pair on its own."""

from __future__ import annotations

import copy
import json

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
