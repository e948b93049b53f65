"""What only the `crucible` CLI runs, apart from the deploy path (`pulumi up` runs stacks/program.py, stacks/spec,
stacks/derive and stacks/layers, never this package): the offline harness under Pulumi's mocks, the plan report and
its checks, diff, verify and the example workloads a team submits."""
