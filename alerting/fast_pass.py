"""The numpy pass over a batch: it finds the sensors whose readings need no thought and
moves only their frontiers and recent readings, a few array operations for the whole batch.

A reading is plain when its sensor is quiet (no episode, nothing held, no device rule
waiting on it), it comes after the sensor's newest by no more than the backfill gap, its
value lies inside the row's plain band and its segment of limits, differs from the one
before (a stuck probe is not plain) without changing fast, and is no error code. A sensor
with one reading in the batch that is not plain sends all of them to the slow path, so its
readings stay in order there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerting.sensor_table import SensorTable

__all__ = ["Batch", "FastPass"]


@dataclass(frozen=True, slots=True)
class Batch:
    """Readings in columns, sorted by sensor row, then event time.

    Attributes:
        first: the reading is its sensor's first in the batch.
    """

    rows: np.ndarray
    ts_ms: np.ndarray
    values_c: np.ndarray
    first: np.ndarray

    @classmethod
    def by_sensor(cls, rows: np.ndarray, ts_ms: np.ndarray, values_c: np.ndarray) -> Batch:
        order = np.lexsort((ts_ms, rows))
        rows = rows[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        return cls(rows, ts_ms[order], values_c[order], first)

    def select(self, keep: np.ndarray) -> Batch:
        """The readings where `keep`; whole sensors only, so `first` stays true."""
        return Batch(self.rows[keep], self.ts_ms[keep], self.values_c[keep], self.first[keep])


class FastPass:
    """Usage:
    plain = FastPass(table).plain_sensors(batch)
    FastPass(table).advance(batch.select(plain))
    """

    def __init__(self, table: SensorTable) -> None:
        self.table = table

    def plain_sensors(self, batch: Batch) -> np.ndarray:
        """Which readings belong to a sensor whose every reading in the batch is plain."""
        columns, cfg = self.table.columns, self.table.cfg
        rows, ts_ms, values_c = batch.rows, batch.ts_ms, batch.values_c
        prev_ts_ms = np.where(batch.first, columns.frontier_ms[rows], np.roll(ts_ms, 1))
        prev_c = np.where(batch.first, columns.last_c[rows], np.roll(values_c, 1))
        gap_ms = ts_ms - prev_ts_ms
        plain = (
            columns.quiet[rows]
            & (gap_ms > 0)
            & (gap_ms <= cfg.backfill_gap_ms)
            & (prev_ts_ms >= 0)
            & (values_c > columns.plain_low_c[rows])
            & (values_c < columns.plain_high_c[rows])
            & (values_c != prev_c)
            & (np.abs(values_c - prev_c) < cfg.rate_c_per_ms * np.maximum(gap_ms, 1))
            & (ts_ms >= columns.valid_from_ms[rows])
            & (ts_ms < columns.valid_to_ms[rows])
            & self.table.cfg.validity.valid(values_c)
        )
        needs_thought = np.zeros(len(columns.frontier_ms), dtype=bool)
        needs_thought[rows[~plain]] = True
        all_plain: np.ndarray = ~needs_thought[rows]
        return all_plain

    def advance(self, batch: Batch) -> None:
        """Plain readings only: into the recent readings; each sensor's frontier and value
        move to its newest. Its state catches up when it next needs thought."""
        table, rows = self.table, batch.rows
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = rows[1:] != rows[:-1]
        starts = np.flatnonzero(batch.first)
        rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.append(starts, len(rows))))
        table.rings.append_sorted(rows, batch.ts_ms, batch.values_c, rank)
        table.columns.frontier_ms[rows[last]] = batch.ts_ms[last]
        table.columns.last_c[rows[last]] = batch.values_c[last]
        table.changed.update(rows[last].tolist())
