"""Alarm profiles in force (docs/design.md §10, §11): the versions of each product's and each
storage unit's alarm profile (`alarm_profiles`, migration 0011), read for the detector's
timeline and the batch record. Versioned like storage conditions: an import that changes a
profile adds a version in force from that import (coldchain/catalog/importer.py), so a
later change never rewrites how the past is judged; a product or unit without versions has
no profile (judged by its condition alone). A profile taken out of the fleet file is a
version with every field empty."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from coldchain.catalog.schema import AlarmProfileRow, ProductRow, StorageUnitRow
from coldchain.fleet import AlarmBand
from coldchain.fleet import AlarmProfile as FleetProfile
from coldchain.judgement.profiles import NO_PROFILE, AlarmProfile, ProfileTimeline
from coldchain.times import to_ms

__all__ = [
    "PROFILE_FIELDS",
    "ProfileVersions",
    "latest_version",
    "load_profile_versions",
    "profile_fields",
    "profile_fields_of",
    "profile_of",
    "profile_timeline",
    "recorded_owners",
]

#: The columns of a version; a change to any makes a new version.
PROFILE_FIELDS: Final = (
    "warning_low_c",
    "warning_high_c",
    "high_delay_min",
    "low_delay_min",
    "critical_low_c",
    "critical_high_c",
    "latching",
)


def profile_fields(profile: FleetProfile | None) -> dict[str, Any]:
    """The columns of a version from the fleet file's profile (None: no profile)."""
    if profile is None:
        return {name: False if name == "latching" else None for name in PROFILE_FIELDS}
    warning, critical = profile.warning or AlarmBand(), profile.critical or AlarmBand()
    return {
        "warning_low_c": warning.low_c,
        "warning_high_c": warning.high_c,
        "high_delay_min": profile.high_delay_min,
        "low_delay_min": profile.low_delay_min,
        "critical_low_c": critical.low_c,
        "critical_high_c": critical.high_c,
        "latching": profile.latching,
    }


def profile_fields_of(row: AlarmProfileRow) -> dict[str, Any]:
    """The columns of a recorded version, by name."""
    return {name: getattr(row, name) for name in PROFILE_FIELDS}


def profile_of(row: AlarmProfileRow) -> AlarmProfile:
    return AlarmProfile(**profile_fields_of(row))


def recorded_owners(session: Session) -> set[str]:
    """Every product and unit recorded, named as the import names a profile's owner
    ("product VAX-1", "unit BSL/FRIDGE-01"): one not among them is new."""
    products = {f"product {p}" for p in session.execute(select(ProductRow.id)).scalars()}
    units = {
        f"unit {site}/{code}"
        for site, code in session.execute(select(StorageUnitRow.site_id, StorageUnitRow.code))
    }
    return products | units


@dataclass(slots=True)
class ProfileVersions:
    """Every version of every profile, by product and by unit.

    Usage:
        versions = load_profile_versions(session)
        versions.product("VAX-1", ts_ms)     # the product's profile in force then
        versions.unit(unit_id, ts_ms)
        versions.changes(product_ids, unit_id)  # where any of them changed, ms
    """

    by_product: dict[str, ProfileTimeline] = field(default_factory=dict)
    by_unit: dict[int, ProfileTimeline] = field(default_factory=dict)

    def product(self, product_id: str, ts_ms: int) -> AlarmProfile:
        versions = self.by_product.get(product_id)
        return NO_PROFILE if versions is None else versions.at(ts_ms)

    def unit(self, unit_id: int | None, ts_ms: int) -> AlarmProfile:
        versions = None if unit_id is None else self.by_unit.get(unit_id)
        return NO_PROFILE if versions is None else versions.at(ts_ms)

    def changes(self, product_ids: list[str], unit_id: int | None) -> list[int]:
        """The moments any of these profiles took a new version (ms, sorted)."""
        none = ProfileTimeline()
        found = {s for p in product_ids for s in self.by_product.get(p, none).starts_ms}
        if unit_id is not None:
            found.update(self.by_unit.get(unit_id, none).starts_ms)
        return sorted(found)


def _timeline(rows: list[AlarmProfileRow]) -> ProfileTimeline:
    return ProfileTimeline(
        tuple(to_ms(r.valid_from) for r in rows), tuple(profile_of(r) for r in rows)
    )


def load_profile_versions(session: Session) -> ProfileVersions:
    """All versions in one query, oldest first per owner (the detector's timeline)."""
    products: dict[str, list[AlarmProfileRow]] = defaultdict(list)
    units: dict[int, list[AlarmProfileRow]] = defaultdict(list)
    for row in session.execute(
        select(AlarmProfileRow).order_by(AlarmProfileRow.valid_from, AlarmProfileRow.id)
    ).scalars():
        if row.product_id is not None:
            products[row.product_id].append(row)
        elif row.unit_id is not None:
            units[row.unit_id].append(row)
    return ProfileVersions(
        {k: _timeline(v) for k, v in products.items()}, {k: _timeline(v) for k, v in units.items()}
    )


def profile_timeline(
    session: Session, *, product_id: str | None = None, unit_id: int | None = None
) -> ProfileTimeline:
    """One owner's versions, oldest first (the batch record's)."""
    return _timeline(
        list(
            session.execute(
                select(AlarmProfileRow)
                .where(_owner(product_id, unit_id))
                .order_by(AlarmProfileRow.valid_from, AlarmProfileRow.id)
            ).scalars()
        )
    )


def _owner(product_id: str | None, unit_id: int | None) -> ColumnElement[bool]:
    if product_id is not None:
        return AlarmProfileRow.product_id == product_id
    return AlarmProfileRow.unit_id == unit_id


def latest_version(
    session: Session, *, product_id: str | None = None, unit_id: int | None = None
) -> AlarmProfileRow | None:
    """The owner's version in force now (the newest), None without any."""
    return session.execute(
        select(AlarmProfileRow)
        .where(_owner(product_id, unit_id))
        .order_by(AlarmProfileRow.valid_from.desc())
        .limit(1)
    ).scalar_one_or_none()
