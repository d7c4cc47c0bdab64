"""One gateway's publishing connection (paho-mqtt 2.x, MQTT v5, QoS 1) on the asyncio loop.

paho's socket is driven by the event loop (reader/writer callbacks, as aiomqtt does), so
no thread touches the socket. The simulators and the USB logger import publish through it.
In-flight publishes are bounded by a semaphore released on
PUBACK: a slow broker slows the simulator down instead of growing memory. A PUBACK with a
failure reason (MQTT 5: e.g. "Not authorized" when the broker's ACL refuses the topic) means
the broker dropped the message: it is counted in `refused`, never as delivered, and
`check_delivered` fails on it. The gateway
publishes a retained `online` on its status topic and leaves a retained last will
`offline` (MQTT 5 §3.1.3.2: the server publishes the will when the connection drops
without a DISCONNECT); a clean stop publishes `offline` itself, since a normal
DISCONNECT deletes the will [MQTT-3.1.2-10].
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from coldchain.config import MqttEndpoint
from coldchain.errors import MqttPublishFailed
from coldchain.mqtt.connection import authenticate
from coldchain.mqtt.socket_driver import SocketDriver
from coldchain.wire import gateway_status_topic

__all__ = ["MqttPublisher"]

log = logging.getLogger(__name__)

_MISC_INTERVAL_S = 1.0
_RECONNECT_MAX_S = 30.0


class MqttPublisher:
    """Usage:
        async with MqttPublisher(settings.mqtt, site="BSL", gateway="BSL-gw") as gateway:
            await gateway.publish(topic, payload)
        # leaving the block waits for every PUBACK, then says `offline`

    Args:
        max_inflight: QoS 1 publishes awaiting PUBACK before `publish` waits.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        site: str,
        gateway: str,
        *,
        client_id: str | None = None,
        max_inflight: int = 1000,
        keepalive_s: int = 30,
    ) -> None:
        self.site, self.gateway = site, gateway
        self.status_topic = gateway_status_topic(site, gateway)
        self.published = 0
        self.acked = 0
        self.refused = 0
        self._refusal = ""
        self._endpoint = endpoint
        self._keepalive_s = keepalive_s
        self._max_inflight = max_inflight
        self._room = asyncio.Semaphore(max_inflight)
        self._connected = asyncio.Event()
        self._all_acked = asyncio.Event()
        self._all_acked.set()
        self._closing = False
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"coldchain-sim-{site}-{gateway}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        authenticate(client, endpoint)
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.max_inflight_messages_set(max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._driver = SocketDriver(client)
        self._client = client

    async def connect(self, timeout_s: float = 10.0) -> None:
        """Connect, wait for CONNACK, announce `online` (retained)."""
        self._loop = asyncio.get_running_loop()
        self._driver.attach(self._loop)
        self._connack = self._loop.create_future()
        try:
            self._client.connect(self._endpoint.host, self._endpoint.port, self._keepalive_s)
            reason = await asyncio.wait_for(self._connack, timeout_s)
        except (OSError, TimeoutError) as exc:
            raise MqttPublishFailed(
                f"gateway {self.site}/{self.gateway}: cannot connect to {self._endpoint!r}: {exc}"
            ) from exc
        if reason.is_failure:
            raise MqttPublishFailed(
                f"gateway {self.site}/{self.gateway}: broker refused the connection: {reason}"
            )
        self._spawn(self._misc_loop())
        await self.publish(self.status_topic, b"online", retain=True)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue one QoS 1 message; waits while `max_inflight` are unacknowledged.

        Raises:
            MqttPublishFailed: the broker refused an earlier message (`check_delivered`):
                a gateway whose readings are being dropped stops at once, loudly. Its own
                status (`online`, `offline`) is still sent, so closing says offline.
        """
        if topic != self.status_topic:
            self.check_delivered()
        await self._room.acquire()
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        # NO_CONN: paho keeps QoS 1 messages and sends them after the reconnect.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._room.release()
            raise MqttPublishFailed(
                f"gateway {self.site}/{self.gateway}: publish to {topic} "
                f"failed: {paho.error_string(info.rc)}"
            )
        self.published += 1
        self._all_acked.clear()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until the broker acknowledged every publish."""
        async with asyncio.timeout(timeout_s):
            await self._all_acked.wait()

    def check_delivered(self) -> None:
        """Raise unless every message acknowledged so far was accepted.

        Raises:
            MqttPublishFailed: the broker refused some (and dropped them), with how many and why.
        """
        if self.refused:
            raise MqttPublishFailed(
                f"the broker refused {self.refused} of {self.published} messages as "
                f"{self._endpoint.username}: {self._refusal}"
            )

    async def close(self, timeout_s: float = 30.0) -> None:
        """Flush, say `offline` (retained), disconnect cleanly."""
        try:
            await self.publish(self.status_topic, b"offline", retain=True)
            await self.flush(timeout_s)
        except TimeoutError:
            log.warning(
                "mqtt: gateway=%s/%s closing with %d unacknowledged messages",
                self.site,
                self.gateway,
                self.published - self.acked,
            )
        finally:
            self._closing = True
            self._client.disconnect()
            for task in self._tasks:
                task.cancel()

    # paho callbacks: all run on the event loop's thread (loop_read / loop_write / misc).

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(reason)
        if not reason.is_failure:
            self._connected.set()
            log.info("mqtt: gateway=%s/%s connected", self.site, self.gateway)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._connected.clear()
        if not self._closing:
            log.warning(
                "mqtt: gateway=%s/%s lost the broker (%s); reconnecting",
                self.site,
                self.gateway,
                reason,
            )
            self._spawn(self._reconnect())

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            self.refused += 1
            self._refusal = str(reason)
        self.acked += 1
        self._room.release()
        if self.acked >= self.published:
            self._all_acked.set()

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _misc_loop(self) -> None:
        """Keep-alive pings and retries, which paho leaves to the caller's loop."""
        while not self._closing:
            self._client.loop_misc()
            await asyncio.sleep(_MISC_INTERVAL_S)

    async def _reconnect(self) -> None:
        delay = 0.5
        while not self._closing and not self._connected.is_set():
            await asyncio.sleep(delay)
            with contextlib.suppress(OSError):
                self._client.reconnect()
                return
            delay = min(delay * 2, _RECONNECT_MAX_S)
            log.warning(
                "mqtt: gateway=%s/%s reconnect failed; next try in %.1fs",
                self.site,
                self.gateway,
                delay,
            )
