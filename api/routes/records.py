"""A batch record's judgement and its release decision (issue #21): the findings the
automated screen raised, each with the deviation that covers it, and QA's signed
`released` / `rejected` on the temperature record."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.convert import findings_public, release_public
from api.deps import AccessDep, StateDep
from api.routes.deviations import judged, signing
from api.routes.params import BatchPath
from api.schemas import FindingsPublic, ReleaseDecide, ReleasePublic

__all__ = ["router"]

router = APIRouter(prefix="/batches", tags=["records"])


@router.get("/{batch}/findings", response_model=FindingsPublic)
async def findings(state: StateDep, access: AccessDep, batch: BatchPath) -> FindingsPublic:
    """The record's verdict and findings, as the viewer's own export would show them, and
    the release decision if one was taken (QA, admin, the batch's sponsor). Judging reads
    every reading of the batch: it takes one of the user's export slots (429 beyond)."""
    await access.deviation_batch(batch)
    report, generated = await judged(state, access, batch)
    return findings_public(batch, report, generated, await access.release_of(batch))


@router.post("/{batch}/release", response_model=ReleasePublic)
async def release(
    state: StateDep, request: Request, access: AccessDep, batch: BatchPath, body: ReleaseDecide
) -> ReleasePublic:
    """QA's decision on the batch's temperature record, signed (`approved` for released,
    `rejected` for rejected) on the record as judged now. 409 while findings are open or
    the record is unfinished, or when a decision exists; 403 for whoever assessed one of
    its deviations (two persons), another role, or a wrong password (audited)."""
    await access.deviation_batch(batch)
    async with signing(
        state,
        request,
        access,
        subject="release",
        subject_id=batch,
        meaning="approved" if body.decision == "released" else "rejected",
    ):
        report, _ = await judged(state, access, batch)
        decided = await access.release(
            batch,
            decision=body.decision,
            comment=body.comment,
            password=body.password,
            verdict=report.verdict,
            findings=report.findings,
            timezone=body.timezone or "UTC",
        )
    return release_public(decided)
