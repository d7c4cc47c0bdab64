"""The audit trail: an append-only, hash-chained log of every change to the catalog.

Each entry's hash is SHA-256 over the canonical JSON of its fields plus the previous
entry's hash, so editing any entry breaks its own hash and deleting one breaks the next
entry's link. Deleting the newest entries leaves a valid chain; the one-row `audit_head`
(last number and hash, written in the same transaction) catches that. A tamperer who can
rewrite the whole table and the head can forge a consistent chain, so `coldchain audit
verify` prints the head hash for operators to record elsewhere (an external anchor).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from coldchain.catalog.schema import AuditEntryRow, AuditHeadRow
from coldchain.catalog.store import catalog_session

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditVerification",
    "append_audit",
    "audit_revision",
    "canonical_json",
    "catalog_revision",
    "entry_hash",
    "read_audit",
    "verify_audit_chain",
]

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8, dates as ISO 8601."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"cannot put {type(value).__name__} into an audit entry")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit entry as stored; `old_value`/`new_value` are canonical JSON or None."""

    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    old_value: str | None
    new_value: str | None
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The outcome of `verify_audit_chain`.

    Attributes:
        entries: how many entries were checked.
        head_hash: the last entry's hash (record it elsewhere to anchor the chain).
        broken_at: number of the first entry that fails, None when the chain is intact.
        reason: what failed there, in words.
    """

    entries: int
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    old_value: str | None,
    new_value: str | None,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields and the previous hash."""
    document = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "old": old_value,
        "new": new_value,
        "prev": prev_hash,
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction, so it commits or vanishes with the change.

    The head row is read `FOR UPDATE` (PostgreSQL); SQLite serialises writers anyway. Two
    appenders therefore cannot both chain onto the same previous entry.
    """
    head = session.execute(
        select(AuditHeadRow).where(AuditHeadRow.id == _HEAD_ID).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHeadRow(id=_HEAD_ID, seq=0, entry_hash=GENESIS_HASH)
        session.add(head)
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    fields: dict[str, Any] = {
        "seq": head.seq + 1,
        "at": moment,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "old_value": None if old is None else canonical_json(dict(old)),
        "new_value": None if new is None else canonical_json(dict(new)),
        "prev_hash": head.entry_hash,
    }
    digest = entry_hash(**fields)
    session.add(AuditEntryRow(**fields, entry_hash=digest))
    head.seq = fields["seq"]
    head.entry_hash = digest
    session.flush()
    return AuditEntry(**fields, entry_hash=digest)


def audit_revision(session: Session) -> int:
    """The audit head's entry number (0: nothing audited yet). Every catalog change is
    audited in its own transaction, so this one-row read is the catalog-changed signal the
    detector and the API reload their rules by."""
    return session.scalar(select(AuditHeadRow.seq)) or 0


def catalog_revision(engine: Engine) -> int:
    """`audit_revision` in a transaction of its own (blocking: run it in a thread)."""
    with catalog_session(engine) as session:
        return audit_revision(session)


def read_audit(
    session: Session, *, entity: str | None = None, limit: int = 1000
) -> list[AuditEntry]:
    """The newest `limit` entries (optionally of one entity type), oldest first."""
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(limit)
    if entity is not None:
        query = query.where(AuditEntryRow.entity == entity)
    rows = list(session.execute(query).scalars())
    return [_entry(row) for row in reversed(rows)]


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        old_value=row.old_value,
        new_value=row.new_value,
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )


def verify_audit_chain(session: Session, *, batch_size: int = 1000) -> AuditVerification:
    """Re-hash every entry in order; report the first that was edited, deleted or reordered.

    Reads in pages of `batch_size`, so memory does not grow with the length of the trail.
    """
    previous = GENESIS_HASH
    expected_seq = 1
    after = 0
    while True:
        # Plain rows, not ORM objects: the session's identity map would keep every entry.
        rows = session.execute(
            select(*AuditEntryRow.__table__.columns)
            .where(AuditEntryRow.seq > after)
            .order_by(AuditEntryRow.seq)
            .limit(batch_size)
        )
        page = [AuditEntry(**row._mapping) for row in rows]
        if not page:
            break
        for entry in page:
            problem = _check(entry, expected_seq, previous)
            if problem is not None:
                return AuditVerification(expected_seq - 1, previous, expected_seq, problem)
            previous = entry.entry_hash
            expected_seq += 1
        after = page[-1].seq
    count = expected_seq - 1
    head = session.get(AuditHeadRow, _HEAD_ID)
    head_seq, head_hash = (0, GENESIS_HASH) if head is None else (head.seq, head.entry_hash)
    if (head_seq, head_hash) != (count, previous):
        return AuditVerification(
            count,
            previous,
            count + 1 if head_seq > count else max(count, 1),
            f"audit head says {head_seq} entries ending {head_hash[:12]}, "
            f"the log has {count} ending {previous[:12]}: entries were deleted or rewritten",
        )
    return AuditVerification(count, previous)


def _check(entry: AuditEntry, expected_seq: int, previous: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entry {expected_seq} is missing (next is {entry.seq}): deleted"
    if entry.prev_hash != previous:
        return f"entry {entry.seq} does not link to entry {entry.seq - 1}: previous one changed"
    recomputed = entry_hash(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        entity=entry.entity,
        entity_id=entry.entity_id,
        old_value=entry.old_value,
        new_value=entry.new_value,
        prev_hash=entry.prev_hash,
    )
    if recomputed != entry.entry_hash:
        return f"entry {entry.seq} does not match its hash: edited"
    return None
