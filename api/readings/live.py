"""Live view: the latest reading of each sensor by event time, and a status per sensor
and per place (ok / warning / alarm / no_data).

"Latest" is InfluxQL `last()`, the point with the greatest timestamp, i.e. the device's
event time (docs/design.md §6), not the last one received: a logger's backfill of old readings
never hides a newer one. Readings from before the viewer's `since` (a sponsor's batch
arrived then; the unit held someone else's product before) are not theirs to see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.access.model import AlertItem, LivePlace
from api.readings.influxql import GROUP_TAGS, devices_clause, tag_key
from coldchain.influx import InfluxClient, quote_identifier
from coldchain.measurements import READING
from coldchain.models import SensorKey
from coldchain.times import to_ms

__all__ = ["LiveReading", "SensorLive", "place_status", "read_live", "read_sparklines"]

# Worst first: a place's status is its worst sensor's.
STATUS_ORDER = ("alarm", "no_data", "warning", "ok")
_DEVICES_PER_STATEMENT = 200


@dataclass(frozen=True, slots=True)
class LiveReading:
    ts_ms: int
    temp_c: float


@dataclass(frozen=True, slots=True)
class SensorLive:
    device: str
    sensor: str
    reading: LiveReading | None
    status: str


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


def _worst(statuses: Sequence[str]) -> str:
    return min(statuses, key=STATUS_ORDER.index) if statuses else "no_data"


def sensor_status(
    place: LivePlace,
    reading: LiveReading | None,
    alerts: Sequence[AlertItem],
    *,
    now_ms: int,
    log_interval_s: int,
    no_data_intervals: float,
    warning_margin_c: float,
) -> str:
    """Open alarm alert → alarm; no recent reading → no_data; outside the limits → alarm;
    an open warning or within the margin of a limit → warning; else ok."""
    if any(a.severity == "alarm" for a in alerts):
        return "alarm"
    if reading is None or now_ms - reading.ts_ms > no_data_intervals * log_interval_s * 1000:
        return "no_data"
    limits = place.limits
    if limits is not None and not limits.min_c <= reading.temp_c <= limits.max_c:
        return "alarm"
    if alerts:
        return "warning"
    if limits is not None and not (
        limits.min_c + warning_margin_c <= reading.temp_c <= limits.max_c - warning_margin_c
    ):
        return "warning"
    return "ok"


def place_status(
    place: LivePlace,
    readings: dict[SensorKey, LiveReading],
    *,
    now_ms: int,
    no_data_intervals: float,
    warning_margin_c: float,
) -> tuple[str, list[SensorLive]]:
    """Each sensor's latest reading and status, and the place's (its worst sensor's)."""
    sensors = []
    for device in place.location.devices:
        device_alerts = [a for a in place.alerts if a.device == device.device]
        for sensor in device.sensors:
            reading = readings.get(SensorKey(device.site, device.source, device.device, sensor))
            status = sensor_status(
                place,
                reading,
                [a for a in device_alerts if a.sensor == sensor],
                now_ms=now_ms,
                log_interval_s=device.log_interval_s,
                no_data_intervals=no_data_intervals,
                warning_margin_c=warning_margin_c,
            )
            sensors.append(SensorLive(device.device, sensor, reading, status))
    statuses = [s.status for s in sensors]
    # An alert on the device as a whole (e.g. low battery) counts for the place.
    sensor_names = {(s.device, s.sensor) for s in sensors}
    for alert in place.alerts:
        if (alert.device, alert.sensor) not in sensor_names:
            statuses.append("alarm" if alert.severity == "alarm" else "warning")
    return _worst(statuses), sensors


async def read_sparklines(
    influx: InfluxClient,
    places: Sequence[LivePlace],
    *,
    now_ms: int,
    span_ms: int,
    points: int,
) -> dict[str, list[tuple[int, float]]]:
    """A small series per place (mean of its sensors per bucket) for tiles, from the raw
    readings; each place only from its own `since`, so a sponsor's sparkline never shows
    the time before their batch arrived."""
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
                f' GROUP BY time({bucket_ms}ms), "site", "source", "device" fill(none)'
            )
    if not statements:
        return {}
    per_device: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for series in await influx.query(";".join(statements)):
        key = (
            series.tags.get("site", ""),
            series.tags.get("source", ""),
            series.tags.get("device", ""),
        )
        per_device.setdefault(key, []).extend(
            (int(t), float(v)) for t, v in series.values if v is not None
        )
    lines: dict[str, list[tuple[int, float]]] = {}
    for place in places:
        merged: dict[int, list[float]] = {}
        for d in place.location.devices:
            for t, v in per_device.get((d.site, d.source, d.device), []):
                merged.setdefault(t, []).append(v)
        lines[place.location.id] = [(t, sum(v) / len(v)) for t, v in sorted(merged.items())]
    return lines
