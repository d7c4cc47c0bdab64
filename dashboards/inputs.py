"""What a build needs beyond code: unit limits, shipments and their loggers (from the fleet),
and the reading-validity rule whose condition keeps invalid readings out of every panel.

Without a fleet file the dashboards still work for any unit and logger (variables come from
InfluxDB), only without per-unit limits and with a logger picker instead of shipments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coldchain.downsampling import DEFAULT_VALIDITY
from coldchain.fleet import Fleet
from coldchain.judgement.validity import ReadingValidity
from dashboards.limits import DEFAULT_ALERT_MARGIN_C, UnitLimits, unit_limits

__all__ = ["BuildInputs", "ShipmentLoggers", "inputs_from_fleet"]

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
    """

    limits: tuple[UnitLimits, ...] = ()
    sensors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shipments: tuple[ShipmentLoggers, ...] = ()
    gap_ms: int = _DEFAULT_GAP_MS
    validity: ReadingValidity = DEFAULT_VALIDITY


def inputs_from_fleet(
    fleet: Fleet,
    alert_margin_c: float = DEFAULT_ALERT_MARGIN_C,
    validity: ReadingValidity = DEFAULT_VALIDITY,
) -> BuildInputs:
    """Limits, sensors and shipments of a fleet file; sorted, so output is deterministic."""
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
    )
