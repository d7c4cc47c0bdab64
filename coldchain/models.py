"""Value types of the domain: sources, readings, device status."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["DeviceStatus", "Reading", "SensorKey", "SourceKind"]


class SourceKind(enum.StrEnum):
    """Where a device lives: fixed in a storage unit, or travelling with a shipment."""

    UNIT = "unit"
    LOGGER = "logger"


class SensorKey(NamedTuple):
    """Which sensor: the identity every service keys its per-sensor state by.

    A named tuple rather than a dataclass because it is a dict key on the hot paths: it
    hashes and compares as the plain tuple of its four strings, so a lookup may use that
    tuple without building one, and it is stored (JSON) as that tuple's list. `source` is
    a `SourceKind` value ("unit", "logger"); `sensor` is "*" for a whole device's status.

    Usage:
        SensorKey("BSL", "unit", "FRIDGE-01", "p1")
    """

    site: str
    source: str
    device: str
    sensor: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One temperature sample of one sensor at the device's own event time.

    Identity is (site, source, device, sensor, ts_ms): the same reading delivered twice
    maps onto the same InfluxDB point, which is what makes redelivery harmless.

    Usage:
        Reading(site="BSL", source=SourceKind.UNIT, device="FRIDGE-01", sensor="p1",
                ts_ms=1763800000000, temp_c=5.1, seq=17)
    """

    site: str
    source: SourceKind
    device: str
    sensor: str
    ts_ms: int
    temp_c: float
    seq: int
    rh: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Health of a probe or logger; `None` where the device did not report the value."""

    site: str
    source: SourceKind
    device: str
    ts_ms: int
    battery_pct: float | None = None
    rssi_dbm: float | None = None
