"""The data map: every store that holds personal data, what it holds and how to export,
erase, rectify and expire it.

A :class:`DataCategory` names a store (``listening_events``), says what it holds, where,
for which purposes, on which lawful basis, who receives it and how long it is kept, and
carries up to four async operations on a subject's data:

- ``export(subject) -> list[dict]``: every row held on the subject (JSON-safe values);
- ``erase(subject) -> Erased``: delete (or tombstone, with the reason) and say how many;
- ``rectify(subject, changes) -> int``: apply corrections, say how many rows changed;
- ``sweep(cutoff, dry_run) -> int``: delete or anonymise what is older than ``cutoff``.

backbeat registers its own categories (``backbeat.compliance._own``); a host app registers
its own stores the same way: ``gdpr.datamap.register(DataCategory(...))``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from backbeat.compliance._policy import Duration, parse_duration
from backbeat.errors import ValidationError

__all__ = ["LAWFUL_BASES", "DataCategory", "DataMap", "Erased"]

#: GDPR Art. 6(1) (a)-(f)
LAWFUL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure did in one category."""

    rows: int
    action: str = "deleted"  # deleted | tombstoned | purged | unlinked
    reason: str | None = None


@dataclass
class DataCategory:
    name: str
    description: str
    location: str
    purposes: tuple[str, ...]
    lawful_basis: str
    retention: str | None = None
    recipients: tuple[str, ...] = ()
    export: Callable[[str], Awaitable[list[dict[str, Any]]]] | None = None
    erase: Callable[[str], Awaitable[Erased]] | None = None
    rectify: Callable[[str, dict[str, Any]], Awaitable[int]] | None = None
    sweep: Callable[[dt.datetime, bool], Awaitable[int]] | None = None
    owner: str = "backbeat"
    retention_period: Duration | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.lawful_basis not in LAWFUL_BASES:
            raise ValidationError(
                "compliance.lawful_basis",
                details={"category": self.name, "value": self.lawful_basis},
                message=(
                    "Category {category}: {value!r} is not a lawful basis of GDPR Art. 6(1) "
                    "(consent, contract, legal_obligation, vital_interests, public_task, "
                    "legitimate_interests)."
                ),
            )
        if self.retention is not None:
            self.retention_period = parse_duration(self.retention)

    def describe(self) -> dict[str, Any]:
        return {
            "category": self.name,
            "description": self.description,
            "location": self.location,
            "purposes": list(self.purposes),
            "lawful_basis": self.lawful_basis,
            "recipients": list(self.recipients),
            "retention": self.retention,
            "owner": self.owner,
            "operations": [
                op for op in ("export", "erase", "rectify", "sweep") if getattr(self, op)
            ],
        }


class DataMap:
    """The registered categories, in registration order."""

    def __init__(self) -> None:
        self._categories: dict[str, DataCategory] = {}

    def register(self, category: DataCategory) -> None:
        if category.name in self._categories:
            raise ValidationError(
                "compliance.category_exists",
                details={"category": category.name},
                message="A data category named {category} is already registered.",
            )
        self._categories[category.name] = category

    def get(self, name: str) -> DataCategory | None:
        return self._categories.get(name)

    def __iter__(self) -> Iterator[DataCategory]:
        return iter(list(self._categories.values()))

    def __len__(self) -> int:
        return len(self._categories)

    def set_retention(self, name: str, retention: str) -> None:
        category = self._categories.get(name)
        if category is None:
            raise ValidationError(
                "compliance.category_unknown",
                details={"category": name, "known": ", ".join(self._categories)},
                message="No data category named {category} (known: {known}).",
            )
        category.retention = retention
        category.retention_period = parse_duration(retention)
