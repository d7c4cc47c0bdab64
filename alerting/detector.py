"""The detector's evaluation core: readings, device statuses and a clock in, alert changes
out; no I/O. The scoring test drives it directly from simulator output; the service drives
it from MQTT and persists `snapshot()` before acking.

A batch of readings goes through it as a pipeline:

1. `Batch.by_sensor`: the readings as columns, by sensor row, then event time;
2. `FastPass.plain_sensors`: the sensors whose readings need no thought (quiet, well
   inside their limits, in order, changing, not changing fast), which `FastPass.advance`
   only moves on, in bulk;
3. `SlowPath.evaluate`: every other sensor's readings, one at a time, through its rules
   (`SensorRules.apply`: fault, excursion, rate, forecast, device rules) or held.

`tick` is the clock (missing data, held readings); all of them share the `SensorTable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from alerting import persistence
from alerting.clock import Clock
from alerting.config import DetectorConfig
from alerting.episodes import AlertChange, Report
from alerting.fast_pass import Batch, FastPass
from alerting.rules import judge_battery
from alerting.sensor_table import DeviceTable, SensorTable
from alerting.slow_path import SlowPath
from alerting.timeline import ConditionTimeline
from coldchain.models import DeviceStatus, Reading, SensorKey

__all__ = ["Detector"]


class Detector:
    """Usage:
    detector = Detector(DetectorConfig.from_settings(settings), timeline)
    changes = detector.process(readings, now_ms)
    changes += detector.tick(now_ms)
    """

    def __init__(self, cfg: DetectorConfig, timeline: ConditionTimeline) -> None:
        self.cfg = cfg
        self.sensors = SensorTable(cfg, timeline)
        self.devices = DeviceTable()
        self.fast = FastPass(self.sensors)
        self.slow = SlowPath(self.sensors)
        self.clock = Clock(self.sensors, self.slow)

    # -- sensors -----------------------------------------------------------------------

    def register(self, key: SensorKey, now_ms: int) -> int:
        """The sensor's row, for `process_arrays`."""
        return self.sensors.register(key, now_ms)

    def register_catalog(self, now_ms: int) -> None:
        """Know every catalog sensor from the start, so one that never reports is missed."""
        self.sensors.register_catalog(now_ms)

    def set_timeline(self, timeline: ConditionTimeline, now_ms: int) -> None:
        """A refreshed catalog: re-resolve each sensor's current limits."""
        self.sensors.set_timeline(timeline, now_ms)

    # -- readings ----------------------------------------------------------------------

    def process(self, readings: Sequence[Reading], now_ms: int) -> list[AlertChange]:
        """Evaluate a batch (any order, any sensors); returns the alert changes it caused."""
        if not readings:
            return []
        get = self.sensors.index.get
        found: list[int] = []
        for r in readings:
            key = (r.site, r.source.value, r.device, r.sensor)
            row = get(key)
            found.append(self.sensors.register(SensorKey(*key), now_ms) if row is None else row)
        rows = np.array(found, dtype=np.int64)
        ts_ms = np.fromiter((r.ts_ms for r in readings), dtype=np.int64, count=len(readings))
        values_c = np.fromiter((r.temp_c for r in readings), dtype=np.float64, count=len(readings))
        return self.process_arrays(rows, ts_ms, values_c, now_ms)

    def process_arrays(
        self, rows: np.ndarray, ts_ms: np.ndarray, values_c: np.ndarray, now_ms: int
    ) -> list[AlertChange]:
        """The hot path on columns: sensor rows (from `register`), event times, values as
        the probes sent them (calibration corrections are applied here)."""
        values_c = self.sensors.corrected(rows, ts_ms, values_c)
        batch = Batch.by_sensor(rows, ts_ms, values_c)
        plain = self.fast.plain_sensors(batch)
        changes: list[AlertChange] = []
        if plain.any():
            self.fast.advance(batch.select(plain))
        if not plain.all():
            self.slow.evaluate(batch.select(~plain), now_ms, changes)
        return changes

    # -- status ------------------------------------------------------------------------

    def process_status(self, status: DeviceStatus, now_ms: int) -> list[AlertChange]:
        """Low battery, per device (sensor "*")."""
        if status.battery_pct is None:
            return []
        key = SensorKey(status.site, status.source.value, status.device, "*")
        state = self.devices.state(key)
        if status.ts_ms <= state.frontier_ms:
            return []
        changes: list[AlertChange] = []
        report = Report(key, now_ms, self.cfg.reorder_window_ms, changes, state)
        judge_battery(state, status.ts_ms, status.battery_pct, self.cfg, report)
        self.devices.changed.add(key)
        return changes

    # -- the clock, persistence --------------------------------------------------------

    def tick(self, now_ms: int) -> list[AlertChange]:
        """Missing data, and backfills whose burst is over; call every second or so."""
        return self.clock.tick(now_ms)

    def open_peaks(self) -> dict[str, float]:
        """The peak so far of each open alert on the sensors changed since the last
        snapshot (call before `snapshot`, which clears the marks): an alert is opened with
        the peak of its first readings beyond the limit, and the condition may grow after."""
        peaks: dict[str, float] = {}
        for row in self.sensors.changed:
            for episode in self.sensors.state(row).episodes.values():
                if episode.alert_id is not None and episode.peak_c is not None:
                    peaks[episode.alert_id] = episode.peak_c
        return peaks

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """JSON-able state of every sensor changed since the last snapshot; clears the mark."""
        return persistence.snapshot(self.sensors, self.devices)

    def restore(self, saved: Iterable[dict[str, Any]], now_ms: int) -> None:
        persistence.restore(self.sensors, self.devices, saved, now_ms)
