"""Runtime showback: with observability and teams on, the recording rules of addons/showback.py (Kueue's admitted
usage x each flavor's price), priced from the plan's own cost model (stacks/derive/cost.py `flavor_prices`)."""

from __future__ import annotations

import pulumi

from addons.showback import Price, Showback, ShowbackArgs
from stacks.derive.cost import flavor_prices
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform.observability import monitoring_enabled
from stacks.spec import PlatformSpec


def showback_enabled(spec: PlatformSpec) -> bool:
    """Prometheus to record into, Kueue queues to read (teams) and pools with a price."""
    return monitoring_enabled(spec) and bool(spec.teams) and bool(flavor_prices(spec))


def build_showback(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    monitoring = below.monitoring
    if monitoring is None:  # the enabling rule includes monitoring_enabled
        raise RuntimeError("showback was built before Monitoring (registry order)")
    Showback(
        "showback",
        ShowbackArgs(
            namespace=monitoring.namespace.metadata.name,
            release=monitoring.release.name.apply(lambda n: n or ""),  # the SDK types a Release name Optional
            prices=[Price(p.flavor, p.resource, p.usd_per_unit_hour) for p in flavor_prices(spec)],
            interval_seconds=max(spec.addons.observability.scrape_interval_seconds, 30),
            depends_on=(monitoring.release,),
        ),
        opts=opts,
    )
    return AddonOutputs()


ENTRY = Entry(
    name="showback",
    components=("crucible:platform:Showback",),
    enabled=showback_enabled,
    build=build_showback,
    output="addons",
    key=None,
    after=("monitoring",),
    summary="cost per team: Kueue's admitted usage x the catalog price, as Prometheus recording rules",
)
