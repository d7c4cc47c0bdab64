"""The MQTT wire format (docs/design.md §2, §9): topics, reading and status payloads.

Decoding is strict about what a reading must carry and lenient about keys it does not
know, so gateways can add keys without breaking older ingest workers ("extend, never
rename"). Every rejection is a `PayloadError` whose text names the field and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from coldchain.errors import PayloadError
from coldchain.models import DeviceStatus, Reading, SourceKind
from coldchain.times import NaiveTimeError, parse_rfc3339_ms

__all__ = [
    "CATALOG_CHANGED_KEY",
    "ID_PATTERN",
    "MAX_TEMP_C",
    "MAX_TS_MS",
    "MIN_TEMP_C",
    "MIN_TS_MS",
    "READINGS_FILTER",
    "STATUS_FILTER",
    "TOPIC_ROOT",
    "GatewayState",
    "Topic",
    "alerts_topic",
    "announces_catalog_change",
    "decode_gateway_state",
    "decode_readings",
    "decode_status",
    "encode_readings",
    "encode_status",
    "gateway_status_topic",
    "parse_topic",
    "readings_topic",
    "site_filters",
    "status_topic",
    "ts_ms_from_wire",
]

TOPIC_ROOT: Final = "coldchain/v1"
READINGS_FILTER: Final = f"{TOPIC_ROOT}/+/+/+/readings"
STATUS_FILTER: Final = f"{TOPIC_ROOT}/+/+/+/status"


def site_filters(sites: Sequence[str]) -> list[str]:
    """The readings and status filters of some sites (a detector partition); every site's
    when `sites` is empty. Every message of a sensor carries its site in the topic, so a
    partition by site sees all of that sensor's readings on any broker."""
    if not sites:
        return [READINGS_FILTER, STATUS_FILTER]
    for site in sites:
        if not _ID_MATCH(site):  # `+` or `#` would widen the partition to other sites
            raise ValueError(f"site id {site!r} does not match {ID_PATTERN.pattern}")
    return [f"{TOPIC_ROOT}/{site}/+/+/{kind}" for site in sites for kind in ("readings", "status")]


#: Ids of sites, devices, sensors and gateways: safe in a topic level, a tag and a URL path.
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

#: Physically possible for a probe: below absolute zero or above this is a broken device
#: or a broken gateway, never a temperature.
MIN_TEMP_C: Final = -273.15
MAX_TEMP_C: Final = 1000.0
#: Device clocks outside this window are broken clocks, not data: no reading is stored
#: outside it, so no history is asked for outside it either.
MIN_TS_MS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TS_MS: Final = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_ID_MATCH: Final = ID_PATTERN.fullmatch
_PLAIN_NUMBERS: Final = (float, int)

GatewayState = Literal["online", "offline"]
_GATEWAY_SOURCE: Final = "gateway"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic `coldchain/v1/{site}/{source}/{device}/{kind}`.

    `source` is a `SourceKind` for probes and loggers, or "gateway" for a gateway's own
    online/offline status.
    """

    site: str
    source: SourceKind | Literal["gateway"]
    device: str
    kind: Literal["readings", "status"]


def readings_topic(site: str, source: SourceKind, device: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{source.value}/{device}/readings"


def status_topic(site: str, source: SourceKind, device: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{source.value}/{device}/status"


def gateway_status_topic(site: str, gateway: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{_GATEWAY_SOURCE}/{gateway}/status"


def alerts_topic(site: str) -> str:
    return f"{TOPIC_ROOT}/{site}/alerts"


def _check_id(field: str, value: object) -> str:
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise PayloadError(
            f"{field}: expected an id of letters, digits and . _ : - (at most 64), got {value!r}"
        )
    return value


def parse_topic(topic: str) -> Topic:
    """Split a topic into its parts, refusing anything outside the schema."""
    parts = topic.split("/")
    if len(parts) != 6 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise PayloadError(
            f"topic: expected {TOPIC_ROOT}/{{site}}/{{source}}/{{device}}/readings|status, "
            f"got {topic!r}"
        )
    _, _, site, source, device, kind = parts
    _check_id("topic site", site)
    _check_id("topic device", device)
    if kind == "readings":
        message_kind: Literal["readings", "status"] = "readings"
    elif kind == "status":
        message_kind = "status"
    else:
        raise PayloadError(f"topic: unknown message kind {kind!r} in {topic!r}")
    if source == _GATEWAY_SOURCE:
        if kind != "status":
            raise PayloadError(f"topic: a gateway publishes only status, got {topic!r}")
        return Topic(site, _GATEWAY_SOURCE, device, "status")
    try:
        source_kind = SourceKind(source)
    except ValueError:
        raise PayloadError(
            f"topic: unknown source {source!r} (expected unit, logger or gateway) in {topic!r}"
        ) from None
    return Topic(site, source_kind, device, message_kind)


def _load_json_object(payload: bytes, topic: Topic) -> dict[str, Any]:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(
            f"payload: not valid UTF-8 JSON ({exc}) (device={topic.device})"
        ) from None
    if not isinstance(document, dict):
        raise PayloadError(
            f"payload: expected a JSON object, got {type(document).__name__} "
            f"(device={topic.device})"
        )
    return document


def ts_ms_from_wire(value: object) -> int:
    """Event time as epoch milliseconds, from epoch ms or RFC 3339 with an offset."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(f"ts: expected epoch milliseconds or an RFC 3339 time, got {value!r}")
    if isinstance(value, str):
        try:
            ts_ms = parse_rfc3339_ms(value)
        except NaiveTimeError:
            raise PayloadError(f"ts: RFC 3339 time needs an offset or Z: {value!r}") from None
        except ValueError:
            raise PayloadError(f"ts: not an RFC 3339 time: {value!r}") from None
    else:
        ts_ms = value
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        raise PayloadError(f"ts: {value!r} lies outside 2000-01-01 .. 2100-01-01")
    return ts_ms


def _number(field: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{field}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise PayloadError(f"{field}: {value!r} is outside {low} .. {high}")
    return number


def _plain_reading(topic: Topic, source: SourceKind, raw: dict[str, Any]) -> Reading | None:
    """The common case checked in one pass (epoch-ms time, plain numbers), or None to
    send the reading through the full check that explains what is wrong. NaN fails
    every comparison, so it falls through to the full check too."""
    sensor: Any = raw.get("sensor")
    ts: Any = raw.get("ts")
    temp: Any = raw.get("temp_c")
    seq: Any = raw.get("seq")
    rh: Any = raw.get("rh")
    if (
        type(sensor) is str
        and _ID_MATCH(sensor) is not None
        and type(ts) is int
        and MIN_TS_MS <= ts < MAX_TS_MS
        and type(temp) in _PLAIN_NUMBERS
        and MIN_TEMP_C <= temp <= MAX_TEMP_C
        and type(seq) is int
        and seq >= 0
        and (rh is None or (type(rh) in _PLAIN_NUMBERS and 0.0 <= rh <= 100.0))
    ):
        return Reading(
            topic.site,
            source,
            topic.device,
            sensor,
            ts,
            float(temp),
            seq,
            None if rh is None else float(rh),
        )
    return None


def _reading(topic: Topic, source: SourceKind, raw: object, where: str) -> Reading:
    if not isinstance(raw, dict):
        raise PayloadError(f"{where}: expected an object, got {raw!r}")
    plain = _plain_reading(topic, source, raw)
    if plain is not None:
        return plain
    seq = raw.get("seq")
    context = f"(device={topic.device} seq={seq})"
    try:
        for key in ("sensor", "ts", "temp_c", "seq"):
            if key not in raw:
                raise PayloadError(f"{key}: missing")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise PayloadError(f"seq: expected a whole number >= 0, got {seq!r}")
        rh = raw.get("rh")
        return Reading(
            site=topic.site,
            source=source,
            device=topic.device,
            sensor=_check_id("sensor", raw["sensor"]),
            ts_ms=ts_ms_from_wire(raw["ts"]),
            temp_c=_number("temp_c", raw["temp_c"], MIN_TEMP_C, MAX_TEMP_C),
            seq=seq,
            rh=None if rh is None else _number("rh", rh, 0.0, 100.0),
        )
    except PayloadError as exc:
        raise PayloadError(f"{where}.{exc} {context}") from None


def decode_readings(topic: Topic, payload: bytes) -> list[Reading]:
    """Readings of one message: a batch `{"device", "readings": [...]}` or one reading.

    The whole message is refused when any reading in it is bad: the raw message goes to
    the dead letters intact, rather than half of it to InfluxDB.
    """
    document = _load_json_object(payload, topic)
    device = document.get("device")
    if device is not None and device != topic.device:
        raise PayloadError(f"device: payload names {device!r} but the topic names {topic.device!r}")
    source = SourceKind(topic.source)
    if "readings" not in document:
        return [_reading(topic, source, document, "reading")]
    batch = document["readings"]
    if not isinstance(batch, list) or not batch:
        raise PayloadError(
            f"readings: expected a non-empty list, got {batch!r:.80} (device={topic.device})"
        )
    return [_reading(topic, source, raw, f"readings[{index}]") for index, raw in enumerate(batch)]


def decode_status(topic: Topic, payload: bytes) -> DeviceStatus:
    """A probe's or logger's `{"ts", "battery_pct", "rssi_dbm"}`."""
    document = _load_json_object(payload, topic)
    context = f"(device={topic.device})"
    try:
        if "ts" not in document:
            raise PayloadError("ts: missing")
        battery = document.get("battery_pct")
        rssi = document.get("rssi_dbm")
        if battery is None and rssi is None:
            raise PayloadError("battery_pct: missing (a status needs battery_pct or rssi_dbm)")
        return DeviceStatus(
            site=topic.site,
            source=SourceKind(topic.source),
            device=topic.device,
            ts_ms=ts_ms_from_wire(document["ts"]),
            battery_pct=None if battery is None else _number("battery_pct", battery, 0, 100),
            rssi_dbm=None if rssi is None else _number("rssi_dbm", rssi, -200, 50),
        )
    except PayloadError as exc:
        raise PayloadError(f"status.{exc} {context}") from None


def decode_gateway_state(topic: Topic, payload: bytes) -> GatewayState:
    """A gateway's retained `online` or its last-will `offline`."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text == "online":
        return "online"
    if text == "offline":
        return "offline"
    raise PayloadError(
        f"gateway status: expected 'online' or 'offline', got {text!r:.80} (gateway={topic.device})"
    )


def encode_readings(
    device: str,
    readings: Sequence[Reading] | Iterable[Reading],
    *,
    catalog_changed: bool = False,
) -> bytes:
    """A batch payload in the §9 shape, time as epoch ms; `catalog_changed` adds the key
    of that name (see `announces_catalog_change`)."""
    document: dict[str, object] = {
        "device": device,
        "readings": [
            {"sensor": r.sensor, "ts": r.ts_ms, "temp_c": r.temp_c, "seq": r.seq}
            | ({} if r.rh is None else {"rh": r.rh})
            for r in readings
        ],
    }
    if catalog_changed:
        document[CATALOG_CHANGED_KEY] = True
    return orjson.dumps(document)


#: An optional key of a batch payload (an extension of §9; ingest ignores it): the sender
#: changed the catalog just before (e.g. `coldchain logger import --import-rules` stored a
#: logger's own alarm rules), so a detector reloads it before evaluating these readings.
CATALOG_CHANGED_KEY: Final = "catalog_changed"


def announces_catalog_change(payload: bytes) -> bool:
    """True when a readings payload carries `"catalog_changed": true`; cheap for the
    payloads that do not (a substring test before any parsing)."""
    if CATALOG_CHANGED_KEY.encode() not in payload:
        return False
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and document.get(CATALOG_CHANGED_KEY) is True


def encode_status(status: DeviceStatus) -> bytes:
    document: dict[str, object] = {"ts": status.ts_ms}
    if status.battery_pct is not None:
        document["battery_pct"] = status.battery_pct
    if status.rssi_dbm is not None:
        document["rssi_dbm"] = status.rssi_dbm
    return orjson.dumps(document)
