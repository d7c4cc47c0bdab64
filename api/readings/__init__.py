"""InfluxDB readers of the API: latest readings and status (live), bucketed history.

They take places and windows from `api.access`, never ids from a request, so they can
only ever read what the viewer may see.
"""

from api.readings.history import HistoryResult, SeriesPoints, read_history
from api.readings.live import LiveReading, SensorLive, read_live, read_sparklines

__all__ = [
    "HistoryResult",
    "LiveReading",
    "SensorLive",
    "SeriesPoints",
    "read_history",
    "read_live",
    "read_sparklines",
]
