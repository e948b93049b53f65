"""Policy verdicts judged while the program runs (policies/offline.py Evaluation, stacks/tools/plan/verdicts.py
Judging): resources handed one at a time, in whatever order the program registers them, are judged as evaluate()
judges the finished plan; a plan run with a second core gets them from there; without the worker's verdicts the
report judges in its own process."""

from __future__ import annotations

import dataclasses
import json
import random
import sys

import pytest

from helpers import shipped_plan
from policies.offline import Evaluation, evaluate
from stacks.tools import second_core
from stacks.tools.plan.model import PlanModel

STACKS = ("dev", "prod", "prod-platform")


def _model(stack: str) -> PlanModel:
    return PlanModel.of(shipped_plan(stack))


def _as_json(report) -> str:
    return json.dumps(report if isinstance(report, dict) else report.to_json(), sort_keys=False)


@pytest.mark.parametrize("stack", STACKS)
def test_resources_handed_in_any_order_are_judged_as_the_finished_plan_is(stack):
    model = _model(stack)
    whole = evaluate(model.resources, model.spec.environment, outputs=model.all_outputs)
    shuffled = list(model.resources)
    random.Random(stack).shuffle(shuffled)  # providers after the resources that use them, too
    with Evaluation(model.spec.environment) as evaluation:
        for r in shuffled:
            evaluation.add(r, model.all_outputs.get(r["urn"]))
        judged = evaluation.finish([r["urn"] for r in model.resources])
    assert whole.violations, "a shipped stack with no violation at all would not test the order of verdicts"
    assert _as_json(judged) == _as_json(whole)


def test_a_resource_whose_provider_comes_later_is_judged_with_that_provider():
    model = _model("dev")
    providers = [r for r in model.resources if r["type"].startswith("pulumi:providers:")]
    users = [r for r in model.resources if r.get("provider") and not r["type"].startswith("pulumi:providers:")]
    assert providers and users
    with Evaluation(model.spec.environment) as evaluation:
        for r in users + [r for r in model.resources if r not in users]:
            evaluation.add(r, model.all_outputs.get(r["urn"]))
        assert len(evaluation._waiting_for_provider) == len(users)  # none judged before its provider came
        judged = evaluation.finish([r["urn"] for r in model.resources])
    assert _as_json(judged) == _as_json(evaluate(model.resources, model.spec.environment, outputs=model.all_outputs))


def test_finish_refuses_an_order_that_is_not_the_resources_handed():
    model = _model("dev")
    with Evaluation(model.spec.environment) as evaluation:
        for r in model.resources[:3]:
            evaluation.add(r, model.all_outputs.get(r["urn"]))
        with pytest.raises(ValueError, match="never handed"):
            evaluation.finish([r["urn"] for r in model.resources[:2]] + ["urn:pulumi:dev::crucible::x::y"])


def test_a_resource_handed_twice_is_refused():
    model = _model("dev")
    with Evaluation(model.spec.environment) as evaluation:
        evaluation.add(model.resources[0])
        with pytest.raises(ValueError, match="twice"):
            evaluation.add(model.resources[0])


def test_an_evaluation_left_open_is_closed_by_the_next_one_the_worker_begins():
    from stacks.tools.plan import verdicts

    model = _model("dev")
    verdicts.begin("abandoned", model.spec.environment)
    verdicts.begin("next", model.spec.environment)  # would wait for ever on the SDK patch's lock if the first held it
    verdicts.add("next", [(r, model.all_outputs.get(r["urn"])) for r in model.resources])
    assert (
        verdicts.finish("next", [r["urn"] for r in model.resources]) == evaluate(model.resources, model.spec.environment, outputs=model.all_outputs).to_json()
    )
    assert "abandoned" not in verdicts._open


needs_two_cores = pytest.mark.skipif(
    not sys.platform.startswith("linux") or second_core._cores() < 2, reason="not Linux, or one core: plans run without a worker"
)


@needs_two_cores
def test_a_plan_run_with_a_second_core_is_judged_there_as_it_would_be_here():
    from stacks.tools.plan.locate import plan_stack

    with second_core.started(single_threaded_only=False, warm=["stacks.tools.plan.verdicts:warm"]):
        planned = plan_stack("dev")
        assert planned.judged is not None
        there = planned.judged.result()
    model = PlanModel.of(planned)
    assert there == evaluate(model.resources, model.spec.environment, outputs=model.all_outputs).to_json()


def test_without_the_workers_verdicts_the_report_judges_here():
    from stacks.tools.plan.report import policies_section

    class Lost:
        def result(self):
            return None  # what Judged.result gives when the worker died or a call failed there

    planned = dataclasses.replace(shipped_plan("dev"), judged=Lost())
    section = policies_section(PlanModel(_model("dev").resources, planned=planned, outputs=_model("dev").all_outputs))
    model = _model("dev")
    assert section.data == evaluate(model.resources, model.spec.environment, outputs=model.all_outputs).to_json()


@needs_two_cores
def test_a_worker_that_dies_mid_plan_leaves_the_verdicts_to_this_process():
    import os
    import signal

    from stacks.tools.plan.verdicts import Judging

    model = _model("dev")
    with second_core.started(single_threaded_only=False) as worker:
        judging = Judging(worker, model.spec.environment)
        os.kill(worker.pid, signal.SIGKILL)
        for r in shipped_plan("dev").run.resources:
            judging(r)  # nothing raises into the program
        assert judging.verdicts([r["urn"] for r in model.resources]).result() is None
