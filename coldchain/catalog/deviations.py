"""Deviations: what the CMO reports to the sponsor about findings of a batch record, and
what each party decided.

A deviation covers findings of the batch record explicitly, each by its id and the exact
span covered (`CoveredFinding`), never by "any overlap": a finding that later grows past
its covered span (late readings) is no longer covered. It moves

    open --assess (CMO QA, signs `authored`)--> assessed
    assessed --agree (the sponsor, signs `approved`)--> agreed --> closed
    assessed --dispute (the sponsor, signs `rejected`, with a comment)--> disputed
    disputed --assess again--> assessed

The sponsor's agreement completes the disposition, so it closes the deviation in the same
step (both states are in its history). Closing dispositions the detector alerts its
findings name (`alerts.disposition_alert`): an alert the detector cannot resolve (a
cumulative device rule) is closed this way. The record counts a finding as cleared only
when a closed deviation covers it (api/export/findings.py).

The sponsor's contacts hear when a deviation opens and when it is assessed
(`sponsor_notices`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.alerts import disposition_alert
from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound
from coldchain.catalog.schema import (
    IMPACTS,
    BatchRow,
    DeviationFindingRow,
    DeviationHistoryRow,
    DeviationRow,
    ProductRow,
    UserRow,
)
from coldchain.catalog.signatures import Signature, sign, signatures_of_subject
from coldchain.catalog.sponsor_notices import notify_sponsor

__all__ = [
    "CoveredFinding",
    "Deviation",
    "DeviationEvent",
    "assess_deviation",
    "covered_spans",
    "decide_deviation",
    "deviations_of_batch",
    "get_deviation",
    "open_deviation",
]

#: `opened_by` of a deviation the system opened when its finding appeared.
SYSTEM = "system"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class CoveredFinding:
    """A finding a deviation covers: its record id, kind, where, and the span covered
    (None: the finding has no time, e.g. a batch without placements)."""

    finding_id: str
    kind: str
    place: str
    start_at: datetime | None
    end_at: datetime | None
    alert_id: str | None = None

    def content(self) -> dict[str, Any]:
        return {
            "id": self.finding_id,
            "kind": self.kind,
            "where": self.place,
            "start": _iso(self.start_at),
            "end": _iso(self.end_at),
            "alert": self.alert_id,
        }


@dataclass(frozen=True, slots=True)
class DeviationEvent:
    at: datetime
    state: str
    actor: str
    comment: str | None
    signature_id: int | None


@dataclass(frozen=True, slots=True)
class Deviation:
    """A deviation with its findings, history and signatures, as the API and record show it."""

    id: int
    batch: str
    sponsor: str
    state: str
    title: str
    opened_at: datetime
    opened_by: str
    reason: str | None
    stability_reference: str | None
    impact: str | None
    sponsor_comment: str | None
    updated_at: datetime
    findings: tuple[CoveredFinding, ...]
    history: tuple[DeviationEvent, ...]
    signatures: tuple[Signature, ...]

    @property
    def number(self) -> str:
        """How people name it: DEV-12."""
        return f"DEV-{self.id}"

    def assessment_content(self) -> dict[str, Any]:
        """What the assessor signs: the deviation, its findings and the assessment."""
        return {
            "subject": "deviation_assessment",
            "deviation": self.number,
            "batch": self.batch,
            "title": self.title,
            "findings": [f.content() for f in self.findings],
            "assessment": {
                "reason": self.reason,
                "stability_reference": self.stability_reference,
                "impact": self.impact,
            },
        }

    def agreement_content(self, decision: str, comment: str | None) -> dict[str, Any]:
        """What the sponsor signs: the assessment as signed (its digest) and the decision."""
        assessed = [s for s in self.signatures if s.subject == "deviation_assessment"]
        return {
            "subject": "deviation_agreement",
            "deviation": self.number,
            "batch": self.batch,
            "assessment_sha256": assessed[-1].content_sha256 if assessed else None,
            "decision": decision,
            "comment": comment,
        }


def _row(session: Session, deviation_id: int) -> DeviationRow:
    row = session.get(DeviationRow, deviation_id)
    if row is None:
        raise CatalogNotFound(f"deviation DEV-{deviation_id} not found")
    return row


def _sponsor_of(session: Session, batch_id: str) -> str:
    sponsor = session.execute(
        select(ProductRow.sponsor_id)
        .join(BatchRow, BatchRow.product_id == ProductRow.id)
        .where(BatchRow.id == batch_id)
    ).scalar_one_or_none()
    if sponsor is None:
        raise CatalogNotFound(f"batch {batch_id!r} not found")
    return sponsor


def _view(session: Session, row: DeviationRow) -> Deviation:
    findings = session.execute(
        select(DeviationFindingRow)
        .where(DeviationFindingRow.deviation_id == row.id)
        .order_by(DeviationFindingRow.id)
    ).scalars()
    history = session.execute(
        select(DeviationHistoryRow)
        .where(DeviationHistoryRow.deviation_id == row.id)
        .order_by(DeviationHistoryRow.id)
    ).scalars()
    signed = [
        s
        for subject in ("deviation_assessment", "deviation_agreement")
        for s in signatures_of_subject(session, subject=subject, subject_id=f"DEV-{row.id}")
    ]
    return Deviation(
        id=row.id,
        batch=row.batch_id,
        sponsor=_sponsor_of(session, row.batch_id),
        state=row.state,
        title=row.title,
        opened_at=row.opened_at,
        opened_by=row.opened_by,
        reason=row.reason,
        stability_reference=row.stability_reference,
        impact=row.impact,
        sponsor_comment=row.sponsor_comment,
        updated_at=row.updated_at,
        findings=tuple(
            CoveredFinding(f.finding_id, f.kind, f.place, f.start_at, f.end_at, f.alert_id)
            for f in findings
        ),
        history=tuple(
            DeviationEvent(h.at, h.state, h.actor, h.comment, h.signature_id) for h in history
        ),
        signatures=tuple(sorted(signed, key=lambda s: s.id)),
    )


def get_deviation(session: Session, deviation_id: int) -> Deviation:
    return _view(session, _row(session, deviation_id))


def deviations_of_batch(session: Session, batch_id: str) -> list[Deviation]:
    rows = session.execute(
        select(DeviationRow).where(DeviationRow.batch_id == batch_id).order_by(DeviationRow.id)
    ).scalars()
    return [_view(session, row) for row in rows]


def _history(
    session: Session,
    row: DeviationRow,
    *,
    actor: str,
    at: datetime,
    comment: str | None = None,
    signature: Signature | None = None,
) -> None:
    session.add(
        DeviationHistoryRow(
            deviation_id=row.id,
            at=at,
            state=row.state,
            actor=actor,
            comment=comment,
            signature_id=None if signature is None else signature.id,
        )
    )


def _audit(
    session: Session, row: DeviationRow, *, actor: str, action: str, at: datetime, **new: Any
) -> None:
    append_audit(
        session,
        actor=actor,
        action=action,
        entity="deviation",
        entity_id=f"DEV-{row.id}",
        new={"batch": row.batch_id, "state": row.state, **new},
        at=at,
    )


def open_deviation(
    session: Session,
    *,
    batch_id: str,
    findings: Sequence[CoveredFinding],
    title: str,
    actor: str,
    now: datetime | None = None,
) -> Deviation:
    """Open a deviation of `batch_id` covering `findings` (QA, or `SYSTEM` when a finding
    appears).

    Raises:
        CatalogNotFound: no such batch.
        CatalogConflict: no findings, a blank title, or a finding already covered over the
            same span by another deviation of the batch.
    """
    if not findings:
        raise CatalogConflict("a deviation covers at least one finding of the batch record")
    if not title.strip():
        raise CatalogConflict("a deviation needs a title that says what happened")
    _sponsor_of(session, batch_id)
    covered = covered_spans(session, batch_id)
    for f in findings:
        if (f.start_at, f.end_at) in covered.get(f.finding_id, ()):
            raise CatalogConflict(
                f"finding {f.finding_id} is already covered over that span by a deviation "
                "of the batch"
            )
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    row = DeviationRow(
        batch_id=batch_id,
        state="open",
        title=title.strip(),
        opened_at=moment,
        opened_by=actor,
        updated_at=moment,
    )
    session.add(row)
    session.flush()
    for f in findings:
        session.add(
            DeviationFindingRow(
                deviation_id=row.id,
                finding_id=f.finding_id,
                kind=f.kind,
                place=f.place,
                start_at=f.start_at,
                end_at=f.end_at,
                alert_id=f.alert_id,
            )
        )
    _history(session, row, actor=actor, at=moment)
    _audit(
        session,
        row,
        actor=actor,
        action="open_deviation",
        at=moment,
        title=row.title,
        findings=[f.content() for f in findings],
    )
    session.flush()
    view = _view(session, row)
    notify_sponsor(session, view, event="deviation_opened", at=moment)
    return view


def covered_spans(
    session: Session, batch_id: str
) -> dict[str, set[tuple[datetime | None, datetime | None]]]:
    """Finding id -> the spans deviations of the batch cover it over (any state)."""
    rows = session.execute(
        select(
            DeviationFindingRow.finding_id, DeviationFindingRow.start_at, DeviationFindingRow.end_at
        )
        .join(DeviationRow, DeviationRow.id == DeviationFindingRow.deviation_id)
        .where(DeviationRow.batch_id == batch_id)
    ).all()
    spans: dict[str, set[tuple[datetime | None, datetime | None]]] = {}
    for finding_id, start, end in rows:
        spans.setdefault(finding_id, set()).add((start, end))
    return spans


def assess_deviation(
    session: Session,
    deviation_id: int,
    *,
    user_id: str,
    password: str,
    reason: str,
    stability_reference: str | None,
    impact: str,
    timezone: str = "UTC",
    now: datetime | None = None,
) -> Deviation:
    """CMO QA's product-impact assessment, signed `authored` with the password re-entered.

    Raises:
        CatalogConflict: not open or disputed, a blank reason, an unknown impact.
        SignatureRefused: wrong password, or not QA.
    """
    row = _row(session, deviation_id)
    if row.state not in ("open", "disputed"):
        raise CatalogConflict(
            f"DEV-{row.id} is {row.state}: only an open or disputed deviation is assessed"
        )
    if not reason.strip():
        raise CatalogConflict("an assessment needs its reason")
    if impact not in IMPACTS:
        raise CatalogConflict(f"impact: expected one of {', '.join(IMPACTS)}, got {impact!r}")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    row.reason = reason.strip()
    row.stability_reference = (stability_reference or "").strip() or None
    row.impact = impact
    session.flush()
    signature = sign(
        session,
        user_id=user_id,
        password=password,
        meaning="authored",
        subject="deviation_assessment",
        subject_id=f"DEV-{row.id}",
        batch_id=row.batch_id,
        content=_view(session, row).assessment_content(),
        roles=("qa",),
        timezone=timezone,
        now=moment,
    )
    row.state = "assessed"
    row.updated_at = moment
    _history(session, row, actor=user_id, at=moment, comment=row.reason, signature=signature)
    _audit(
        session,
        row,
        actor=user_id,
        action="assess_deviation",
        at=moment,
        impact=row.impact,
        reason=row.reason,
        stability_reference=row.stability_reference,
        signature=signature.id,
    )
    session.flush()
    view = _view(session, row)
    notify_sponsor(session, view, event="deviation_assessed", at=moment)
    return view


def decide_deviation(
    session: Session,
    deviation_id: int,
    *,
    user_id: str,
    password: str,
    agree: bool,
    comment: str | None,
    timezone: str = "UTC",
    now: datetime | None = None,
) -> Deviation:
    """The sponsor agrees (signs `approved`; the deviation closes) or disputes (signs
    `rejected`, with a comment; QA assesses again).

    Raises:
        CatalogNotFound: the user is not of the batch's sponsor (the deviation is not theirs).
        CatalogConflict: not assessed; a dispute without a comment.
        SignatureRefused: wrong password, or not a sponsor user.
    """
    row = _row(session, deviation_id)
    sponsor = _sponsor_of(session, row.batch_id)
    user = session.get(UserRow, user_id)
    if user is None or (user.role == "sponsor_viewer" and user.sponsor_id != sponsor):
        raise CatalogNotFound(f"deviation DEV-{deviation_id} not found")
    if row.state != "assessed":
        raise CatalogConflict(
            f"DEV-{row.id} is {row.state}: the sponsor decides on an assessed deviation"
        )
    text = (comment or "").strip() or None
    if not agree and text is None:
        raise CatalogConflict("a dispute needs a comment that says what the sponsor disputes")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    decision = "agreed" if agree else "disputed"
    signature = sign(
        session,
        user_id=user_id,
        password=password,
        meaning="approved" if agree else "rejected",
        subject="deviation_agreement",
        subject_id=f"DEV-{row.id}",
        batch_id=row.batch_id,
        content=_view(session, row).agreement_content(decision, text),
        roles=("sponsor_viewer",),
        timezone=timezone,
        now=moment,
    )
    row.sponsor_comment = text
    row.state = decision
    row.updated_at = moment
    _history(session, row, actor=user_id, at=moment, comment=text, signature=signature)
    _audit(
        session,
        row,
        actor=user_id,
        action=f"{'agree' if agree else 'dispute'}_deviation",
        at=moment,
        comment=text,
        signature=signature.id,
    )
    if agree:
        _close(session, row, actor=user_id, at=moment)
    session.flush()
    return _view(session, row)


def _close(session: Session, row: DeviationRow, *, actor: str, at: datetime) -> None:
    """Close an agreed deviation and disposition the alerts its findings name."""
    row.state = "closed"
    _history(session, row, actor=actor, at=at, comment="closed on the sponsor's agreement")
    _audit(session, row, actor=actor, action="close_deviation", at=at)
    assessor = _assessor(session, row)
    covered = session.execute(
        select(DeviationFindingRow).where(DeviationFindingRow.deviation_id == row.id)
    ).scalars()
    # One alert may be named by several findings (a cumulative alarm matches each brief
    # excursion it added up): it ends where the last span the deviation covered ends.
    ends: dict[str, datetime] = {}
    for f in covered:
        if f.alert_id is not None:
            end = f.end_at or at
            ends[f.alert_id] = max(ends.get(f.alert_id, end), end)
    for alert_id, end in sorted(ends.items()):
        disposition_alert(
            session, alert_id, actor=assessor, at=at, deviation=f"DEV-{row.id}", end=end
        )


def _assessor(session: Session, row: DeviationRow) -> str:
    """The QA person whose signed assessment the sponsor agreed to."""
    signed = signatures_of_subject(
        session, subject="deviation_assessment", subject_id=f"DEV-{row.id}"
    )
    return signed[-1].user_id
