"""What the live view and the charts judge readings by besides the products' ranges, from the
catalog (#22): each probe's calibration corrections and the alarm profiles of products and
units. Read once and held until the catalog changes.

Every change to the catalog is audited in its own transaction (a certificate recorded, a
profile version imported, a placement), so the audit head's entry number moves with each:
the same catalog-changed signal the detector reloads its timeline by (alerting/service.py).
An answer costs that one-row read; the certificates and profiles are read again only when
it has moved, never per answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine

from api.access.places import unit_ids
from api.readings.calibration import load_corrections
from coldchain.catalog import catalog_session
from coldchain.catalog.audit import audit_revision, catalog_revision
from coldchain.catalog.profiles import ProfileVersions, load_profile_versions
from coldchain.judgement.calibration import Calibration
from coldchain.models import SensorKey

__all__ = ["CatalogRules", "CatalogRulesCache", "load_catalog_rules"]


@dataclass(frozen=True, slots=True)
class CatalogRules:
    """The catalog's rules as of one audit entry.

    Attributes:
        revision: the audit head's entry number when they were read.
        corrections: the probes whose certificates correct their readings.
        profiles: every version of every alarm profile.
        unit_ids: each storage unit's id by its location id (`api.access.places.unit_ids`).
    """

    revision: int
    corrections: Mapping[SensorKey, Calibration] = field(default_factory=dict)
    profiles: ProfileVersions = field(default_factory=ProfileVersions)
    unit_ids: Mapping[str, int] = field(default_factory=dict)


def load_catalog_rules(engine: Engine) -> CatalogRules:
    """Read the rules (blocking: SQLAlchemy). The revision is read first: a change committed
    while the rest is read makes the next answer read them again, never keeps it out."""
    with catalog_session(engine) as session:
        revision = audit_revision(session)
        return CatalogRules(
            revision, load_corrections(session), load_profile_versions(session), unit_ids(session)
        )


class CatalogRulesCache:
    """The rules held for the app (`ApiState.rules`).

    Usage:
        rules = await state.rules.get(state.engine)
    """

    def __init__(self) -> None:
        self._held: CatalogRules | None = None
        # One reload at a time: viewers arriving during it wait for it, not read again.
        self._loading = asyncio.Lock()

    async def get(self, engine: Engine) -> CatalogRules:
        """The rules as the catalog stands: those held unless an audited change came since.

        Raises:
            CatalogError: the catalog could not be read (translated in `catalog_session`).
        """
        revision = await asyncio.to_thread(catalog_revision, engine)
        held = self._held
        if held is not None and held.revision == revision:
            return held
        async with self._loading:
            held = self._held
            if held is None or held.revision != revision:
                held = self._held = await asyncio.to_thread(load_catalog_rules, engine)
            return held
