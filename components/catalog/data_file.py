"""Reading instance_types.yaml and refusing it, entry by entry, when it is wrong."""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from components.accelerators import ACCELERATED, CATALOG_KINDS, CPU, NEURON, from_catalog_kind

from .instance_type import ARCHITECTURES, PRICE_BASES, InstanceType

DATA_FILE_NAME = "instance_types.yaml"
# The data file spells accelerator kinds as the device maker (components/accelerators.py, column catalog_kind).
_ACCELERATED_CATALOG_KINDS = tuple(a.catalog_kind for a in ACCELERATED)
_ACCELERATED_WORDS = " or ".join(_ACCELERATED_CATALOG_KINDS)

_INSTANCE_TYPE_NAME = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+$")
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_HEADER_FIELDS = ("reference_region", "price_date", "currency", "accelerators", "instance_types")


class CatalogDataError(ValueError):
    """The data file is malformed; the message lists every problem found, by entry."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: invalid instance catalog:\n{listing}")


@dataclass(frozen=True)
class CatalogData:
    """The validated content of a data file."""

    reference_region: str
    price_date: str
    currency: str
    accelerators: Mapping[str, str]
    instance_types: tuple[InstanceType, ...]


def read_catalog_file(path: str | os.PathLike[str]) -> CatalogData:
    return parse_catalog_text(Path(path).read_text(encoding="utf-8"), source=str(path))


def parse_catalog_text(text: str, source: str) -> CatalogData:
    try:
        document = yaml.load(text, Loader=_UniqueKeySafeLoader)
    except yaml.YAMLError as error:
        raise CatalogDataError(source, [f"not valid YAML: {error}"]) from error
    return parse_catalog_document(document, source)


def parse_catalog_document(document: object, source: str) -> CatalogData:
    if not isinstance(document, dict):
        raise CatalogDataError(source, ["the file must be a mapping holding the header and instance_types"])

    problems: list[str] = []
    for unknown in sorted(set(document) - set(_HEADER_FIELDS), key=str):
        problems.append(f"unknown top-level field {unknown!r}")
    for missing in _HEADER_FIELDS:
        if missing not in document:
            problems.append(f"missing top-level field {missing!r}")
    if problems:
        raise CatalogDataError(source, problems)

    reference_region = document["reference_region"]
    if not _is_nonempty_string(reference_region):
        problems.append(f"reference_region must be a region name, got {reference_region!r}")

    price_date = document["price_date"]
    if isinstance(price_date, datetime.date):
        price_date = price_date.isoformat()
    if not _is_nonempty_string(price_date):
        problems.append(f"price_date must be a date or a period such as 2026-Q3, got {price_date!r}")

    currency = document["currency"]
    if not (isinstance(currency, str) and _CURRENCY_CODE.match(currency)):
        problems.append(f"currency must be a three-letter code such as USD, got {currency!r}")

    accelerators = document["accelerators"]
    if not isinstance(accelerators, dict) or not accelerators:
        problems.append(f"accelerators must map each accelerator name to its kind ({_ACCELERATED_WORDS})")
        accelerators = {}
    for accelerator, kind in accelerators.items():
        if kind not in _ACCELERATED_CATALOG_KINDS:
            problems.append(f"accelerators.{accelerator}: kind must be {_ACCELERATED_WORDS}, got {kind!r}")

    entries = document["instance_types"]
    instance_types: list[InstanceType] = []
    if not isinstance(entries, dict) or not entries:
        problems.append("instance_types must map each instance type name to its facts")
    else:
        for name, entry in entries.items():
            entry_problems = _entry_problems(name, entry, accelerators)
            if entry_problems:
                problems.extend(f"{name}: {problem}" for problem in entry_problems)
            else:
                instance_types.append(_instance_type(name, entry))

    if problems:
        raise CatalogDataError(source, problems)
    return CatalogData(
        reference_region=reference_region,
        price_date=price_date,
        currency=currency,
        accelerators=dict(accelerators),
        instance_types=tuple(instance_types),
    )


def _instance_type(name: str, entry: dict[str, Any]) -> InstanceType:
    return InstanceType(
        name=name,
        family=entry["family"],
        arch=entry["arch"],
        kind=from_catalog_kind(entry["accelerator_kind"]).kind,
        accelerator=entry["accelerator"],
        accelerator_count=entry["accelerator_count"],
        accelerator_memory_gib=entry["accelerator_memory_gib"],
        neuron_cores=entry.get("neuron_cores"),
        vcpu=entry["vcpu"],
        memory_gib=entry["memory_gib"],
        efa_interfaces=entry["efa_interfaces"],
        network_gbps=entry["network_gbps"],
        network_cards=entry["network_cards"],
        default_card_interfaces=entry["default_card_interfaces"],
        ipv4_per_interface=entry["ipv4_per_interface"],
        instance_store_gib=entry["instance_store_gib"],
        instance_store_disks=entry["instance_store_disks"],
        price_per_hour=entry["price_per_hour"],
        price_basis=entry.get("price_basis", "on-demand"),
        price_note=entry.get("price_note"),
    )


# --- field checks: each returns a problem description, or None when the value is fine


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_nonempty_string(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _positive_int(value: object) -> str | None:
    return None if _is_int(value) and value > 0 else f"must be a positive integer, got {value!r}"


def _non_negative_int(value: object) -> str | None:
    return None if _is_int(value) and value >= 0 else f"must be a non-negative integer, got {value!r}"


def _positive_number(value: object) -> str | None:
    return None if _is_number(value) and value > 0 else f"must be a positive number, got {value!r}"


def _non_negative_number(value: object) -> str | None:
    return None if _is_number(value) and value >= 0 else f"must be a non-negative number, got {value!r}"


def _string(value: object) -> str | None:
    return None if _is_nonempty_string(value) else f"must be a non-empty string, got {value!r}"


def _string_or_null(value: object) -> str | None:
    return None if value is None or _is_nonempty_string(value) else f"must be a name or null, got {value!r}"


def _positive_int_or_null(value: object) -> str | None:
    return None if value is None else _positive_int(value)


def _one_of(choices: tuple[str, ...]) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}; got {value!r}"

    return check


_REQUIRED_FIELDS: dict[str, Callable[[object], str | None]] = {
    "family": _string,
    "arch": _one_of(ARCHITECTURES),
    "accelerator_kind": _one_of(CATALOG_KINDS),
    "accelerator": _string_or_null,
    "accelerator_count": _non_negative_int,
    "accelerator_memory_gib": _non_negative_number,
    "vcpu": _positive_int,
    "memory_gib": _positive_number,
    "efa_interfaces": _non_negative_int,
    "network_gbps": _positive_number,
    "network_cards": _positive_int,
    "default_card_interfaces": _positive_int,
    "ipv4_per_interface": _positive_int,
    "instance_store_gib": _non_negative_int,
    "instance_store_disks": _non_negative_int,
    "price_per_hour": _positive_number,
}

_OPTIONAL_FIELDS: dict[str, Callable[[object], str | None]] = {
    "neuron_cores": _positive_int_or_null,
    "price_basis": _one_of(PRICE_BASES),
    "price_note": _string,
}


def _entry_problems(name: object, entry: object, accelerators: Mapping[str, str]) -> list[str]:
    if not (isinstance(name, str) and _INSTANCE_TYPE_NAME.match(name)):
        return [f"{name!r} is not an instance type name of the form family.size"]
    if not isinstance(entry, dict):
        return [f"the entry must be a mapping of fields, got {entry!r}"]

    problems = [f"missing field {field!r}" for field in _REQUIRED_FIELDS if field not in entry]
    known = set(_REQUIRED_FIELDS) | set(_OPTIONAL_FIELDS)
    problems += [f"unknown field {field!r}" for field in entry if field not in known]
    for field, check in {**_REQUIRED_FIELDS, **_OPTIONAL_FIELDS}.items():
        if field in entry and (problem := check(entry[field])):
            problems.append(f"{field} {problem}")
    if problems:
        return problems
    return _consistency_problems(name, entry, accelerators)


def _consistency_problems(name: str, entry: dict[str, Any], accelerators: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    family = name.split(".", 1)[0]
    if entry["family"] != family:
        problems.append(f"family is {entry['family']!r} but the name says {family!r}")

    kind = entry["accelerator_kind"]
    accelerator = entry["accelerator"]
    count = entry["accelerator_count"]
    memory = entry["accelerator_memory_gib"]
    neuron_cores = entry.get("neuron_cores")
    if kind == CPU.catalog_kind:
        if accelerator is not None:
            problems.append(f"accelerator must be null when accelerator_kind is none, got {accelerator!r}")
        if count != 0:
            problems.append(f"accelerator_count must be 0 when accelerator_kind is none, got {count}")
        if memory != 0:
            problems.append(f"accelerator_memory_gib must be 0 when accelerator_kind is none, got {memory}")
    else:
        if accelerator is None:
            problems.append(f"accelerator must name the {kind} device")
        elif accelerator not in accelerators:
            problems.append(f"accelerator {accelerator!r} is not declared under accelerators")
        elif accelerators[accelerator] != kind:
            problems.append(f"accelerator {accelerator!r} is a {accelerators[accelerator]} device but accelerator_kind is {kind}")
        if count == 0:
            problems.append(f"accelerator_count must be at least 1 for a {kind} instance type")
        if memory == 0:
            problems.append(f"accelerator_memory_gib must be positive for a {kind} instance type")

    if kind == NEURON.catalog_kind:
        if neuron_cores is None:
            problems.append("neuron_cores is required for a neuron instance type")
        elif count and neuron_cores % count:
            problems.append(f"neuron_cores ({neuron_cores}) must divide evenly among {count} devices")
    elif neuron_cores is not None:
        problems.append(f"neuron_cores applies only to neuron instance types, got {neuron_cores}")

    if entry["efa_interfaces"] > entry["network_cards"]:
        problems.append(
            f"efa_interfaces ({entry['efa_interfaces']}) cannot exceed network_cards ({entry['network_cards']}): each card carries at most one EFA interface"
        )

    if (entry["instance_store_gib"] == 0) != (entry["instance_store_disks"] == 0):
        problems.append(
            "instance_store_gib and instance_store_disks must both be 0 (EBS only) or both positive, "
            f"got {entry['instance_store_gib']} GiB on {entry['instance_store_disks']} disks"
        )

    is_estimate = entry.get("price_basis") == "estimate"
    if is_estimate and "price_note" not in entry:
        problems.append("price_note is required when price_basis is estimate: say how the price was derived")
    if not is_estimate and "price_note" in entry:
        problems.append("price_note is only for prices with price_basis: estimate")
    return problems


class _UniqueKeySafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader (libyaml's parser when installed: SafeLoader's constructors, about 10x faster on the catalog) that
    rejects a mapping key given twice instead of keeping the last."""


def _construct_unique_key_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeySafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_key_mapping)
