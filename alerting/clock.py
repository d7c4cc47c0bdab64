"""What processing time alone decides (`tick`, every second or so in the service): a
sensor silent for too long is missing data, and readings held by the slow path are
evaluated once no more came for `backfill_quiet_ms`: a backfill in order, late readings on
their own, as history.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from alerting.episodes import AlertChange, AlertKind, Report
from alerting.rules import SensorRules, open_missing_data
from alerting.sensor import SensorState, slot_of
from alerting.sensor_table import SensorTable
from alerting.slow_path import SlowPath
from coldchain.models import SensorKey

__all__ = ["Clock"]

_NO_READINGS = (np.zeros(0, dtype=np.int64), np.zeros(0))
_JUDGED_ALONE = (AlertKind.EXCURSION, AlertKind.SENSOR_FAULT)


def _no_history(_since_ms: int) -> tuple[np.ndarray, np.ndarray]:
    return _NO_READINGS


class Clock:
    """Usage:
    changes = Clock(table, SlowPath(table)).tick(now_ms)
    """

    def __init__(self, table: SensorTable, slow: SlowPath) -> None:
        self.table = table
        self.slow = slow

    def tick(self, now_ms: int) -> list[AlertChange]:
        """Missing data, and held readings whose burst is over."""
        table, cfg = self.table, self.table.cfg
        columns, n = table.columns, len(table)
        out: list[AlertChange] = []
        last_ms = np.maximum(columns.frontier_ms[:n], columns.seen_at_ms[:n])
        silent = (now_ms - last_ms > cfg.missing_after_ms) & ~columns.missing_open[:n]
        for row in np.flatnonzero(silent).tolist():
            self._missing(row, now_ms, out)
        for row in np.flatnonzero(columns.buffered[:n]).tolist():
            state = table.states[row]
            if state.backlog and now_ms - state.backlog_arrival_ms >= cfg.backfill_quiet_ms:
                self._evaluate_backlog(row, now_ms, out)
            if state.late and now_ms - state.late_arrival_ms >= cfg.backfill_quiet_ms:
                self._evaluate_late(row, now_ms, out)
        return out

    def _missing(self, row: int, now_ms: int, out: list[AlertChange]) -> None:
        table = self.table
        state = table.state(row)
        if table.timeline.known(state.key):  # a logger carrying nothing is not expected
            expected = table.timeline.lookup(state.key, now_ms).expected
        else:  # a sensor the catalog does not know: only once it has reported
            expected = state.frontier_ms >= 0
        if not expected:
            return
        since_ms = (
            state.frontier_ms if state.frontier_ms >= 0 else int(table.columns.seen_at_ms[row])
        )
        open_missing_data(state, since_ms, self._report(state, now_ms, out))
        table.update(row, state)

    def _evaluate_backlog(self, row: int, now_ms: int, out: list[AlertChange]) -> None:
        """The backfill in event-time order (a reading sent twice counts once)."""
        state = self.table.state(row)
        burst = sorted(dict(state.backlog).items())
        state.backlog = []
        rules = self.slow.rules(row, state, now_ms, out)
        for ts_ms, value_c in burst:
            if ts_ms > state.frontier_ms:
                self.slow.apply(rules, row, ts_ms, value_c)
        self.table.update(row, state)

    def _evaluate_late(self, row: int, now_ms: int, out: list[AlertChange]) -> None:
        """Readings older than the reorder window: evaluated on their own, as history.
        Only excursions and faults can be judged without their neighbours (device rules
        too; a cumulative one counts this page's minutes only); an episode that overlaps
        one already reported is the same event and is dropped. What is left is reported
        retrospectively, opened and resolved at once (a cumulative device alarm stays open:
        a device's running total never clears)."""
        state = self.table.state(row)
        page = sorted(dict(state.late).items())
        state.late = []
        found, peaks = self._evaluate_alone(state.key, page, now_ms)
        opened = {ch.alert_id: ch for ch in found if ch.state == "open"}
        ended = {ch.alert_id: ch.end_ms for ch in found if ch.state == "resolved"}
        for change in opened.values():
            if change.kind not in _JUDGED_ALONE:
                continue
            slot = slot_of(change)
            end_ms = ended.get(change.alert_id) or page[-1][0]  # still out when the page ends
            if state.overlaps(slot, change.start_ms, end_ms):
                continue
            peak_c = peaks.get(change.alert_id, change.peak_c)
            retro = replace(change, end_ms=None, peak_c=peak_c, retrospective=True, at_ms=now_ms)
            out.append(retro)
            if change.rule_id is not None and change.detail.get("mode") == "cumulative":
                state.remember(slot, change.start_ms, None)
                continue
            out.append(replace(retro, state="resolved", end_ms=end_ms))
            state.remember(slot, change.start_ms, end_ms)
        self.table.update(row, state)

    def _evaluate_alone(
        self, key: SensorKey, page: list[tuple[int, float]], now_ms: int
    ) -> tuple[list[AlertChange], dict[str, float | None]]:
        """A page through the rules on a blank state, without history: the alert changes
        it causes, and each alert's peak over its whole episode (not the one it had when
        its delay ran out)."""
        table = self.table
        scratch = SensorState(key)
        found: list[AlertChange] = []
        rules = SensorRules(table.cfg, scratch, _no_history, self._report(scratch, now_ms, found))
        for ts_ms, value_c in page:
            rules.apply(ts_ms, value_c, table.criteria_of(table.timeline.lookup(key, ts_ms)))
        peaks = {ch.alert_id: ch.peak_c for ch in found if ch.state == "resolved"}
        still_open = [*scratch.episodes.values()]
        still_open += [r.alarm for r in scratch.rules.values() if r.alarm is not None]
        peaks |= {ep.alert_id: ep.peak_c for ep in still_open if ep.alert_id}
        return found, peaks

    def _report(self, state: SensorState, now_ms: int, out: list[AlertChange]) -> Report:
        return Report(state.key, now_ms, self.table.cfg.reorder_window_ms, out, state)
