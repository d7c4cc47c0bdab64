"""Who hears of an alert's change, and the outbox rows that tell them: one rule for every
service that writes alerts (the detector's readings, the API's budget alerts).

Who is called at each escalation level is the on-call rota of the alert's site, shift in
force at the moment of the call (coldchain/catalog/rota.py); outside every shift, and at a
site without a rota, the global settings (`NotifyConfig`). The global webhook is a feed,
not a person: it hears of every event whatever the rota. Outbox rows carry a dedupe key, so
writing the same change twice notifies nobody twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from coldchain.catalog.alerts import alert_event
from coldchain.catalog.outbox import enqueue_notification
from coldchain.catalog.rota import Rota, load_rota
from coldchain.catalog.schema import AlertRow
from coldchain.config import Settings

__all__ = ["Callees", "Destination", "NotifyConfig", "RotaLookup", "notify_people"]

_SEVERITY = {"warning": 0, "alarm": 1}
_DEDUPE_KEY_MAX = 200  # the width of notification_outbox.dedupe_key (schema.OutboxRow)


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Who hears of what where no on-call shift is in force. Level 0 is `email_to` (and
    the webhook); level n is `escalation[n-1]`, reached when an alarm stays unacknowledged
    `escalate_after` longer."""

    min_severity: str = "alarm"
    webhook_url: str | None = None
    email_to: tuple[str, ...] = ()
    escalation: tuple[tuple[str, ...], ...] = ()
    escalate_after: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, s: Settings) -> NotifyConfig:
        return cls(
            min_severity=s.notify_min_severity,
            webhook_url=s.notify_webhook_url,
            email_to=tuple(s.notify_email_to) if s.notify_smtp_host else (),
            escalation=tuple(tuple(level) for level in s.notify_escalation)
            if s.notify_smtp_host
            else (),
            escalate_after=timedelta(minutes=s.notify_escalate_after_min),
        )

    def notifies(self, severity: str) -> bool:
        return _SEVERITY[severity] >= _SEVERITY[self.min_severity]

    def callees(self) -> Callees:
        """The global escalation levels, as a rota's shift would give them."""
        levels = (self.email_to, *self.escalation)
        return Callees(
            tuple(tuple(("email", a) for a in level) for level in levels), self.escalate_after
        )


Destination = tuple[str, str]
"""(channel, destination) of one person's call: ("email", address) or ("webhook", URL)."""


@dataclass(frozen=True, slots=True)
class Callees:
    """Who is called at each escalation level (level 0 first) at one moment, and how long
    an alarm may stay unacknowledged before the next level is called."""

    levels: tuple[tuple[Destination, ...], ...]
    escalate_after: timedelta

    def at_level(self, level: int) -> tuple[Destination, ...]:
        return self.levels[level] if level < len(self.levels) else ()

    def escalates_past(self, level: int) -> bool:
        """Whether someone is left to call after `level`."""
        return level + 1 < len(self.levels)


@dataclass(slots=True)
class RotaLookup:
    """The rotas of the sites one transaction touches, each read once."""

    session: Session
    cfg: NotifyConfig
    loaded: dict[str, Rota | None] = field(default_factory=dict)

    def callees(self, site: str, at: datetime) -> Callees:
        """The chain of the site's shift in force at `at`, one contact per level; the
        global settings outside every shift or without a rota."""
        if site not in self.loaded:
            self.loaded[site] = load_rota(self.session, site)
        rota = self.loaded[site]
        shift = None if rota is None else rota.shift_at(at)
        if rota is None or shift is None:
            return self.cfg.callees()
        levels = tuple(((c.channel, c.destination),) for c in shift.chain)
        return Callees(levels, rota.escalate_after)


def _dedupe_key(stem: str, destination: str) -> str:
    """`stem:destination`, or the destination's SHA-256 where that would not fit the
    column (a rota's webhook URL may be up to 400 characters; cutting it instead could
    make two contacts one)."""
    key = f"{stem}:{destination}"
    if len(key) <= _DEDUPE_KEY_MAX:
        return key
    return f"{stem}:sha256:{hashlib.sha256(destination.encode()).hexdigest()}"


def notify_people(
    session: Session,
    row: AlertRow,
    cfg: NotifyConfig,
    at: datetime,
    contacts: Sequence[Destination],
) -> None:
    """Outbox rows for the alert's change at its escalation level: the global webhook
    (a feed) and `contacts` (the people called at this level)."""
    payload = json.dumps(alert_event(row), separators=(",", ":"))
    stem = f"{row.id}:{row.state}"
    level = row.escalation_level
    if cfg.webhook_url:
        enqueue_notification(
            session,
            alert_id=row.id,
            channel="webhook",
            destination=cfg.webhook_url,
            payload=payload,
            dedupe_key=f"{stem}:webhook:{level}",
            at=at,
        )
    for channel, destination in contacts:
        enqueue_notification(
            session,
            alert_id=row.id,
            channel=channel,
            destination=destination,
            payload=payload,
            dedupe_key=_dedupe_key(f"{stem}:{channel}:{level}", destination),
            at=at,
        )
