"""A batch's stability budget account (#22) and its manual time out of refrigeration.

`GET /v1/batches/{batch}/budget` is the account the batch record prints (the same
judgement, `judge_batch`, as the viewer's own export): each band, each charge with its
source, freeze events, why it is exceeded. QA, admin and the batch's sponsor (404 for
another sponsor's batch); a warehouse operator reads no records (403).
`POST /v1/batches/{batch}/tor` records time out of refrigeration (QA, operators of the
batch's sites), audited and never rewritten. `POST /v1/batches/{batch}/carried-in` records
budget consumed before the batch reached this site (QA, with a reason for change), as
`coldchain budget carry-in` and the fleet file's `batches[].carried_in` do; the account
above lists it under `carried_in`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.deps import AccessDep, StateDep
from api.errors import Forbidden
from api.routes.deviations import judged
from api.routes.params import BatchPath
from coldchain.catalog.budget import CarriedIn, TorEntry
from coldchain.judgement.budget import BudgetAccount, Charge
from coldchain.times import from_ms

__all__ = ["router"]

router = APIRouter(prefix="/batches", tags=["budget"])

_READERS = frozenset({"qa", "admin", "sponsor_viewer"})


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class BandPublic(_Out):
    min_c: float
    max_c: float
    allowed_h: float
    charged_h: float
    remaining_h: float
    share: float | None = Field(description="charged / allowed; null: none allowed, some charged")


class ChargePublic(_Out):
    source: Literal["readings", "manual", "carried_in"]
    band: int | None = Field(description="index into `bands`; null: in no band (over at once)")
    start: datetime | None
    end: datetime | None
    hours: float
    detail: str


class TorEntryPublic(_Out):
    id: int
    batch: str
    start: datetime
    end: datetime
    max_c: float
    reason: str
    recorded_by: str
    recorded_at: datetime
    voids: int | None
    voided_by: int | None


class CarriedInPublic(_Out):
    id: int
    band_min_c: float
    band_max_c: float
    hours: float
    freeze_events: int
    source: str
    recorded_by: str
    recorded_at: datetime


class BudgetAccountPublic(_Out):
    """The account; `consumed_share` 1.0 = 100 % (null: something charged where nothing
    is allowed, which is exceeded)."""

    batch: str
    generated_at: datetime
    allowed_h: float
    charged_h: float
    remaining_h: float
    exceeded: bool
    reasons: list[str]
    consumed_share: float | None
    bands: list[BandPublic]
    charges: list[ChargePublic]
    freeze_events: int
    freeze_events_allowed: int | None
    tor_entries: list[TorEntryPublic]
    carried_in: list[CarriedInPublic]


class TorCreate(BaseModel):
    """Time the batch spent out of refrigeration, at most `max_c`, and why."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    max_c: float = Field(ge=-100, le=100)
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class CarriedInCreate(BaseModel):
    """Budget consumed before the batch reached this site: `hours` in the product's band
    [band_min_c, band_max_c], `freeze_events` there, where the figure comes from (`source`,
    e.g. the sponsor's CoA) and why it is recorded now (`reason`, the audit's reason for
    change)."""

    model_config = ConfigDict(extra="forbid")

    band_min_c: float = Field(ge=-100, le=100)
    band_max_c: float = Field(ge=-100, le=100)
    hours: float = Field(ge=0, le=100_000)
    freeze_events: int = Field(default=0, ge=0, le=100_000)
    source: str = Field(min_length=1, max_length=500, pattern=r"\S")
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


def _share(value: float) -> float | None:
    return None if math.isinf(value) else value


def _charge(c: Charge) -> ChargePublic:
    return ChargePublic(
        source=c.source,
        band=c.band,
        start=None if c.start_ms is None else from_ms(c.start_ms),
        end=None if c.end_ms is None else from_ms(c.end_ms),
        hours=c.hours,
        detail=c.detail,
    )


def _tor(e: TorEntry) -> TorEntryPublic:
    return TorEntryPublic(
        id=e.id,
        batch=e.batch,
        start=e.start,
        end=e.end,
        max_c=e.max_c,
        reason=e.reason,
        recorded_by=e.recorded_by,
        recorded_at=e.recorded_at,
        voids=e.voids,
        voided_by=e.voided_by,
    )


def _carried(c: CarriedIn) -> CarriedInPublic:
    return CarriedInPublic(
        id=c.id,
        band_min_c=c.band_min_c,
        band_max_c=c.band_max_c,
        hours=c.hours,
        freeze_events=c.freeze_events,
        source=c.source,
        recorded_by=c.recorded_by,
        recorded_at=c.recorded_at,
    )


def account_public(
    batch: str,
    generated: datetime,
    account: BudgetAccount,
    tor: tuple[TorEntry, ...],
    carried: tuple[CarriedIn, ...],
) -> BudgetAccountPublic:
    return BudgetAccountPublic(
        batch=batch,
        generated_at=generated,
        allowed_h=account.allowed_h,
        charged_h=account.charged_h,
        remaining_h=account.remaining_h,
        exceeded=account.exceeded,
        reasons=list(account.reasons),
        consumed_share=_share(account.consumed_share),
        bands=[
            BandPublic(
                min_c=b.min_c,
                max_c=b.max_c,
                allowed_h=b.allowed_h,
                charged_h=b.charged_h,
                remaining_h=b.remaining_h,
                share=_share(b.share),
            )
            for b in account.bands
        ],
        charges=[_charge(c) for c in account.charges],
        freeze_events=account.freeze_events,
        freeze_events_allowed=account.freeze_allowed,
        tor_entries=[_tor(e) for e in tor],
        carried_in=[_carried(c) for c in carried],
    )


@router.get("/{batch}/budget", response_model=BudgetAccountPublic)
async def budget(state: StateDep, access: AccessDep, batch: BatchPath) -> BudgetAccountPublic:
    """The batch's stability budget account now, as its record would print it. Judging
    reads every reading of the batch: it takes one of the user's export slots (429 beyond)."""
    await access.batch(batch)  # 404 through the scoped layer first: roles reveal no ids
    if access.viewer.role not in _READERS:
        raise Forbidden("the budget is part of the batch record: QA, admin or its sponsor")
    report, generated = await judged(state, access, batch)
    entries = report.record.entries
    return account_public(batch, generated, report.budget, entries.tor, entries.carried_in)


@router.post("/{batch}/tor", response_model=TorEntryPublic, status_code=201)
async def record_tor(access: AccessDep, batch: BatchPath, body: TorCreate) -> TorEntryPublic:
    """Record that the batch was out of refrigeration from `start` to `end`, at most
    `max_c` (charged to the budget band holding it). QA and the warehouse operators of the
    batch's sites; 409 when the end is not after the start or lies ahead, or `max_c` is
    within the storage range. Audited; never rewritten."""
    entry = await access.record_tor(
        batch, start=body.start, end=body.end, max_c=body.max_c, reason=body.reason
    )
    return _tor(entry)


@router.post("/{batch}/carried-in", response_model=CarriedInPublic, status_code=201)
async def record_carried_in(
    access: AccessDep, batch: BatchPath, body: CarriedInCreate
) -> CarriedInPublic:
    """Record budget the batch consumed before it reached this site (QA only, 403
    otherwise), by the catalog function `coldchain budget carry-in` uses; 409 when the
    product's budget has no band [band_min_c, band_max_c]. Audited (entity `carried_in`,
    with the reason); charged in `GET /v1/batches/{batch}/budget` from then on."""
    amount = await access.record_carried_in(
        batch,
        band_min_c=body.band_min_c,
        band_max_c=body.band_max_c,
        hours=body.hours,
        freeze_events=body.freeze_events,
        source=body.source,
        reason=body.reason,
    )
    return _carried(amount)
