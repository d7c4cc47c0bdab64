"""Helpers that drive the real pipeline from tests and benchmarks: an ingest process,
a QoS 1 publisher that knows what the broker acknowledged, and InfluxDB look-ups."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coldchain.config import Settings
from coldchain.measurements import READING
from coldchain.pipeline_metrics import metrics_file, read_snapshot
from ingest.spool import Spool
from tests.support.processes import ServiceProcess, wait_until

__all__ = [
    "IngestProcess",
    "Publisher",
    "ReadingKey",
    "make_batches",
    "mosquitto_pub_gateway",
    "stored_reading_keys",
    "wait_until",
]


ReadingKey = tuple[str, str, int]  # (device, sensor, ts_ms)


@dataclass
class IngestProcess(ServiceProcess):
    """`coldchain ingest` as a child process, so a test can kill -9 it."""

    mqtt_url: str
    influx_url: str
    influx_db: str
    data_dir: Path
    client_id: str = "ingest-test"
    shared_group: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.client_id}.log"

    def arguments(self) -> list[str]:
        return [
            "ingest",
            "--mqtt-url",
            self.mqtt_url,
            "--influx-url",
            self.influx_url,
            "--influx-db",
            self.influx_db,
            "--data-dir",
            str(self.data_dir),
        ]

    def environment(self) -> dict[str, str]:
        env = {
            "COLDCHAIN_INGEST_CLIENT_ID": self.client_id,
            "COLDCHAIN_METRICS_INTERVAL_S": "0.5",
            **self.extra_env,
        }
        if self.shared_group:
            env["COLDCHAIN_INGEST_SHARED_GROUP"] = self.shared_group
        return env

    def metrics(self) -> dict[str, object]:
        try:
            return dict(read_snapshot(metrics_file(self.data_dir, "ingest", self.client_id)).values)
        except FileNotFoundError:
            return {}

    def spooled_reading_keys(self) -> list[ReadingKey]:
        """The readings in the spool not yet delivered to InfluxDB, as the next start
        will find them; only while the process is not running."""
        assert not self.alive(), "the spool belongs to the running process"
        defaults = Settings.model_fields
        spool = Spool(
            self.data_dir / "spool" / self.client_id,
            segment_bytes=defaults["spool_segment_bytes"].default,
            max_bytes=defaults["spool_max_bytes"].default,
        )
        keys: list[ReadingKey] = []
        try:
            while batch := spool.read_batch(10_000):
                keys += [
                    _reading_key(line) for line in batch.lines if line.startswith(f"{READING},")
                ]
        finally:
            spool.close()
        return keys

    def dead_letters(self) -> list[dict[str, object]]:
        letters = []
        for path in sorted((self.data_dir / "dead-letters").glob("*.jsonl")):
            letters += [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
        return letters


class Publisher:
    """A gateway: QoS 1, persistent session, counts what the broker acknowledged.

    paho keeps unacknowledged QoS 1 messages and resends them after a reconnect, so a
    broker restart loses nothing on this side either.
    """

    def __init__(self, port: int, client_id: str = "test-gateway") -> None:
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 2)
        self._lock = threading.Lock()
        self.published = 0
        self.acked = 0
        self._client.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self._client.connect("127.0.0.1", port, keepalive=5, clean_start=False, properties=props)
        self._client.loop_start()

    def _on_publish(self, client: object, userdata: object, mid: int, *args: object) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._client.publish(topic, payload, qos=qos)
        with self._lock:
            self.published += 1

    def wait_acked(self, timeout_s: float = 60) -> None:
        wait_until(
            lambda: self.acked >= self.published,
            timeout_s,
            f"broker acks ({self.acked}/{self.published})",
        )

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def make_batches(
    site: str,
    devices: int,
    sensors: int,
    steps: int,
    *,
    per_message: int,
    start_ms: int = 1_763_800_000_000,
    step_ms: int = 60_000,
    source: str = "unit",
) -> Iterator[tuple[str, bytes, list[ReadingKey]]]:
    """Messages of `per_message` readings each for devices x sensors x steps readings."""
    for device_index in range(devices):
        device = f"D{device_index:04d}"
        topic = f"coldchain/v1/{site}/{source}/{device}/readings"
        readings = [
            {
                "sensor": f"p{s}",
                "ts": start_ms + step * step_ms,
                "temp_c": 5.0 + ((step * 7 + s) % 30) / 10,
                "seq": step * sensors + s,
            }
            for step in range(steps)
            for s in range(sensors)
        ]
        for first in range(0, len(readings), per_message):
            chunk = readings[first : first + per_message]
            if per_message == 1:
                payload = orjson.dumps(chunk[0])
            else:
                payload = orjson.dumps({"device": device, "readings": chunk})
            yield topic, payload, [(device, str(r["sensor"]), int(r["ts"])) for r in chunk]  # type: ignore[call-overload]


def _reading_key(line: str) -> ReadingKey:
    series, _, time_ms = line.rsplit(" ", 2)
    tags = dict(part.split("=", 1) for part in series.split(",")[1:])
    return tags["device"], tags["sensor"], int(time_ms)


def stored_reading_keys(influx_url: str, db: str) -> list[ReadingKey]:
    """Every stored point of `reading` as (device, sensor, time); a duplicate would show
    up twice here only if it had a different time or tags."""
    keys: list[ReadingKey] = []
    response = httpx.post(
        f"{influx_url}/query",
        data={
            "q": 'SELECT temp_c FROM "reading" GROUP BY "device", "sensor"',
            "db": db,
            "epoch": "ms",
            "chunked": "true",
            "chunk_size": "50000",
        },
        timeout=60,
    )
    for line in response.text.splitlines():
        for result in orjson.loads(line).get("results", []):
            for series in result.get("series", []):
                tags = series["tags"]
                keys += [(tags["device"], tags["sensor"], int(row[0])) for row in series["values"]]
    return keys


def count_readings(influx_url: str, db: str) -> int:
    try:
        response = httpx.post(
            f"{influx_url}/query",
            data={"q": 'SELECT count(temp_c) FROM "reading"', "db": db},
            timeout=10,
        )
    except httpx.HTTPError:
        return -1
    series = orjson.loads(response.content)["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def mosquitto_pub_gateway(
    port: int, topic: str, payloads: list[bytes], client_id: str
) -> subprocess.Popen[bytes]:
    """A C publisher sending one message per line of its input, QoS 1: a gateway that
    takes no CPU from the Python process measuring what it feeds (benchmarks)."""
    process = subprocess.Popen(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            "1",
            "-i",
            client_id,
            "-t",
            topic,
            "-l",
        ],
        stdin=subprocess.PIPE,
    )
    assert process.stdin is not None
    threading.Thread(target=_feed, args=(process.stdin, payloads), daemon=True).start()
    return process


def _feed(sink: IO[bytes], payloads: list[bytes]) -> None:
    sink.write(b"\n".join(payloads) + b"\n")
    sink.close()
