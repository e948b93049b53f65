"""Policy verdicts for a plan: the very policy objects of the CrossGuard pack, evaluated offline.

A plan run with a second core (stacks/tools/second_core.py) has them judged there while the program runs
(:class:`Judging`, a hook of the harness): each resource goes to the worker as it is registered and is judged by the
resource policies at once; when the program ends only the stack policies are left, and this process builds the rest of
the report meanwhile. The verdicts are :func:`evaluate`'s over the same resources, in the plan's order (a test holds
the two equal for every shipped stack); a worker lost on the way leaves :func:`evaluate` to compute them here.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Mapping, Optional, Sequence

from stacks.tools import second_core

# Seconds the report waits for the worker's verdicts before judging here: the stack policies take under a second.
JUDGED_TIMEOUT = 60.0


def evaluate(resources: list[dict], env: str, outputs: Optional[Mapping[str, Mapping]] = None, *, preview: bool = False) -> dict:
    """{"evaluated": N, "violations": [{"policy", "level", "urn", "message"}]} for the plan's resources.

    ``outputs`` ({urn: what the mocks answered}) is what the engine hands the pack: inputs after the provider's Check
    (auto-names) to resource policies, outputs to stack policies; ``preview`` evaluates as a first `pulumi preview`
    does (ids and computed outputs unknown; a rule that needs one says it cannot run instead of passing)."""
    from policies.offline import evaluate as evaluate_pack

    return evaluate_pack(resources, env, outputs=outputs, preview=preview).to_json()


def mandatory(verdicts: dict) -> list[dict]:
    return [v for v in verdicts.get("violations", []) if v.get("level") == "mandatory"]


def detail(message: str) -> str:
    """The violation itself: the SDK prefixes every message with the policy's description line."""
    return message.split("\n", 1)[-1].strip()


def render(verdicts: dict) -> list[str]:
    """Every mandatory violation on its own line; advisory ones grouped by policy (the JSON keeps each one)."""
    violations = verdicts.get("violations", [])
    must = mandatory(verdicts)
    lines = [f"{verdicts.get('evaluated', 0)} policies evaluated: {len(must)} mandatory violations, {len(violations) - len(must)} advisory"]
    for v in sorted(must, key=lambda v: v.get("policy", "")):
        lines.append(f"mandatory {v.get('policy')} [{_resource(v)}] {detail(v.get('message', ''))}")
    advisory: dict[str, list[dict]] = {}
    for v in violations:
        if v.get("level") != "mandatory":
            advisory.setdefault(v.get("policy", ""), []).append(v)
    for policy, found in sorted(advisory.items()):
        names = [_resource(v) for v in found]
        where = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        lines.append(f"{found[0].get('level', 'advisory'):<9} {policy} [{where}] {detail(found[0].get('message', ''))}")
    return lines


def _resource(violation: dict) -> str:
    return violation.get("urn", "").rsplit("::", 1)[-1] or "(stack)"


# --- judged on the second core while the program runs ----------------------------------------------------------
class Judging:
    """The harness hook (``on_register``) that hands each registered resource to the command's worker, where one
    :class:`policies.offline.Evaluation` judges it; :meth:`verdicts` ends the evaluation once the program has.

    Resources go in batches (one message per resource would cost the program more in pickling and replies than the
    worker saves), each sent as a plain copy of its plan record taken at registration: a resource is final once
    registered. Nothing raises into the program: a batch that cannot be sent loses the worker's verdicts, and the
    report then judges here."""

    BATCH = 32

    def __init__(self, worker: second_core.Worker, env: str) -> None:
        self._worker = worker
        self._token = f"{os.getpid()}-{next(_tokens)}"
        self._batch: list[tuple[dict, Any]] = []
        self._sent: list[second_core.Pending] = [worker.submit(begin, self._token, env)]

    @classmethod
    def start(cls, env: str) -> Optional["Judging"]:
        """A Judging on the current command's worker, or None (no second core: the report judges here)."""
        worker = second_core.current()
        return None if worker is None else cls(worker, env)

    def __call__(self, captured: Any) -> None:
        from stacks.tools.plan.model import RECORD_FIELDS

        self._batch.append(({name: getattr(captured, name) for name in RECORD_FIELDS}, captured.outputs))
        if len(self._batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._sent.append(self._worker.submit(add, self._token, self._batch))
            self._batch = []

    def verdicts(self, order: Sequence[str]) -> "Judged":
        """The program has ended: the stack policies run in the worker over every resource sent, the verdicts listed in
        ``order`` (the plan's URNs)."""
        self._flush()
        return Judged(self._worker.submit(finish, self._token, list(order)), self._sent)


class Judged:
    """The worker's verdicts on a plan, once it has judged the stack."""

    def __init__(self, pending: second_core.Pending, sent: list[second_core.Pending]) -> None:
        self._pending = pending
        self._sent = sent

    def result(self) -> Optional[dict]:
        """evaluate()'s JSON for the plan; None if the worker could not judge it (lost, or a call failed there)."""
        try:
            for pending in self._sent:
                pending.result(timeout=JUDGED_TIMEOUT)
            return self._pending.result(timeout=JUDGED_TIMEOUT)
        except second_core.WorkerLost:
            return None


# The worker's side: one evaluation open at a time (a command plans its stacks one after another).
_tokens = itertools.count()
_open: dict[str, Any] = {}


def warm() -> None:
    """The worker's warm-up: the policy pack imported and the IAM action reference parsed, while the program runs."""
    from policies.offline import all_policies
    from policies.support import iam_actions

    all_policies()
    iam_actions.every_action()


def begin(token: str, env: str) -> None:
    from policies.offline import Evaluation

    for evaluation in _open.values():
        evaluation.close()  # left open by a plan whose verdicts were never asked for
    _open.clear()
    _open[token] = Evaluation(env)


def add(token: str, batch: list[tuple[dict, Any]]) -> None:
    evaluation = _open[token]
    try:
        for record, outputs in batch:
            evaluation.add(record, outputs or None)
    except BaseException:
        _open.pop(token).close()
        raise


def finish(token: str, order: list[str]) -> dict:
    return _open.pop(token).finish(order).to_json()
