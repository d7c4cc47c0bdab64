"""MQTT alert-topic channel: the §9 alert event, QoS 1, to `coldchain/v1/{site}/alerts`.

A delivery counts once the broker's PUBACK arrives. paho runs its network loop in its own
thread here (`loop_start`): the publisher is small, and the only crossing back into asyncio
is one `call_soon_threadsafe` per PUBACK.

Our lock guards only our own tables and is never held while calling into paho: paho calls
`on_publish` with its own lock held, so holding ours around `publish` (which takes paho's)
deadlocks the event loop against the network thread (seen under load with two detector
partitions). A PUBACK that beats the registration of its waiter is remembered instead.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification
from coldchain.config import MqttEndpoint
from coldchain.mqtt import authenticate

__all__ = ["MqttChannel"]


class MqttChannel:
    name = "mqtt"

    def __init__(self, endpoint: MqttEndpoint, client_id: str, *, timeout_s: float = 10.0) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        authenticate(self._client, endpoint)
        self._client.reconnect_delay_set(1, 5)
        self._client.on_publish = self._on_publish
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = {}
        self._acked_early: set[int] = set()
        self._abandoned: set[int] = set()  # timed out: a late PUBACK is not an early one
        self._started = False

    def _on_publish(self, client: Any, userdata: Any, mid: int, *args: Any) -> None:
        with self._lock:
            waiter = self._waiting.pop(mid, None)
            if mid in self._abandoned:
                self._abandoned.discard(mid)
            elif waiter is None:
                self._acked_early.add(mid)
        if waiter is not None:
            loop, future = waiter
            loop.call_soon_threadsafe(_finish, future)

    def _start(self) -> None:
        if not self._started:
            self._client.connect_async(self._endpoint.host, self._endpoint.port, keepalive=30)
            self._client.loop_start()
            self._started = True

    async def send(self, notification: Notification) -> None:
        self._start()
        for _ in range(20):  # a fresh or reconnecting client: give it a moment
            if self._client.is_connected():
                break
            await asyncio.sleep(0.1)
        if not self._client.is_connected():
            raise DeliveryFailed(f"mqtt {self._endpoint}: not connected")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        info = self._client.publish(notification.destination, notification.payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise DeliveryFailed(f"mqtt {self._endpoint}: publish refused rc={info.rc}")
        with self._lock:
            if info.mid in self._acked_early:
                self._acked_early.discard(info.mid)
                return
            self._waiting[info.mid] = (loop, future)
        try:
            await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError as exc:
            with self._lock:
                self._waiting.pop(info.mid, None)
                self._abandoned.add(info.mid)
            raise DeliveryFailed(f"mqtt {self._endpoint}: no PUBACK in {self._timeout_s}s") from exc

    async def close(self) -> None:
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
