"""Imported logger reports in the catalog: where an export's readings belong, and its record.

`resolve_target` answers, from the catalog, under which topic (site, source, device,
sensor) and in which time zone a file's readings are published: a shipment's logger
publishes under the shipment's origin site (docs/design.md §10), a unit's probe under its site.
`record_report` writes the device's own record (and, if asked, its alarm rules as the
target's `alert_rules`) with audit entries, in the caller's transaction, once the readings
are safely with the broker. An imported rule's `params_json` is `AlarmRule.params()` plus
the run's window ("from"/"until", RFC 3339 UTC) when known: the detector then applies it to
that run's readings only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import (
    AlertRuleRow,
    LoggerReportRow,
    LoggerRow,
    SensorRow,
    ShipmentRow,
    SiteRow,
    StorageUnitRow,
)
from coldchain.errors import ConfigError
from coldchain.loggers.model import AlarmRule
from coldchain.loggers.serialize import (
    DeviceRecord,
    StoredJson,
    record_from_json,
    record_to_json,
)
from coldchain.models import SensorKey, SourceKind
from coldchain.times import rfc3339

__all__ = [
    "ImportTarget",
    "StoredReport",
    "find_report",
    "import_device_rules",
    "imported_intervals_s",
    "record_report",
    "reports_for",
    "resolve_target",
]


@dataclass(frozen=True, slots=True)
class ImportTarget:
    """Where an export's readings go.

    Attributes:
        shipment: the shipment id, or None for a unit.
        unit_id, unit: the storage unit's key and "SITE/UNIT", or None for a shipment.
        site, source, device, sensor: the topic and InfluxDB tags (docs/design.md §2, §3).
        timezone: the IANA zone the device's naive local times are read in.
    """

    shipment: str | None
    unit_id: int | None
    unit: str | None
    site: str
    source: SourceKind
    device: str
    sensor: str
    timezone: str

    @property
    def label(self) -> str:
        place = f"shipment {self.shipment}" if self.shipment else f"unit {self.unit}"
        return f"{place} ({self.site}/{self.source.value}/{self.device}/{self.sensor})"


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A `logger_reports` row, its JSON decoded."""

    id: int
    shipment: str | None
    unit_id: int | None
    site: str
    source: str
    device: str
    sensor: str
    timezone: str
    file_name: str
    imported_at: datetime
    imported_by: str
    first_reading_at: datetime | None
    last_reading_at: datetime | None
    record: DeviceRecord


def _zone(name: str, what: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{what}: unknown time zone {name!r}") from None
    return name


def _pick(codes: Sequence[str], wanted: str | None, what: str, where: str) -> str:
    if wanted is not None:
        if wanted not in codes:
            raise CatalogNotFound(f"{what} {wanted!r} not found in {where} (has {list(codes)})")
        return wanted
    if len(codes) != 1:
        raise ConfigError(f"{where} has {len(codes)} {what}s {list(codes)}: name one")
    return codes[0]


def resolve_target(
    session: Session,
    *,
    shipment: str | None = None,
    unit: str | None = None,
    logger: str | None = None,
    sensor: str | None = None,
    serial: str | None = None,
    timezone: str | None = None,
) -> ImportTarget:
    """The shipment's logger (or the unit's probe) a file's readings belong to.

    A shipment with several loggers: the one named `logger`, else the one whose id is the
    device's `serial`, else refused. A device with several sensors needs `sensor`.

    Raises:
        CatalogNotFound: no such shipment, unit, logger or sensor.
        ConfigError: neither or both of shipment and unit, an ambiguity, a bad zone.
    """
    if (shipment is None) == (unit is None):
        raise ConfigError("name exactly one of --shipment ID and --unit SITE/UNIT")
    if shipment is not None:
        row = session.get(ShipmentRow, shipment)
        if row is None:
            raise CatalogNotFound(f"shipment {shipment!r} not found")
        loggers = {
            lg.code: lg
            for lg in session.execute(
                select(LoggerRow).where(LoggerRow.shipment_id == shipment).order_by(LoggerRow.code)
            ).scalars()
        }
        if logger is None and serial in loggers:
            logger = serial
        code = _pick(list(loggers), logger, "logger", f"shipment {shipment}")
        sensors = _sensor_codes(session, SensorRow.logger_id == loggers[code].id)
        site, source, device, unit_id = row.origin_site_id, SourceKind.LOGGER, code, None
    else:
        assert unit is not None
        site, _, unit_code = unit.partition("/")
        unit_row = session.execute(
            select(StorageUnitRow).where(
                StorageUnitRow.site_id == site, StorageUnitRow.code == unit_code
            )
        ).scalar_one_or_none()
        if unit_row is None:
            raise CatalogNotFound(f"unit {unit!r} not found (expected SITE/UNIT)")
        sensors = _sensor_codes(session, SensorRow.unit_id == unit_row.id)
        source, device, unit_id = SourceKind.UNIT, unit_code, unit_row.id
    site_row = session.get(SiteRow, site)
    zone = timezone or (site_row.timezone if site_row is not None else None) or "UTC"
    return ImportTarget(
        shipment=shipment,
        unit_id=unit_id,
        unit=unit,
        site=site,
        source=source,
        device=device,
        sensor=_pick(sensors, sensor, "sensor", f"{source.value} {device}"),
        timezone=_zone(zone, "--timezone" if timezone else f"site {site}"),
    )


def _sensor_codes(session: Session, where: ColumnElement[bool]) -> list[str]:
    query = select(SensorRow.code).where(where).order_by(SensorRow.code)
    return list(session.execute(query).scalars())


def _target_filter(target: ImportTarget) -> ColumnElement[bool]:
    if target.shipment is not None:
        return LoggerReportRow.shipment_id == target.shipment
    return LoggerReportRow.unit_id == target.unit_id


def find_report(session: Session, target: ImportTarget, sha256: str) -> StoredReport | None:
    """The report already imported from this file for this target, if any."""
    row = session.execute(
        select(LoggerReportRow).where(
            _target_filter(target),
            LoggerReportRow.file_sha256 == sha256,
        )
    ).scalar_one_or_none()
    return None if row is None else _stored(row)


def reports_for(
    session: Session,
    *,
    shipment: str | None = None,
    unit_id: int | None = None,
    start: datetime | None = None,
    until: datetime | None = None,
) -> list[StoredReport]:
    """The reports imported for a shipment or a unit, oldest import first.

    With `start` and/or `until`: only the reports whose recorded span (first to last
    reading) overlaps [start, until); a report without a recorded span then cannot be
    placed in time and is left out. A unit outlives its batches: without the window, a
    batch's record would carry every logger file ever imported onto the unit, other
    sponsors' runs of other years included (issue #20).
    """
    query = select(LoggerReportRow).order_by(LoggerReportRow.imported_at, LoggerReportRow.id)
    if shipment is not None:
        query = query.where(LoggerReportRow.shipment_id == shipment)
    else:
        query = query.where(LoggerReportRow.unit_id == unit_id)
    if start is not None or until is not None:
        query = query.where(
            LoggerReportRow.first_reading_at.is_not(None),
            LoggerReportRow.last_reading_at.is_not(None),
        )
    if start is not None:
        query = query.where(LoggerReportRow.last_reading_at >= start)
    if until is not None:
        query = query.where(LoggerReportRow.first_reading_at < until)
    return [_stored(row) for row in session.execute(query).scalars()]


def _stored(row: LoggerReportRow) -> StoredReport:
    return StoredReport(
        id=row.id,
        shipment=row.shipment_id,
        unit_id=row.unit_id,
        site=row.site_id,
        source=row.source,
        device=row.device,
        sensor=row.sensor,
        timezone=row.timezone,
        file_name=row.file_name,
        imported_at=row.imported_at,
        imported_by=row.imported_by,
        first_reading_at=row.first_reading_at,
        last_reading_at=row.last_reading_at,
        record=record_from_json(StoredJson(row.summary_json, row.events_json, row.rules_json)),
    )


def record_report(
    session: Session,
    *,
    target: ImportTarget,
    record: DeviceRecord,
    file_name: str,
    first_reading_at: datetime | None,
    last_reading_at: datetime | None,
    actor: str,
    now: datetime,
    import_rules: bool = False,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> tuple[int, list[int]]:
    """Write the report (and the device's rules, if asked), each change audited.

    Rules already on the target with the same parameters are not added twice, so that
    importing a second file from the same device does not double its rules.

    Returns:
        The report's id and the ids of the alert rules created.
    """
    stored = record_to_json(record)
    row = LoggerReportRow(
        shipment_id=target.shipment,
        unit_id=target.unit_id,
        site_id=target.site,
        source=target.source.value,
        device=target.device,
        sensor=target.sensor,
        format=record.format,
        device_model=record.device_model,
        serial=record.serial,
        file_sha256=record.sha256,
        file_name=file_name,
        timezone=target.timezone,
        log_interval_s=None if record.log_interval_min is None else record.log_interval_min * 60,
        readings=record.readings,
        first_reading_at=first_reading_at,
        last_reading_at=last_reading_at,
        imported_at=now,
        imported_by=actor,
        summary_json=stored.summary,
        events_json=stored.events,
        rules_json=stored.rules,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="import",
        entity="logger_report",
        entity_id=str(row.id),
        at=now,
        new={
            "shipment": target.shipment,
            "unit": target.unit,
            "topic": f"{target.site}/{target.source.value}/{target.device}/{target.sensor}",
            "device": f"{record.device_model} {record.serial}",
            "file": file_name,
            "sha256": record.sha256,
            "readings": record.readings,
            "first_reading_at": first_reading_at,
            "last_reading_at": last_reading_at,
            "timezone": target.timezone,
        },
    )
    rule_ids = (
        import_device_rules(
            session, target=target, rules=record.rules, actor=actor, now=now, window=window
        )
        if import_rules
        else []
    )
    return row.id, rule_ids


def import_device_rules(
    session: Session,
    *,
    target: ImportTarget,
    rules: Sequence[AlarmRule],
    actor: str,
    now: datetime,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> list[int]:
    """Store the device's alarm rules as the target's `alert_rules` (kind "excursion",
    params per `AlarmRule.params` plus the run's `window` as "from"/"until"), each audited;
    identical ones already there are kept and not added again (the same run imported
    twice), while another run of the same device gets its own, since its window differs.
    Returns the ids created."""
    bounds = {k: rfc3339(t) for k, t in zip(("from", "until"), window, strict=True) if t}
    where = (
        AlertRuleRow.shipment_id == target.shipment
        if target.shipment is not None
        else AlertRuleRow.unit_id == target.unit_id
    )
    existing = {
        json.dumps(json.loads(p), sort_keys=True)
        for p in session.execute(
            select(AlertRuleRow.params_json).where(where, AlertRuleRow.kind == "excursion")
        ).scalars()
    }
    created = []
    for rule in rules:
        values = rule.params() | bounds
        params = json.dumps(values, sort_keys=True)
        if params in existing:
            continue
        row = AlertRuleRow(
            kind="excursion",
            shipment_id=target.shipment,
            unit_id=target.unit_id,
            params_json=params,
            enabled=True,
        )
        session.add(row)
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="create",
            entity="alert_rule",
            entity_id=str(row.id),
            at=now,
            new={"kind": "excursion", "shipment": target.shipment, "unit": target.unit} | values,
        )
        created.append(row.id)
    return created


def imported_intervals_s(session: Session) -> dict[SensorKey, int]:
    """The longest logging interval of the USB logger exports imported for each sensor: a
    reading stands for up to the device's own interval, not the catalog's (a Fridge-tag
    logging every 5 min may be imported as the probe of a unit that logs every minute).
    The detector and the batch record both take a sensor's interval from here."""
    out: dict[SensorKey, int] = {}
    query = select(
        LoggerReportRow.site_id,
        LoggerReportRow.source,
        LoggerReportRow.device,
        LoggerReportRow.sensor,
        LoggerReportRow.log_interval_s,
    ).where(LoggerReportRow.log_interval_s.is_not(None))
    for site, source, device, sensor, interval_s in session.execute(query):
        key = SensorKey(site, source, device, sensor)
        out[key] = max(out.get(key, 0), interval_s or 0)
    return out
