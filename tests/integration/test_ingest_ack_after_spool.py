"""Ingest acks a message to the broker only once its reading is in the spool and fsynced
(ingest/service.py), on a real mosquitto and influxd.

Ingest runs in this process so that one spool fsync can fail the way it does when the
machine loses power: the service dies, and the disk keeps only what earlier fsyncs made
durable. The messages of that group must then still be unacked in ingest's session, so the
broker hands them over again to the next start. Were a message acked before the append or
before the fsync, the broker would have dropped it and the reading would be gone.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coldchain.config import Settings
from ingest.service import IngestService, subscription_filters
from ingest.spool import Position, Spool
from tests.support.pipeline import Publisher, count_readings, make_batches, stored_reading_keys
from tests.support.servers import InfluxServer, running_mosquitto

pytestmark = pytest.mark.integration


def _open_session(port: int, client_id: str, filters: list[str]) -> None:
    """Ingest's persistent session, subscribed as ingest subscribes, so that the broker
    keeps what is published while ingest is down."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    try:
        client.subscribe([(topic, 1) for topic in filters])
        assert subscribed.wait(10), "no SUBACK"
    finally:
        client.disconnect()
        client.loop_stop()


async def _eventually(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """`wait_until` for a test whose event loop also runs ingest."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_a_message_is_acked_only_once_its_reading_is_fsynced_in_the_spool(
    influxd: InfluxServer,
    influx_db: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        settings = Settings(
            mqtt_url=broker.url,
            influx_url=influxd.url,
            influx_db=influx_db,
            data_dir=data_dir,
            ingest_client_id="ack-after-spool",
            metrics_interval_s=60,
        )
        _open_session(broker.port, settings.ingest_client_id, subscription_filters(None))
        publisher = Publisher(broker.port, client_id="ack-gateway")
        try:
            batches = list(make_batches("BSL", 2, 2, 10, per_message=10))
            for topic, payload, _ in batches:
                publisher.publish(topic, payload)
            publisher.wait_acked()
        finally:
            publisher.close()

        real_sync = Spool.sync
        durable: list[Position] = []

        def sync_cut_by_a_power_failure(spool: Spool) -> None:
            if durable:  # the next process's spool, and close() of this one
                real_sync(spool)
                return
            durable.append(spool.synced_end)
            raise OSError(errno.EIO, "power cut: this fsync never happened")

        with monkeypatch.context() as patched:
            patched.setattr(Spool, "sync", sync_cut_by_a_power_failure)
            with pytest.raises(ExceptionGroup) as crash:
                await IngestService(settings).run()
        assert crash.group_contains(OSError, match="power cut")
        # The disk after the power cut: the spool as of its last fsync, nothing since.
        [segment] = (data_dir / "spool" / settings.ingest_client_id).glob("*.seg")
        os.truncate(segment, durable[0].offset)
        assert count_readings(influxd.url, influx_db) == 0

        service = IngestService(settings)
        assert service.spool.read_batch(1000) is None, "the spool holds no reading"
        service.spool.rewind()
        running = asyncio.create_task(service.run())
        expected = [key for _, _, keys in batches for key in keys]
        await _eventually(
            lambda: count_readings(influxd.url, influx_db) == len(expected),
            30,
            "the broker to hand over again what ingest had not acked",
        )
        service.stopping.set()
        await running
        assert sorted(stored_reading_keys(influxd.url, influx_db)) == sorted(expected)
