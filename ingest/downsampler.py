"""Recomputes the downsampled buckets of every hour a write touched, whatever its age.

A chart over days reads the 1 min / 15 min / 1 h buckets (`coldchain.downsampling`), so a
reading that reaches InfluxDB but not its buckets is missing from every chart: a logger's
five-day backfill, a gateway's backlog after an outage. The writer marks, before each write,
the (hour, device) pairs its readings fall in (`DirtyHours.mark`); every `period_s` this
task recomputes the marked hours from the raw readings and clears what it recomputed.

The marks are kept in a journal next to the spool, fsynced before the write they announce,
so a crash between InfluxDB taking readings and their buckets being recomputed loses no
mark: ingest recomputes them after the restart. A recompute is idempotent (it overwrites the
buckets), so recomputing twice is harmless; recomputing too little is not, which is why the
writer marks again after the write lands: a mark taken into a recompute that ran before the
readings were queryable stays for the next round.

Cost: an hour's raw readings of the marked devices, per resolution. Live traffic marks the
current hour of every device once per round; a round over many devices reads that hour of
all devices in one statement per resolution (`wide_devices`), a late batch only its devices.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final, Self

from coldchain.downsampling import HOUR_MS, downsample_range
from coldchain.errors import StoreError, StoreRejected
from coldchain.influx import InfluxClient
from coldchain.judgement.validity import ReadingValidity
from ingest.duplicates import device_of, reading_keys
from ingest.metrics import IngestMetrics

__all__ = ["DirtyHours", "Downsampler", "touched_hours"]

log = logging.getLogger(__name__)

# A journal larger than this is rewritten with only the live marks when a round clears.
_COMPACT_BYTES: Final = 4 * 1024 * 1024

_Mark = tuple[int, str]  # (hour start ms, the device's tags without the sensor)


@lru_cache(maxsize=65536)
def _device(series: str) -> str:
    """A device's name in the journal: its tags without the sensor, `device=D,site=S,...`."""
    return ",".join(f"{tag}={value}" for tag, value in device_of(series))


def touched_hours(text: str) -> set[_Mark]:
    """The (hour, device) pairs the reading lines of a batch fall in."""
    return {(int(ms) - int(ms) % HOUR_MS, _device(series)) for series, ms in reading_keys(text)}


def _tags(device: str) -> Mapping[str, str]:
    return dict(part.split("=", 1) for part in device.split(","))


class DirtyHours:
    """The hours of devices whose buckets are not yet recomputed, in an fsynced journal.

    Each mark carries the round counter at which it was last made; `snapshot` hands out the
    marks with the counter, `clear(counter)` forgets those not marked again since. The
    journal is text: `m <counter> <hour_ms> <device>` and `c <counter>` lines.

    Usage:
        dirty = DirtyHours(spool_dir / "downsample.journal")  # replays the journal
        dirty.mark(touched_hours(text))       # before (and again after) the write
        counter, marks = dirty.snapshot()
        ...recompute marks...
        dirty.clear(counter)
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._marks: dict[_Mark, int] = {}
        self._counter = 0
        self._snapshot_at = 0
        # The writer marks and the downsampler clears from worker threads.
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._replay()
        self._rewrite()
        self._journal = path.open("a", encoding="utf-8")

    def __len__(self) -> int:
        return len(self._marks)

    def _replay(self) -> None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            parts = line.split(" ")
            # A torn last line (a crash mid-append) is ignored: its write had not started.
            if parts[0] == "m" and len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
                counter = int(parts[1])
                self._marks[(int(parts[2]), parts[3])] = counter
                self._counter = max(self._counter, counter)
            elif parts[0] == "c" and len(parts) == 2 and parts[1].isdigit():
                self._forget(int(parts[1]))

    def _forget(self, counter: int) -> None:
        self._marks = {mark: at for mark, at in self._marks.items() if at > counter}

    def _rewrite(self) -> None:
        """The journal as the live marks only, replaced atomically."""
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.writelines(f"m {at} {hour} {dev}\n" for (hour, dev), at in self._marks.items())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)

    def mark(self, marks: Iterable[_Mark]) -> None:
        """Mark these (hour, device) pairs; durable when this returns. A mark already in the
        journal since the last snapshot costs nothing but its counter."""
        with self._lock:
            self._mark(marks)

    def _mark(self, marks: Iterable[_Mark]) -> None:
        self._counter += 1
        new: list[str] = []
        for mark in marks:
            at = self._marks.get(mark)
            if at is None or at <= self._snapshot_at:
                new.append(f"m {self._counter} {mark[0]} {mark[1]}\n")
            self._marks[mark] = self._counter
        if new:
            self._journal.writelines(new)
            self._journal.flush()
            os.fsync(self._journal.fileno())

    def snapshot(self) -> tuple[int, dict[int, set[str]]]:
        """(counter, hour -> devices) of the marks now."""
        with self._lock:
            self._snapshot_at = self._counter
            hours: defaultdict[int, set[str]] = defaultdict(set)
            for hour, device in self._marks:
                hours[hour].add(device)
            return self._counter, dict(hours)

    def clear(self, counter: int) -> None:
        """Forget the marks not made again since `counter` (their buckets are recomputed)."""
        with self._lock:
            self._forget(counter)
            self._journal.write(f"c {counter}\n")
            self._journal.flush()
            os.fsync(self._journal.fileno())
            if self._journal.tell() > _COMPACT_BYTES:
                self._journal.close()
                self._rewrite()
                self._journal = self._path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._journal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Span:
    start_ms: int
    end_ms: int


def _spans(hours: Iterable[int]) -> list[_Span]:
    """Consecutive hours as one span each."""
    spans: list[_Span] = []
    for hour in sorted(hours):
        if spans and spans[-1].end_ms == hour:
            spans[-1] = _Span(spans[-1].start_ms, hour + HOUR_MS)
        else:
            spans.append(_Span(hour, hour + HOUR_MS))
    return spans


class Downsampler:
    """Every `period_s`, recomputes the marked hours; keeps them marked while InfluxDB is
    down or refuses (e.g. the retention policies are not created yet: a warning says so).

    Usage:
        downsampler = Downsampler(influx, dirty, metrics, validity=..., period_s=5.0,
                                  wide_devices=50)
        task = asyncio.create_task(downsampler.run())
    """

    def __init__(
        self,
        influx: InfluxClient,
        dirty: DirtyHours,
        metrics: IngestMetrics,
        *,
        validity: ReadingValidity,
        period_s: float,
        wide_devices: int,
    ) -> None:
        self._influx = influx
        self._dirty = dirty
        self._metrics = metrics
        self._validity = validity
        self._period_s = period_s
        self._wide = wide_devices

    async def run(self) -> None:
        """Rounds until cancelled; a failing round is logged once (the marks stay) and
        again when it recovers."""
        failing = False
        while True:
            await asyncio.sleep(self._period_s)
            try:
                await self.recompute()
            except StoreRejected as exc:
                if not failing:
                    log.warning(
                        "ingest: downsampled buckets not written (%s); run `coldchain influx "
                        "setup-users` or `coldchain dashboards setup-influx` to create them",
                        exc.server_message,
                    )
                failing = True
            except StoreError as exc:
                if not failing:
                    log.warning("ingest: downsampling waits for InfluxDB: %s", exc)
                failing = True
            else:
                if failing:
                    log.info("ingest: downsampling caught up (%d hours marked)", len(self._dirty))
                failing = False

    async def recompute(self) -> int:
        """One round: recompute what is marked now; returns the points written."""
        counter, hours = await asyncio.to_thread(self._dirty.snapshot)
        if not hours:
            return 0
        started = time.perf_counter()
        written = 0
        wide = [hour for hour, devices in hours.items() if len(devices) >= self._wide]
        for span in _spans(wide):
            written += await downsample_range(
                self._influx, span.start_ms, span.end_ms, validity=self._validity
            )
        by_device: defaultdict[str, list[int]] = defaultdict(list)
        for hour, devices in hours.items():
            if len(devices) < self._wide:
                for device in devices:
                    by_device[device].append(hour)
        # Devices whose marked hours are the same spans go in one statement per span.
        together: defaultdict[tuple[tuple[int, int], ...], list[str]] = defaultdict(list)
        for device, device_hours in by_device.items():
            key = tuple((s.start_ms, s.end_ms) for s in _spans(device_hours))
            together[key].append(device)
        for spans, names in together.items():
            for chunk in range(0, len(names), self._wide):
                tags = [_tags(d) for d in names[chunk : chunk + self._wide]]
                for start_ms, end_ms in spans:
                    written += await downsample_range(
                        self._influx, start_ms, end_ms, devices=tags, validity=self._validity
                    )
        await asyncio.to_thread(self._dirty.clear, counter)
        took_ms = (time.perf_counter() - started) * 1000
        self._metrics.record_downsample(written, took_ms, len(self._dirty))
        return written
