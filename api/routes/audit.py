"""The audit trail for review (QA, admin): `GET /v1/audit`, the entries of a span, by whom,
about one batch, each with its reason for change and what changed. The same query as
`coldchain audit review` (`coldchain.catalog.audit_review`).

The trail names every tenant's things and every person, so it is not scoped per tenant:
other roles get 403 whatever they ask (the route reveals nothing by answering)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Engine

from api.deps import StateDep, require_role
from api.errors import BadRequest
from coldchain.catalog.audit_review import AuditReview, review_audit
from coldchain.catalog.store import catalog_session
from coldchain.catalog.users import Viewer

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])

REVIEWERS = ("qa", "admin")


class AuditEntryPublic(BaseModel):
    """One entry: `reason` is the reason for change it carries, `changed` what changed."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    reason: str | None
    changed: str


class AuditReviewPublic(BaseModel):
    """The entries, oldest first; `truncated` when more matched than `limit`."""

    model_config = ConfigDict(frozen=True)

    entries: list[AuditEntryPublic]
    truncated: bool


@router.get("", response_model=AuditReviewPublic)
async def review(
    state: StateDep,
    _: Annotated[Viewer, Depends(require_role(*REVIEWERS))],
    start: Annotated[AwareDatetime, Query(alias="from", description="RFC 3339 with offset")],
    end: Annotated[AwareDatetime, Query(alias="to", description="exclusive")],
    actor: Annotated[str | None, Query(max_length=64, description="only this actor")] = None,
    batch: Annotated[str | None, Query(max_length=64, description="only about this lot")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AuditReviewPublic:
    """Audit entries with `from <= at < to` (of `actor`; about `batch`: the batch, its
    placements, its exports, entries naming it), oldest first. QA and admin only."""
    if end <= start:
        raise BadRequest(f"to ({end.isoformat()}) must be after from ({start.isoformat()})")
    found = await asyncio.to_thread(_review, state.engine, start, end, actor, batch, limit)
    return AuditReviewPublic(
        entries=[AuditEntryPublic.model_validate(e, from_attributes=True) for e in found.entries],
        truncated=found.truncated,
    )


def _review(
    engine: Engine,
    start: datetime,
    end: datetime,
    actor: str | None,
    batch: str | None,
    limit: int,
) -> AuditReview:
    with catalog_session(engine) as session:
        return review_audit(session, start=start, end=end, actor=actor, batch=batch, limit=limit)
