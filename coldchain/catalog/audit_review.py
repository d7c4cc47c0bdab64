"""Reviewing the audit trail (21 CFR 11.10(e), EU GMP Annex 11 §9): the entries of a span,
by whom, about one batch, each with its reason for change and what changed, in words.

One query for `coldchain audit review` and `GET /v1/audit`, so QA reads the same trail in
the shell and on the page. The entries are read as stored; nothing here interprets the hash
chain (`coldchain audit verify` does).

An entry is about a batch when its entity is the batch (its creation, exports of it), one of
the batch's placements (created, closed), or its old or new JSON names the batch as a
string value (an alert's or a deviation's entry that says which lot).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from coldchain.catalog.schema import AuditEntryRow, PlacementRow

__all__ = ["AuditReview", "ReviewedEntry", "changes_in_words", "review_audit"]

#: Longest "what changed" text of one entry; the whole entry is in the trail.
CHANGED_WIDTH = 200


@dataclass(frozen=True, slots=True)
class ReviewedEntry:
    """One audit entry as a reviewer reads it.

    Attributes:
        reason: the reason for change the entry carries (`"reason"` in its new JSON), if any.
        changed: what changed, in words ("state open → acknowledged, comment ..."), cut at
            `CHANGED_WIDTH` characters.
    """

    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    reason: str | None
    changed: str


@dataclass(frozen=True, slots=True)
class AuditReview:
    """The entries of a review, oldest first; `truncated` when more matched than `limit`."""

    entries: tuple[ReviewedEntry, ...]
    truncated: bool


def review_audit(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    actor: str | None = None,
    batch: str | None = None,
    limit: int = 1000,
) -> AuditReview:
    """Entries with `start <= at < end`, of `actor` and about `batch` when given, oldest
    first (by number), at most `limit`.

    Raises:
        ValueError: `end` is not after `start`, or a time has no offset.
    """
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("the review's from and to need an offset or Z")
    if end <= start:
        raise ValueError(f"to ({end.isoformat()}) must be after from ({start.isoformat()})")
    query = select(AuditEntryRow).where(AuditEntryRow.at >= start, AuditEntryRow.at < end)
    if actor is not None:
        query = query.where(AuditEntryRow.actor == actor)
    if batch is not None:
        query = query.where(_about_batch(session, batch))
    rows = session.execute(query.order_by(AuditEntryRow.seq).limit(limit + 1)).scalars()
    entries = [_reviewed(row) for row in rows]
    return AuditReview(tuple(entries[:limit]), len(entries) > limit)


def _about_batch(session: Session, batch: str) -> ColumnElement[bool]:
    placements = [
        str(i)
        for i in session.execute(
            select(PlacementRow.id).where(PlacementRow.batch_id == batch)
        ).scalars()
    ]
    # As the canonical JSON spells the id as a string value: quoted, escaped the same way.
    named = json.dumps(batch, ensure_ascii=False)
    return or_(
        and_(AuditEntryRow.entity == "batch", AuditEntryRow.entity_id == batch),
        and_(AuditEntryRow.entity == "placement", AuditEntryRow.entity_id.in_(placements)),
        AuditEntryRow.new_value.contains(named, autoescape=True),
        AuditEntryRow.old_value.contains(named, autoescape=True),
    )


def _reviewed(row: AuditEntryRow) -> ReviewedEntry:
    old = _document(row.old_value)
    new = _document(row.new_value)
    reason = new.pop("reason", None)
    return ReviewedEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        reason=reason if isinstance(reason, str) else None,
        changed=_cut(changes_in_words(old, new)),
    )


def _document(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


def changes_in_words(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """ "max_c 8.0 → 6.0, comment=door closed": each field of `new` that `old` has with
    another value as old → new, each field `old` lacks as field=value; equal ones left out."""
    parts = []
    for name, value in new.items():
        if name not in old:
            parts.append(f"{name}={_word(value)}")
        elif old[name] != value:
            parts.append(f"{name} {_word(old[name])} → {_word(value)}")
    return ", ".join(parts)


def _word(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "none"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _cut(text: str) -> str:
    return text if len(text) <= CHANGED_WIDTH else text[: CHANGED_WIDTH - 1] + "…"
