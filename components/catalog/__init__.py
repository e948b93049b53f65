"""The instance catalog: the single source of truth for facts about EC2 instance types.

    from components.catalog import load_catalog, resolve

    catalog = load_catalog()
    p5 = catalog.get("p5.48xlarge")      # InstanceType; p5.efa_interfaces == 32
    catalog.family("g6e")                # every g6e size, smallest first
    resolve("g6e")                       # the same; resolve("g6e.12xlarge") gives one

Unknown names raise UnknownInstanceType, whose message suggests close matches.
"""

from .catalog import Catalog, UnknownInstanceType, load_catalog, resolve
from .data_file import CatalogDataError
from .instance_type import ACCELERATOR_RESOURCES, AcceleratorKind, Architecture, InstanceType, PriceBasis

__all__ = [
    "ACCELERATOR_RESOURCES",
    "AcceleratorKind",
    "Architecture",
    "Catalog",
    "CatalogDataError",
    "InstanceType",
    "PriceBasis",
    "UnknownInstanceType",
    "load_catalog",
    "resolve",
]
