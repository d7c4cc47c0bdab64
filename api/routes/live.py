"""Everything the viewer may see now, as one answer or as a Server-Sent Events stream.

The stream re-reads every `api_stream_interval_s` and sends an `event: live` when the
answer changed (`: keepalive` comments in between). Each round re-checks the token and
re-scopes through `api.access`, so an expired login, a revoked API token or a batch that
moved out ends or narrows the stream at once. Browsers read it with `fetch` (which can
send the Authorization header); the token never goes into a URL, where logs would keep it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from api.access import Access
from api.answers import SparkQuery, scoped_live
from api.auth import viewer_for_token
from api.deps import AccessDep, StateDep, TokenDep
from api.schemas import LivePublic
from api.state import ApiState
from coldchain.catalog.errors import CatalogNotFound, CatalogUnavailable
from coldchain.errors import StoreError

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/live", tags=["live"])

_KEEPALIVE_S = 15.0
_Id = Annotated[str | None, Query(max_length=64, description="only this product / batch")]


@router.get("", response_model=LivePublic)
async def live(
    state: StateDep,
    access: AccessDep,
    product: _Id = None,
    batch: _Id = None,
    spark: SparkQuery = False,
) -> Response:
    """Every place holding what the viewer may see now (an operator: also the empty units
    at their sites), with latest readings, limits, status and open alerts."""
    return (await scoped_live(state, access, product=product, batch=batch, spark=spark)).response()


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE: event live"}},
)
async def live_stream(
    state: StateDep,
    access: AccessDep,
    token: TokenDep,
    product: _Id = None,
    batch: _Id = None,
    max_events: Annotated[
        int | None, Query(ge=1, le=100_000, description="end after this many events")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: `live` (a LivePublic, whenever it changed), `expired` (log in
    again), `gone` (the product or batch is no longer visible), `unavailable`. At most
    `api_max_streams_per_user` open per user (and `api_max_streams` in all): 429 beyond."""
    slot = state.streams.acquire(access.viewer.user_id)
    try:
        first = (await scoped_live(state, access, product=product, batch=batch)).model
    except BaseException:
        slot.release()
        raise
    events = _events(state, token or "", first, product=product, batch=batch, limit=max_events)
    return StreamingResponse(
        slot.holding(events),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
        # A client gone between two events leaves the generator suspended, not finished:
        # the response's background task gives the slot back then too.
        background=BackgroundTask(slot.release),
    )


def _event(name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n"


async def _events(
    state: ApiState,
    token: str,
    answer: LivePublic | None,
    *,
    product: str | None,
    batch: str | None,
    limit: int | None,
) -> AsyncIterator[str]:
    sent = 0
    last = ""
    beat = time.monotonic()
    while True:
        if answer is not None:
            body = answer.model_dump_json(exclude={"generated_at"})
            if body != last:
                last = body
                yield _event("live", answer.model_dump_json())
                sent += 1
                beat = time.monotonic()
                if limit is not None and sent >= limit:
                    return
        if time.monotonic() - beat >= _KEEPALIVE_S:
            yield ": keepalive\n\n"
            beat = time.monotonic()
        await asyncio.sleep(state.settings.api_stream_interval_s)
        viewer = await viewer_for_token(state, token)
        if viewer is None:
            yield _event("expired", "{}")
            return
        try:
            access = Access(
                state.engine,
                viewer,
                clock=state.clock,
                warning_margin_c=state.settings.detect_warning_margin_c,
            )
            answer = (await scoped_live(state, access, product=product, batch=batch)).model
        except CatalogNotFound:
            yield _event("gone", "{}")
            return
        except (StoreError, CatalogUnavailable) as exc:
            log.warning("api: live stream user=%s: %s", viewer.user_id, exc)
            yield _event("unavailable", '{"detail": "store unavailable, retrying"}')
            answer = None
