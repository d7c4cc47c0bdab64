"""The slow path: a sensor's readings one at a time, in event-time order, through its rules
(rules.py). Where each reading goes depends on when it happened:

- after the sensor's newest, by no more than the backfill gap: the rules, now;
- up to the reorder window behind the newest: merged (`SensorRules.merge_late`: the
  excursions in progress become what they would have been in order);
- further behind: held as late readings, evaluated on their own as history by the clock;
- more than the backfill gap ahead, or while a backfill is held: held as the backfill,
  evaluated in order by the clock once the burst is over (a logger's memory may come in
  shuffled chunks).
"""

from __future__ import annotations

from alerting.episodes import AlertChange, Report
from alerting.fast_pass import Batch
from alerting.rules import SensorRules
from alerting.sensor import SensorState
from alerting.sensor_table import SensorTable

__all__ = ["SlowPath"]


class SlowPath:
    """Usage:
    SlowPath(table).evaluate(batch, now_ms, changes)
    """

    def __init__(self, table: SensorTable) -> None:
        self.table = table

    def evaluate(self, batch: Batch, now_ms: int, out: list[AlertChange]) -> None:
        """Every sensor's readings of the batch, sensor by sensor."""
        rows, times_ms = batch.rows.tolist(), batch.ts_ms.tolist()
        values_c = batch.values_c.tolist()
        start = 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i] != rows[start]:
                self._sensor(rows[start], times_ms[start:i], values_c[start:i], now_ms, out)
                start = i

    def rules(
        self, row: int, state: SensorState, now_ms: int, out: list[AlertChange]
    ) -> SensorRules:
        """The row's rules at `now_ms`, reporting into `out`."""
        report = Report(state.key, now_ms, self.table.cfg.reorder_window_ms, out, state)
        table = self.table
        return SensorRules(table.cfg, state, table.history(row), report, table.handed_over)

    def apply(self, rules: SensorRules, row: int, ts_ms: int, value_c: float) -> None:
        """An in-order reading through the rules, then into the sensor's recent readings."""
        rules.apply(ts_ms, value_c, self.table.criteria_at(row, ts_ms))
        self.table.rings.append(row, ts_ms, value_c)

    def _sensor(
        self,
        row: int,
        times_ms: list[int],
        values_c: list[float],
        now_ms: int,
        out: list[AlertChange],
    ) -> None:
        table, cfg = self.table, self.table.cfg
        state = table.state(row)
        rules = self.rules(row, state, now_ms, out)
        for ts_ms, value_c in zip(times_ms, values_c, strict=True):
            frontier_ms = state.frontier_ms
            if state.backlog and ts_ms > frontier_ms:
                self._hold_backlog(state, ts_ms, value_c, now_ms)
            elif ts_ms <= frontier_ms:
                self._late(rules, row, ts_ms, value_c, now_ms)
            elif frontier_ms >= 0 and ts_ms - frontier_ms > cfg.backfill_gap_ms:
                self._hold_backlog(state, ts_ms, value_c, now_ms)
            else:
                self.apply(rules, row, ts_ms, value_c)
        table.update(row, state)

    def _hold_backlog(self, state: SensorState, ts_ms: int, value_c: float, now_ms: int) -> None:
        state.backlog.append((ts_ms, value_c))
        state.backlog_arrival_ms = now_ms

    def _late(self, rules: SensorRules, row: int, ts_ms: int, value_c: float, now_ms: int) -> None:
        state = rules.state
        if ts_ms >= state.frontier_ms - self.table.cfg.reorder_window_ms:
            rules.merge_late(ts_ms, value_c, self.table.criteria_at(row, ts_ms))
        else:
            state.late.append((ts_ms, value_c))
            state.late_arrival_ms = now_ms
