"""`judge_batch`: the record's findings and verdict without rendering a file.

The deviations page, the automatic opening of deviations and the release decision need the
same judgement the export prints (one truth of a batch): this walks the same record with
the same rules and keeps only its report.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Engine

from api.export.record import load_batch_record
from api.export.walk import RecordEnd, Report, Rules, walk_record
from coldchain.catalog import Viewer
from coldchain.config import Settings
from coldchain.influx import InfluxClient

__all__ = ["judge_batch"]


async def judge_batch(
    batch_id: str,
    *,
    influx: InfluxClient,
    catalog_engine: Engine,
    viewer: Viewer | None,
    settings: Settings,
    now: datetime | None = None,
) -> Report:
    """The report of batch `batch_id`'s record as generated `now` (findings, verdict).

    Raises:
        CatalogNotFound: unknown batch, or one the viewer may not see.
        StoreUnavailable, StoreRejected: InfluxDB failed.
    """
    generated = (now or datetime.now(UTC)).astimezone(UTC)
    record = await asyncio.to_thread(
        load_batch_record, catalog_engine, batch=batch_id, viewer=viewer, now=generated
    )
    async for event in walk_record(record, influx, rules=Rules.from_settings(settings)):
        if isinstance(event, RecordEnd):
            return event.report
    raise AssertionError("walk_record ends with its RecordEnd")
