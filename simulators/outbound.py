"""What the simulation hands to a transport: messages with the simulated time they are due."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from coldchain.models import DeviceStatus, Reading, SourceKind
from coldchain.wire import (
    encode_readings,
    encode_status,
    gateway_status_topic,
    readings_topic,
    status_topic,
)

__all__ = ["GatewayMessage", "Outbound", "ReadingsMessage", "StatusMessage"]


@dataclass(frozen=True, slots=True)
class ReadingsMessage:
    """One batch of one device's readings, sent at `due_ms` (simulated time).

    Attributes:
        duplicate: a logger sent this batch a second time (a lost PUBACK on a bad link);
            file sinks skip it, MQTT publishes it.
    """

    due_ms: int
    site: str
    source: SourceKind
    device: str
    readings: tuple[Reading, ...]
    duplicate: bool = False

    @property
    def topic(self) -> str:
        return readings_topic(self.site, self.source, self.device)

    def payload(self) -> bytes:
        return encode_readings(self.device, self.readings)


@dataclass(frozen=True, slots=True)
class StatusMessage:
    due_ms: int
    status: DeviceStatus

    @property
    def site(self) -> str:
        return self.status.site

    @property
    def topic(self) -> str:
        s = self.status
        return status_topic(s.site, s.source, s.device)

    def payload(self) -> bytes:
        return encode_status(self.status)


@dataclass(frozen=True, slots=True)
class GatewayMessage:
    """A gateway going offline (what the broker's last will would say) or back online."""

    due_ms: int
    site: str
    gateway: str
    state: Literal["online", "offline"]

    @property
    def topic(self) -> str:
        return gateway_status_topic(self.site, self.gateway)

    def payload(self) -> bytes:
        return self.state.encode()


Outbound = ReadingsMessage | StatusMessage | GatewayMessage
