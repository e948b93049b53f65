"""The auto-resume contract of Crucible's training jobs, and the training script the examples ship that follows it.

A job is restarted from scratch when it fails (the JobSet's failurePolicy recreates every node's pod; the MPI
operator restarts the launcher) and when Kueue evicts it (preemption by higher-priority work, a node that node
repair replaces, pods not ready in time): Kueue suspends the job, its pods get SIGTERM and
``terminationGracePeriodSeconds`` to stop, the workload is requeued and, once admitted again, starts over. Work
survives only through checkpoints. The contract (README "Training at scale" → "Auto-resume contract"):

- checkpoints go under ``$CHECKPOINT_DIR`` (the job's own directory on the shared Lustre claim mounted at
  ``/checkpoints``; S3 through the file system's data repository association), one directory per checkpoint,
  ``step-<8 digits>``;
- a checkpoint is written into a temporary directory (``.tmp-step-…``), flushed, then renamed into place (a rename
  within a directory is atomic on Lustre and every POSIX file system), and only then is the ``latest`` marker
  (a file naming the directory) replaced, itself through a temporary file and a rename: a job killed mid-write
  leaves at worst a temporary directory, never a ``latest`` pointing at half a checkpoint;
- on start a job reads ``latest`` (or, when the marker is missing or dangling, takes the newest complete
  ``step-*`` directory) and resumes from the step after it;
- on SIGTERM a job stops at the next step boundary, writes a checkpoint and exits 143 within
  ``terminationGracePeriodSeconds`` (``$CHECKPOINT_GRACE_SECONDS`` tells it the budget); all ranks agree on the step
  to stop at (an all-reduce of the stop flag), so none hangs in a collective;
- every ``$CHECKPOINT_EVERY_STEPS`` steps a checkpoint is written anyway: a node that dies without warning (power,
  kernel panic, an XID that kills the process) loses at most that many steps;
- only rank 0 writes; the newest ``CHECKPOINT_KEEP`` checkpoints are kept.

:data:`RESUME_SCRIPT` is a script that does exactly this (the TrainJob example runs it under torchrun). Its
checkpoint logic is standard-library Python; the model step uses PyTorch (DDP over NCCL) when it is installed and a
small pure-Python model otherwise, so the resume behaviour is tested here by running the very text the examples
embed, without a GPU (tests/test_auto_resume.py).
"""

from __future__ import annotations

CHECKPOINT_MOUNT = "/checkpoints"
LATEST_MARKER = "latest"
CHECKPOINT_PREFIX = "step-"
TEMP_PREFIX = ".tmp-"
SIGTERM_EXIT = 143  # 128 + SIGTERM: what Kubernetes reports for a pod stopped by its termination signal

# The environment the examples set on every rank (name, what it is); the contract's vocabulary.
CONTRACT_ENV: tuple[tuple[str, str], ...] = (
    ("CHECKPOINT_DIR", "the job's checkpoint directory (/checkpoints/<job name> on the Lustre claim)"),
    ("CHECKPOINT_EVERY_STEPS", "steps between periodic checkpoints (what a node lost without warning costs at most)"),
    ("CHECKPOINT_GRACE_SECONDS", "terminationGracePeriodSeconds of the pod: the time a SIGTERM leaves to write the last checkpoint"),
    ("TRAIN_STEPS", "the steps the run trains for in total (a resumed run continues to the same end)"),
)

RESUME_SCRIPT = '''\
"""Crucible auto-resume training loop (addons/checkpointing.py): resumes from $CHECKPOINT_DIR/latest."""
import json, os, shutil, signal, sys, time

CKPT_DIR = os.environ["CHECKPOINT_DIR"]
EVERY = int(os.environ.get("CHECKPOINT_EVERY_STEPS", "100"))
STEPS = int(os.environ.get("TRAIN_STEPS", "1000"))
KEEP = int(os.environ.get("CHECKPOINT_KEEP", "3"))
STEP_SECONDS = float(os.environ.get("STEP_SECONDS", "0"))  # a pause per step (tests, pacing a smoke run)
RANK = int(os.environ.get("RANK", "0"))
STOP = {"requested": False}


def on_sigterm(signum, frame):
    STOP["requested"] = True  # finish the step, checkpoint, exit 143


signal.signal(signal.SIGTERM, on_sigterm)


def latest_checkpoint():
    """The newest complete checkpoint: what `latest` names, else the newest step-* directory (never a .tmp-*)."""
    try:
        with open(os.path.join(CKPT_DIR, "latest")) as f:
            name = f.read().strip()
        if name.startswith("step-") and os.path.isfile(os.path.join(CKPT_DIR, name, "state")):
            return name
    except FileNotFoundError:
        pass
    steps = sorted(n for n in os.listdir(CKPT_DIR) if n.startswith("step-") and os.path.isfile(os.path.join(CKPT_DIR, n, "state")))
    return steps[-1] if steps else None


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(step, write_state):
    """Write into .tmp-step-N, flush, rename to step-N, then point `latest` at it (rename too), prune old ones."""
    name = f"step-{step:08d}"
    tmp = os.path.join(CKPT_DIR, f".tmp-{name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write_state(os.path.join(tmp, "state"))
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"step": step, "time": time.time()}, f)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(tmp)
    final = os.path.join(CKPT_DIR, name)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    marker = os.path.join(CKPT_DIR, f".tmp-latest-{os.getpid()}")
    with open(marker, "w") as f:
        f.write(name + "\\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(marker, os.path.join(CKPT_DIR, "latest"))
    fsync_dir(CKPT_DIR)
    for old in sorted(n for n in os.listdir(CKPT_DIR) if n.startswith("step-"))[:-KEEP]:
        shutil.rmtree(os.path.join(CKPT_DIR, old), ignore_errors=True)
    print(f"checkpoint {name} written to {CKPT_DIR}", flush=True)


try:
    import torch
    import torch.distributed as dist
except ImportError:
    torch = None


class TorchModel:
    """A small model trained with DDP over NCCL on the node's GPUs (every rank), or on CPU with gloo."""

    def __init__(self):
        self.distributed = "WORLD_SIZE" in os.environ
        cuda = torch.cuda.is_available()
        if self.distributed:
            dist.init_process_group("nccl" if cuda else "gloo")
        self.device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.device)
        net = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 1024)).to(self.device)
        self.net = torch.nn.parallel.DistributedDataParallel(net) if self.distributed else net
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3)

    def step(self, step):
        g = torch.Generator(device=self.device).manual_seed(step * 1000 + RANK)
        x = torch.randn(64, 1024, device=self.device, generator=g)
        loss = (self.net(x) - x).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()

    def stop_agreed(self):
        """Every rank stops at the same step: the max of the ranks' stop flags."""
        if not self.distributed:
            return STOP["requested"]
        flag = torch.tensor([1.0 if STOP["requested"] else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def save(self, path):
        module = self.net.module if self.distributed else self.net
        with open(path, "wb") as f:
            torch.save({"model": module.state_dict(), "optimizer": self.opt.state_dict()}, f)
            f.flush()
            os.fsync(f.fileno())

    def load(self, path):
        state = torch.load(path, map_location=self.device)
        (self.net.module if self.distributed else self.net).load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])

    def close(self):
        if self.distributed:
            dist.destroy_process_group()


class PlainModel:
    """Without PyTorch: one rank fitting w to a target by gradient descent (the same loop, checkpoints and resume)."""

    def __init__(self):
        self.w = [0.0] * 8

    def step(self, step):
        target = [float(i) for i in range(len(self.w))]
        grads = [2 * (w - t) for w, t in zip(self.w, target)]
        self.w = [w - 0.05 * g for w, g in zip(self.w, grads)]
        return sum((w - t) ** 2 for w, t in zip(self.w, target))

    def stop_agreed(self):
        return STOP["requested"]

    def barrier(self):
        pass

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"w": self.w}, f)
            f.flush()
            os.fsync(f.fileno())

    def load(self, path):
        with open(path) as f:
            self.w = json.load(f)["w"]

    def close(self):
        pass


def main():
    os.makedirs(CKPT_DIR, exist_ok=True)
    model = TorchModel() if torch is not None else PlainModel()
    found = latest_checkpoint()
    start = 0
    if found:
        model.load(os.path.join(CKPT_DIR, found, "state"))
        start = int(found[len("step-"):])
        print(f"resumed from {found}: continuing at step {start + 1} of {STEPS}", flush=True)
    else:
        print(f"no checkpoint in {CKPT_DIR}: starting at step 1 of {STEPS}", flush=True)
    step = start
    while step < STEPS:
        step += 1
        loss = model.step(step)
        if STEP_SECONDS:
            time.sleep(STEP_SECONDS)
        stopping = model.stop_agreed()
        if step % EVERY == 0 or step == STEPS or stopping:
            model.barrier()
            if RANK == 0:
                save_checkpoint(step, model.save)
            model.barrier()
        if RANK == 0 and (step % EVERY == 0 or step == STEPS):
            print(f"step {step}/{STEPS} loss {loss:.4f}", flush=True)
        if stopping:
            print(f"SIGTERM: stopped at step {step} after its checkpoint; a restart resumes here", flush=True)
            model.close()
            sys.exit(143)
    model.close()
    print(f"done: {STEPS} steps", flush=True)


if __name__ == "__main__":
    main()
'''


def resume_command(script_path: str = "/tmp/train.py", launcher: str = "torchrun") -> str:
    """The shell a container runs: write the script where it can be read (a block literal in the manifest), then
    exec the launcher on it, so the launcher is PID 1 and gets the pod's SIGTERM."""
    return f"cat > {script_path} <<'EOF'\n{RESUME_SCRIPT}EOF\nexec {launcher} {script_path}\n"
