"""Message size (issue #20): one gateway must not exhaust memory and disk for every site.

The shipped broker config refuses what no gateway batch comes near; ingest dead-letters
anything over its limit with a bounded prefix, size and SHA-256; the detector skips it
unread.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from alerting.service import DetectorService
from coldchain.config import Settings
from coldchain.mqtt import Delivery
from ingest.dead_letters import PREFIX_BYTES
from tests.support.pipeline import (
    IngestProcess,
    Publisher,
    make_batches,
    stored_reading_keys,
    wait_until,
)
from tests.support.servers import InfluxServer, MosquittoServer, running_mosquitto

pytestmark = pytest.mark.integration

ONE_MB = 1_000_000
LIMIT = Settings.model_fields["ingest_max_payload_bytes"].default
TOPIC = "coldchain/v1/BSL/unit/D0000/readings"


class _Client:
    """A bare paho client that records what arrives and whether it was disconnected."""

    def __init__(
        self, port: int, client_id: str, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5
    ) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id, protocol=protocol)
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.disconnects = 0
        self._lock = threading.Lock()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda *args: self.connected.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK"

    def _on_message(self, client: object, userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def _on_disconnect(self, *args: object) -> None:
        self.disconnects += 1

    def payload_sizes(self) -> list[int]:
        with self._lock:
            return [len(payload) for _, payload in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., _Client]]:
    made: list[_Client] = []

    def make(
        port: int, client_id: str, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5
    ) -> _Client:
        made.append(_Client(port, client_id, protocol))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_the_shipped_broker_refuses_an_oversize_message_and_passes_normal_batches(
    tmp_path: Path, clients: Callable[..., _Client]
) -> None:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        listener = clients(broker.port, "test-listener")
        listener.client.subscribe("coldchain/#", qos=1)
        time.sleep(0.3)  # SUBACK
        normal = [payload for _, payload, _ in make_batches("BSL", 1, 5, 120, per_message=300)]
        assert len(normal[0]) > 15_000, "a realistic batch of 300 readings (~17 KB)"

        good = Publisher(broker.port, client_id="test-good-gateway")
        try:
            good.publish(TOPIC, normal[0])
            good.wait_acked(10)
            # Over max_packet_size: the sender is disconnected, nothing is forwarded. An
            # MQTT 3.1.1 client, so the broker itself must enforce it (no client-side limit
            # from the CONNACK's Maximum Packet Size).
            bad = clients(broker.port, "test-bad-gateway", MQTTProtocolVersion.MQTTv311)
            bad.client.publish(TOPIC, os.urandom(ONE_MB), qos=1)
            wait_until(lambda: bad.disconnects > 0, 10, "the oversize sender disconnected")
            # Just over message_size_limit but under max_packet_size: refused, not forwarded.
            bad_v5 = clients(broker.port, "test-bad-gateway-v5")
            bad_v5.client.publish(TOPIC, os.urandom(LIMIT + 1), qos=1)
            good.publish(TOPIC, normal[1])
            good.wait_acked(10)
            wait_until(lambda: len(listener.received) >= 2, 10, "both normal batches")
            time.sleep(1)
        finally:
            good.close()
        assert listener.payload_sizes() == [len(normal[0]), len(normal[1])]
        assert good.acked == 2
        assert "max_packet_size" in _broker_conf(tmp_path)


def _broker_conf(tmp_path: Path) -> str:
    return (tmp_path / "mosquitto" / "mosquitto.conf").read_text()


def test_ingest_dead_letters_an_oversize_payload_as_a_prefix_with_size_and_sha256(
    tmp_path: Path, influxd: InfluxServer, influx_db: str
) -> None:
    # A broker whose limits were raised (or a misconfigured one): ingest is the next line.
    broker = MosquittoServer(
        tmp_path / "mosquitto", extra_conf="max_packet_size 2000000\nmessage_size_limit 0\n"
    )
    broker.start()
    ingest = IngestProcess(broker.url, influxd.url, influx_db, tmp_path / "var")
    publisher: Publisher | None = None
    try:
        ingest.start()
        publisher = Publisher(broker.port)
        batches = list(make_batches("BSL", 2, 3, 40, per_message=60))
        half = len(batches) // 2
        oversize = _valid_looking_batch(ONE_MB)
        for topic, payload, _ in batches[:half]:
            publisher.publish(topic, payload)
        publisher.publish(TOPIC, oversize)
        for topic, payload, _ in batches[half:]:
            publisher.publish(topic, payload)
        publisher.wait_acked()
        expected = sorted(key for _, _, keys in batches for key in keys)
        wait_until(lambda: ingest.dead_letters(), 30, "the oversize payload's dead letter")
        wait_until(
            lambda: sorted(stored_reading_keys(influxd.url, influx_db)) == expected,
            30,
            "every reading around it stored",
        )
        [letter] = ingest.dead_letters()
        kept = base64.b64decode(str(letter["payload_b64"]))
        assert len(kept) == PREFIX_BYTES <= 4096
        assert kept == oversize[:PREFIX_BYTES]
        assert letter["payload_size"] == len(oversize)
        assert letter["payload_sha256"] == hashlib.sha256(oversize).hexdigest()
        assert str(letter["reason"]).startswith(
            f"payload too large ({len(oversize)} bytes > {LIMIT})"
        )
        assert letter["stage"] == "decode"
        assert letter["topic"] == TOPIC
        dead_letter_bytes = sum(
            p.stat().st_size for p in (tmp_path / "var" / "dead-letters").glob("*.jsonl")
        )
        assert dead_letter_bytes < 16 * 1024
        # acked, not redelivered: a restart of ingest finds nothing more
        ingest.stop()
        ingest.start()
        time.sleep(2)
        assert len(ingest.dead_letters()) == 1
        assert ingest.alive()
    finally:
        if publisher is not None:
            publisher.close()
        if ingest.alive():
            ingest.kill9()
        broker.stop()


def _valid_looking_batch(size: int) -> bytes:
    """A well-formed readings batch of about `size` bytes: it must be refused for its size
    alone, unread."""
    reading = {"sensor": "p1", "ts": 1_763_800_000_000, "temp_c": 5.0, "seq": 1}
    one = orjson.dumps(reading)
    count = size // (len(one) + 1)
    payload = orjson.dumps({"readings": [reading] * count})
    return payload + b" " * max(0, size - len(payload))


def test_the_detector_skips_an_oversize_payload_unread() -> None:
    service = object.__new__(DetectorService)  # only the decode path: no catalog, broker
    service.settings = Settings()
    service.oversize_skipped = 0
    now = 1_763_800_000_000
    normal = next(make_batches("BSL", 1, 1, 1, per_message=1))[1]
    deliveries = [
        Delivery(TOPIC, normal, 1, 1, 1, now),
        Delivery(TOPIC, _valid_looking_batch(ONE_MB), 1, 2, 1, now),
        Delivery(TOPIC, normal, 1, 3, 1, now),
    ]
    readable = service._within_size_limit(deliveries)
    assert readable == [deliveries[0], deliveries[2]]
    assert service.oversize_skipped == 1
    readings, _ = service._decode(readable)
    assert len(readings) == 2
