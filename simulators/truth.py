"""Ground truth: every injected event with its true start, end and peak, per sensor.

Written as JSON lines so a detector can be scored for precision, recall and delay. Times
are epoch ms plus RFC 3339 text; `end` is null when the run ended first. An `excursion`
is measured on the probe's true temperature (before offset, noise and faults) at the
physics step; `alarm_expected` says whether it lasted the alarm delay, so short door
openings are in the file but must not be alarms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import numpy as np
import orjson
from numpy.typing import NDArray

from coldchain.models import SensorKey
from coldchain.times import rfc3339_ms

__all__ = ["ExcursionTracker", "GroundTruthWriter", "TruthEvent", "WindowPeaks"]


@dataclass(frozen=True, slots=True)
class TruthEvent:
    kind: str
    sensor: SensorKey
    start_ms: int
    end_ms: int | None
    peak_c: float | None
    alarm_expected: bool
    detail: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> bytes:
        site, source, device, sensor = self.sensor
        return orjson.dumps(
            {
                "kind": self.kind,
                "site": site,
                "source": source,
                "device": device,
                "sensor": sensor,
                "start": rfc3339_ms(self.start_ms),
                "start_ms": self.start_ms,
                "end": None if self.end_ms is None else rfc3339_ms(self.end_ms),
                "end_ms": self.end_ms,
                "duration_s": None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000,
                "peak_c": None if self.peak_c is None else round(self.peak_c, 3),
                "alarm_expected": self.alarm_expected,
                "detail": self.detail,
            }
        )


@dataclass(slots=True)
class _Open:
    start_ms: int
    direction: int
    peak_c: float


class ExcursionTracker:
    """Finds runs of out-of-range true temperatures per sensor, across chunks."""

    def __init__(self) -> None:
        self._limits: dict[SensorKey, tuple[float, float, float]] = {}
        self._open: dict[SensorKey, _Open] = {}

    def register(self, key: SensorKey, low: float, high: float, alarm_delay_s: float) -> None:
        self._limits[key] = (low, high, alarm_delay_s)

    def feed(
        self, tick_ms: NDArray[np.int64], temps: NDArray[np.float64], keys: list[SensorKey]
    ) -> list[TruthEvent]:
        """`temps` is (ticks, len(keys)); returns the excursions that ended in these ticks."""
        events: list[TruthEvent] = []
        lows = np.array([self._limits[k][0] for k in keys])
        highs = np.array([self._limits[k][1] for k in keys])
        state = np.where(temps > highs, 1, np.where(temps < lows, -1, 0))
        active = np.flatnonzero(state.any(axis=0))
        touched = set(active.tolist()) | {i for i, k in enumerate(keys) if k in self._open}
        ticks = tick_ms.tolist()
        for col in sorted(touched):
            key = keys[col]
            column = state[:, col].tolist()
            values = temps[:, col]
            for i, s in enumerate(column):
                current = self._open.get(key)
                if current is not None and s != current.direction:
                    events.append(self._close(key, current, ticks[i]))
                    current = None
                if s != 0 and current is None:
                    self._open[key] = current = _Open(ticks[i], s, float(values[i]))
                if current is not None:
                    value = float(values[i])
                    if (value - current.peak_c) * current.direction > 0:
                        current.peak_c = value
        return events

    def _close(self, key: SensorKey, run: _Open, end_ms: int | None) -> TruthEvent:
        del self._open[key]
        low, high, delay_s = self._limits[key]
        lasted_s = ((end_ms if end_ms is not None else run.start_ms) - run.start_ms) / 1000
        return TruthEvent(
            "excursion",
            key,
            run.start_ms,
            end_ms,
            run.peak_c,
            alarm_expected=lasted_s >= delay_s,
            detail={
                "direction": "high" if run.direction > 0 else "low",
                "limit_c": high if run.direction > 0 else low,
                "alarm_delay_s": delay_s,
            },
        )

    def finish(self, end_ms: int) -> list[TruthEvent]:
        """Excursions still open when the run ends: `end` null, judged on time so far."""
        events = []
        for key, run in sorted(self._open.items()):
            event = self._close(key, run, end_ms)
            events.append(
                TruthEvent(
                    event.kind,
                    key,
                    event.start_ms,
                    None,
                    event.peak_c,
                    event.alarm_expected,
                    event.detail,
                )
            )
        return events


@dataclass(slots=True)
class _Window:
    kind: str
    keys: list[SensorKey]
    start_ms: int
    end_ms: int
    reference_c: float
    direction: int
    alarm_expected: bool
    detail: dict[str, object]
    peaks: list[float | None]


class WindowPeaks:
    """Known windows (faults, defrosts, gaps) whose peak temperature is tracked per sensor."""

    def __init__(self) -> None:
        self._windows: list[_Window] = []

    def add(
        self,
        kind: str,
        keys: list[SensorKey],
        start_ms: int,
        end_ms: int,
        reference_c: float,
        *,
        alarm_expected: bool,
        direction: int = 0,
        detail: dict[str, object] | None = None,
    ) -> None:
        """Track a window's peak: the highest temperature (`direction` 1), the lowest (-1),
        or the one farthest from `reference_c` (0; e.g. the setpoint)."""
        self._windows.append(
            _Window(
                kind,
                keys,
                start_ms,
                end_ms,
                reference_c,
                direction,
                alarm_expected,
                detail or {},
                [None] * len(keys),
            )
        )

    def feed(
        self,
        tick_ms: NDArray[np.int64],
        temps: dict[SensorKey, NDArray[np.float64]],
    ) -> list[TruthEvent]:
        """Update peaks from these ticks; return the windows that ended by the last tick."""
        if not len(tick_ms):
            return []
        last = int(tick_ms[-1])
        done: list[TruthEvent] = []
        keep: list[_Window] = []
        for w in self._windows:
            if w.start_ms <= last:
                mask = (tick_ms >= w.start_ms) & (tick_ms < w.end_ms)
                if mask.any():
                    for i, key in enumerate(w.keys):
                        series = temps.get(key)
                        if series is not None:
                            w.peaks[i] = _extreme(
                                w.peaks[i], series[mask], w.reference_c, w.direction
                            )
            if w.end_ms <= last:
                done += self._events(w, w.end_ms)
            else:
                keep.append(w)
        self._windows = keep
        return done

    def finish(self, end_ms: int) -> list[TruthEvent]:
        events: list[TruthEvent] = []
        for w in self._windows:
            if w.start_ms < end_ms:
                events += self._events(w, None if w.end_ms > end_ms else w.end_ms)
        self._windows = []
        return events

    @staticmethod
    def _events(w: _Window, end_ms: int | None) -> list[TruthEvent]:
        return [
            TruthEvent(w.kind, key, w.start_ms, end_ms, peak, w.alarm_expected, w.detail)
            for key, peak in zip(w.keys, w.peaks, strict=True)
        ]


def _extreme(
    current: float | None, values: NDArray[np.float64], reference: float, direction: int
) -> float:
    if direction:
        candidate = float(values.max() if direction > 0 else values.min())
        if current is None or (candidate - current) * direction > 0:
            return candidate
        return current
    candidate = float(values[int(np.argmax(np.abs(values - reference)))])
    if current is None or abs(candidate - reference) > abs(current - reference):
        return candidate
    return current


class GroundTruthWriter:
    """Appends events as JSON lines; a `None` path writes nothing (events still returned)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.count = 0
        self._file: IO[bytes] | None = None

    def __enter__(self) -> Self:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
        return self

    def write(self, events: Iterable[TruthEvent]) -> None:
        for event in events:
            self.count += 1
            if self._file is not None:
                self._file.write(event.to_json() + b"\n")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
