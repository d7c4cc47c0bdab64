"""QA batch export (docs/design.md §7) over HTTP: the signed record of one batch, streamed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from api.access import Access
from api.deps import AccessDep, StateDep
from api.errors import Forbidden, Unavailable
from api.export import MEDIA_TYPES, ExportSigner, export_batch
from api.routes.params import BatchPath
from api.state import ApiState
from coldchain.errors import ConfigError, StoreUnavailable

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/batches", tags=["exports"])

_EXPORTERS = frozenset({"qa", "admin", "sponsor_viewer"})


@router.get(
    "/{batch}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}},
)
async def export(
    state: StateDep,
    access: AccessDep,
    batch: BatchPath,
    fmt: Annotated[Literal["csv", "json", "pdf"], Query(alias="format")] = "json",
) -> StreamingResponse:
    """The batch's whole chain of custody, readings, excursions and MKT, signed; the
    export is recorded in the audit trail. QA, admin, and the batch's own sponsor; at most
    `api_max_exports_per_user` at once per user (429 beyond)."""
    await access.batch(batch)  # 404 through the scoped layer first: roles reveal no ids
    if access.viewer.role not in _EXPORTERS:
        raise Forbidden("exports need the qa, admin or sponsor_viewer role")
    slot = state.exports.acquire(access.viewer.user_id)
    try:
        chunks = await _started(state, access, batch, fmt)
    except BaseException:
        slot.release()
        raise
    filename = f"{batch}.{fmt}"
    return StreamingResponse(
        slot.holding(chunks),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        # A client gone mid-download leaves the export suspended: give the slot back then.
        background=BackgroundTask(slot.release),
    )


async def _started(state: ApiState, access: Access, batch: str, fmt: str) -> AsyncIterator[bytes]:
    """The export's chunks, its first one already made, so a refusal is still an error
    status."""
    # CSV and JSON send their header before the first query: without this, a store that is
    # down would answer 200 and then break the download off (no trailer, so `coldchain
    # verify` refuses it, but a 503 says it plainly). A failure later still cuts it off.
    if not await state.influx.ping():
        raise StoreUnavailable("InfluxDB is not reachable; the export was not started")
    try:
        signer = await asyncio.to_thread(
            ExportSigner.load_or_create, state.settings.data_dir, catalog=state.engine
        )
    except ConfigError as exc:  # a key others could read, or lost: nothing is signed
        log.error("api: export refused, the signing key is unusable: %s", exc)
        raise Unavailable("the export signing key is unusable; the server log says why") from None
    chunks = export_batch(
        batch,
        fmt,
        influx=state.influx,
        catalog_engine=state.engine,
        signer=signer,
        actor=access.viewer.user_id,
        viewer=access.viewer,
        settings=state.settings,
    )
    first = await anext(chunks, b"")

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return body()
