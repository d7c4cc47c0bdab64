"""A batch-record test world: a catalog from a fleet file and a database on the real influxd,
and what the export tests share: the hours of one test day, readings as line protocol, a
signed export through `export_batch`, the report the walk ends with, the PDF's text."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reportlab.platypus import KeepTogether, LongTable, Paragraph
from sqlalchemy import Engine

from api.export import ExportSigner, export_batch
from api.export.record import load_batch_record
from api.export.walk import RecordEnd, Report, Rules, walk_record
from coldchain.catalog import Viewer, catalog_session, create_catalog_engine
from coldchain.catalog.logger_reports import record_report, resolve_target
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from coldchain.loggers.serialize import device_record
from coldchain.times import to_ms
from tests.support.catalog import catalog_from_fleet
from tests.support.real_loggers import real_file

__all__ = [
    "DAY",
    "NOW",
    "ExportWorld",
    "at",
    "export",
    "final_report",
    "import_report",
    "iso",
    "open_export_world",
    "pdf_texts",
    "series",
    "write",
]

DAY = datetime(2026, 3, 2, tzinfo=UTC)
NOW = DAY + timedelta(hours=12)  # when the records are generated


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def iso(hours: float) -> str:
    """`at(hours)` as the fleet file writes a time."""
    return at(hours).isoformat().replace("+00:00", "Z")


@dataclass
class ExportWorld:
    influx_url: str
    influx_db: str
    catalog_url: str
    engine: Engine
    data_dir: Path


@contextlib.asynccontextmanager
async def open_export_world(
    fleet: str, influx_url: str, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    """The catalog imported from `fleet` (YAML text) and an empty database; both removed after."""
    catalog_url = catalog_from_fleet(tmp_path, fleet)
    engine = create_catalog_engine(catalog_url)
    try:
        async with InfluxClient(influx_url, influx_db) as influx:
            await influx.create_database()
            yield ExportWorld(influx_url, influx_db, catalog_url, engine, tmp_path / "var")
            await influx.drop_database()
    finally:
        engine.dispose()


def series(
    device: str,
    start_h: float,
    end_h: float,
    value: Callable[[float], float],
    *,
    step_min: int = 1,
    source: str = "unit",
) -> list[str]:
    """A reading of BSL's `device`/p1 every `step_min` in [start, end) of the test day, as
    line protocol; `value` of the hour (float) it is taken."""
    lines = []
    minute = 0
    while (hour := start_h + minute / 60) < end_h:
        lines.append(
            f"reading,device={device},sensor=p1,site=BSL,source={source} "
            f"temp_c={value(hour)} {to_ms(at(hour))}"
        )
        minute += step_min
    return lines


async def write(world: ExportWorld, lines: list[str]) -> None:
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        await influx.write_lines(lines)


async def export(
    world: ExportWorld,
    batch: str,
    fmt: str = "json",
    viewer: Viewer | None = None,
    now: datetime = NOW,
) -> bytes:
    """The signed export of `batch` as `viewer` (None: QA's own), generated at `now`."""
    signer = ExportSigner.load_or_create(world.data_dir)
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        stream = export_batch(
            batch,
            fmt,
            influx=influx,
            catalog_engine=world.engine,
            signer=signer,
            actor="qa-maria",
            viewer=viewer,
            now=now,
        )
        return b"".join([chunk async for chunk in stream])


def import_report(
    world: ExportWorld,
    name: str,
    unit: str,
    file_name: str,
    span: tuple[datetime, datetime],
    actor: str = "qa-maria",
) -> None:
    """Record the real logger file `name` (tests/data/real-loggers) as imported onto `unit`
    ("SITE/UNIT") under `file_name`, its readings spanning `span`."""
    with catalog_session(world.engine) as session:
        record_report(
            session,
            target=resolve_target(session, unit=unit),
            record=device_record(real_file(name)),
            file_name=file_name,
            first_reading_at=span[0],
            last_reading_at=span[1],
            actor=actor,
            now=NOW,
        )


async def final_report(world: ExportWorld, batch: str, viewer: Viewer | None = None) -> Report:
    """The report the record's walk ends with (what every format renders)."""
    record = load_batch_record(world.engine, batch=batch, viewer=viewer, now=NOW)
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        async for event in walk_record(record, influx, rules=Rules.from_settings(Settings())):
            if isinstance(event, RecordEnd):
                return event.report
    raise AssertionError("the walk ends with RecordEnd")


def pdf_texts(flowables: list[Any]) -> str:
    """The text of the PDF's paragraphs, tables (cells) and kept-together blocks."""
    out: list[str] = []
    for item in flowables:
        if isinstance(item, Paragraph):
            out.append(item.text)
        elif isinstance(item, LongTable):
            out.append(pdf_texts([c for row in vars(item)["_cellvalues"] for c in row]))
        elif isinstance(item, KeepTogether):
            out.append(pdf_texts(vars(item)["_content"]))
    return "\n".join(out)
