"""Kubernetes resource quantities: their exact value (:func:`value_of`, any spelling the API accepts; what the policy
pack compares) and the form the API server stores them in (:func:`canonical`).

The API server parses every quantity it is handed and writes it back in its canonical form
(k8s.io/apimachinery pkg/api/resource, ``Quantity.CanonicalizeBytes``): ``2048Gi`` is stored as ``2Ti``, ``1000``
as ``1k``, ``0.5`` as ``500m``. A value read back from the cluster (a ResourceQuota's ``status.hard``, which the
quota controller copies from ``spec.hard``) is in that form, so a wait for it must compare with that form.

The rules, from CanonicalizeBytes: zero is ``0``; a quantity written with a binary suffix (Ki … Ei) stays binary,
as the largest power of 1024 that divides it, unless it lies strictly between -1024 and 1024 or is no whole number
(then decimal); every other quantity is decimal: its digits without trailing zeros and an exponent made a
multiple of 3 (n, u, m, "", k, M, G, T, P, E). Precision finer than nano is rounded up, away from zero, as
ParseQuantity does. Only the normal form is accepted (no ``+``, no leading zeros, no trailing zeros after the point):
ParseQuantity keeps other spellings as written when their digits look canonical (``05Gi``, ``1.500k``). The exponent
form (``1e3``), values beyond E and binary values past 2^63-1 (capped upstream) are refused too (a ValueError).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Optional

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}  # suffix -> power of 1024
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}  # suffix -> power of 10
_BINARY_SUFFIX = {power: suffix for suffix, power in _BINARY.items()}
_DECIMAL_SUFFIX = {power: suffix for suffix, power in _DECIMAL.items()}
_MULTIPLIER = {**{s: Decimal(1024) ** p for s, p in _BINARY.items()}, **{s: Decimal(10) ** p for s, p in _DECIMAL.items()}}
# What the API accepts (apimachinery's grammar, exponent form included), for reading a quantity's value.
_ANY_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$")
# Normal form only, for predicting the stored form: the API server keeps some other spellings as written
# (ParseQuantity reuses the input string when its digits look canonical: "+5", "05Gi" and "1.500k" are stored so).
_NORMAL_QUANTITY = re.compile(r"(-?)((?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?|\.[0-9]*[1-9])(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)")
_BINARY_CAP = 2**63 - 1  # ParseQuantity caps a binary quantity at the largest int64


def value_of(value: Any) -> Optional[Decimal]:
    """A quantity ("500m", "16Gi", "1e3", 8) as an exact Decimal in base units (cores, bytes, devices); None if it is
    not one (booleans and None included)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # nano is the finest a quantity keeps: a computed float's binary noise (0.1 * 3) is not a nanocore more
        return _integral(Decimal(str(round(value, 9)))) if value == value and abs(value) != float("inf") else None
    if not isinstance(value, str):
        return None
    match = _ANY_QUANTITY.match(value.strip())
    if not match:
        return None
    try:
        return _integral(Decimal(match.group(1)) * _MULTIPLIER[match.group(2)])
    except InvalidOperation:
        return None


def _integral(value: Decimal) -> Decimal:
    """A whole value without exponent or trailing fraction digits (2000, not 2E+3 or 2000.0); others as they are."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def parse(value: str | int) -> tuple[Fraction, bool]:
    """The exact value of a quantity in normal form (rounded up to nano, away from zero, as ParseQuantity does) and
    whether its suffix is binary; ValueError for any other spelling."""
    match = _NORMAL_QUANTITY.fullmatch(str(value).strip()) if not isinstance(value, bool) else None
    if match is None:
        raise ValueError(
            f"not a quantity in normal form (a number without '+', leading zeros or trailing zeros after the point, with an "
            f"optional suffix n, u, m, k, M, G, T, P, E, Ki … Ei): {value!r}"
        )
    sign, digits, suffix = match.groups()
    amount = Fraction(Decimal(digits)) * Fraction(_MULTIPLIER[suffix])
    amount = Fraction(math.ceil(amount * 10**9), 10**9)  # ParseQuantity keeps nano precision, rounding up
    if suffix in _BINARY and amount > _BINARY_CAP:
        raise ValueError(f"quantity beyond the largest the API server keeps (it caps binary quantities at 2^63-1): {value!r}")
    return (-amount if sign == "-" else amount), suffix in _BINARY


def canonical(value: str | int) -> str:
    """The form the API server stores ``value`` in (``2048Gi`` -> ``2Ti``); ValueError when it is no quantity."""
    amount, binary = parse(value)
    if amount == 0:
        return "0"
    sign, magnitude = ("-" if amount < 0 else ""), abs(amount)
    if binary and magnitude >= 1024 and magnitude.denominator == 1:
        number, power = magnitude.numerator, 0
        while number % 1024 == 0 and power < max(_BINARY_SUFFIX):
            number, power = number // 1024, power + 1
        return f"{sign}{number}{_BINARY_SUFFIX[power]}"
    number, exponent = magnitude.numerator * 10**9 // magnitude.denominator, -9  # exact: at most nine decimals
    while number % 10 == 0:
        number, exponent = number // 10, exponent + 1
    while exponent % 3:
        number, exponent = number * 10, exponent - 1
    if exponent not in _DECIMAL_SUFFIX:  # beyond E: upstream falls back to exponent notation, not modelled
        raise ValueError(f"quantity beyond the E suffix, not modelled: {value!r}")
    return f"{sign}{number}{_DECIMAL_SUFFIX[exponent]}"
