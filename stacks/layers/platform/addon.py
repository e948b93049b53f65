"""The contract of one platform add-on: its registry entry, what it is handed, what it hands back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Optional

import pulumi

from addons.alert_notifications import AlertNotifications
from addons.grafana_cloudwatch import GrafanaCloudWatch
from addons.kueue import Kueue
from addons.managed_observability import ManagedObservability
from addons.observability import Monitoring
from stacks.layers.base import Below
from stacks.spec import PlatformSpec

Output = Literal["workloads", "addons", "tenancy"]


@dataclass(frozen=True)
class AddonsBelow(Below):
    """:class:`Below`, plus the add-ons built so far that later ones depend on."""

    load_balancer_controller: Optional[pulumi.Resource] = None  # its release: Services/Ingresses it reconciles wait for it
    monitoring: Optional[Monitoring] = None  # ServiceMonitors of later releases wait for its CRDs
    kueue: Optional[Kueue] = None  # the teams' LocalQueues point at its ClusterQueues
    managed_observability: Optional[ManagedObservability] = None  # Prometheus remote-writes to its workspace
    grafana_cloudwatch: Optional[GrafanaCloudWatch] = None  # Grafana's CloudWatch identity: Monitoring waits for it
    alert_notifications: Optional[AlertNotifications] = None  # where Alertmanager sends: Monitoring waits for its identity
    lws: Optional[pulumi.Resource] = None  # the LeaderWorkerSet operator release (its CRD): multi-node models wait for it
    namespaces: Mapping[str, pulumi.Resource] = dataclasses.field(default_factory=dict)  # namespace -> the resource creating it
    quotas: Mapping[str, pulumi.Resource] = dataclasses.field(default_factory=dict)  # namespace -> its ResourceQuota: claims there wait for it

    @classmethod
    def of(cls, below: Below) -> "AddonsBelow":
        return cls(**{f.name: vars(below)[f.name] for f in dataclasses.fields(Below)})

    def controller(self) -> tuple[pulumi.Resource, ...]:
        """The load balancer controller release to depend on, when this stack installs it."""
        return (self.load_balancer_controller,) if self.load_balancer_controller is not None else ()

    def with_(self, out: "AddonOutputs") -> "AddonsBelow":
        """This, with what ``out`` installed for the add-ons after it."""
        return dataclasses.replace(
            self,
            load_balancer_controller=out.load_balancer_controller if out.load_balancer_controller is not None else self.load_balancer_controller,
            monitoring=out.monitoring if out.monitoring is not None else self.monitoring,
            kueue=out.kueue if out.kueue is not None else self.kueue,
            managed_observability=out.managed_observability if out.managed_observability is not None else self.managed_observability,
            grafana_cloudwatch=out.grafana_cloudwatch if out.grafana_cloudwatch is not None else self.grafana_cloudwatch,
            alert_notifications=out.alert_notifications if out.alert_notifications is not None else self.alert_notifications,
            lws=out.lws if out.lws is not None else self.lws,
            namespaces={**self.namespaces, **out.namespaces},
            quotas={**self.quotas, **out.quotas},
        )


@dataclass(frozen=True)
class AddonOutputs:
    """What an add-on's build hands back: its export (None: nothing), and what later add-ons depend on."""

    export: Any = None
    load_balancer_controller: Optional[pulumi.Resource] = None
    monitoring: Optional[Monitoring] = None
    kueue: Optional[Kueue] = None
    managed_observability: Optional[ManagedObservability] = None
    grafana_cloudwatch: Optional[GrafanaCloudWatch] = None
    alert_notifications: Optional[AlertNotifications] = None
    lws: Optional[pulumi.Resource] = None
    namespaces: Mapping[str, pulumi.Resource] = dataclasses.field(default_factory=dict)  # the namespaces it created (later add-ons put objects there)
    quotas: Mapping[str, pulumi.Resource] = dataclasses.field(default_factory=dict)  # the ResourceQuotas it created, by namespace


@dataclass(frozen=True)
class Entry:
    name: str  # the add-on's top-level component name
    components: tuple[str, ...]  # the type tokens of the top-level components its build registers
    enabled: Callable[[PlatformSpec], bool]
    build: Callable[[PlatformSpec, AddonsBelow, pulumi.ResourceOptions], AddonOutputs]
    output: Output  # the stack output its export goes in
    key: Optional[str]  # its key there (None: it exports nothing)
    after: tuple[str, ...] = ()  # the add-ons it depends on when they are enabled: they are built first
    summary: str = ""
