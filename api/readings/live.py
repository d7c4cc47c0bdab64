"""Live view: the latest reading of each sensor by event time, and a status per sensor
and per place (ok / warning / alarm / fault / no_data).

"Latest" is InfluxQL `last()`, the point with the greatest timestamp, i.e. the device's
event time (docs/design.md §6), not the last one received: a logger's backfill of old readings
never hides a newer one. Readings from before the viewer's `since` (a sponsor's batch
arrived then; the unit held someone else's product before) are not theirs to see.

The status follows the domain's rules (docs/design.md §11, `coldchain.judgement`): the
warning band of `warning_band_c`, as the detector's warning limits and the dashboards'
alert limits lie, or an alarm profile's alert limits where the profiles in force set them
(`place_limits`, #22), and the reading validity of `ReadingValidity`. A sensor whose latest
reading is not a temperature (an error code, a value outside the probe's range) is in
*fault* and shows no temperature: the product's temperature there is unknown, and an old
valid value shown in its place would read as a current one.

A sponsor's tile is judged by their own products' limits (`LivePlace.limits` holds only
theirs). An excursion or forecast alert on a shared unit was raised under the unit's
strictest limits, which may be another sponsor's product's; for a sponsor it counts only as
far as its peak is beyond their own limits (beyond the range: the alert's severity; inside
the warning band: a warning; otherwise not at all, and it is not listed on their tile).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from api.access.model import AlertItem, LivePlace
from api.access.places import limits_in_force
from api.readings.influxql import GROUP_TAGS, devices_clause, tag_key
from coldchain.catalog.profiles import ProfileVersions
from coldchain.influx import InfluxClient, quote_identifier, valid_readings_condition
from coldchain.judgement.calibration import Calibration, add_correction
from coldchain.judgement.limits import Limits as JudgedLimits
from coldchain.judgement.limits import Severity, alert_share, severity_of
from coldchain.judgement.validity import ReadingValidity
from coldchain.measurements import READING
from coldchain.models import SensorKey
from coldchain.times import to_ms

__all__ = [
    "LiveJudge",
    "LiveReading",
    "PlaceLive",
    "SensorLive",
    "place_limits",
    "place_status",
    "read_live",
    "read_sparklines",
]

LiveStatus = Literal["alarm", "fault", "no_data", "warning", "awaiting_upload", "ok"]

# Worst first: a place's status is its worst sensor's. A fault (the probe does not measure)
# ranks below an alarm (the product is known to be out of range) and above no data.
STATUS_ORDER: Final[tuple[LiveStatus, ...]] = (
    "alarm",
    "fault",
    "no_data",
    "warning",
    "awaiting_upload",
    "ok",
)
#: Alert kinds judged against the product limits (the detector's, docs/design.md §9).
_FAULT_KIND: Final = "sensor_fault"
_DEVICES_PER_STATEMENT = 200


@dataclass(frozen=True, slots=True)
class LiveReading:
    ts_ms: int
    temp_c: float


@dataclass(frozen=True, slots=True)
class SensorLive:
    """A sensor's latest reading (by event time, valid or not) and status.

    Attributes:
        fault: why the probe is not measuring: its latest reading is not a temperature (the
            `ReadingValidity` reason), or an open sensor-fault alert; else None.
        invalid: the latest reading is not a temperature: `temp_c` is None.
    """

    device: str
    sensor: str
    reading: LiveReading | None
    status: LiveStatus
    fault: str | None = None
    invalid: bool = False

    @property
    def temp_c(self) -> float | None:
        """The temperature to show: None without a reading or when it is not a temperature."""
        if self.reading is None or self.invalid:
            return None
        return self.reading.temp_c


@dataclass(frozen=True, slots=True)
class LiveJudge:
    """How the live view judges, from the settings and the viewer.

    Attributes:
        validity: which readings are temperatures (`ReadingValidity.from_settings`).
        warning_margin_c: the detector's warning margin (`detect_warning_margin_c`); the band
            is `warning_band_c` of it.
        no_data_intervals: no reading for this many log intervals: no data.
        own_limits_only: the viewer is a sponsor, whose `LivePlace.limits` are their own
            products' only: limit alerts count only as far as their peak is beyond those.
        profiles: the alarm profiles (`api.catalog_rules`), which set the limits up.
        unit_ids: each unit's id by its location id, where its own profile is found.
    """

    validity: ReadingValidity
    warning_margin_c: float
    no_data_intervals: float
    own_limits_only: bool = False
    profiles: ProfileVersions = field(default_factory=ProfileVersions)
    unit_ids: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlaceLive:
    """A place's status (its worst sensor's or device alert's), its sensors, and the open
    alerts that count for this viewer (what the tile lists)."""

    status: LiveStatus
    sensors: list[SensorLive]
    alerts: list[AlertItem] = field(default_factory=list)


async def read_live(
    influx: InfluxClient, places: Sequence[LivePlace], *, now_ms: int, lookback_ms: int
) -> dict[SensorKey, LiveReading]:
    """The latest reading of every sensor of `places` newer than the lookback and than
    each place's `since`; sensors without one are absent."""
    if not places:
        return {}
    lower = now_ms - lookback_ms
    sinces = [p.since for p in places]
    if all(s is not None for s in sinces):
        lower = max(lower, min(to_ms(s) for s in sinces if s is not None))
    devices = [d for p in places for d in p.location.devices]
    statements = [
        f'SELECT last("temp_c") AS "temp_c" FROM {quote_identifier(READING)}'
        f" WHERE time >= {lower}ms AND time <= {now_ms + 60_000}ms"
        f" AND {devices_clause(devices[i : i + _DEVICES_PER_STATEMENT])}"
        f" GROUP BY {GROUP_TAGS}"
        for i in range(0, len(devices), _DEVICES_PER_STATEMENT)
    ]
    found: dict[SensorKey, LiveReading] = {}
    for series in await influx.query(";".join(statements)):
        for ts, value in series.values:
            if value is not None:
                found[tag_key(series.tags)] = LiveReading(int(ts), float(value))
    # `last()` ran over the widest window; drop what is older than each place's own.
    for place in places:
        if place.since is None:
            continue
        since_ms = to_ms(place.since)
        for device in place.location.devices:
            for sensor in device.sensors:
                key = SensorKey(device.site, device.source, device.device, sensor)
                if key in found and found[key].ts_ms < since_ms:
                    del found[key]
    return found


def _worst(statuses: Sequence[LiveStatus]) -> LiveStatus:
    return min(statuses, key=STATUS_ORDER.index) if statuses else "no_data"


def place_limits(place: LivePlace, judge: LiveJudge, now_ms: int) -> JudgedLimits | None:
    """The limits the place is judged by now: `LivePlace.limits` (the products counted, or
    an empty unit's default) set up by the alarm profiles in force, the unit's own and those
    products' (`api.access.places.limits_in_force`, the detector's rule); None: no limits.
    A critical limit lies beyond the range (the fleet file holds a product's there), so a
    reading beyond it is beyond the range: an alarm, which the detector raises at once."""
    if place.limits is None:
        return None
    unit = judge.unit_ids.get(place.location.id) if place.location.kind == "unit" else None
    return limits_in_force(
        JudgedLimits(place.limits.min_c, place.limits.max_c, 0, place.limits.label),
        judge.profiles,
        units=() if unit is None else (unit,),
        products=place.limits.products,
        at_ms=now_ms,
    )


def _judge_value(value_c: float, limits: JudgedLimits | None, margin_c: float) -> Severity | None:
    """`coldchain.judgement.limits.severity_of` against the place's limits, if it has any."""
    return None if limits is None else severity_of(value_c, limits, margin_c)


def alert_severity(
    alert: AlertItem, limits: JudgedLimits | None, judge: LiveJudge
) -> Severity | None:
    """How much an open alert counts for this viewer: its own severity, except that for a
    sponsor a limit alert counts as `coldchain.judgement.limits.alert_share` says against
    the sponsor's own limits (`place_limits`); None: not theirs at all."""
    severity: Severity = "alarm" if alert.severity == "alarm" else "warning"
    if not judge.own_limits_only or limits is None:
        return severity
    return alert_share(
        limits,
        kind=alert.kind,
        severity=severity,
        peak_c=alert.peak_c,
        limit_c=alert.limit_c,
        margin_c=judge.warning_margin_c,
    )


def _fault_reason(alert: AlertItem) -> str:
    reason = alert.detail.get("reason")
    return f"sensor fault: {reason}" if isinstance(reason, str) and reason else "sensor fault"


def sensor_status(
    limits: JudgedLimits | None,
    reading: LiveReading | None,
    alerts: Sequence[AlertItem],
    *,
    now_ms: int,
    log_interval_s: int,
    judge: LiveJudge,
    offline: bool = False,
) -> tuple[LiveStatus, str | None]:
    """(status, fault). The status, in order: an open alarm alert (other than a sensor
    fault) → alarm; an open sensor-fault alert → fault; no recent reading → no_data (for an
    `offline` logger, which records to memory until it is read out: awaiting_upload); the
    latest reading not a temperature → fault; outside the limits → alarm; an open warning
    or within the warning band of a limit → warning; else ok. Alerts count as
    `alert_severity` says, both against `limits` (`place_limits`). The fault: why the probe
    is not measuring (its latest reading is not a temperature, or a sensor-fault alert is
    open), whatever the status; else None."""
    counted = [(a, alert_severity(a, limits, judge)) for a in alerts]
    counted = [(a, sev) for a, sev in counted if sev is not None]
    invalid = None if reading is None else judge.validity.reason(reading.temp_c)
    fault_alerts = [a for a, _ in counted if a.kind == _FAULT_KIND]
    fault = invalid or (_fault_reason(fault_alerts[0]) if fault_alerts else None)
    if any(sev == "alarm" and a.kind != _FAULT_KIND for a, sev in counted):
        return "alarm", fault
    if fault_alerts:
        return "fault", fault
    stale_ms = judge.no_data_intervals * log_interval_s * 1000
    if reading is None or now_ms - reading.ts_ms > stale_ms:
        return ("awaiting_upload" if offline else "no_data"), fault
    if invalid is not None:
        return "fault", fault
    judged = _judge_value(reading.temp_c, limits, judge.warning_margin_c)
    if judged == "alarm":
        return "alarm", None
    if counted or judged == "warning":
        return "warning", None
    return "ok", None


def place_status(
    place: LivePlace,
    readings: dict[SensorKey, LiveReading],
    *,
    now_ms: int,
    judge: LiveJudge,
) -> PlaceLive:
    """Each sensor's latest reading and status, the place's (its worst sensor's), and the
    open alerts that count for this viewer."""
    limits = place_limits(place, judge, now_ms)
    sensors = []
    for device in place.location.devices:
        device_alerts = [a for a in place.alerts if a.device == device.device]
        for sensor in device.sensors:
            reading = readings.get(SensorKey(device.site, device.source, device.device, sensor))
            status, fault = sensor_status(
                limits,
                reading,
                [a for a in device_alerts if a.sensor == sensor],
                now_ms=now_ms,
                log_interval_s=device.log_interval_s,
                judge=judge,
                offline=device.offline,
            )
            invalid = reading is not None and judge.validity.reason(reading.temp_c) is not None
            sensors.append(SensorLive(device.device, sensor, reading, status, fault, invalid))
    statuses = [s.status for s in sensors]
    counted: list[AlertItem] = []
    # An alert on the device as a whole (e.g. low battery) counts for the place.
    sensor_names = {(s.device, s.sensor) for s in sensors}
    for alert in place.alerts:
        severity = alert_severity(alert, limits, judge)
        if severity is None:
            continue
        counted.append(alert)
        if (alert.device, alert.sensor) not in sensor_names:
            statuses.append("fault" if alert.kind == _FAULT_KIND else severity)
    return PlaceLive(_worst(statuses), sensors, counted)


async def read_sparklines(
    influx: InfluxClient,
    places: Sequence[LivePlace],
    *,
    now_ms: int,
    span_ms: int,
    points: int,
    validity: ReadingValidity,
    corrections: Mapping[SensorKey, Calibration],
) -> dict[str, list[tuple[int, float]]]:
    """A small series per place for tiles: per bucket, the mean of its probes, each probe's
    mean of the readings that are temperatures (`validity`: an error code would drag a mean
    far off) with the correction in force at the bucket's start added (`corrections`, as
    `api.readings.calibration.corrected_history` draws the chart, #22); each place only
    from its own `since`, so a sponsor's sparkline never shows the time before their batch
    arrived."""
    bucket_ms = max(span_ms // points, 1000)
    by_lower: dict[int, list[LivePlace]] = {}
    for place in places:
        lower = now_ms - span_ms
        if place.since is not None:
            lower = max(lower, to_ms(place.since))
        by_lower.setdefault(lower, []).append(place)
    statements = []
    for lower, group in sorted(by_lower.items()):
        devices = [d for p in group for d in p.location.devices]
        if devices:
            statements.append(
                f'SELECT mean("temp_c") AS "mean" FROM {quote_identifier(READING)}'
                f" WHERE time >= {lower}ms AND time <= {now_ms}ms AND {devices_clause(devices)}"
                f" AND {valid_readings_condition(validity)}"
                f" GROUP BY time({bucket_ms}ms), {GROUP_TAGS} fill(none)"
            )
    if not statements:
        return {}
    per_device: dict[tuple[str, str, str], dict[SensorKey, list[tuple[int, float]]]] = {}
    for series in await influx.query(";".join(statements)):
        key = tag_key(series.tags)
        found = [(int(t), float(v)) for t, v in series.values if v is not None]
        calibration = corrections.get(key)
        if calibration is not None and found:
            times = np.array([t for t, _ in found], dtype=np.int64)
            values = add_correction(np.array([v for _, v in found]), calibration.offsets(times))
            found = list(zip(times.tolist(), values.tolist(), strict=True))
        probes = per_device.setdefault((key.site, key.source, key.device), {})
        probes.setdefault(key, []).extend(found)
    lines: dict[str, list[tuple[int, float]]] = {}
    for place in places:
        merged: dict[int, list[float]] = {}
        for d in place.location.devices:
            for probe in per_device.get((d.site, d.source, d.device), {}).values():
                for t, v in probe:
                    merged.setdefault(t, []).append(v)
        lines[place.location.id] = [(t, sum(v) / len(v)) for t, v in sorted(merged.items())]
    return lines
