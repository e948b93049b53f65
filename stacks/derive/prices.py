"""The price tables beside the instance catalog: spot savings (components/catalog/spot.yaml) and service prices
(components/catalog/service_prices.yaml). PURE: reads data files, no Pulumi calls.

Instance prices stay in the instance catalog (read through components.catalog); these two files
hold what the catalog does not: a stated spot saving per family (an estimate, with its basis and date) and the list
prices of the services a stack builds besides instances.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import yaml

CATALOG_DIR = Path(__file__).resolve().parents[2] / "components" / "catalog"
SPOT_FILE = CATALOG_DIR / "spot.yaml"
SERVICE_FILE = CATALOG_DIR / "service_prices.yaml"


@dataclass(frozen=True)
class SpotTable:
    basis: str
    reference_region: str
    as_of: str
    savings_percent: Mapping[str, Optional[float]]  # family -> percent off on-demand; None: no published saving

    def describe(self) -> str:
        return f"{self.basis}, as of {self.as_of}: an estimate; spot prices vary by region, zone and month"


@dataclass(frozen=True)
class ServicePrices:
    reference_region: str
    as_of: str
    currency: str
    hours_per_month: int
    eks_cluster_per_hour: float
    nat_gateway_per_hour: float
    interface_endpoint_per_az_hour: float
    lustre_per_gb_month: Mapping[str, Mapping[int, float]]  # deployment type -> MB/s/TiB -> USD per GB-month
    usage_priced: tuple[str, ...]

    def lustre_per_hour(self, deployment_type: str, throughput_per_tib: int, capacity_gib: int) -> float:
        """The file system's hourly cost: its capacity (FSx bills the provisioned capacity as GB-months, 1,200 GiB
        as 1,200 GB-month) times the tier's price, over the month's hours."""
        tiers = self.lustre_per_gb_month.get(deployment_type, {})
        if throughput_per_tib not in tiers:
            raise ValueError(f"no FSx for Lustre price for {deployment_type} at {throughput_per_tib} MB/s/TiB in {SERVICE_FILE.name}")
        return capacity_gib * tiers[throughput_per_tib] / self.hours_per_month


@functools.lru_cache(maxsize=None)
def spot_table() -> SpotTable:
    raw = yaml.safe_load(SPOT_FILE.read_text())
    families = {str(name): (None if row.get("savings_percent") is None else float(row["savings_percent"])) for name, row in raw["families"].items()}
    for family, percent in families.items():
        if percent is not None and not 0 <= percent < 100:
            raise ValueError(f"{SPOT_FILE.name}: {family}: savings_percent {percent} is not a percentage below 100")
    return SpotTable(basis=raw["basis"], reference_region=raw["reference_region"], as_of=str(raw["as_of"]), savings_percent=families)


@functools.lru_cache(maxsize=None)
def service_prices() -> ServicePrices:
    raw = yaml.safe_load(SERVICE_FILE.read_text())
    return ServicePrices(
        reference_region=raw["reference_region"],
        as_of=str(raw["as_of"]),
        currency=raw["currency"],
        hours_per_month=int(raw["hours_per_month"]),
        eks_cluster_per_hour=float(raw["eks_cluster_per_hour"]),
        nat_gateway_per_hour=float(raw["nat_gateway_per_hour"]),
        interface_endpoint_per_az_hour=float(raw["interface_endpoint_per_az_hour"]),
        lustre_per_gb_month={kind: {int(t): float(p) for t, p in tiers.items()} for kind, tiers in raw["lustre_per_gb_month"].items()},
        usage_priced=tuple(raw["usage_priced"]),
    )
