"""Small InfluxQL builders shared by the live and history readers."""

from __future__ import annotations

from collections.abc import Iterable

from api.access.model import Device
from coldchain.influx import quote_identifier, tags_condition
from coldchain.models import SensorKey

__all__ = ["GROUP_TAGS", "devices_clause", "tag_key"]


def devices_clause(devices: Iterable[Device]) -> str:
    """`(site = 'S' AND source = 'unit' AND device = 'D') OR ...` for a WHERE clause."""
    seen: set[tuple[str, str, str]] = set()
    parts = []
    for d in devices:
        key = (d.site, d.source, d.device)
        if key in seen:
            continue
        seen.add(key)
        parts.append(f"({tags_condition(zip(('site', 'source', 'device'), key, strict=True))})")
    return "(" + " OR ".join(parts) + ")"


def tag_key(tags: dict[str, str]) -> SensorKey:
    """The sensor of a series grouped by `GROUP_TAGS` (a tag InfluxDB left out: "")."""
    return SensorKey(
        tags.get("site", ""),
        tags.get("source", ""),
        tags.get("device", ""),
        tags.get("sensor", ""),
    )


GROUP_TAGS = ", ".join(quote_identifier(t) for t in ("site", "source", "device", "sensor"))
