"""Scoped reads and signed changes of deviations and release decisions (issue #21).

A deviation is its batch's: whoever may see the batch (`find_batch`) may see its
deviations, and nobody else (404, exactly as an unknown id). Of those, a sponsor viewer
reads only their own sponsor's batches; a warehouse operator, who works on alerts, is
refused every deviation and release route (403, after the 404 so a role reveals no id);
QA and admin read everything. Signing is narrower than reading: QA assesses and releases,
the batch's sponsor agrees or disputes, an admin signs nothing. A refused signer is
refused before anything is asked of them, and the refusal is audited like a wrong password.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access.scoped_queries import find_batch, visible_batches
from api.errors import Forbidden
from api.export.findings import OPEN, Finding
from coldchain.catalog.deviations import (
    CoveredFinding,
    Deviation,
    assess_deviation,
    decide_deviation,
    get_deviation,
    open_deviation,
)
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound, SignatureRefused
from coldchain.catalog.releases import FindingState, ReleaseDecision, decide_release, release_of
from coldchain.catalog.schema import DeviationRow, PlacementRow
from coldchain.catalog.users import Viewer
from coldchain.times import from_ms

__all__ = [
    "SIGNED_BY",
    "assess",
    "batch_release",
    "check_opener",
    "check_reader",
    "check_signer",
    "covered_finding",
    "decide",
    "find_deviation",
    "findings_to_cover",
    "open_on_findings",
    "readable_batch",
    "recently_active_batches",
    "release",
    "visible_deviations",
]

#: Who signs what (coldchain.catalog.signatures.SUBJECTS); an admin signs nothing.
SIGNED_BY: dict[str, tuple[str, ...]] = {
    "deviation_assessment": ("qa",),
    "deviation_agreement": ("sponsor_viewer",),
    "release": ("qa",),
    "alert_closure": ("qa",),
}
_READERS = frozenset({"qa", "admin", "sponsor_viewer"})


def check_reader(viewer: Viewer) -> None:
    """Forbidden (403) for a role that has no business with deviations and releases."""
    if viewer.role not in _READERS:
        raise Forbidden(
            "deviations and release decisions are for QA and the batch's sponsor; "
            "a warehouse operator works on alerts"
        )


def check_signer(viewer: Viewer, subject: str) -> None:
    """`SignatureRefused` (403) when the viewer's role does not sign `subject`."""
    roles = SIGNED_BY[subject]
    if viewer.role not in roles:
        raise SignatureRefused(
            f"signature refused: a {viewer.role} may not sign {subject.replace('_', ' ')} "
            f"(signed by: {', '.join(roles)})"
        )


def readable_batch(session: Session, viewer: Viewer, batch: str) -> None:
    """404 unless the viewer sees the batch, then 403 unless their role reads deviations."""
    find_batch(session, viewer, batch)
    check_reader(viewer)


def find_deviation(session: Session, viewer: Viewer, deviation_id: int) -> Deviation:
    """The deviation if the viewer may see its batch (else 404, as for an unknown id)."""
    row = session.get(DeviationRow, deviation_id)
    if row is None:
        raise CatalogNotFound(f"deviation DEV-{deviation_id} not found")
    try:
        readable_batch(session, viewer, row.batch_id)
    except CatalogNotFound:
        raise CatalogNotFound(f"deviation DEV-{deviation_id} not found") from None
    return get_deviation(session, deviation_id)


def visible_deviations(
    session: Session, viewer: Viewer, *, batch: str | None, state: str | None, limit: int
) -> list[Deviation]:
    """Deviations of the batches the viewer sees, newest first (`batch`: 404 unless
    visible)."""
    check_reader(viewer)
    if batch is not None:
        find_batch(session, viewer, batch)
        batches = [batch]
    else:
        batches = [b.id for b in visible_batches(session, viewer)]
    query = (
        select(DeviationRow.id)
        .where(DeviationRow.batch_id.in_(batches))
        .order_by(DeviationRow.opened_at.desc(), DeviationRow.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(DeviationRow.state == state)
    return [get_deviation(session, i) for i in session.execute(query).scalars()]


def covered_finding(finding: Finding) -> CoveredFinding:
    """A finding of the judged record as a deviation covers it: its id and current span,
    and the detector alert it names (closing the deviation dispositions that alert)."""
    alert = finding.detail.get("alert_id")
    return CoveredFinding(
        finding.id,
        finding.kind,
        finding.where,
        None if finding.start_ms is None else from_ms(finding.start_ms),
        None if finding.end_ms is None else from_ms(finding.end_ms),
        None if alert is None else str(alert),
    )


def findings_to_cover(
    batch: str, findings: Sequence[Finding], finding_ids: Sequence[str]
) -> list[CoveredFinding]:
    """The named findings of the judged record, each over its current span.

    Raises:
        CatalogConflict: an id that is not an open finding of the record.
    """
    open_now = {f.id: f for f in findings if f.state == OPEN}
    unknown = [i for i in dict.fromkeys(finding_ids) if i not in open_now]
    if unknown:
        raise CatalogConflict(
            f"not an open finding of batch {batch}'s record: {', '.join(unknown)} "
            f"(its open findings: {', '.join(open_now) or 'none'})"
        )
    return [covered_finding(open_now[i]) for i in dict.fromkeys(finding_ids)]


def open_on_findings(
    session: Session,
    viewer: Viewer,
    batch: str,
    findings: Sequence[CoveredFinding],
    title: str,
    now: datetime,
) -> Deviation:
    """QA opens a deviation (409 when a finding is already covered over that span)."""
    readable_batch(session, viewer, batch)
    check_opener(viewer)
    return open_deviation(
        session, batch_id=batch, findings=findings, title=title, actor=viewer.user_id, now=now
    )


def check_opener(viewer: Viewer) -> None:
    """Forbidden (403) unless QA: opening a deviation reports a finding to the sponsor."""
    if viewer.role != "qa":
        raise Forbidden("opening a deviation needs the qa role")


def assess(
    session: Session,
    viewer: Viewer,
    deviation_id: int,
    *,
    password: str,
    reason: str,
    stability_reference: str | None,
    impact: str,
    timezone: str,
    now: datetime,
) -> Deviation:
    find_deviation(session, viewer, deviation_id)
    check_signer(viewer, "deviation_assessment")
    return assess_deviation(
        session,
        deviation_id,
        user_id=viewer.user_id,
        password=password,
        reason=reason,
        stability_reference=stability_reference,
        impact=impact,
        timezone=timezone,
        now=now,
    )


def decide(
    session: Session,
    viewer: Viewer,
    deviation_id: int,
    *,
    agree: bool,
    password: str,
    comment: str | None,
    timezone: str,
    now: datetime,
) -> Deviation:
    find_deviation(session, viewer, deviation_id)
    check_signer(viewer, "deviation_agreement")
    return decide_deviation(
        session,
        deviation_id,
        user_id=viewer.user_id,
        password=password,
        agree=agree,
        comment=comment,
        timezone=timezone,
        now=now,
    )


def release(
    session: Session,
    viewer: Viewer,
    batch: str,
    *,
    decision: str,
    comment: str | None,
    password: str,
    verdict: str,
    findings: Sequence[Finding],
    timezone: str,
    now: datetime,
) -> ReleaseDecision:
    """QA's signed decision on the record as judged (`verdict`, `findings`)."""
    readable_batch(session, viewer, batch)
    check_signer(viewer, "release")
    return decide_release(
        session,
        batch_id=batch,
        decision=decision,
        comment=comment,
        user_id=viewer.user_id,
        password=password,
        verdict=verdict,
        findings=[FindingState(f.id, f.kind, f.state, f.deviation) for f in findings],
        timezone=timezone,
        now=now,
    )


def batch_release(session: Session, viewer: Viewer, batch: str) -> ReleaseDecision | None:
    readable_batch(session, viewer, batch)
    return release_of(session, batch)


def recently_active_batches(session: Session, since: datetime) -> list[str]:
    """Batches with a placement open now or ended at or after `since` (what the deviation
    watch judges; the catalog's view, no viewer)."""
    query = (
        select(PlacementRow.batch_id)
        .where(PlacementRow.end_at.is_(None) | (PlacementRow.end_at >= since))
        .distinct()
        .order_by(PlacementRow.batch_id)
    )
    return list(session.execute(query).scalars())
