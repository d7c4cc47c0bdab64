"""The `alert` measurement: one InfluxDB point per alert state change, for Grafana.

Alerts live in the catalog (SQL); Grafana reads only InfluxDB. So the detector writes, beside
the catalog row and the MQTT event of docs/design.md §9, one point per state change, which the
dashboards draw as annotations and count as open alerts. The point is a copy for display,
never the record: losing one changes a picture, not a batch release.

Schema (ms precision):
    measurement `alert`
    tags   alert_id, kind, severity, state, site, source, device, sensor
    fields is_open (int: 1 while open or acknowledged, 0 once resolved or closed),
           retrospective (bool), start_ms (int), end_ms (int, only when known),
           peak_c (float, only when known), summary (string, the annotation text)
    time   the moment of the state change

`alert_id` is a tag so "open alerts" is `last(is_open)` per alert (alerts are few: the
series count stays small). Usage:
    line = alert_line(alert_id="A-17", kind="excursion", severity="alarm", state="open",
                      site="BSL", source="unit", device="FRIDGE-02", sensor="p1",
                      start_ms=..., end_ms=None, peak_c=9.4, retrospective=False,
                      changed_ms=...)
    await influx.write_lines([line])
"""

from __future__ import annotations

from typing import Final

from coldchain.lineprotocol import FieldValue, encode_point, format_float
from coldchain.measurements import ALERT

__all__ = ["OPEN_STATES", "alert_line", "alert_summary"]

OPEN_STATES: Final = frozenset({"open", "acknowledged"})
_STATES: Final = frozenset({"open", "acknowledged", "resolved", "closed"})
_SEVERITIES: Final = frozenset({"warning", "alarm"})


def alert_summary(kind: str, severity: str, state: str, peak_c: float | None) -> str:
    """The annotation text: `excursion alarm open, peak 9.4 °C`."""
    text = f"{kind} {severity} {state}"
    if peak_c is not None:
        text += f", peak {format_float(peak_c)} °C"
    return text


def alert_line(
    *,
    alert_id: str,
    kind: str,
    severity: str,
    state: str,
    site: str,
    source: str,
    device: str,
    sensor: str,
    start_ms: int,
    end_ms: int | None,
    peak_c: float | None,
    retrospective: bool,
    changed_ms: int,
) -> str:
    """One line-protocol line for a state change of an alert (a pure function).

    Raises:
        ValueError: an unknown state or severity, or a name line protocol cannot hold.
    """
    if state not in _STATES:
        raise ValueError(f"state: expected one of {sorted(_STATES)}, got {state!r}")
    if severity not in _SEVERITIES:
        raise ValueError(f"severity: expected warning or alarm, got {severity!r}")
    tags = {
        "alert_id": alert_id,
        "kind": kind,
        "severity": severity,
        "state": state,
        "site": site,
        "source": source,
        "device": device,
        "sensor": sensor,
    }
    fields: dict[str, FieldValue] = {
        "is_open": int(state in OPEN_STATES),
        "retrospective": retrospective,
        "start_ms": start_ms,
        "summary": alert_summary(kind, severity, state, peak_c),
    }
    if end_ms is not None:
        fields["end_ms"] = end_ms
    if peak_c is not None:
        fields["peak_c"] = float(peak_c)
    return encode_point(ALERT, tags, fields, changed_ms)
