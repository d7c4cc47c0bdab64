"""The shared MQTT subscriber on a real mosquitto: memory stays bounded when the
application falls behind, and nothing is lost by pausing."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from coldchain.config import MqttEndpoint
from coldchain.mqtt import MqttSubscriber
from tests.support.servers import MosquittoServer

pytestmark = pytest.mark.integration


async def test_a_flood_pauses_reading_instead_of_growing_memory(mosquitto: MosquittoServer) -> None:
    endpoint = MqttEndpoint(mosquitto.url)
    async with MqttSubscriber(endpoint, "flood-test", ["flood/#"], receive_maximum=10) as sub:
        await sub.wait_connected(10)
        # QoS 0 is not flow-controlled by Receive Maximum: only our own pause bounds it.
        publisher = await asyncio.to_thread(
            subprocess.run,
            ["mosquitto_pub", "-p", str(mosquitto.port), "-q", "0", "-t", "flood/x", "-l"],
            input=b"".join(b"%d\n" % i for i in range(3000)),
            check=True,
        )
        assert publisher.returncode == 0
        await asyncio.sleep(1.0)
        assert len(sub._queue) <= 100 + 256  # the limit, plus one wakeup's packets
        received: list[bytes] = []
        while len(received) < 3000:
            batch = await asyncio.wait_for(sub.take(), 10)
            received += [d.payload for d in batch]
        assert received == [b"%d" % i for i in range(3000)]


async def test_a_publish_gets_its_puback_while_reading_is_paused(
    mosquitto: MosquittoServer,
) -> None:
    """The detector publishes alert events on its subscriber connection; with a backlog its
    reads are paused, and a PUBACK nobody reads made the publish time out and go again."""
    endpoint = MqttEndpoint(mosquitto.url)
    async with MqttSubscriber(endpoint, "paused-test", ["paused/#"], receive_maximum=10) as sub:
        await sub.wait_connected(10)
        await asyncio.to_thread(
            subprocess.run,
            ["mosquitto_pub", "-p", str(mosquitto.port), "-q", "0", "-t", "paused/x", "-l"],
            input=b"".join(b"%d\n" % i for i in range(150)),  # past the limit of 100
            check=True,
        )
        await asyncio.sleep(1.0)
        assert sub._driver.paused  # the backlog stopped reading
        await sub.publish("elsewhere/alert", b"event", timeout_s=5)
        assert len(sub._queue) <= 2 * 100  # still bounded while it waited
