"""Import a logger export: check it whole, publish its readings as a backfill, then record it.

The order is what keeps it from ever being half-written:

1. `prepare_import` parses and verifies the whole file, resolves where its readings
   belong from the catalog, reads its clock (in the site's zone, or at the fixed offset
   its log proves: coldchain/loggers/timebase.py) and builds every message. A refused
   file (`LoggerFileError`) has published nothing and written nothing.
2. `publish_backfill` sends the readings in the wire format (docs/design.md §2, §9) at QoS 1
   and waits for every PUBACK: the broker then holds them for ingest, which makes them
   durable like any late upload; the detector judges them retrospectively by their times.
3. `record_import` writes the device's own record (and its rules, if asked) with audit
   entries in one transaction, only after step 2. Each imported rule carries the window
   of the run it came from (`PreparedImport.run_window`), so a logger reused on several
   shipments has each run judged by that run's rules only (alerting/device_rules.py).

If step 2 or 3 fails, the catalog has no record, and running the import again publishes
the same readings again, which lands on the same InfluxDB points (same tags and time;
`seq` is the row number in the file), and then records it: re-running completes it. Once
recorded, the file's SHA-256 makes any further import of it a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select

from coldchain.catalog.errors import CatalogConflict
from coldchain.catalog.logger_reports import (
    ImportTarget,
    StoredReport,
    find_report,
    import_device_rules,
    record_report,
    resolve_target,
)
from coldchain.catalog.schema import LoggerReportRow
from coldchain.catalog.store import catalog_session
from coldchain.loggers.formats import parse_logger_file
from coldchain.loggers.model import LoggerFile
from coldchain.loggers.serialize import device_record
from coldchain.loggers.timebase import DeviceClock, read_clock
from coldchain.models import Reading
from coldchain.times import from_ms
from coldchain.wire import encode_readings, readings_topic

__all__ = [
    "BackfillPublisher",
    "ImportOutcome",
    "PreparedImport",
    "import_rules_only",
    "prepare_import",
    "publish_backfill",
    "record_import",
]

#: Readings per message: ~70 bytes each, well under ingest's 256 KiB payload limit.
READINGS_PER_MESSAGE: Final = 1000


class BackfillPublisher(Protocol):
    """What the import needs of an MQTT connection (coldchain.mqtt.MqttPublisher)."""

    async def publish(self, topic: str, payload: bytes) -> None: ...

    async def flush(self, timeout_s: float = 30.0) -> None: ...


@dataclass(frozen=True, slots=True)
class PreparedImport:
    """A verified file, where it goes, and its readings' true times.

    Attributes:
        file: the parsed file; its notes end with how its clock was read when its log
            spans a change of the zone's offset (`clock.note`), so the record keeps it.
        target: where it goes; its `timezone` is the one the device times are read in
            (`clock.timezone`: the site's, or e.g. `Etc/GMT-2` for a clock kept at
            UTC+02:00), as the catalog stores it beside the report.
        existing: the report of an earlier import of this very file for this target;
            when set, there is nothing to do.
        elsewhere: other shipments/units this same file was imported for (a warning).
        clock: how the device's clock was read, and why (timebase.read_clock).
    """

    path: Path
    file: LoggerFile
    target: ImportTarget
    times_ms: npt.NDArray[np.int64]
    existing: StoredReport | None
    elsewhere: tuple[str, ...]
    clock: DeviceClock

    @property
    def first_reading_at(self) -> datetime | None:
        return from_ms(int(self.times_ms[0])) if self.times_ms.size else None

    @property
    def last_reading_at(self) -> datetime | None:
        return from_ms(int(self.times_ms[-1])) if self.times_ms.size else None

    @property
    def run_window(self) -> tuple[datetime | None, datetime | None]:
        """The run this file records, (from, until) in UTC: what its rules judge.

        The first and last reading; a Q-tag's `TS Start`/`TS Stop` widen it when the file
        states them (the device kept counting until its stop, after its last log row). A
        file without a log (Fridge-tag 2: daily summaries only) spans activation to report
        creation. None where the file says nothing (that side stays unbounded).
        """
        clock = self.clock
        run = self.file.run
        first, last = self.first_reading_at, self.last_reading_at
        started = run.started_at if run is not None else None
        stopped = run.stopped_at if run is not None else None
        if first is None:
            started = started or self.file.activated_at
            stopped = stopped or self.file.created_at
        start = None if started is None else clock.instant(started)
        stop = None if stopped is None else clock.instant(stopped, after=last or start)
        return (
            min((t for t in (first, start) if t is not None), default=None),
            max((t for t in (last, stop) if t is not None), default=None),
        )

    def messages(self, *, catalog_changed: bool = False) -> Iterator[tuple[str, bytes]]:
        """(topic, payload) of the backfill, `READINGS_PER_MESSAGE` readings each; the first
        says `catalog_changed` when the device's rules were stored just before."""
        target = self.target
        topic = readings_topic(target.site, target.source, target.device)
        readings = [
            Reading(
                site=target.site,
                source=target.source,
                device=target.device,
                sensor=target.sensor,
                ts_ms=int(ts),
                temp_c=r.temp_c,
                seq=r.row,
            )
            for r, ts in zip(self.file.readings, self.times_ms.tolist(), strict=True)
        ]
        for start in range(0, len(readings), READINGS_PER_MESSAGE):
            chunk = readings[start : start + READINGS_PER_MESSAGE]
            yield (
                topic,
                encode_readings(
                    target.device, chunk, catalog_changed=catalog_changed and start == 0
                ),
            )


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    status: Literal["imported", "already imported"]
    report_id: int
    readings: int
    rule_ids: tuple[int, ...] = ()


def prepare_import(
    engine: Engine,
    path: str | Path,
    *,
    shipment: str | None = None,
    unit: str | None = None,
    logger: str | None = None,
    sensor: str | None = None,
    timezone: str | None = None,
) -> PreparedImport:
    """Everything that can refuse the import, before anything is sent (blocking).

    Raises:
        LoggerFileError: unknown, damaged, truncated or edited file, or a clock that
            cannot be read (two rows on one instant).
        CatalogNotFound, ConfigError: the target cannot be resolved.
    """
    file = parse_logger_file(path)
    with catalog_session(engine) as session:
        target = resolve_target(
            session,
            shipment=shipment,
            unit=unit,
            logger=logger,
            sensor=sensor,
            serial=file.serial,
            timezone=timezone,
        )
        existing = find_report(session, target, file.sha256)
        elsewhere = tuple(
            row.shipment_id or f"unit #{row.unit_id}"
            for row in session.execute(
                select(LoggerReportRow).where(LoggerReportRow.file_sha256 == file.sha256)
            ).scalars()
            if existing is None or row.id != existing.id
        )
    clock = read_clock(file, target.timezone)
    times = clock.epoch_ms(file.readings)
    if clock.note is not None:
        file = replace(file, notes=(*file.notes, clock.note))
    target = replace(target, timezone=clock.timezone)
    return PreparedImport(Path(path), file, target, times, existing, elsewhere, clock)


async def publish_backfill(
    prepared: PreparedImport,
    publisher: BackfillPublisher,
    *,
    timeout_s: float = 60.0,
    catalog_changed: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> int:
    """Publish every reading and wait until the broker acknowledged all of them;
    `catalog_changed`: the device's rules were just stored, so the first message asks the
    detector to reload the catalog before it evaluates these readings. `progress` hears
    (what, readings so far, readings in the file) after each message and before the wait.

    Returns:
        The number of messages sent.

    Raises:
        TimeoutError: not every message was acknowledged within `timeout_s` (re-run the
            import: nothing was recorded, and re-sent readings overwrite themselves).
    """
    sent = 0
    total = len(prepared.file.readings)
    for topic, payload in prepared.messages(catalog_changed=catalog_changed):
        await publisher.publish(topic, payload)
        sent += 1
        if progress is not None:
            progress("readings published", min(sent * READINGS_PER_MESSAGE, total), total)
    if progress is not None:
        progress("waiting for the broker's acks", 0, None)
    await publisher.flush(timeout_s)
    return sent


def record_import(
    engine: Engine,
    prepared: PreparedImport,
    *,
    actor: str,
    import_rules: bool = False,
    now: datetime | None = None,
) -> ImportOutcome:
    """Record the device's report once its readings are with the broker (blocking).

    A concurrent import of the same file that recorded first makes this one a no-op.
    """
    moment = now or datetime.now(UTC)
    try:
        with catalog_session(engine) as session:
            report_id, rule_ids = record_report(
                session,
                target=prepared.target,
                record=device_record(prepared.file),
                file_name=prepared.path.name,
                first_reading_at=prepared.first_reading_at,
                last_reading_at=prepared.last_reading_at,
                actor=actor,
                now=moment,
                import_rules=import_rules,
                window=prepared.run_window,
            )
    except CatalogConflict:
        with catalog_session(engine) as session:
            existing = find_report(session, prepared.target, prepared.file.sha256)
        if existing is None:
            raise
        return ImportOutcome("already imported", existing.id, existing.record.readings)
    return ImportOutcome("imported", report_id, len(prepared.file.readings), tuple(rule_ids))


def import_rules_only(
    engine: Engine, prepared: PreparedImport, *, actor: str, now: datetime | None = None
) -> tuple[int, ...]:
    """For a file already imported: add the device's rules the target does not have yet."""
    with catalog_session(engine) as session:
        created = import_device_rules(
            session,
            target=prepared.target,
            rules=prepared.file.rules,
            actor=actor,
            now=now or datetime.now(UTC),
            window=prepared.run_window,
        )
    return tuple(created)
