"""Deviations (issue #21): list and read them, QA opens one on findings of the batch record
and assesses it, the batch's sponsor agrees or disputes; every decision is an electronic
signature with the password entered again (coldchain/catalog/signatures.py).

Also the two steps every signing and judging route shares: `signing` (the role, then the
login limiter around the catalog call that checks the password, a refusal audited) and
`judged` (the batch record's findings, bounded like an export).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from api.access import Access
from api.access.deviations import check_opener, findings_to_cover
from api.convert import deviation_public
from api.deps import AccessDep, StateDep
from api.export.judge import judge_batch
from api.export.walk import Report
from api.routes.auth import admit_password_check
from api.schemas import (
    DeviationAgree,
    DeviationAssess,
    DeviationDispute,
    DeviationOpen,
    DeviationPublic,
)
from api.state import ApiState
from coldchain.catalog.signatures import WrongPassword
from coldchain.wire import ID_PATTERN

__all__ = ["judged", "router", "signing"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/deviations", tags=["deviations"])

DeviationIdPath = Annotated[
    int, Path(ge=1, le=2**31 - 1, description="the deviation's number (DEV-12: 12)")
]
_BatchQuery = Annotated[
    str | None, Query(pattern=f"^{ID_PATTERN.pattern}$", max_length=64, description="batch id")
]


@asynccontextmanager
async def signing(
    state: ApiState,
    request: Request,
    access: Access,
    *,
    subject: str,
    subject_id: str,
    meaning: str,
) -> AsyncIterator[None]:
    """Around the catalog call that signs `subject`: the viewer's role may sign it, and the
    login limiter admits one more password check (429 when limited, before any work: a
    stolen session must not become a password oracle).

    The password is checked once, by the catalog's `sign` inside the block (argon2 is the
    cost of a signature; paying it twice doubled it). `WrongPassword` counts as a failed
    attempt; a signature made clears the reservation and forgives the address's earlier
    failures, as a login does. Any other error (a 409 comes before the password is
    checked) takes the reservation back and forgives nothing: a request bound to fail
    must not reset a guesser's back-off, nor count against the user.

    Raises:
        SignatureRefused: a role that does not sign it (audited); from the block, a wrong
            password (`WrongPassword`) or any other refusal, audited by `Access`.
        RateLimited: too many password attempts.
    """
    await access.may_sign(subject, subject_id, meaning)
    attempt = await admit_password_check(state, request, access.viewer.user_id)
    try:
        yield
    except WrongPassword:
        state.limiter.failed(attempt)
        log.warning(
            "api: signature refused user=%s subject=%s %s client=%s",
            attempt.user,
            subject,
            subject_id,
            attempt.client,
        )
        raise
    except Exception:
        state.limiter.unchecked(attempt)
        raise
    state.limiter.succeeded(attempt)


async def judged(state: ApiState, access: Access, batch: str) -> tuple[Report, datetime]:
    """The batch record's report as the viewer may read it, and when it was generated.

    It reads every reading of the batch, as an export does, so it holds one of the user's
    `api_max_exports_per_user` export slots while it runs (429 beyond).
    """
    slot = state.exports.acquire(access.viewer.user_id)
    try:
        now = state.clock()
        report = await judge_batch(
            batch,
            influx=state.influx,
            catalog_engine=state.engine,
            viewer=access.viewer,
            settings=state.settings,
            now=now,
        )
    finally:
        slot.release()
    return report, now


@router.get("", response_model=list[DeviationPublic])
async def list_deviations(
    access: AccessDep,
    batch: _BatchQuery = None,
    state: Annotated[
        Literal["open", "assessed", "agreed", "disputed", "closed"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DeviationPublic]:
    """Deviations of the batches the viewer sees, newest first (QA, admin, the batch's
    sponsor; an unknown or another sponsor's batch: 404)."""
    found = await access.deviations(batch=batch, state=state, limit=limit)
    return [deviation_public(d) for d in found]


@router.get("/{deviation_id}", response_model=DeviationPublic)
async def get_deviation(access: AccessDep, deviation_id: DeviationIdPath) -> DeviationPublic:
    return deviation_public(await access.deviation(deviation_id))


@router.post("", response_model=DeviationPublic, status_code=201)
async def open_deviation(
    state: StateDep, access: AccessDep, body: DeviationOpen
) -> DeviationPublic:
    """QA opens a deviation covering the named open findings of the batch record, each
    over its current span (409: not an open finding, or already covered over that span)."""
    await access.deviation_batch(body.batch)
    check_opener(access.viewer)
    report, _ = await judged(state, access, body.batch)
    findings = findings_to_cover(body.batch, report.findings, body.finding_ids)
    return deviation_public(await access.open_deviation(body.batch, findings, body.title))


@router.post("/{deviation_id}/assess", response_model=DeviationPublic)
async def assess(
    state: StateDep,
    request: Request,
    access: AccessDep,
    deviation_id: DeviationIdPath,
    body: DeviationAssess,
) -> DeviationPublic:
    """QA's product-impact assessment of an open or disputed deviation, signed
    `authored` (403: not QA or a wrong password, audited; 409: not open or disputed)."""
    found = await access.deviation(deviation_id)
    async with signing(
        state,
        request,
        access,
        subject="deviation_assessment",
        subject_id=found.number,
        meaning="authored",
    ):
        assessed = await access.assess(
            deviation_id,
            reason=body.reason,
            stability_reference=body.stability_reference,
            impact=body.impact,
            password=body.password,
            timezone=body.timezone or "UTC",
        )
    return deviation_public(assessed)


async def _decide(
    state: ApiState,
    request: Request,
    access: Access,
    deviation_id: int,
    *,
    agree: bool,
    comment: str | None,
    password: str,
    timezone: str | None,
) -> DeviationPublic:
    found = await access.deviation(deviation_id)
    async with signing(
        state,
        request,
        access,
        subject="deviation_agreement",
        subject_id=found.number,
        meaning="approved" if agree else "rejected",
    ):
        decided = await access.decide(
            deviation_id,
            agree=agree,
            comment=comment,
            password=password,
            timezone=timezone or "UTC",
        )
    return deviation_public(decided)


@router.post("/{deviation_id}/agree", response_model=DeviationPublic)
async def agree(
    state: StateDep,
    request: Request,
    access: AccessDep,
    deviation_id: DeviationIdPath,
    body: DeviationAgree,
) -> DeviationPublic:
    """The batch's sponsor agrees with the assessment, signed `approved`: the deviation
    closes and its findings are cleared in the record (409 unless assessed)."""
    return await _decide(
        state,
        request,
        access,
        deviation_id,
        agree=True,
        comment=body.comment,
        password=body.password,
        timezone=body.timezone,
    )


@router.post("/{deviation_id}/dispute", response_model=DeviationPublic)
async def dispute(
    state: StateDep,
    request: Request,
    access: AccessDep,
    deviation_id: DeviationIdPath,
    body: DeviationDispute,
) -> DeviationPublic:
    """The batch's sponsor disputes the assessment, signed `rejected`, with a comment that
    says why (409 without one, or unless assessed); QA assesses it again."""
    return await _decide(
        state,
        request,
        access,
        deviation_id,
        agree=False,
        comment=body.comment,
        password=body.password,
        timezone=body.timezone,
    )
