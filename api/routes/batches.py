"""Batches (lots): chain of custody, live view and history across every place."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.answers import BucketsQuery, FromQuery, SparkQuery, ToQuery, history_response, scoped_live
from api.convert import batch_detail_public, batch_public
from api.deps import AccessDep, StateDep
from api.routes.params import BatchPath
from api.schemas import BatchDetailPublic, BatchPublic, HistoryPublic, LivePublic

__all__ = ["router"]

router = APIRouter(prefix="/batches", tags=["batches"])


@router.get("", response_model=list[BatchPublic])
async def list_batches(access: AccessDep) -> list[BatchPublic]:
    return [batch_public(b) for b in await access.batches()]


@router.get("/{batch}", response_model=BatchDetailPublic)
async def get_batch(access: AccessDep, batch: BatchPath) -> BatchDetailPublic:
    """The batch and its chain of custody (the links the viewer may see)."""
    view, placements = await access.batch(batch)
    return batch_detail_public(view, placements)


@router.get("/{batch}/live", response_model=LivePublic)
async def batch_live(
    state: StateDep, access: AccessDep, batch: BatchPath, spark: SparkQuery = False
) -> Response:
    return (await scoped_live(state, access, batch=batch, spark=spark)).response()


@router.get("/{batch}/history", response_model=HistoryPublic)
async def batch_history(
    state: StateDep,
    access: AccessDep,
    batch: BatchPath,
    start: FromQuery = None,
    end: ToQuery = None,
    buckets: BucketsQuery = 500,
) -> Response:
    """Readings of every place the batch was in during [from, to), each only for the time
    it was there, in buckets of min, max and mean."""
    return await history_response(state, access, start=start, end=end, buckets=buckets, batch=batch)
