"""What the data-access layer hands to the routes: places, windows and limits, already
scoped to one viewer. Nothing here names a row the viewer may not see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = [
    "AlertItem",
    "Device",
    "HistorySegment",
    "Limits",
    "LivePlace",
    "Location",
    "Span",
]

LocationKind = Literal["unit", "shipment"]


@dataclass(frozen=True, slots=True)
class Device:
    """A unit or a logger as InfluxDB tags it (docs/design.md §3: site, source, device, sensor);
    `offline`: a logger that records to memory and is read out at the destination (silent
    while it travels: "awaiting upload", not "no data")."""

    site: str
    source: str
    device: str
    sensors: tuple[str, ...]
    log_interval_s: int
    offline: bool = False


@dataclass(frozen=True, slots=True)
class Location:
    """A storage unit (`id` = "SITE/UNIT") or a shipment (`id` = shipment id)."""

    kind: LocationKind
    id: str
    site: str
    name: str | None
    devices: tuple[Device, ...]
    unit_kind: str | None = None  # a unit's kind (refrigerator, freezer, ...); None: shipment


@dataclass(frozen=True, slots=True)
class Limits:
    """The strictest range of the products counted (for a sponsor: only their own)."""

    min_c: float
    max_c: float
    label: str
    products: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Span:
    """A time window, half-open; `end` None means still open (up to now)."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class AlertItem:
    """An alert as one viewer may see it: §9 fields; `detail` and the history's comments
    are trimmed for sponsors (they may name another sponsor's product or limits)."""

    alert_id: str
    kind: str
    severity: str
    state: str
    site: str
    source: str
    device: str
    sensor: str
    start: datetime
    end: datetime | None
    peak_c: float | None
    retrospective: bool
    updated_at: datetime
    detail: dict[str, object]
    history: tuple[dict[str, object], ...] = ()
    # The limit a limit alert was raised at, kept here (not in a sponsor's `detail`, it may
    # be another product's) to judge how far the alert concerns the viewer's own product.
    limit_c: float | None = None


@dataclass(frozen=True, slots=True)
class LivePlace:
    """A location holding (some of) what the viewer asked about, now.

    Attributes:
        batches: the viewer's visible batches there now.
        limits: the range to judge readings by, None when nothing is stored there.
        since: readings older than this are not the viewer's to see (a sponsor's batch
            arrived then); None when the viewer may see the place's whole history.
        alerts: open or acknowledged alerts on its sensors the viewer may see.
    """

    location: Location
    batches: tuple[str, ...]
    products: tuple[str, ...]
    limits: Limits | None
    since: datetime | None
    alerts: tuple[AlertItem, ...]


@dataclass(frozen=True, slots=True)
class HistorySegment:
    """Readings of `location` over `windows` (clipped to the asked range) may be shown,
    judged by the limits in `limit_spans` (piecewise: what was stored changed)."""

    location: Location
    windows: tuple[Span, ...]
    limit_spans: tuple[tuple[Span, Limits], ...]
    batch: str | None = None
