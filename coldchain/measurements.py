"""The InfluxDB measurement names (docs/design.md §3): one spelling for every writer, query
and dashboard, so a rename cannot leave a reader looking at an empty series.

The downsampled readings keep the name `reading` in their own retention policies
(`ds_1m`, `ds_15m`, `ds_1h`: `coldchain.downsampling.RESOLUTIONS`).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALERT",
    "DEVICE_STATUS",
    "GATEWAY_STATUS",
    "PIPELINE",
    "READING",
    "READING_CONFLICT",
]

#: A sensor's temperature sample (tags site, source, device, sensor).
READING: Final = "reading"
#: A device's battery and signal (tags site, source, device).
DEVICE_STATUS: Final = "device_status"
#: A gateway's online/offline state (tags site, gateway).
GATEWAY_STATUS: Final = "gateway_status"
#: A service's counters (tags service, worker): `coldchain.pipeline_metrics`.
PIPELINE: Final = "pipeline"
#: One alert state change, for Grafana: `coldchain.alert_points`.
ALERT: Final = "alert"
#: A re-sent reading refused because InfluxDB holds other values for its sensor and time
#: (`ingest.conflicts`): the reading's tags, its fields plus `stored_*` and `line_sha256`.
#: Kept apart so `reading` is never rewritten; the batch record shows it.
READING_CONFLICT: Final = "reading_conflict"
