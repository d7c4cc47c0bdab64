"""What a build needs beyond code: unit limits, shipments and their loggers (from the fleet),
the reading-validity rule whose condition keeps invalid readings out of every panel, and the
calibration corrections of the probes whose certificates give one (from the fleet file, or
the catalog when `coldchain dashboards build` is given one).

Without a fleet file the dashboards still work for any unit and logger (variables come from
InfluxDB), only without per-unit limits and with a logger picker instead of shipments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coldchain.downsampling import DEFAULT_VALIDITY
from coldchain.fleet import Fleet, moment_utc, sensor_time_zones
from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration, Certificate
from coldchain.judgement.validity import ReadingValidity
from coldchain.models import SensorKey
from coldchain.times import to_ms
from dashboards.limits import DEFAULT_ALERT_MARGIN_C, UnitLimits, unit_limits

__all__ = ["BuildInputs", "ShipmentLoggers", "fleet_corrections", "inputs_from_fleet"]

# A logger logs every few minutes; a gap of 15 min without a point is shown as a gap.
_DEFAULT_GAP_MS = 15 * 60_000


@dataclass(frozen=True, slots=True)
class ShipmentLoggers:
    """A shipment and its loggers."""

    shipment: str
    loggers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BuildInputs:
    """Everything the dashboard builders read; the default builds generic dashboards.

    Attributes:
        limits: per unit, sorted by site and unit.
        sensors: sensors per `SITE/UNIT`, for the band fill of the unit dashboard.
        shipments: sorted by id.
        gap_ms: a logger gap longer than this is drawn as a gap.
        validity: which readings are temperatures (docs/design.md §11); panels of raw
            readings show only those, as the detector, the batch record and the live view
            judge. Default: the settings' defaults (`coldchain dashboards build` passes the
            settings' rule).
        corrections: the calibration of each probe whose certificates correct its readings
            (`Calibration.corrects`); panels of its temperatures draw them corrected.
    """

    limits: tuple[UnitLimits, ...] = ()
    sensors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shipments: tuple[ShipmentLoggers, ...] = ()
    gap_ms: int = _DEFAULT_GAP_MS
    validity: ReadingValidity = DEFAULT_VALIDITY
    corrections: dict[SensorKey, Calibration] = field(default_factory=dict)

    def corrections_of(self, source: str) -> dict[SensorKey, Calibration]:
        """The corrections of one kind of probe: `unit` or `logger`."""
        return {k: c for k, c in self.corrections.items() if k.source == source}


def fleet_corrections(fleet: Fleet) -> dict[SensorKey, Calibration]:
    """The fleet file's certificates (`sensors[].calibration`) of the probes they correct,
    each as the catalog records it on import (`coldchain.catalog.calibration`): dates are
    midnights at the probe's site (a logger's: its shipment's origin), a bare
    `calibration_due` stands since ever; keyed as the probe's readings are tagged."""
    found: dict[SensorKey, Calibration] = {}
    for loc, zone, sensor in sensor_time_zones(fleet):
        kind, i, _, j, _, _ = loc
        if kind == "sites":
            site = fleet.sites[int(i)]
            key = SensorKey(site.id, "unit", site.units[int(j)].id, sensor.id)
        else:
            shipment = fleet.shipments[int(i)]
            key = SensorKey(shipment.origin, "logger", shipment.loggers[int(j)].id, sensor.id)
        certificates = [
            Certificate(
                c.certificate,
                c.lab,
                to_ms(moment_utc(c.calibrated, zone)),
                to_ms(moment_utc(c.due, zone)),
                c.offset_c,
            )
            for c in sensor.calibration
        ]
        if sensor.calibration_due is not None:
            due_ms = to_ms(moment_utc(sensor.calibration_due, zone))
            certificates.append(Certificate(None, None, SINCE_EVER_MS, due_ms))
        calibration = Calibration.of(certificates)
        if calibration.corrects:
            found[key] = calibration
    return dict(sorted(found.items()))


def inputs_from_fleet(
    fleet: Fleet,
    alert_margin_c: float = DEFAULT_ALERT_MARGIN_C,
    validity: ReadingValidity = DEFAULT_VALIDITY,
) -> BuildInputs:
    """Limits, sensors, shipments and calibration corrections of a fleet file; sorted, so
    output is deterministic."""
    sensors = {
        f"{site.id}/{unit.id}": tuple(sorted(s.id for s in unit.sensors))
        for site in fleet.sites
        for unit in site.units
    }
    shipments = tuple(
        ShipmentLoggers(s.id, tuple(sorted(logger.id for logger in s.loggers)))
        for s in sorted(fleet.shipments, key=lambda s: s.id)
    )
    intervals = [logger.log_interval_s for s in fleet.shipments for logger in s.loggers]
    # Three missed logs make a gap: one late log is jitter, not a gap.
    gap_ms = 3 * max(intervals) * 1000 if intervals else _DEFAULT_GAP_MS
    return BuildInputs(
        limits=tuple(unit_limits(fleet, alert_margin_c)),
        sensors=dict(sorted(sensors.items())),
        shipments=shipments,
        gap_ms=gap_ms,
        validity=validity,
        corrections=fleet_corrections(fleet),
    )
