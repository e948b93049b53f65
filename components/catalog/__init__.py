"""The instance catalog: the single source of truth for facts about EC2 instance types.

    from components.catalog import load_catalog, resolve

    catalog = load_catalog()
    p5 = catalog.get("p5.48xlarge")      # InstanceType; p5.efa_interfaces == 32
    catalog.family("g6e")                # every g6e size, smallest first
    resolve("g6e")                       # the same; resolve("g6e.12xlarge") gives one
    select(["p5.48xlarge", "g6e"])       # config entries: types and families, in order, each once
    catalog.close_matches("p5.48xlarg")  # ["p5.48xlarge"]: what a typo likely meant

An instance type's `kind` is the one accelerator vocabulary (gpu | neuron | cpu, components/accelerators.py);
the data file's `accelerator_kind` (nvidia | neuron | none) is translated when the file is read.

Unknown names raise UnknownInstanceType, whose message suggests close matches.
"""

from .catalog import Catalog, UnknownInstanceType, load_catalog, resolve, select
from .data_file import CatalogDataError
from .instance_type import Architecture, InstanceType, PriceBasis

__all__ = [
    "Architecture",
    "Catalog",
    "CatalogDataError",
    "InstanceType",
    "PriceBasis",
    "UnknownInstanceType",
    "load_catalog",
    "resolve",
    "select",
]
