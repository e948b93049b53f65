"""The registry of the platform add-ons: one :class:`Entry` per add-on, in the order the platform layer builds them.

An entry names the add-on (its top-level component's name), its enabling rule (reading the spec), its build function
`(spec, below, opts) -> AddonOutputs`, where its export goes in the stack outputs, and the add-ons it must come after.
Adding an add-on is one module (its build function and its `ENTRY`) plus one line in :data:`ENTRIES`.

The order is what the ordering policies (policies/rules/ordering.py, REL-ORD-*) check on the plan: the load balancer
controller first (every Service and Ingress it reconciles depends on its release, so a destroy deletes them before
it); ServiceMonitors only after Monitoring (its release installs their CRD); Kueue before the teams' LocalQueues.
`after` states these, and tests/test_addon_registry.py checks that :data:`ENTRIES` respects them.
"""

from __future__ import annotations

from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform import argo, burn_in, canary, kuberay, load_balancer, notebooks, observability, serving, showback, tenancy, training, verify
from stacks.spec import PlatformSpec

ENTRIES: tuple[Entry, ...] = (
    load_balancer.ENTRY,
    training.MPI_OPERATOR,
    training.KUBEFLOW_TRAINER,
    notebooks.ENTRY,
    observability.MANAGED_OBSERVABILITY,
    observability.CLUSTER_LOGS,
    observability.GRAFANA_CLOUDWATCH,
    observability.ALERT_NOTIFICATIONS,
    observability.MONITORING,
    observability.DASHBOARDS,
    observability.LUSTRE_ALARMS,
    observability.DCGM_EXPORTER,
    observability.NEURON_MONITOR,
    showback.ENTRY,
    argo.ENTRY,
    kuberay.ENTRY,
    burn_in.ENTRY,
    tenancy.KUEUE,
    tenancy.TEAMS,
    canary.ENTRY,
    serving.LWS,
    serving.SERVING,
    verify.ENTRY,
)


def enabled(spec: PlatformSpec) -> list[Entry]:
    """The add-ons this stack installs, in build order (none unless it builds the platform layer)."""
    if not spec.builds("platform"):
        return []
    return [entry for entry in ENTRIES if entry.enabled(spec)]


def entry(name: str) -> Entry:
    for e in ENTRIES:
        if e.name == name:
            return e
    raise KeyError(f"no add-on {name!r} in the registry; known: {', '.join(e.name for e in ENTRIES)}")


def order_problems(entries: tuple[Entry, ...] = ENTRIES) -> list[str]:
    """Entries that come before an add-on they must follow, or name one the registry does not hold."""
    names = [e.name for e in entries]
    problems = []
    for i, e in enumerate(entries):
        for before in e.after:
            if before not in names:
                problems.append(f"{e.name} must come after {before!r}, which is not in the registry")
            elif names.index(before) > i:
                problems.append(f"{e.name} is built before {before}, which it must come after")
    if len(set(names)) != len(names):
        problems.append(f"names are not unique: {names}")
    return problems


__all__ = ["AddonOutputs", "AddonsBelow", "ENTRIES", "Entry", "enabled", "entry", "order_problems"]
