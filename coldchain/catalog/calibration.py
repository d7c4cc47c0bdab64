"""Calibration certificates in the catalog (#22; docs/design.md §10, §11): recorded from the
fleet file (`sensors[].calibration`) or `coldchain calibration add`, each audited, never
rewritten. A later certificate supersedes an earlier one from its calibration date; the
rule itself (which is in force, the correction, past calibration) is
`coldchain.judgement.calibration`, which every consumer applies to what `calibrations` and
`sensor_calibration` load here.

A certificate's dates are midnights at the probe's site (a logger's: its shipment's
origin), like a sensor's `installed`/`removed`: a probe in Zurich due 2027-03-01 is past
calibration from 2027-02-28T23:00Z.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound
from coldchain.catalog.schema import (
    CalibrationCertificateRow,
    LoggerRow,
    SensorRow,
    ShipmentRow,
    SiteRow,
    StorageUnitRow,
)
from coldchain.fleet import Fleet, Loc, moment_utc, sensor_time_zones
from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration, Certificate
from coldchain.models import SensorKey
from coldchain.times import to_ms

__all__ = [
    "CertificateEntry",
    "NewCertificate",
    "ProbeRef",
    "calibrations",
    "find_probe",
    "import_certificates",
    "list_certificates",
    "record_certificate",
]

Describe = Callable[[Loc], str]
"""Where a field of the fleet file is, in words (`line N: a.0.b`)."""


@dataclass(frozen=True, slots=True)
class NewCertificate:
    """A certificate as the lab issued it; `offset_c` None: no correction."""

    certificate: str
    lab: str
    calibrated: date
    due: date
    offset_c: float | None = None

    def problem(self) -> str | None:
        """Why the certificate cannot be recorded as given, or None."""
        if not self.certificate.strip() or not self.lab.strip():
            return "a certificate needs its id and its lab"
        if self.due <= self.calibrated:
            return f"due {self.due} is not after calibrated {self.calibrated}"
        return None


@dataclass(frozen=True, slots=True)
class ProbeRef:
    """A probe as people name it: `SITE/UNIT/SENSOR` or `SHIPMENT/LOGGER/SENSOR`, with the
    time zone its dates are read in and its key as the readings carry it."""

    name: str
    sensor_id: int
    timezone: str
    key: SensorKey


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    """A recorded certificate with the probe it belongs to."""

    probe: str
    certificate: str
    lab: str
    calibrated: date
    due: date
    offset_c: float | None
    recorded_at: datetime
    recorded_by: str


def find_probe(session: Session, name: str) -> ProbeRef:
    """The probe `name` names.

    Raises:
        CatalogNotFound: no such probe, or `name` is not of the form PARENT/DEVICE/SENSOR.
        CatalogConflict: it names both a unit's probe and a logger's.
    """
    parts = name.split("/")
    if len(parts) != 3 or not all(parts):
        raise CatalogNotFound(f"{name!r}: expected SITE/UNIT/SENSOR or SHIPMENT/LOGGER/SENSOR")
    parent, device, code = parts
    found: list[ProbeRef] = []
    unit_probe = session.execute(
        select(SensorRow.id, SiteRow.timezone, StorageUnitRow.site_id)
        .join(StorageUnitRow, SensorRow.unit_id == StorageUnitRow.id)
        .join(SiteRow, SiteRow.id == StorageUnitRow.site_id)
        .where(StorageUnitRow.site_id == parent, StorageUnitRow.code == device)
        .where(SensorRow.code == code)
    ).first()
    if unit_probe is not None:
        sensor_id, zone, site = unit_probe
        found.append(ProbeRef(name, sensor_id, zone, SensorKey(site, "unit", device, code)))
    logger_probe = session.execute(
        select(SensorRow.id, SiteRow.timezone, ShipmentRow.origin_site_id)
        .join(LoggerRow, SensorRow.logger_id == LoggerRow.id)
        .join(ShipmentRow, ShipmentRow.id == LoggerRow.shipment_id)
        .join(SiteRow, SiteRow.id == ShipmentRow.origin_site_id)
        .where(LoggerRow.shipment_id == parent, LoggerRow.code == device)
        .where(SensorRow.code == code)
    ).first()
    if logger_probe is not None:
        sensor_id, zone, origin = logger_probe
        found.append(ProbeRef(name, sensor_id, zone, SensorKey(origin, "logger", device, code)))
    if not found:
        raise CatalogNotFound(f"no probe {name} in the catalog")
    if len(found) > 1:
        raise CatalogConflict(f"{name} names both a unit's probe and a logger's")
    return found[0]


def record_certificate(
    session: Session, probe: ProbeRef, new: NewCertificate, *, actor: str, at: datetime
) -> bool:
    """Record `new` for `probe`, audited; False when it is recorded already, exactly so
    (a re-imported fleet file changes nothing).

    Raises:
        CatalogConflict: the certificate cannot be recorded as given, or one of that id is
            recorded for the probe with other values (certificates are never rewritten).
    """
    problem = new.problem()
    if problem is not None:
        raise CatalogConflict(f"{probe.name}: certificate {new.certificate}: {problem}")
    recorded = session.execute(
        select(CalibrationCertificateRow).where(
            CalibrationCertificateRow.sensor_id == probe.sensor_id,
            CalibrationCertificateRow.certificate == new.certificate,
        )
    ).scalar_one_or_none()
    fields = {
        "certificate": new.certificate,
        "lab": new.lab,
        "calibrated_on": new.calibrated,
        "due_on": new.due,
        "offset_c": new.offset_c,
    }
    if recorded is not None:
        differs = [name for name, value in fields.items() if getattr(recorded, name) != value]
        if differs:
            raise CatalogConflict(
                f"{probe.name}: certificate {new.certificate} is recorded with other "
                f"{', '.join(differs)}: certificates are recorded, never rewritten "
                "(a new certificate supersedes)"
            )
        return False
    row = CalibrationCertificateRow(
        sensor_id=probe.sensor_id,
        calibrated_at=moment_utc(new.calibrated, probe.timezone),
        due_at=moment_utc(new.due, probe.timezone),
        recorded_at=at,
        recorded_by=actor,
        **fields,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="create",
        entity="calibration_certificate",
        entity_id=f"{probe.name}/{new.certificate}",
        new=fields,
        at=at,
    )
    return True


def list_certificates(session: Session, probe: ProbeRef | None = None) -> list[CertificateEntry]:
    """Recorded certificates (of `probe`, when given), by probe, then calibration date."""
    query = select(CalibrationCertificateRow)
    if probe is not None:
        query = query.where(CalibrationCertificateRow.sensor_id == probe.sensor_id)
    rows = list(session.execute(query).scalars())
    names = _probe_names(session, {row.sensor_id for row in rows})
    entries = [
        CertificateEntry(
            names[row.sensor_id],
            row.certificate,
            row.lab,
            row.calibrated_on,
            row.due_on,
            row.offset_c,
            row.recorded_at,
            row.recorded_by,
        )
        for row in rows
    ]
    return sorted(entries, key=lambda e: (e.probe, e.calibrated, e.certificate))


def _probe_names(session: Session, sensor_ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for sensor_id, key in _keys(session, sensor_ids).items():
        parent = key.site if key.source == "unit" else _shipment(session, sensor_id)
        names[sensor_id] = f"{parent}/{key.device}/{key.sensor}"
    return names


def _shipment(session: Session, sensor_id: int) -> str:
    shipment = session.execute(
        select(LoggerRow.shipment_id)
        .join(SensorRow, SensorRow.logger_id == LoggerRow.id)
        .where(SensorRow.id == sensor_id)
    ).scalar_one()
    return shipment


def _keys(session: Session, sensor_ids: set[int] | None = None) -> dict[int, SensorKey]:
    """Each probe's key as its readings carry it (a logger's: its shipment's origin)."""
    units = select(SensorRow.id, StorageUnitRow.site_id, StorageUnitRow.code, SensorRow.code).join(
        StorageUnitRow, SensorRow.unit_id == StorageUnitRow.id
    )
    loggers = (
        select(SensorRow.id, ShipmentRow.origin_site_id, LoggerRow.code, SensorRow.code)
        .join(LoggerRow, SensorRow.logger_id == LoggerRow.id)
        .join(ShipmentRow, ShipmentRow.id == LoggerRow.shipment_id)
    )
    if sensor_ids is not None:
        units = units.where(SensorRow.id.in_(sensor_ids))
        loggers = loggers.where(SensorRow.id.in_(sensor_ids))
    keys = {i: SensorKey(s, "unit", d, c) for i, s, d, c in session.execute(units)}
    keys.update({i: SensorKey(s, "logger", d, c) for i, s, d, c in session.execute(loggers)})
    return keys


def calibrations(session: Session) -> dict[SensorKey, Calibration]:
    """Every probe's calibration that says anything: its certificates, preceded by its
    bare due date (`sensors.calibration_due`, midnight at its site) where it has one."""
    keys = _keys(session)
    zones = dict(session.execute(select(SiteRow.id, SiteRow.timezone)).all())
    found: dict[int, list[Certificate]] = defaultdict(list)
    for sensor_id, due in session.execute(
        select(SensorRow.id, SensorRow.calibration_due).where(
            SensorRow.calibration_due.is_not(None)
        )
    ):
        key = keys.get(sensor_id)
        if key is not None and due is not None:
            due_ms = to_ms(moment_utc(due, zones.get(key.site, "UTC")))
            found[sensor_id].append(Certificate(None, None, SINCE_EVER_MS, due_ms))
    for row in session.execute(select(CalibrationCertificateRow)).scalars():
        found[row.sensor_id].append(
            Certificate(
                row.certificate,
                row.lab,
                to_ms(row.calibrated_at),
                to_ms(row.due_at),
                row.offset_c,
            )
        )
    return {keys[i]: Calibration.of(certs) for i, certs in found.items() if i in keys}


def import_certificates(
    session: Session, fleet: Fleet, describe: Describe, *, actor: str, at: datetime
) -> tuple[int, list[str]]:
    """Record the fleet file's certificates (`sensors[].calibration`) after its probes;
    how many were new, and each one that contradicts the record, naming line and field."""
    created, problems = 0, []
    for loc, _zone, sensor in sensor_time_zones(fleet):
        if not sensor.calibration:
            continue
        _, i, _, j, _, _ = loc
        if loc[0] == "sites":
            site = fleet.sites[int(i)]
            name = f"{site.id}/{site.units[int(j)].id}/{sensor.id}"
        else:
            shipment = fleet.shipments[int(i)]
            name = f"{shipment.id}/{shipment.loggers[int(j)].id}/{sensor.id}"
        probe = find_probe(session, name)
        for k, given in enumerate(sensor.calibration):
            new = NewCertificate(
                given.certificate, given.lab, given.calibrated, given.due, given.offset_c
            )
            try:
                created += record_certificate(session, probe, new, actor=actor, at=at)
            except CatalogConflict as exc:
                problems.append(f"{describe((*loc, 'calibration', k))}: {exc}")
    return created, problems
