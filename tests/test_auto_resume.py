"""Auto-resume (issue 15 item 6): the training examples checkpoint and resume, the runtime and the jobs carry their
restart settings, and the script the examples embed is run here for real against a temp directory, twice."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import upstream
from addons import training_operators
from addons.checkpointing import CONTRACT_ENV, RESUME_SCRIPT, SIGTERM_EXIT
from addons.training_operators import torch_efa_runtime
from helpers import spec_of
from stacks.spec import ConfigError
from stacks.tools.examples import render_examples
from stacks.tools.examples.training import ResumeSettings, mpi_nccl_job, pytorch_trainjob
from stacks.tools.examples.shapes import NodeShape

SHAPE = NodeShape(pool="train", kind="gpu", instance_type="p5.48xlarge", accelerators=8, efa_interfaces=32, vcpu=192, memory_gib=2048)
RESUME = ResumeSettings(max_restarts=5, grace_period_seconds=300, checkpoint_every_steps=50, train_steps=500)
POOLS = [{"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": "v20251108"}]


def trainjob(resume=RESUME):
    return pytorch_trainjob(SHAPE, queue="team-a", nodes=2, checkpoint_claim="lustre", image="img:1", resume=resume)


def env_of(node: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in node.get("env") or []}


def node_pod(runtime: dict) -> dict:
    (job,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    return job["template"]["spec"]["template"]["spec"]


# ---- the restart settings of each operator ------------------------------------------------------------------


def test_the_runtime_restarts_the_whole_gang_within_its_budget():
    """JobSet failurePolicy (jobset.x-k8s.io_jobsets.yaml: maxRestarts, restartStrategy): any node's Job failing
    recreates every node's pod, at most maxRestarts times; BlockingRecreate waits for the old pods to be gone."""
    runtime = torch_efa_runtime("img:1", max_restarts=5, grace_seconds=300)
    spec = runtime["spec"]["template"]["spec"]
    assert spec["failurePolicy"] == {"maxRestarts": 5, "restartStrategy": "BlockingRecreate"}
    (job,) = spec["replicatedJobs"]
    assert job["template"]["spec"]["backoffLimit"] == 0  # one failed pod fails its Job: the JobSet restarts all nodes
    assert node_pod(runtime)["terminationGracePeriodSeconds"] == 300
    upstream.assert_valid(runtime)


def test_the_trainjob_carries_the_contract_environment_and_grace_period():
    job = trainjob()
    trainer = job["spec"]["trainer"]
    env = env_of(trainer)
    assert set(env) >= {name for name, _ in CONTRACT_ENV}
    assert env["CHECKPOINT_DIR"] == "/checkpoints/pytorch-efa"  # the job's own directory on the claim
    assert (env["CHECKPOINT_EVERY_STEPS"], env["CHECKPOINT_GRACE_SECONDS"], env["TRAIN_STEPS"]) == ("50", "300", "500")
    (patch,) = job["spec"]["runtimePatches"]
    (replicated,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = replicated["template"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 300
    assert {"name": "checkpoints", "persistentVolumeClaim": {"claimName": "lustre"}} in pod["volumes"]
    upstream.assert_valid(job)


def test_the_trainjob_runs_the_resume_script_under_torchrun_as_pid_1():
    """`exec torchrun`: torchrun gets the pod's SIGTERM and passes it to every rank (torch elastic closes its
    workers with SIGTERM before it kills them)."""
    command = trainjob()["spec"]["trainer"]["command"]
    assert command[:2] == ["bash", "-c"]
    assert RESUME_SCRIPT in command[2]
    assert command[2].rstrip().endswith("exec torchrun /tmp/train.py")


def test_the_mpijob_restarts_its_launcher_within_the_budget():
    job = mpi_nccl_job(SHAPE, queue="team-a", nodes=2, checkpoint_claim="lustre", image="img:1", resume=RESUME)
    assert job["spec"]["runPolicy"]["backoffLimit"] == 5
    assert job["spec"]["mpiReplicaSpecs"]["Launcher"]["restartPolicy"] == "OnFailure"
    upstream.assert_valid(job)


def test_the_rendered_examples_take_their_restart_settings_from_the_spec():
    spec = spec_of("dev", pools=POOLS, training={"resume": {"maxRestarts": 7, "gracePeriodSeconds": 200, "checkpointEverySteps": 10, "trainSteps": 40}})
    rendered = render_examples(spec)
    (train,) = rendered["train/pytorch-efa.yaml"]
    env = env_of(train["spec"]["trainer"])
    assert (env["CHECKPOINT_EVERY_STEPS"], env["CHECKPOINT_GRACE_SECONDS"], env["TRAIN_STEPS"]) == ("10", "200", "40")
    (mpi,) = rendered["train/mpi-nccl-allreduce.yaml"]
    assert mpi["spec"]["runPolicy"]["backoffLimit"] == 7


def test_the_spec_defaults_are_the_runtimes_defaults():
    """One set of numbers: torch_efa_runtime's keyword defaults (tests call it without the spec) are the spec's."""
    resume = spec_of("dev").training.resume
    assert resume.max_restarts == training_operators.DEFAULT_MAX_RESTARTS
    assert resume.grace_period_seconds == training_operators.DEFAULT_GRACE_SECONDS
    assert ResumeSettings.of(spec_of("dev")) == ResumeSettings()


def test_bad_resume_settings_are_refused_together_naming_each_key():
    with pytest.raises(ConfigError) as err:
        spec_of("dev", training={"resume": {"maxRestarts": -1, "gracePeriodSeconds": 5, "checkpointEverySteps": 500, "trainSteps": 100}})
    text = str(err.value)
    for key in ("training.resume.maxRestarts", "training.resume.gracePeriodSeconds", "training.resume.checkpointEverySteps"):
        assert key in text, text
    assert "got -1" in text and "got 500" in text


# ---- the script, run for real ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def shipped_script() -> str:
    """The training script exactly as the prod stack's TrainJob example embeds it (its heredoc)."""
    (job,) = render_examples(spec_of("dev", pools=POOLS))["train/pytorch-efa.yaml"]
    shell = job["spec"]["trainer"]["command"][2]
    body = shell.split("<<'EOF'\n", 1)[1]
    return body[: body.index("\nEOF\n") + 1]


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(shipped_script())
    return path


def env_for(ckpt: Path, **values: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update({"CHECKPOINT_DIR": str(ckpt), "CHECKPOINT_EVERY_STEPS": "3", "TRAIN_STEPS": "10"})
    env.update({k: str(v) for k, v in values.items()})
    return env


def run(script: Path, ckpt: Path, **values: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script)], env=env_for(ckpt, **values), capture_output=True, text=True, timeout=120)


def latest(ckpt: Path) -> str:
    return (ckpt / "latest").read_text().strip()


def test_a_fresh_job_starts_at_step_one_and_leaves_a_latest_marker(script, tmp_path):
    ckpt = tmp_path / "ckpt"
    out = run(script, ckpt, TRAIN_STEPS=6)
    assert out.returncode == 0, out.stderr
    assert f"no checkpoint in {ckpt}: starting at step 1 of 6" in out.stdout
    assert latest(ckpt) == "step-00000006"
    assert sorted(p.name for p in ckpt.iterdir()) == ["latest", "step-00000003", "step-00000006"]  # no temporary left


def test_a_restarted_job_resumes_from_the_newest_checkpoint_and_ends_where_an_unbroken_run_ends(script, tmp_path):
    broken, unbroken = tmp_path / "broken", tmp_path / "unbroken"
    assert run(script, broken, TRAIN_STEPS=6).returncode == 0
    second = run(script, broken, TRAIN_STEPS=10)
    assert second.returncode == 0, second.stderr
    assert "resumed from step-00000006: continuing at step 7 of 10" in second.stdout
    assert run(script, unbroken, TRAIN_STEPS=10).returncode == 0
    # the model state is carried across the restart: the same weights as a run that never stopped
    assert json.loads((broken / "step-00000010" / "state").read_text()) == json.loads((unbroken / "step-00000010" / "state").read_text())
    # the newest CHECKPOINT_KEEP (3) are kept
    assert sorted(p.name for p in broken.glob("step-*")) == ["step-00000006", "step-00000009", "step-00000010"]


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 60) -> list[str]:
    seen, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not printed; got {seen}")


def test_sigterm_writes_a_checkpoint_at_the_step_it_stops_and_exits_143_then_the_job_resumes_there(script, tmp_path):
    """What Kueue's eviction (preemption, node repair) and a node drain do: SIGTERM, then the grace period."""
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env_for(ckpt, TRAIN_STEPS=100000, CHECKPOINT_EVERY_STEPS=100000, STEP_SECONDS=0.02),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(proc, "starting at step 1")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == SIGTERM_EXIT
    stopped = int(rest.split("SIGTERM: stopped at step ")[1].split()[0])
    assert stopped > 0 and latest(ckpt) == f"step-{stopped:08d}"  # no periodic checkpoint was due: this one is the SIGTERM's
    resumed = run(script, ckpt, TRAIN_STEPS=stopped + 2)
    assert f"resumed from step-{stopped:08d}: continuing at step {stopped + 1}" in resumed.stdout
    assert resumed.returncode == 0


def test_a_job_killed_without_warning_loses_at_most_the_steps_since_its_last_periodic_checkpoint(script, tmp_path):
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script)], env=env_for(ckpt, TRAIN_STEPS=1000, STEP_SECONDS=0.02), stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(proc, "checkpoint step-00000006 written")
        proc.send_signal(signal.SIGKILL)  # a node that died: no SIGTERM, no last checkpoint
        proc.wait(timeout=30)
    finally:
        proc.kill()
    kept = latest(ckpt)
    assert int(kept.split("-")[1]) % 3 == 0 and int(kept.split("-")[1]) >= 6
    resumed = run(script, ckpt, TRAIN_STEPS=20)
    assert f"resumed from {kept}" in resumed.stdout


def test_a_torn_write_is_never_resumed_from(script, tmp_path):
    """A job killed mid-checkpoint leaves a temporary directory, or a step directory without its state file; a
    `latest` naming what is not complete is ignored for the newest complete step-* directory."""
    ckpt = tmp_path / "ckpt"
    assert run(script, ckpt, TRAIN_STEPS=4).returncode == 0  # step-00000003, step-00000004
    (ckpt / ".tmp-step-00000008-4242").mkdir()
    (ckpt / ".tmp-step-00000008-4242" / "state").write_text('{"w": [99')  # half a write
    (ckpt / "step-00000009").mkdir()  # renamed by someone else's broken writer, no state inside
    (ckpt / "latest").write_text("step-00000009\n")
    out = run(script, ckpt, TRAIN_STEPS=6)
    assert "resumed from step-00000004: continuing at step 5 of 6" in out.stdout, out.stdout + out.stderr
