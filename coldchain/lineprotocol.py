"""InfluxDB line-protocol encoding (docs.influxdata.com, "Line protocol", escaping rules).

Measurement: escape comma and space. Tag keys, tag values, field keys: escape comma,
equals sign and space. String field values: escape backslash and double quote. InfluxDB
1.x cannot represent a tag or key that ends in a backslash (the parser reads it as escaping
the separator after it) nor one that holds a newline, so those are refused here rather than
stored wrongly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from coldchain.measurements import DEVICE_STATUS, READING
from coldchain.models import DeviceStatus, Reading

__all__ = [
    "FieldValue",
    "encode_point",
    "escape_key",
    "escape_measurement",
    "format_float",
    "reading_line",
    "status_line",
]

FieldValue = float | int | bool | str

_KEY_ESCAPES: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES: Final = str.maketrans({",": r"\,", " ": r"\ "})
_STRING_ESCAPES: Final = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _check_name(kind: str, name: str) -> None:
    if not name:
        raise ValueError(f"{kind}: must not be empty")
    if name.endswith("\\"):
        raise ValueError(f"{kind}: must not end in a backslash: {name!r}")
    if "\n" in name or "\r" in name:
        raise ValueError(f"{kind}: must not contain a line break: {name!r}")


def escape_measurement(name: str) -> str:
    _check_name("measurement", name)
    if name.startswith("#"):
        raise ValueError(f"measurement: a line starting with # is a comment: {name!r}")
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(kind: str, name: str) -> str:
    """Escape a tag key, tag value or field key; `kind` names it in the error."""
    _check_name(kind, name)
    return name.translate(_KEY_ESCAPES)


def format_float(value: float) -> str:
    """Shortest text that parses back to the same float64, as Go's `FormatFloat(v, 'g', -1)`.

    InfluxDB reads any decimal without an `i` suffix as a float, so `5.0` is written `5`.
    """
    if not math.isfinite(value):
        raise ValueError(f"field value: InfluxDB cannot store {value!r}")
    text = repr(value)
    if "e" in text:
        return text
    if text.endswith(".0"):
        text = text[:-2]
    if abs(value) < 1e6:
        return text
    # Between 1e6 and 1e16 Python writes digits where Go switches to an exponent.
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    digits = (whole + fraction).rstrip("0")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e+{len(whole) - 1:02d}"


def _field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return format_float(value)
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def encode_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue],
    time: int,
) -> str:
    """One line; tags sorted by key, as InfluxDB recommends for write performance."""
    if not fields:
        raise ValueError("fields: a point needs at least one field")
    head = escape_measurement(measurement)
    tag_text = "".join(
        f",{escape_key('tag key', key)}={escape_key('tag value', tags[key])}"
        for key in sorted(tags)
    )
    field_text = ",".join(
        f"{escape_key('field key', key)}={_field(value)}" for key, value in fields.items()
    )
    return f"{head}{tag_text} {field_text} {time}"


@lru_cache(maxsize=65536)
def _series_key(measurement: str, site: str, source: str, device: str, sensor: str) -> str:
    tags = {"site": site, "source": source, "device": device}
    if sensor:
        tags["sensor"] = sensor
    return encode_point(measurement, tags, {"x": 0}, 0).split(" ", 1)[0]


def reading_line(reading: Reading, received_ms: int) -> str:
    """The §3 point for a reading (ms precision); hot path, so the series key is cached.

    `received_ms` is kept as a field so a dashboard can mark what arrived late (backfill).
    """
    key = _series_key(READING, reading.site, reading.source.value, reading.device, reading.sensor)
    fields = f"temp_c={format_float(reading.temp_c)},seq={reading.seq}i"
    if reading.rh is not None:
        fields += f",rh={format_float(reading.rh)}"
    return f"{key} {fields},received_ms={received_ms}i {reading.ts_ms}"


def status_line(status: DeviceStatus) -> str:
    """The `device_status` point; the codec guarantees at least one value."""
    fields: dict[str, FieldValue] = {}
    if status.battery_pct is not None:
        fields["battery_pct"] = float(status.battery_pct)
    if status.rssi_dbm is not None:
        fields["rssi_dbm"] = float(status.rssi_dbm)
    key = _series_key(DEVICE_STATUS, status.site, status.source.value, status.device, "")
    body = ",".join(f"{name}={_field(value)}" for name, value in fields.items())
    return f"{key} {body} {status.ts_ms}"
