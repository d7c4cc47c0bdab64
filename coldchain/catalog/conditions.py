"""Limits in force at a time, and when a probe measured (docs/design.md §11, "Limits in force").

A product's storage condition is versioned (`product_conditions`, migration 0005): a later
change of its limits adds a version in force from that moment and never rewrites how the
past is judged. The first version is in force since 1970-01-01: a product has always had
its label condition, and batches imported with their history must find it. The `products`
row keeps the version in force now, for readers that only need the present.

A sensor measures from `installed_at` to `removed_at` (None: always, still), so a swapped
probe's readings count only while it was fitted, and a removed probe is expected to be
silent. All spans are half-open, [start, end), like placements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import ProductConditionRow, ProductRow
from coldchain.times import EPOCH, utc

__all__ = [
    "CONDITION_FIELDS",
    "SINCE_EVER",
    "ConditionSpan",
    "Installable",
    "ProductCondition",
    "all_condition_versions",
    "condition_at",
    "condition_fields",
    "conditions_in_force",
    "installed_span",
    "is_installed",
]

#: `valid_from` of a product's first condition version: it has always had its label condition.
SINCE_EVER: Final = EPOCH

#: The columns a version copies from the product row; a change to any makes a new version.
CONDITION_FIELDS: Final = (
    "min_c",
    "max_c",
    "alarm_delay_min",
    "budget_max_c",
    "budget_min_c",
    "budget_hours",
    "label",
    # Added by migration 0009 (#22): budget bands and freezing, versioned with the rest.
    "budget_bands_json",
    "freeze_c",
    "freeze_events",
)


@dataclass(frozen=True, slots=True)
class ProductCondition:
    """One version of a product's storage condition. `id` is the product's id (the name
    `coldchain.judgement.limits.StorageCondition` reads, so `strictest` takes these)."""

    id: str
    min_c: float
    max_c: float
    alarm_delay_min: float
    budget_max_c: float | None
    budget_min_c: float | None
    budget_hours: float | None
    label: str
    budget_bands_json: str | None = None
    freeze_c: float | None = None
    freeze_events: int | None = None


class ConditionSpan(NamedTuple):
    """A condition and the part of the asked span it was in force; `valid_to` None: open."""

    valid_from: datetime
    valid_to: datetime | None
    condition: ProductCondition


class Installable(Protocol):
    """Anything with a probe's fitted and removed moments, e.g. a `SensorRow`."""

    @property
    def installed_at(self) -> datetime | None: ...
    @property
    def removed_at(self) -> datetime | None: ...


def condition_fields(row: ProductRow | ProductConditionRow) -> dict[str, object]:
    """The condition columns of a product row or version, by name."""
    return {name: getattr(row, name) for name in CONDITION_FIELDS}


def _condition(product_id: str, row: ProductRow | ProductConditionRow) -> ProductCondition:
    return ProductCondition(
        id=product_id,
        min_c=row.min_c,
        max_c=row.max_c,
        alarm_delay_min=row.alarm_delay_min,
        budget_max_c=row.budget_max_c,
        budget_min_c=row.budget_min_c,
        budget_hours=row.budget_hours,
        label=row.label,
        budget_bands_json=row.budget_bands_json,
        freeze_c=row.freeze_c,
        freeze_events=row.freeze_events,
    )


def all_condition_versions(session: Session) -> dict[str, list[tuple[datetime, ProductCondition]]]:
    """(valid_from, condition) of every product's versions, oldest first, read in two
    queries (the detector rebuilds its timeline from them every minute); a product written
    without versions has had its row's condition since ever."""
    found: dict[str, list[tuple[datetime, ProductCondition]]] = {}
    query = select(ProductConditionRow).order_by(
        ProductConditionRow.product_id, ProductConditionRow.valid_from
    )
    for row in session.execute(query).scalars():
        found.setdefault(row.product_id, []).append(
            (row.valid_from, _condition(row.product_id, row))
        )
    for product in session.execute(select(ProductRow)).scalars():
        if product.id not in found:
            found[product.id] = [(SINCE_EVER, _condition(product.id, product))]
    return found


def _versions(session: Session, product_id: str) -> list[tuple[datetime, ProductCondition]]:
    """(valid_from, condition) of every version, oldest first.

    A product written without versions (straight into `products`, as a benchmark does) has
    had its row's condition since ever.
    """
    rows = list(
        session.execute(
            select(ProductConditionRow)
            .where(ProductConditionRow.product_id == product_id)
            .order_by(ProductConditionRow.valid_from)
        ).scalars()
    )
    if rows:
        return [(row.valid_from, _condition(product_id, row)) for row in rows]
    product = session.get(ProductRow, product_id)
    if product is None:
        raise CatalogNotFound(f"product {product_id!r} not found")
    return [(SINCE_EVER, _condition(product_id, product))]


def conditions_in_force(
    session: Session, product_id: str, start: datetime, end: datetime | None
) -> list[ConditionSpan]:
    """The conditions of `product_id` in force during [start, end), oldest first, each with
    the part of the span it covers: the spans are cut to [start, end) and follow each other
    without gaps (`end` None: up to now and on, the last span open). Empty when `end` is not
    after `start`.

    Raises:
        CatalogNotFound: no such product.
        NaiveTimeError: `start` or `end` has no time zone.
    """
    start = utc(start)
    end = None if end is None else utc(end)
    versions = _versions(session, product_id)
    if end is not None and end <= start:
        return []
    spans: list[ConditionSpan] = []
    for index, (valid_from, condition) in enumerate(versions):
        valid_to = versions[index + 1][0] if index + 1 < len(versions) else None
        low = max(valid_from, start)
        high = end if valid_to is None else valid_to if end is None else min(valid_to, end)
        if high is None or low < high:
            spans.append(ConditionSpan(low, high, condition))
    return spans


def condition_at(session: Session, product_id: str, at: datetime) -> ProductCondition | None:
    """The condition of `product_id` in force at `at`; None before its first version.

    Raises:
        CatalogNotFound: no such product.
        NaiveTimeError: `at` has no time zone.
    """
    at = utc(at)
    found = None
    for valid_from, condition in _versions(session, product_id):
        if valid_from > at:
            break
        found = condition
    return found


def installed_span(
    sensor: Installable, start: datetime, end: datetime | None
) -> tuple[datetime, datetime | None] | None:
    """The part of [start, end) during which `sensor` was installed, None if none of it
    (`end` None: open, then the part is open unless the probe was removed).

    Raises:
        NaiveTimeError: `start` or `end` has no time zone.
    """
    low = utc(start)
    high = None if end is None else utc(end)
    if sensor.installed_at is not None:
        low = max(low, sensor.installed_at)
    if sensor.removed_at is not None:
        high = sensor.removed_at if high is None else min(high, sensor.removed_at)
    if high is not None and high <= low:
        return None
    return low, high


def is_installed(sensor: Installable, at: datetime) -> bool:
    """Whether `sensor` was fitted at `at` (installed at or before it, removed after it)."""
    at = utc(at)
    if sensor.installed_at is not None and at < sensor.installed_at:
        return False
    return sensor.removed_at is None or at < sensor.removed_at
