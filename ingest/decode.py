"""One MQTT message -> the InfluxDB lines it stands for, or the reason it is refused.

Ingest's own policy sits on top of the shared codec: a size limit (so one broken gateway
cannot flood memory) and a bound on how far in the future a device clock may be.
"""

from __future__ import annotations

from dataclasses import dataclass

from coldchain.errors import PayloadError
from coldchain.lineprotocol import encode_point, reading_line, status_line
from coldchain.measurements import GATEWAY_STATUS
from coldchain.wire import decode_gateway_state, decode_readings, decode_status, parse_topic

__all__ = ["DecodePolicy", "Decoded", "PayloadTooLarge", "decode_message"]


class PayloadTooLarge(PayloadError):
    """A payload over the limit: refused unread, and dead-lettered with only a prefix."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload too large ({size} bytes > {limit})")
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class DecodePolicy:
    max_payload_bytes: int
    max_future_skew_ms: int


@dataclass(frozen=True, slots=True)
class Decoded:
    lines: list[str]
    readings: int


def decode_message(
    topic_text: str, payload: bytes, received_ms: int, policy: DecodePolicy
) -> Decoded:
    """Raises `PayloadError` with a readable reason for anything not acceptable."""
    if len(payload) > policy.max_payload_bytes:
        raise PayloadTooLarge(len(payload), policy.max_payload_bytes)
    topic = parse_topic(topic_text)
    if topic.source == "gateway":
        state = decode_gateway_state(topic, payload)
        line = encode_point(
            GATEWAY_STATUS,
            {"site": topic.site, "gateway": topic.device},
            {"state": state},
            received_ms,
        )
        return Decoded([line], 0)
    if topic.kind == "status":
        return Decoded([status_line(decode_status(topic, payload))], 0)
    readings = decode_readings(topic, payload)
    latest_allowed = received_ms + policy.max_future_skew_ms
    for reading in readings:
        if reading.ts_ms > latest_allowed:
            raise PayloadError(
                f"ts: {reading.ts_ms} is {(reading.ts_ms - received_ms) / 1000:.0f} s ahead "
                f"of the time it arrived; the device clock is wrong "
                f"(device={reading.device} sensor={reading.sensor} seq={reading.seq})"
            )
    return Decoded([reading_line(r, received_ms) for r in readings], len(readings))
