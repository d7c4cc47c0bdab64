"""QA's release decision on a batch's temperature record: `released` or `rejected`, signed.

A decision is taken only on a finished record whose every finding is cleared (a closed
deviation covers it) or context: the caller judges the record (api/export) and passes what
it found; the decision signs exactly that (verdict, each finding's id and state, each
deviation's state and the digests of its signatures). Two persons: whoever assessed one of
the batch's deviations may not also sign its release. One decision per batch; it is never
rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.deviations import Deviation, deviations_of_batch
from coldchain.catalog.errors import CatalogConflict, SignatureRefused
from coldchain.catalog.schema import ReleaseDecisionRow
from coldchain.catalog.signatures import Signature, sign, signatures_of_subject

__all__ = ["DECISIONS", "FindingState", "ReleaseDecision", "decide_release", "release_of"]

DECISIONS = ("released", "rejected")
#: The only verdict a decision may be taken on (api/export/findings.py).
DECIDABLE_VERDICT = "no open findings"


@dataclass(frozen=True, slots=True)
class FindingState:
    """A finding of the judged record as the decision signs it."""

    finding_id: str
    kind: str
    state: str
    deviation: str | None = None


@dataclass(frozen=True, slots=True)
class ReleaseDecision:
    batch: str
    decision: str
    comment: str | None
    decided_at: datetime
    decided_by: str
    signature: Signature


def release_content(
    batch_id: str,
    decision: str,
    comment: str | None,
    verdict: str,
    findings: Sequence[FindingState],
    deviations: Sequence[Deviation],
) -> dict[str, Any]:
    """What the release signature binds: the decision and the record it was taken on."""
    return {
        "subject": "release",
        "batch": batch_id,
        "decision": decision,
        "comment": comment,
        "verdict": verdict,
        "findings": [
            {"id": f.finding_id, "kind": f.kind, "state": f.state, "deviation": f.deviation}
            for f in findings
        ],
        "deviations": [
            {
                "deviation": d.number,
                "state": d.state,
                "signatures": [s.content_sha256 for s in d.signatures],
            }
            for d in deviations
        ],
    }


def release_of(session: Session, batch_id: str) -> ReleaseDecision | None:
    row = session.execute(
        select(ReleaseDecisionRow).where(ReleaseDecisionRow.batch_id == batch_id)
    ).scalar_one_or_none()
    if row is None:
        return None
    signed = signatures_of_subject(session, subject="release", subject_id=batch_id)
    signature = next(s for s in signed if s.id == row.signature_id)
    return ReleaseDecision(
        row.batch_id, row.decision, row.comment, row.decided_at, row.decided_by, signature
    )


def decide_release(
    session: Session,
    *,
    batch_id: str,
    decision: str,
    comment: str | None,
    user_id: str,
    password: str,
    verdict: str,
    findings: Sequence[FindingState],
    timezone: str = "UTC",
    now: datetime | None = None,
) -> ReleaseDecision:
    """Record and sign QA's decision (`approved` for released, `rejected` for rejected).

    Raises:
        CatalogConflict: an unknown decision, a decision exists, the verdict is not
            `no open findings` (findings open, or the record unfinished).
        SignatureRefused: wrong password, not QA, or the signer assessed a deviation of it.
    """
    if decision not in DECISIONS:
        raise CatalogConflict(f"decision: expected one of {', '.join(DECISIONS)}, got {decision!r}")
    existing = release_of(session, batch_id)
    if existing is not None:
        raise CatalogConflict(
            f"batch {batch_id} was already {existing.decision} by {existing.decided_by} at "
            f"{existing.decided_at.isoformat(timespec='minutes')}"
        )
    still_open = [f.finding_id for f in findings if f.state == "open"]
    if verdict != DECIDABLE_VERDICT or still_open:
        detail = f": open findings {', '.join(still_open)}" if still_open else ""
        raise CatalogConflict(
            f"batch {batch_id}: the record's verdict is {verdict!r}{detail}; a decision needs "
            "every finding cleared by a closed deviation"
        )
    deviations = deviations_of_batch(session, batch_id)
    assessed = sorted(
        d.number
        for d in deviations
        for s in d.signatures
        if s.subject == "deviation_assessment" and s.user_id == user_id
    )
    if assessed:
        raise SignatureRefused(
            f"signature refused: {user_id} assessed {', '.join(assessed)} of this batch; "
            "another QA person approves its release (two-person rule)"
        )
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    text = (comment or "").strip() or None
    signature = sign(
        session,
        user_id=user_id,
        password=password,
        meaning="approved" if decision == "released" else "rejected",
        subject="release",
        subject_id=batch_id,
        batch_id=batch_id,
        content=release_content(batch_id, decision, text, verdict, findings, deviations),
        roles=("qa",),
        timezone=timezone,
        now=moment,
    )
    session.add(
        ReleaseDecisionRow(
            batch_id=batch_id,
            decision=decision,
            comment=text,
            decided_at=moment,
            decided_by=user_id,
            signature_id=signature.id,
        )
    )
    append_audit(
        session,
        actor=user_id,
        action=f"release_{decision}",
        entity="batch",
        entity_id=batch_id,
        new={"decision": decision, "comment": text, "verdict": verdict, "signature": signature.id},
        at=moment,
    )
    session.flush()
    return ReleaseDecision(batch_id, decision, text, moment, user_id, signature)
