"""What the catalog keeps of an imported export: the device's own record, without its log.

The readings go to InfluxDB like any other; the catalog keeps what only the file has: the
device's daily or run summary, its alarm record and its alarm rules, as JSON beside the
shipment or unit (`logger_reports`), so the QA export can show them next to our figures.
The alarm record is stored apart from the summaries (`events_json`) so that a reader of
the table sees the device's alarms without decoding the summaries.
"""

from __future__ import annotations

import dataclasses
import json
import types
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin, get_type_hints

from coldchain.loggers.model import (
    AlarmRule,
    DailyAlarm,
    DailySummary,
    LoggerFile,
    RunEvent,
    RunSummary,
)

__all__ = ["DeviceRecord", "StoredJson", "device_record", "record_from_json", "record_to_json"]


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A `LoggerFile` without its readings: what the device said about itself.

    Attributes:
        readings: how many log rows had a value; missing: how many had none.
    """

    format: str
    device_model: str
    serial: str
    firmware: str
    log_interval_min: int | None
    rules: tuple[AlarmRule, ...]
    daily: tuple[DailySummary, ...]
    run: RunSummary | None
    activated_at: datetime | None
    created_at: datetime | None
    sha256: str
    signature: str | None
    notes: tuple[str, ...]
    readings: int
    missing: int


@dataclasses.dataclass(frozen=True, slots=True)
class StoredJson:
    """The three JSON texts of a `logger_reports` row."""

    summary: str
    events: str
    rules: str


@dataclasses.dataclass(frozen=True, slots=True)
class _DayAlarm:
    day: date
    alarm: DailyAlarm


def device_record(file: LoggerFile) -> DeviceRecord:
    return DeviceRecord(
        format=file.format,
        device_model=file.device_model,
        serial=file.serial,
        firmware=file.firmware,
        log_interval_min=file.log_interval_min,
        rules=file.rules,
        daily=file.daily,
        run=file.run,
        activated_at=file.activated_at,
        created_at=file.created_at,
        sha256=file.sha256,
        signature=file.signature,
        notes=file.notes,
        readings=len(file.readings),
        missing=len(file.missing),
    )


def record_to_json(record: DeviceRecord) -> StoredJson:
    """Summary (alarms taken out), alarm record (run events, or each day's alarms), rules."""
    events: list[Any]
    if record.run is not None:
        events = [_encode(e) for e in record.run.events]
    else:
        events = [_encode(_DayAlarm(d.day, a)) for d in record.daily for a in d.alarms]
    summary = dataclasses.replace(
        record,
        rules=(),
        daily=tuple(dataclasses.replace(d, alarms=()) for d in record.daily),
        run=None if record.run is None else dataclasses.replace(record.run, events=()),
    )
    return StoredJson(
        summary=_dumps(_encode(summary)),
        events=_dumps(events),
        rules=_dumps([_encode(r) for r in record.rules]),
    )


def record_from_json(stored: StoredJson) -> DeviceRecord:
    """The inverse of `record_to_json`."""
    summary: DeviceRecord = _decode(DeviceRecord, json.loads(stored.summary))
    rules = tuple(_decode(AlarmRule, r) for r in json.loads(stored.rules))
    raw_events = json.loads(stored.events)
    if summary.run is not None:
        run_events = tuple(_decode(RunEvent, e) for e in raw_events)
        with_events: DeviceRecord = dataclasses.replace(
            summary, rules=rules, run=dataclasses.replace(summary.run, events=run_events)
        )
        return with_events
    day_alarms = [_decode(_DayAlarm, e) for e in raw_events]
    daily = tuple(
        dataclasses.replace(d, alarms=tuple(x.alarm for x in day_alarms if x.day == d.day))
        for d in summary.daily
    )
    with_alarms: DeviceRecord = dataclasses.replace(summary, rules=rules, daily=daily)
    return with_alarms


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()  # naive device time stays naive: no offset is invented
    return value


def _decode(kind: Any, value: Any) -> Any:
    """`value` (from JSON) as an instance of the annotation `kind`."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        return None if value is None else _decode(options[0], value)
    if origin is tuple:
        return tuple(_decode(get_args(kind)[0], v) for v in value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(
            **{f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(kind)}
        )
    if kind is float:
        return float(value)
    return value
