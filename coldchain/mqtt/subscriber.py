"""An asyncio MQTT 5 subscriber over paho-mqtt with manual acknowledgements.

paho's socket runs on the event loop (as aiomqtt does: `add_reader`/`add_writer` on the
socket paho opens), and messages are acked only when the application says they are safe,
which is what gives ingest and the detector at-least-once delivery. aiomqtt cannot: it acks
before the application sees the message.

Flow control is MQTT's own: with a Receive Maximum of N [MQTT-3.3.4-9] the broker sends at
most N unacknowledged QoS 1 messages, so a consumer that stops acking (spool full) stops
the broker, and the messages wait in the broker's persistent session instead of in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from coldchain import times
from coldchain.config import MqttEndpoint
from coldchain.errors import MqttPublishFailed
from coldchain.mqtt.connection import authenticate
from coldchain.mqtt.socket_driver import SocketDriver

__all__ = ["Delivery", "MqttSubscriber"]

log = logging.getLogger(__name__)

# A reader callback drains at most this many packets before yielding to other tasks.
_PACKETS_PER_WAKEUP = 256


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received message. `connection` tells which connection it came on: an ack is
    only meaningful on the same connection, since packet ids restart with a new one."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    connection: int
    received_ms: int


class MqttSubscriber:
    """Persistent-session subscriber; deliveries wait in a queue until taken and acked.

    Usage:
        async with MqttSubscriber(endpoint, "ingest-1", ["coldchain/v1/+/+/+/readings"]) as sub:
            batch = await sub.take()
            ...  # make them durable
            sub.ack(batch)
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        filters: Sequence[str],
        *,
        receive_maximum: int = 1000,
        session_expiry_s: int = 14 * 86400,
        keepalive_s: int = 30,
    ) -> None:
        self._endpoint = endpoint
        self._filters = list(filters)
        self._keepalive_s = keepalive_s
        self._receive_maximum = receive_maximum
        self._session_expiry_s = session_expiry_s
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        authenticate(self._client, endpoint)
        self._queue: list[Delivery] = []
        self._arrived = asyncio.Event()
        self._connected = asyncio.Event()
        self._connection = 0
        self._received = 0
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._queue_limit = max(4 * receive_maximum, 100)
        self._pubacks: dict[int, asyncio.Future[None]] = {}
        self.connects = 0
        self._driver = SocketDriver(self._client, on_readable=self._read_ready)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish

    # -- paho callbacks (all run on the event loop) ----------------------------------------

    def _read_limit(self) -> int:
        """Deliveries that may wait before reading stops. While one of our own publishes
        awaits its PUBACK, which can only arrive on this socket, reading goes on up to twice
        that: a paused socket would time the publish out and send it again (a duplicate alert
        event), and the broker sends at most Receive Maximum unacked QoS 1 messages."""
        return 2 * self._queue_limit if self._pubacks else self._queue_limit

    def _read_ready(self) -> None:
        for _ in range(_PACKETS_PER_WAKEUP):
            if len(self._queue) >= self._read_limit():
                self._pause_reading()
                return
            before = self._received
            if self._client.loop_read() != paho.MQTT_ERR_SUCCESS or self._received == before:
                return

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("mqtt: connection refused reason=%s broker=%s", reason, self._endpoint)
            return
        self._connection += 1
        self.connects += 1
        log.info(
            "mqtt: connected broker=%s session_present=%s connection=%d",
            self._endpoint,
            flags.session_present,
            self._connection,
        )
        client.subscribe([(topic, 1) for topic in self._filters])
        self._connected.set()

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._connected.clear()
        if self._closing:
            return
        # Unacked deliveries of the lost connection will be resent by the broker; acking
        # them on the next connection could ack a different message with a reused id.
        self._connection += 1
        log.warning("mqtt: disconnected reason=%s broker=%s", reason, self._endpoint)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._received += 1
        self._queue.append(
            Delivery(
                topic=message.topic,
                payload=bytes(message.payload),
                qos=message.qos,
                mid=message.mid,
                connection=self._connection,
                received_ms=times.now_ms(),
            )
        )
        self._arrived.set()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, *args: Any) -> None:
        waiter = self._pubacks.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._driver.attach(asyncio.get_running_loop())
        self._tasks = [
            asyncio.create_task(self._keep_connected(), name="mqtt-connect"),
            asyncio.create_task(self._housekeeping(), name="mqtt-misc"),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._driver.sock is not None:
            self._client.disconnect()
            # Let the DISCONNECT packet go out before the socket closes.
            with contextlib.suppress(OSError):
                self._client.loop_write()
        await asyncio.sleep(0)

    async def wait_connected(self, timeout_s: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def _connect_once(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        await asyncio.to_thread(
            self._client.connect,
            self._endpoint.host,
            self._endpoint.port,
            keepalive=self._keepalive_s,
            clean_start=False,
            properties=props,
        )

    async def _keep_connected(self) -> None:
        delay = 0.1
        while True:
            if self._driver.sock is None:
                try:
                    await self._connect_once()
                    # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that
                    # arrives as the wait completes, and leaving `async with` then hangs.
                    async with asyncio.timeout(10):
                        await self._connected.wait()
                    delay = 0.1
                except (OSError, TimeoutError) as exc:
                    log.warning(
                        "mqtt: cannot connect broker=%s error=%s retry_in=%.1fs",
                        self._endpoint,
                        exc,
                        delay,
                    )
                    if self._driver.sock is not None:
                        self._client.disconnect()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
            await asyncio.sleep(0.2)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1)
            if self._driver.sock is not None:
                self._client.loop_misc()

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, *, timeout_s: float) -> None:
        """Publish QoS 1 on this connection and wait for the broker's PUBACK.

        A service publishes on the connection it subscribes with: the broker binds client
        id to user name (docs/security.md), so a second connection of the same account
        would take this one's session over.

        Raises:
            MqttPublishFailed: not connected, refused, or no PUBACK within `timeout_s`.
        """
        if self._driver.sock is None or not self._connected.is_set():
            raise MqttPublishFailed(f"not connected to {self._endpoint}")
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise MqttPublishFailed(f"publish to {topic} refused rc={info.rc}")
        # paho reads the PUBACK only in `_read_ready`, on this loop, after we yield: the
        # waiter is in place before it can arrive.
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pubacks[info.mid] = waiter
        if self._driver.paused and len(self._queue) < self._read_limit():
            self._driver.resume_reading()
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError as exc:
            raise MqttPublishFailed(f"no PUBACK from {self._endpoint} in {timeout_s}s") from exc
        finally:
            self._pubacks.pop(info.mid, None)

    # -- consuming ------------------------------------------------------------------------

    async def take(self, max_count: int | None = None) -> list[Delivery]:
        """Every delivery waiting now (at least one), in arrival order."""
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        count = len(self._queue) if max_count is None else max_count
        taken, self._queue = self._queue[:count], self._queue[count:]
        if self._driver.paused and len(self._queue) < self._queue_limit // 2:
            self._driver.resume_reading()
        return taken

    def _pause_reading(self) -> None:
        """A broker that ignores our Receive Maximum (or QoS 0 floods) must not grow memory
        without bound: stop reading the socket until the application catches up; TCP then
        pushes back on the broker."""
        if not self._driver.paused:
            self._driver.pause_reading()
            log.warning("mqtt: %d deliveries waiting; pausing reads", len(self._queue))

    def ack(self, deliveries: Sequence[Delivery]) -> int:
        """PUBACK each delivery of the current connection, in the order received
        [MQTT-4.6.0-2]; returns how many were acked (the rest the broker will resend)."""
        acked = 0
        for delivery in deliveries:
            if delivery.qos and delivery.connection == self._connection and self._driver.sock:
                self._client.ack(delivery.mid, delivery.qos)
                acked += 1
        return acked
