"""Kubernetes resource quantities ("500m", "16Gi", "1e3", 8) as exact numbers, for comparing quotas to limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

from components.quantity import value_of


def parse_quantity(value: Any) -> Optional[Decimal]:
    """The quantity as a Decimal in base units (cores, bytes, devices); ``None`` if it is not a quantity
    (components/quantity.py: one reading of quantities for the program and the pack)."""
    return value_of(value)
