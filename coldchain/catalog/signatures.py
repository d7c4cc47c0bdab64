"""Electronic signatures (21 CFR 11.50, 11.70, 11.100, 11.200; EU GMP Annex 11 §14).

A signature is made only at the moment of signing, with the signer's password entered again
(`sign`): a login token alone never signs. It records the printed name, role, the meaning
(`authored`, `reviewed`, `approved`, `rejected`), the time in UTC and in the place's zone, and
the SHA-256 of exactly what was signed: the canonical JSON (`audit.canonical_json`) of the
subject as it stood, kept beside the digest so that anyone can hash it again. The content
always names its subject and batch, so a signature copied onto another record does not match
that record's content (`check_signature`). `seal` is a SHA-256 over every field, so an edited
signature row shows; each signature is also an entry of the hash-chained audit trail.

A refused signature (wrong password, a role that may not sign this) changes nothing, and the
caller records it in its own transaction with `record_refused` (the refusal must outlive the
rollback of what was to be signed). `sign` is where the password is checked, once: a wrong
one is `WrongPassword`, so the API can count it as a failed attempt in its login limiter
instead of paying argon2 a second time to find out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit, canonical_json
from coldchain.catalog.credentials import authenticate_password
from coldchain.catalog.errors import SignatureRefused
from coldchain.catalog.schema import MEANINGS, AuditEntryRow, SignatureRow, UserRow

__all__ = [
    "SUBJECTS",
    "Signature",
    "WrongPassword",
    "check_signature",
    "content_sha256",
    "record_refused",
    "sign",
    "signatures_of_batch",
    "signatures_of_subject",
    "signatures_unlike_their_audit",
]

#: What can be signed, and the `subject_id` each names.
SUBJECTS = (
    "deviation_assessment",  # a deviation's id
    "deviation_agreement",  # a deviation's id
    "alert_closure",  # an alert's id
    "release",  # a batch's id
)


class WrongPassword(SignatureRefused):
    """The password entered to sign is not the signer's: a refused signature like any
    other (403, audited), and the one refusal that is a failed password attempt."""


def content_sha256(content: Mapping[str, Any]) -> tuple[str, str]:
    """(canonical JSON text, its SHA-256 in hex): what a signature binds to."""
    text = canonical_json(content)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Signature:
    """One electronic signature as stored, and as the manifest of an export shows it."""

    id: int
    subject: str
    subject_id: str
    batch: str | None
    user_id: str
    printed_name: str
    role: str
    meaning: str
    signed_at: datetime
    local_time: str
    timezone: str
    content: str
    content_sha256: str
    seal: str

    def sealed_fields(self) -> dict[str, Any]:
        """Every field the seal covers (all but the seal and the row number)."""
        return {
            "subject": self.subject,
            "subject_id": self.subject_id,
            "batch": self.batch,
            "user_id": self.user_id,
            "printed_name": self.printed_name,
            "role": self.role,
            "meaning": self.meaning,
            "signed_at": self.signed_at.astimezone(UTC).isoformat(),
            "local_time": self.local_time,
            "timezone": self.timezone,
            "content_sha256": self.content_sha256,
        }

    def manifest(self) -> dict[str, Any]:
        """JSON-ready, with the signed content, for the API and the export's manifest."""
        return {"id": self.id, **self.sealed_fields(), "content": self.content, "seal": self.seal}


def _seal(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def _of(row: SignatureRow) -> Signature:
    return Signature(
        id=row.id,
        subject=row.subject,
        subject_id=row.subject_id,
        batch=row.batch_id,
        user_id=row.user_id,
        printed_name=row.printed_name,
        role=row.role,
        meaning=row.meaning,
        signed_at=row.signed_at,
        local_time=row.local_time,
        timezone=row.timezone,
        content=row.content,
        content_sha256=row.content_sha256,
        seal=row.seal,
    )


def sign(
    session: Session,
    *,
    user_id: str,
    password: str,
    meaning: str,
    subject: str,
    subject_id: str,
    batch_id: str | None,
    content: Mapping[str, Any],
    roles: Collection[str],
    timezone: str = "UTC",
    now: datetime | None = None,
) -> Signature:
    """Sign `content` as `user_id`, who re-entered `password` just now.

    Raises:
        WrongPassword: the password is not the user's (a `SignatureRefused`).
        SignatureRefused: the user's role is not in `roles` (an admin does not sign QA
            decisions). Nothing is written either way; call `record_refused`.
        ValueError: an unknown meaning or subject (a programming error).
    """
    if meaning not in MEANINGS:
        raise ValueError(f"meaning: expected one of {MEANINGS}, got {meaning!r}")
    if subject not in SUBJECTS:
        raise ValueError(f"subject: expected one of {SUBJECTS}, got {subject!r}")
    user = session.get(UserRow, user_id)
    if user is None or not authenticate_password(session, user_id=user_id, password=password):
        raise WrongPassword("signature refused: the password is not the signer's")
    if user.role not in roles:
        raise SignatureRefused(
            f"signature refused: a {user.role} may not sign {subject.replace('_', ' ')} "
            f"(signed by: {', '.join(sorted(roles))})"
        )
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    text, digest = content_sha256(content)
    local = moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
    row = SignatureRow(
        subject=subject,
        subject_id=subject_id,
        batch_id=batch_id,
        user_id=user_id,
        printed_name=user.name or user.id,
        role=user.role,
        meaning=meaning,
        signed_at=moment,
        local_time=local,
        timezone=timezone,
        content=text,
        content_sha256=digest,
        seal="",
    )
    draft = _of(row)
    row.seal = _seal(draft.sealed_fields())
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=user_id,
        action="sign",
        entity=subject,
        entity_id=subject_id,
        new={
            "signature": row.id,
            "meaning": meaning,
            "printed_name": row.printed_name,
            "content_sha256": digest,
            "seal": row.seal,
        },
        at=moment,
    )
    return _of(row)


def record_refused(
    session: Session, *, user_id: str, subject: str, subject_id: str, meaning: str, reason: str
) -> None:
    """Put a refused signature into the audit trail (Part 11 §11.300(d): attempts at
    unauthorized use are recorded)."""
    append_audit(
        session,
        actor=user_id,
        action="signature_refused",
        entity=subject,
        entity_id=subject_id,
        new={"meaning": meaning, "reason": reason},
    )


def check_signature(
    signature: Signature | Mapping[str, Any], expected: Mapping[str, Any] | None = None
) -> list[str]:
    """What is wrong with a signature, in words (empty: it holds).

    Checks that the kept content hashes to the digest, that the seal covers the fields, and
    (given `expected`, the subject's content as it should have been signed) that the content
    is exactly that: a signature copied from another record fails here.
    """
    fields = signature.manifest() if isinstance(signature, Signature) else dict(signature)
    problems: list[str] = []
    text = str(fields.get("content", ""))
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != fields.get("content_sha256"):
        problems.append("the signed content does not hash to the signature's SHA-256")
    sealed = {key: fields.get(key) for key in _SEALED}
    if _seal(sealed) != fields.get("seal"):
        problems.append("the signature's fields were changed after signing (seal mismatch)")
    if expected is not None and content_sha256(expected)[1] != fields.get("content_sha256"):
        problems.append(
            f"signed for another record: the signature binds {fields.get('subject')} "
            f"{fields.get('subject_id')} as it was, not this one"
        )
    return problems


_SEALED = (
    "subject",
    "subject_id",
    "batch",
    "user_id",
    "printed_name",
    "role",
    "meaning",
    "signed_at",
    "local_time",
    "timezone",
    "content_sha256",
)


def signatures_of_subject(session: Session, *, subject: str, subject_id: str) -> list[Signature]:
    query = (
        select(SignatureRow)
        .where(SignatureRow.subject == subject, SignatureRow.subject_id == subject_id)
        .order_by(SignatureRow.id)
    )
    return [_of(row) for row in session.execute(query).scalars()]


def signatures_of_batch(session: Session, batch_id: str) -> list[Signature]:
    """Every signature about a batch (its deviations' and its release's), oldest first."""
    query = select(SignatureRow).where(SignatureRow.batch_id == batch_id).order_by(SignatureRow.id)
    return [_of(row) for row in session.execute(query).scalars()]


def signatures_unlike_their_audit(session: Session) -> list[str]:
    """Every stored signature that fails `check_signature` or no longer matches the `sign`
    entry the hash-chained audit trail recorded for it (digest and seal), in words.

    The seal is a plain SHA-256: someone who can write the table could edit a signature and
    seal it again; the audit entry, chained and anchored (`coldchain audit verify`), keeps
    what was really signed.
    """
    recorded: dict[int, dict[str, Any]] = {}
    entries = session.execute(
        select(AuditEntryRow.new_value).where(AuditEntryRow.action == "sign")
    ).scalars()
    for text in entries:
        new = json.loads(text or "{}")
        recorded[int(new.get("signature", -1))] = new
    problems: list[str] = []
    for row in session.execute(select(SignatureRow).order_by(SignatureRow.id)).scalars():
        signature = _of(row)
        name = f"signature {row.id} ({row.subject} {row.subject_id})"
        problems += [f"{name}: {p}" for p in check_signature(signature)]
        entry = recorded.get(row.id)
        if entry is None:
            problems.append(f"{name}: the audit trail has no entry for it")
        elif (entry.get("content_sha256"), entry.get("seal")) != (row.content_sha256, row.seal):
            problems.append(f"{name}: differs from what the audit trail recorded at signing")
    return problems
