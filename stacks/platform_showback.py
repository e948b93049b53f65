"""Runtime showback wired from the spec: with observability and teams on, the recording rules of addons/showback.py
priced per flavor from the plan's own cost model (stacks/derive/cost.py `flavor_prices`)."""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from addons.showback import Price, Showback, ShowbackArgs
from stacks.derive.cost import flavor_prices
from stacks.spec import PlatformSpec


def showback_addon(spec: PlatformSpec, monitoring: Any, opts: pulumi.ResourceOptions) -> Optional[Showback]:
    """The Showback component, when this stack runs Prometheus (``monitoring``) and Kueue (teams) and prices pools."""
    if monitoring is None or not spec.teams or not spec.pools:
        return None
    prices = [Price(p.flavor, p.resource, p.usd_per_unit_hour) for p in flavor_prices(spec)]
    if not prices:
        return None
    return Showback(
        "showback",
        ShowbackArgs(
            namespace=monitoring.namespace.metadata.name,
            release=monitoring.release.name,
            prices=prices,
            interval_seconds=max(spec.addons.observability.scrape_interval_seconds, 30),
            depends_on=(monitoring.release,),
        ),
        opts=opts,
    )
