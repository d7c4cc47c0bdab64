"""On-call rota per site (#22): who is called for an alarm at a given moment and level.

A site's rota is a list of shifts, each with an ordered chain of contacts. For an alarm at
escalation level n at time t, the contact called is the n-th of the first shift (in the
file's order) in force at t; the next level is called when nobody acknowledges within the
rota's `escalate_after`. Outside every shift, and at a site without a rota, the global
`notify_*` settings apply (alerting/alert_store.py), so deployments without a rota behave
as before. Shifts are absolute (from..to, half-open) or weekly (listed weekdays, from..to on
the site's wall clock; overnight into the next day when `to` is not after `from`).

The rota is written by the fleet import (`sites[].oncall`), which replaces a site's whole
rota and audits it as one document (`Rota.document`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from coldchain.catalog.schema import OnCallContactRow, OnCallRotaRow, OnCallShiftRow, SiteRow
from coldchain.fleet import WEEKDAYS, OnCall, OnCallShift
from coldchain.security.redact import redact_text
from coldchain.times import rfc3339, utc

__all__ = ["Contact", "Rota", "Shift", "load_rota", "replace_rota"]

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Contact:
    """A person and the one channel ("email" or "webhook") and destination they are
    called on."""

    name: str
    channel: str
    destination: str


@dataclass(frozen=True, slots=True)
class Shift:
    """A shift and its escalation chain (level 0 first): absolute when `starts_at`/`ends_at`
    are set, weekly (`weekdays`, 0 = Monday, `day_from`..`day_to`) otherwise."""

    chain: tuple[Contact, ...]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: tuple[int, ...] = ()
    day_from: time | None = None
    day_to: time | None = None

    def covers(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether the shift is in force at `at` (aware), reading weekly times in `zone`."""
        if self.starts_at is not None and self.ends_at is not None:
            return self.starts_at <= at < self.ends_at
        assert self.day_from is not None
        assert self.day_to is not None
        wall = at.astimezone(zone)
        clock = wall.time().replace(tzinfo=None)
        if self.day_from < self.day_to:
            return wall.weekday() in self.weekdays and self.day_from <= clock < self.day_to
        # Overnight: begun today after `from`, or begun yesterday and not yet at `to`.
        started_today = wall.weekday() in self.weekdays and clock >= self.day_from
        started_yesterday = (wall - _DAY).weekday() in self.weekdays and clock < self.day_to
        return started_today or started_yesterday

    def document(self) -> dict[str, Any]:
        """The shift as the audit trail shows it (webhook URLs redacted: they may carry a
        token)."""
        if self.starts_at is not None and self.ends_at is not None:
            when: dict[str, Any] = {"from": rfc3339(self.starts_at), "to": rfc3339(self.ends_at)}
        else:
            assert self.day_from is not None
            assert self.day_to is not None
            when = {
                "weekdays": [WEEKDAYS[d] for d in self.weekdays],
                "from": self.day_from.strftime("%H:%M"),
                "to": self.day_to.strftime("%H:%M"),
            }
        chain = [{"name": c.name, c.channel: redact_text(c.destination)} for c in self.chain]
        return {**when, "chain": chain}

    @classmethod
    def from_fleet(cls, shift: OnCallShift) -> Shift:
        chain = tuple(
            Contact(c.name, "email", c.email)
            if c.email is not None
            else Contact(c.name, "webhook", str(c.webhook))
            for c in shift.chain
        )
        if shift.weekdays is None:
            assert isinstance(shift.from_, datetime)
            assert isinstance(shift.to, datetime)
            return cls(chain, starts_at=utc(shift.from_), ends_at=utc(shift.to))
        assert isinstance(shift.from_, time)
        assert isinstance(shift.to, time)
        days = tuple(sorted({WEEKDAYS.index(d) for d in shift.weekdays}))
        return cls(chain, weekdays=days, day_from=shift.from_, day_to=shift.to)


@dataclass(frozen=True, slots=True)
class Rota:
    """A site's rota: its shifts in precedence order and the time an alarm may stay
    unacknowledged before the next contact is called."""

    timezone: str
    escalate_after: timedelta
    shifts: tuple[Shift, ...]

    def shift_at(self, at: datetime) -> Shift | None:
        """The shift in force at `at`: the first listed that covers it; None outside all."""
        zone = ZoneInfo(self.timezone)
        return next((s for s in self.shifts if s.covers(at, zone)), None)

    def document(self) -> dict[str, Any]:
        """The whole rota as one audit value: an import that changes any part of it records
        the old and the new document."""
        return {
            "escalate_after_min": self.escalate_after / timedelta(minutes=1),
            "shifts": [s.document() for s in self.shifts],
        }

    @classmethod
    def from_fleet(cls, oncall: OnCall, timezone: str) -> Rota:
        return cls(
            timezone,
            timedelta(minutes=oncall.escalate_after_min),
            tuple(Shift.from_fleet(s) for s in oncall.shifts),
        )


def load_rota(session: Session, site_id: str) -> Rota | None:
    """The recorded rota of a site; None when it has none."""
    row = session.get(OnCallRotaRow, site_id)
    site = session.get(SiteRow, site_id)
    if row is None or site is None:
        return None
    shifts = session.execute(
        select(OnCallShiftRow)
        .where(OnCallShiftRow.site_id == site_id)
        .order_by(OnCallShiftRow.position)
    ).scalars()
    loaded = []
    for shift in shifts:
        contacts = session.execute(
            select(OnCallContactRow)
            .where(OnCallContactRow.shift_id == shift.id)
            .order_by(OnCallContactRow.level)
        ).scalars()
        chain = tuple(Contact(c.name, c.channel, c.destination) for c in contacts)
        if shift.starts_at is not None and shift.ends_at is not None:
            loaded.append(Shift(chain, starts_at=shift.starts_at, ends_at=shift.ends_at))
            continue
        assert shift.weekdays is not None
        assert shift.day_from is not None
        assert shift.day_to is not None
        loaded.append(
            Shift(
                chain,
                weekdays=tuple(WEEKDAYS.index(d) for d in shift.weekdays.split(",")),
                day_from=time.fromisoformat(shift.day_from),
                day_to=time.fromisoformat(shift.day_to),
            )
        )
    return Rota(site.timezone, timedelta(minutes=row.escalate_after_min), tuple(loaded))


def replace_rota(session: Session, site_id: str, rota: Rota) -> None:
    """Make `rota` the site's whole recorded rota (the caller audits the change)."""
    shift_ids = select(OnCallShiftRow.id).where(OnCallShiftRow.site_id == site_id)
    session.execute(delete(OnCallContactRow).where(OnCallContactRow.shift_id.in_(shift_ids)))
    session.execute(delete(OnCallShiftRow).where(OnCallShiftRow.site_id == site_id))
    recorded = session.get(OnCallRotaRow, site_id)
    minutes = rota.escalate_after / timedelta(minutes=1)
    if recorded is None:
        session.add(OnCallRotaRow(site_id=site_id, escalate_after_min=minutes))
    else:
        recorded.escalate_after_min = minutes
    session.flush()
    for position, shift in enumerate(rota.shifts):
        row = OnCallShiftRow(
            site_id=site_id,
            position=position,
            starts_at=shift.starts_at,
            ends_at=shift.ends_at,
            weekdays=",".join(WEEKDAYS[d] for d in shift.weekdays) or None,
            day_from=None if shift.day_from is None else shift.day_from.strftime("%H:%M"),
            day_to=None if shift.day_to is None else shift.day_to.strftime("%H:%M"),
        )
        session.add(row)
        session.flush()
        session.add_all(
            OnCallContactRow(
                shift_id=row.id,
                level=level,
                name=c.name,
                channel=c.channel,
                destination=c.destination,
            )
            for level, c in enumerate(shift.chain)
        )
    session.flush()
