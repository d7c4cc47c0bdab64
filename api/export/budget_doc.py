"""The stability budget account as plain JSON-ready values (#22): what the record's
`summary.budget`, its CSV tables and PDF section, and `GET /v1/batches/{batch}/budget` say.

A share is charged / allowed (1.0 = 100 %); where nothing is allowed and something is
charged it is infinite, which JSON cannot say: it is written as null, and `exceeded` is true.
"""

from __future__ import annotations

import math
from typing import Any

from api.export.record import BatchRecord
from api.export.timefmt import when_ms
from coldchain.catalog.budget import BudgetEntries
from coldchain.judgement.budget import BudgetAccount, Charge
from coldchain.times import to_ms

__all__ = ["account_dict", "charge_dict", "entries_dict"]


def _share(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 4)


def charge_dict(charge: Charge, bands: BudgetAccount, zone: str) -> dict[str, Any]:
    """One charge: its source, band ("8–25 °C", or null: in no band), when and why."""
    band = None if charge.band is None else bands.bands[charge.band]
    return {
        "source": charge.source,
        "band": None if band is None else f"{band.min_c:g}–{band.max_c:g} °C",
        "from": None if charge.start_ms is None else when_ms(charge.start_ms, zone),
        "to": None if charge.end_ms is None else when_ms(charge.end_ms, zone),
        "hours": round(charge.hours, 4),
        "detail": charge.detail,
    }


def entries_dict(entries: BudgetEntries, zone: str) -> dict[str, Any]:
    """The manual entries (voided ones too, with who voided them) and carried-in amounts."""
    return {
        "tor_entries": [
            {
                "id": e.id,
                "from": when_ms(to_ms(e.start), zone),
                "to": when_ms(to_ms(e.end), zone),
                "max_c": e.max_c,
                "reason": e.reason,
                "recorded_by": e.recorded_by,
                "recorded_at": when_ms(to_ms(e.recorded_at), zone),
                "voids": e.voids,
                "voided_by": e.voided_by,
            }
            for e in entries.tor
        ],
        "carried_in": [
            {
                "id": c.id,
                "band": f"{c.band_min_c:g}–{c.band_max_c:g} °C",
                "hours": c.hours,
                "freeze_events": c.freeze_events,
                "source": c.source,
                "recorded_by": c.recorded_by,
                "recorded_at": when_ms(to_ms(c.recorded_at), zone),
            }
            for c in entries.carried_in
        ],
    }


def account_dict(account: BudgetAccount, record: BatchRecord, zone: str) -> dict[str, Any]:
    """The account: the totals the record printed before bands (allowed_h, charged_h,
    remaining_h, exceeded, over_by_h, reasons), then each band, each charge, the freeze
    events and the share consumed, and the manual and carried-in entries behind them."""
    return {
        "allowed_h": account.allowed_h,
        "charged_h": round(account.charged_h, 4),
        "remaining_h": round(account.remaining_h, 4),
        "exceeded": account.exceeded,
        "over_by_h": round(account.over_by_h, 4),
        "reasons": list(account.reasons),
        "consumed_share": _share(account.consumed_share),
        "bands": [
            {
                "min_c": b.min_c,
                "max_c": b.max_c,
                "allowed_h": b.allowed_h,
                "charged_h": round(b.charged_h, 4),
                "remaining_h": round(b.remaining_h, 4),
                "share": _share(b.share),
            }
            for b in account.bands
        ],
        "charges": [charge_dict(c, account, zone) for c in account.charges],
        "freeze_events": account.freeze_events,
        "freeze_events_allowed": account.freeze_allowed,
        **entries_dict(record.entries, zone),
    }
