"""Looking instance types up by name or family, with close-match suggestions for typos."""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources

from .data_file import DATA_FILE_NAME, CatalogData, parse_catalog_text, read_catalog_file
from .instance_type import InstanceType

_MAX_SUGGESTIONS = 3
_SUGGESTION_CUTOFF = 0.6


class UnknownInstanceType(LookupError):
    """A name (or family) that is not in the catalog; `suggestions` holds close matches."""

    def __init__(self, name: str, suggestions: Sequence[str] = (), *, subject: str = "instance type") -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        message = f"unknown {subject} {name!r}"
        if self.suggestions:
            message += f" (did you mean: {', '.join(self.suggestions)}?)"
        super().__init__(message)


def _size_order(instance_type: InstanceType) -> tuple[float, float, str]:
    return (instance_type.vcpu, instance_type.memory_gib, instance_type.name)


class Catalog:
    """The instance types Crucible knows, with the region and date their prices are for."""

    def __init__(
        self,
        instance_types: Iterable[InstanceType],
        *,
        reference_region: str,
        price_date: str,
        currency: str,
    ) -> None:
        by_family: dict[str, list[InstanceType]] = {}
        seen: set[str] = set()
        for instance_type in instance_types:
            if instance_type.name in seen:
                raise ValueError(f"instance type {instance_type.name!r} is given twice")
            seen.add(instance_type.name)
            by_family.setdefault(instance_type.family, []).append(instance_type)
        self._by_family = {family: tuple(sorted(members, key=_size_order)) for family, members in sorted(by_family.items())}
        self._by_name = {t.name: t for members in self._by_family.values() for t in members}
        self.reference_region = reference_region
        self.price_date = price_date
        self.currency = currency

    @classmethod
    def from_data(cls, data: CatalogData) -> Catalog:
        return cls(
            data.instance_types,
            reference_region=data.reference_region,
            price_date=data.price_date,
            currency=data.currency,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Catalog:
        return cls.from_data(read_catalog_file(path))

    def get(self, name: str) -> InstanceType:
        """The instance type called `name`; raises UnknownInstanceType with close matches."""
        _require_string(name)
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownInstanceType(name, self._suggestions(name, self._by_name)) from None

    def family(self, family: str) -> list[InstanceType]:
        """Every instance type in `family`, smallest first."""
        _require_string(family)
        try:
            return list(self._by_family[family])
        except KeyError:
            raise UnknownInstanceType(family, self._suggestions(family, self._by_family), subject="instance family") from None

    def resolve(self, selector: str) -> list[InstanceType]:
        """An exact instance type name gives that type; a family name gives all its sizes."""
        _require_string(selector)
        if selector in self._by_name:
            return [self._by_name[selector]]
        if selector in self._by_family:
            return list(self._by_family[selector])
        candidates = [*self._by_name, *self._by_family]
        raise UnknownInstanceType(selector, self._suggestions(selector, candidates), subject="instance type or family")

    def select(self, entries: Iterable[str]) -> list[InstanceType]:
        """Instance types for config entries that are types (p5.48xlarge) or families (g6e): in order, each once.
        An unknown entry raises UnknownInstanceType with close matches (the spec reports them first)."""
        out: dict[str, InstanceType] = {}
        for entry in entries:
            for instance_type in self.resolve(entry):
                out.setdefault(instance_type.name, instance_type)
        return list(out.values())

    def is_family(self, name: str) -> bool:
        return name in self._by_family

    def close_matches(self, query: str) -> list[str]:
        """Instance type or family names close to ``query`` (a typo's likely meaning), best first; within the
        family when the family part of ``query`` is right."""
        return self._suggestions(query, [*self._by_name, *self._by_family])

    def names(self) -> list[str]:
        """Every instance type name, family by family (alphabetically), smallest size first."""
        return list(self._by_name)

    def families(self) -> list[str]:
        return list(self._by_family)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[InstanceType]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def _suggestions(self, query: str, candidates: Iterable[str]) -> list[str]:
        wanted = query.strip().lower()
        family, dot, _ = wanted.partition(".")
        if dot and family in self._by_family:
            # The family is right, so the typo is in the size: suggest sizes of that family only.
            sizes = [t.name for t in self._by_family[family]]
            matches = difflib.get_close_matches(wanted, sizes, _MAX_SUGGESTIONS, _SUGGESTION_CUTOFF)
            if matches:
                return matches
        return difflib.get_close_matches(wanted, list(candidates), _MAX_SUGGESTIONS, _SUGGESTION_CUTOFF)


def _require_string(name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(f"an instance type name must be a string, got {type(name).__name__} {name!r}")


@functools.cache
def _packaged_catalog() -> Catalog:
    data_file = resources.files(__package__).joinpath(DATA_FILE_NAME)
    return Catalog.from_data(parse_catalog_text(data_file.read_text(encoding="utf-8"), source=DATA_FILE_NAME))


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """The catalog in `path`, or, by default, the packaged one (read once, then cached)."""
    if path is None:
        return _packaged_catalog()
    return Catalog.from_file(path)


def resolve(selector: str, catalog: Catalog | None = None) -> list[InstanceType]:
    """Instance types for an exact name or a family name, from `catalog` or the packaged one."""
    return (catalog if catalog is not None else load_catalog()).resolve(selector)


def select(entries: Iterable[str], catalog: Catalog | None = None) -> list[InstanceType]:
    """Instance types for config entries (types or families), in order, each once: see :meth:`Catalog.select`."""
    return (catalog if catalog is not None else load_catalog()).select(entries)
