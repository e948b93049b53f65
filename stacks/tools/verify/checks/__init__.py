"""The checks, in the order they run. Each is `run(ctx) -> None`, emitting rows through `ctx.emit`."""

from stacks.tools.verify.checks import devices, jupyterhub, lustre, nccl, pools, queues

CHECKS = {
    pools.NAME: pools.run,
    devices.NAME: devices.run,
    queues.NAME: queues.run,
    lustre.NAME: lustre.run,
    jupyterhub.NAME: jupyterhub.run,
    nccl.NAME: nccl.run,  # the longest: last, so a tight deadline still leaves time for the others
}
