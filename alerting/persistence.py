"""The detector's state as JSON, one object per sensor (key "site/source/device/sensor"):
`SensorState.to_json` plus the sensor's recent readings ("ring": times, values, head) and
"seen_at"; a device's (sensor "*") is its state alone. The service writes what `snapshot`
returns to its state file before acking (state_store.py) and `restore`s it on start.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alerting.sensor import SensorState
from alerting.sensor_table import DeviceTable, SensorTable

__all__ = ["restore", "snapshot"]


def snapshot(sensors: SensorTable, devices: DeviceTable) -> dict[str, dict[str, Any]]:
    """Every sensor and device changed since the last snapshot; clears the marks."""
    out: dict[str, dict[str, Any]] = {}
    for row in sensors.changed:
        state = sensors.state(row)
        raw = state.to_json()
        raw["ring"] = sensors.rings.row(row)
        raw["seen_at"] = int(sensors.columns.seen_at_ms[row])
        out["/".join(state.key)] = raw
    for key in devices.changed:
        out["/".join(key)] = devices.states[key].to_json()
    sensors.changed.clear()
    devices.changed.clear()
    return out


def restore(
    sensors: SensorTable, devices: DeviceTable, saved: Iterable[dict[str, Any]], now_ms: int
) -> None:
    """Load what `snapshot` wrote (the newest object per key); sensors not registered yet
    are, at `now_ms`."""
    for raw in saved:
        state = SensorState.from_json(raw)
        if state.key.sensor == "*":
            devices.states[state.key] = state
            continue
        row = sensors.register(state.key, now_ms)
        sensors.states[row] = state
        sensors.columns.seen_at_ms[row] = raw.get("seen_at", now_ms)
        sensors.rings.load_row(row, *raw["ring"])
        sensors.update(row, state)
        sensors.resolve_segment(row, now_ms)
    sensors.changed.clear()
