"""The checks, in the order they run. Each is `run(ctx) -> None`, emitting rows through `ctx.emit`."""

from stacks.tools.verify.checks import devices, health, jupyterhub, kueue, lustre, nccl, pools, queues

CHECKS = {
    pools.NAME: pools.run,
    devices.NAME: devices.run,
    health.NAME: health.run,  # read only: what burn-in, node monitoring and the canary recorded
    kueue.NAME: kueue.run,  # read only: the WorkloadPriorityClasses and Topologies, as the plan declares them
    queues.NAME: queues.run,
    lustre.NAME: lustre.run,
    jupyterhub.NAME: jupyterhub.run,
    nccl.NAME: nccl.run,  # the longest: last, so a tight deadline still leaves time for the others
}
