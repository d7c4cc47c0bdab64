"""Detector counters and the `alert` display points, published through
`coldchain.pipeline_metrics` (the dashboards' pipeline-health and unit boards read them).

The alert points are copies for Grafana, never the record (that is the catalog): they wait
in a bounded buffer and are written with the next metrics point; if InfluxDB stays down
the oldest are dropped, counted in `alert_points_dropped`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from alerting.episodes import AlertChange
from coldchain.alert_points import alert_line

__all__ = ["DetectorMetrics"]

_DISPLAY_BUFFER = 10_000


@dataclass
class DetectorMetrics:
    worker: str
    sites: tuple[str, ...] = ()  # the partition's sites; empty: every site
    readings_evaluated: int = 0
    alert_changes: int = 0
    detector_lag_ms: int = 0
    outbox_depth: int = 0
    alert_points_dropped: int = 0
    # batches carrying a `catalog_changed` announcement, and the reloads they caused (only
    # when the catalog had really changed: the gap between the two is what was ignored)
    catalog_announcements: int = 0
    catalog_reloads_announced: int = 0
    _display: deque[str] = field(default_factory=lambda: deque(maxlen=_DISPLAY_BUFFER))

    def record_batch(self, newest_event_ms: int | None, now_ms: int, readings: int) -> None:
        """`detector_lag_ms`: wall clock minus the event time of the newest reading
        evaluated (the dashboards' definition); a batch of old backfill only counts if
        nothing newer came with it."""
        self.readings_evaluated += readings
        if newest_event_ms is not None:
            self.detector_lag_ms = max(0, now_ms - newest_event_ms)

    def record_changes(self, changes: list[AlertChange]) -> None:
        self.alert_changes += len(changes)
        for ch in changes:
            if len(self._display) == self._display.maxlen:
                self.alert_points_dropped += 1
            site, source, device, sensor = ch.key
            self._display.append(
                alert_line(
                    alert_id=ch.alert_id,
                    kind=ch.kind,
                    severity=ch.severity,
                    state=ch.state,
                    site=site,
                    source=source,
                    device=device,
                    sensor=sensor,
                    start_ms=ch.start_ms,
                    end_ms=ch.end_ms,
                    peak_c=ch.peak_c,
                    retrospective=ch.retrospective,
                    changed_ms=ch.at_ms,
                )
            )

    def take_display_lines(self) -> list[str]:
        lines = list(self._display)
        self._display.clear()
        return lines

    def snapshot(self) -> dict[str, object]:
        return {
            "worker": self.worker,
            "sites": list(self.sites),
            "readings_evaluated": self.readings_evaluated,
            "alert_changes": self.alert_changes,
            "detector_lag_ms": self.detector_lag_ms,
            "outbox_depth": self.outbox_depth,
            "alert_points_dropped": self.alert_points_dropped,
            "catalog_announcements": self.catalog_announcements,
            "catalog_reloads_announced": self.catalog_reloads_announced,
        }
