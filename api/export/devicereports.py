"""A USB logger's own report next to ours, for the record of the placement it describes.

When a logger's export was imported (`coldchain logger import`), the catalog
keeps what the device itself printed: run min/max/mean/MKT and alarm events (Q-tag), or
per day min/max/mean and minutes out of range (Fridge-tag). Here the same quantities are
recomputed from the readings as stored in InfluxDB over the file's own span cut to the
placement's (the unit may have held another sponsor's goods before or after), with the
device's ΔH and limits (coldchain/loggers/compare.py, which the agreement tests use too),
and laid side by side for QA. The device truncates to 0.1 °C; we do not round. Ours leave
out invalid readings (error codes, values outside the probe's range: the domain's
`ReadingValidity`), as every other figure of the record does; `readings_invalid` counts
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from api.export.record import PlacementInfo, SensorRef, stream_sensor_readings
from api.export.timefmt import when_ms
from coldchain.catalog.logger_reports import StoredReport
from coldchain.influx import InfluxClient
from coldchain.judgement.validity import ReadingValidity
from coldchain.loggers.compare import DayFigures, RunFigures, daily_figures, run_figures
from coldchain.loggers.model import AlarmRule
from coldchain.times import rfc3339, to_ms

__all__ = ["LoggerComparison", "compare_report", "device_report_dict"]


@dataclass(frozen=True, slots=True)
class LoggerComparison:
    """One imported report and our figures over the same readings.

    Attributes:
        stored: readings of the report's sensor found in InfluxDB over the file's span;
            `invalid`: how many of them were not temperatures (left out of ours).
        run: our run figures (None without valid readings); days: ours per local day.
    """

    placement: int
    report: StoredReport
    sensor: SensorRef
    stored: int
    run: RunFigures | None
    days: tuple[DayFigures, ...]
    invalid: int = 0


def _sensor(report: StoredReport) -> SensorRef:
    interval_s = 60 * (report.record.log_interval_min or 1)
    return SensorRef(report.site, report.source, report.device, report.sensor, interval_s)


def _limit(rules: Sequence[AlarmRule], direction: str) -> float | None:
    return next((r.limit_c for r in rules if r.direction == direction), None)


async def compare_report(
    influx: InfluxClient,
    placement: PlacementInfo,
    report: StoredReport,
    *,
    delta_h: float,
    msgpack: bool = False,
    validity: ReadingValidity | None = None,
) -> LoggerComparison:
    """Our figures over the valid readings of `report`'s file as stored, within the
    placement (`delta_h`: the
    product's, used when the device states none; `msgpack`: see `stream_sensor_readings`;
    `validity`: the record's reading-validity rule)."""
    sensor = _sensor(report)
    first, last = report.first_reading_at, report.last_reading_at
    times: list[np.ndarray[Any, Any]] = []
    temps: list[np.ndarray[Any, Any]] = []
    if first is not None and last is not None:
        async for t, v in stream_sensor_readings(
            influx,
            sensor,
            start_ms=max(to_ms(first), placement.start_ms),
            end_ms=min(to_ms(last) + 1, placement.until_ms),
            msgpack=msgpack,
        ):
            times.append(t)
            temps.append(v)
    all_times = np.concatenate(times) if times else np.empty(0, dtype=np.int64)
    all_temps = np.concatenate(temps) if temps else np.empty(0)
    record = report.record
    interval_ms = sensor.log_interval_s * 1000.0
    run = record.run
    invalid = 0 if validity is None else int((~validity.valid(all_temps)).sum())
    return LoggerComparison(
        placement=placement.index,
        report=report,
        sensor=sensor,
        stored=int(all_times.size),
        run=run_figures(
            all_times,
            all_temps,
            interval_ms=interval_ms,
            delta_h_kj_per_mol=run.mkt_delta_h_kj_per_mol if run is not None else delta_h,
            validity=validity,
        ),
        days=tuple(
            daily_figures(
                all_times,
                all_temps,
                interval_ms=interval_ms,
                timezone=report.timezone,
                low_c=_limit(record.rules, "low"),
                high_c=_limit(record.rules, "high"),
                validity=validity,
            )
        )
        if record.daily
        else (),
        invalid=invalid,
    )


def _device_time(moment: datetime | None) -> str | None:
    """A device time as it printed it: naive local, minutes."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M")


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or np.isnan(value) else round(value, digits)


def device_report_dict(c: LoggerComparison) -> dict[str, Any]:
    """The report, the device's figures and ours, as JSON-ready values."""
    record, zone = c.report.record, c.report.timezone
    rules = {r.number: r for r in record.rules}
    out: dict[str, Any] = {
        "placement": c.placement,
        "report_id": c.report.id,
        "device": f"{record.device_model} {record.serial}",
        "file": c.report.file_name or None,  # withheld from a sponsor: record.py
        "sha256": record.sha256,
        "authenticity": record.signature,
        "imported_at": rfc3339(c.report.imported_at),
        "imported_by": c.report.imported_by or None,
        "sensor": c.sensor.label,
        "timezone": zone,
        "readings_in_file": record.readings,
        "readings_stored": c.stored,
        "readings_invalid": c.invalid,
        "rules": [
            f"{r.number}: {r.direction} {r.mode} {r.limit_c:g} °C for {r.delay_min:g} min"
            for r in record.rules
        ],
        "notes": list(record.notes),
        "run": [],
        "days": [],
        "events": [],
    }
    if record.run is not None:
        device, ours = record.run, c.run
        ours_values: tuple[float | None, ...] = (None,) * 4
        ours_times: tuple[int | None, ...] = (None, None)
        if ours is not None:
            ours_values = (ours.min_c, ours.max_c, ours.mean_c, ours.mkt_c)
            ours_times = (ours.min_at_ms, ours.max_at_ms)
        rows = zip(
            ("min_c", "max_c", "mean_c", "mkt_c"),
            (device.min_c, device.max_c, device.mean_c, device.mkt_c),
            (device.min_at, device.max_at, None, None),
            ours_values,
            (*ours_times, None, None),
            strict=True,
        )
        out["mkt_delta_h_kj_per_mol"] = device.mkt_delta_h_kj_per_mol
        out["run"] = [
            {
                "quantity": name,
                "device": dev_value,
                "device_at": _device_time(dev_at),
                "ours": _r(our_value),
                "ours_at": None if our_at is None else when_ms(our_at, zone),
                "difference": None if our_value is None else _r(our_value - dev_value),
            }
            for name, dev_value, dev_at, our_value, our_at in rows
        ]
        out["events"] = [
            {
                "alarm": e.number,
                "rule": None if e.number not in rules else rules[e.number].params()["origin"],
                "start": _device_time(e.start),
                "triggered_at": _device_time(e.triggered_at),
                "end": _device_time(e.end) if e.end is not None else ("open" if e.open else None),
                "minutes": e.minutes,
                "extreme_c": e.extreme_c,
                "extreme_at": _device_time(e.extreme_at),
            }
            for e in device.events
        ]
    ours_by_day = {d.day: d for d in c.days}
    for day in record.daily:
        ours_day = ours_by_day.get(day.day)
        row: dict[str, Any] = {
            "day": day.day.isoformat(),
            "device_min_c": day.min_c,
            "ours_min_c": None if ours_day is None else _r(ours_day.min_c),
            "device_max_c": day.max_c,
            "ours_max_c": None if ours_day is None else _r(ours_day.max_c),
            "device_mean_c": day.mean_c,
            "ours_mean_c": None if ours_day is None else _r(ours_day.mean_c),
        }
        for alarm in day.alarms:
            rule = rules.get(alarm.number)
            if rule is None:
                continue
            side = "above" if rule.direction == "high" else "below"
            ours_min = None
            if ours_day is not None:
                ours_min = ours_day.above_min if side == "above" else ours_day.below_min
            row[f"device_{side}_min"] = alarm.minutes
            row[f"ours_{side}_min"] = None if ours_min is None else round(ours_min, 1)
            row[f"device_{side}_alarm_at"] = _device_time(alarm.triggered_at)
        out["days"].append(row)
    return out
