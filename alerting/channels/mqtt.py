"""MQTT alert-topic channel: the §9 alert event, QoS 1, to `coldchain/v1/{site}/alerts`.

A delivery counts once the broker's PUBACK arrives. The events go out on the detector's own
subscriber connection: the broker makes the client id the user name, so a second
connection of the detector's account would take its session (and its queued readings)
over, and everything stays on the event loop (no second network thread, no locks).
"""

from __future__ import annotations

from typing import Protocol

from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification
from coldchain.errors import MqttPublishFailed

__all__ = ["AlertPublisher", "MqttChannel"]


class AlertPublisher(Protocol):
    """`coldchain.mqtt.MqttSubscriber` is one."""

    async def publish(self, topic: str, payload: bytes, *, timeout_s: float) -> None: ...


class MqttChannel:
    name = "mqtt"

    def __init__(self, publisher: AlertPublisher, *, timeout_s: float = 10.0) -> None:
        self._publisher = publisher
        self._timeout_s = timeout_s

    async def send(self, notification: Notification) -> None:
        try:
            await self._publisher.publish(
                notification.destination,
                notification.payload.encode(),
                timeout_s=self._timeout_s,
            )
        except MqttPublishFailed as exc:
            raise DeliveryFailed(f"mqtt: {exc}") from exc

    async def close(self) -> None:
        """The connection belongs to the detector's subscriber, which closes it."""
