"""The ingest service end to end: real mosquitto, real influxd, ingest as a process."""

from __future__ import annotations

import base64
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.pipeline import (
    IngestProcess,
    Publisher,
    count_readings,
    make_batches,
    stored_reading_keys,
    wait_until,
)
from tests.support.servers import InfluxServer, MosquittoServer, running_influxd, running_mosquitto

pytestmark = pytest.mark.integration

SpawnIngest = Callable[..., IngestProcess]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    """A broker of the test's own: persistent sessions must not leak between tests."""
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
def spawn_ingest(tmp_path: Path) -> Iterator[SpawnIngest]:
    """Ingest processes that are ended after the test, whatever the test did."""
    spawned: list[IngestProcess] = []

    def spawn(mqtt_url: str, influx_url: str, db: str, **options: Any) -> IngestProcess:
        process = IngestProcess(mqtt_url, influx_url, db, tmp_path / "var", **options)
        spawned.append(process)
        process.start()
        return process

    yield spawn
    for process in spawned:
        if process.alive():
            process.kill9()


@pytest.fixture
def gateway() -> Iterator[Callable[[int], Publisher]]:
    """Test publishers, disconnected after the test."""
    publishers: list[Publisher] = []

    def connect(port: int) -> Publisher:
        publishers.append(Publisher(port, client_id=f"test-gateway-{len(publishers)}"))
        return publishers[-1]

    yield connect
    for publisher in publishers:
        publisher.close()


@pytest.fixture
def ingest(
    broker: MosquittoServer, influxd: InfluxServer, influx_db: str, spawn_ingest: SpawnIngest
) -> IngestProcess:
    return spawn_ingest(broker.url, influxd.url, influx_db)


def _assert_exactly(expected: list[tuple[str, str, int]], influx_url: str, db: str) -> None:
    stored = stored_reading_keys(influx_url, db)
    assert len(stored) == len(set(stored)), "a reading is stored twice"
    missing = set(expected) - set(stored)
    assert not missing, f"{len(missing)} readings lost, e.g. {sorted(missing)[:3]}"
    assert len(stored) == len(expected), "readings stored that were never published"


def test_published_readings_land_once_with_the_device_timestamps(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    ingest: IngestProcess,
    gateway: Callable[[int], Publisher],
) -> None:
    publisher = gateway(broker.port)
    expected = []
    for topic, payload, keys in make_batches("BSL", 4, 3, 50, per_message=50):
        publisher.publish(topic, payload)
        expected += keys
    # The same readings again, as a gateway retrying after a lost ack would send them.
    for topic, payload, _ in make_batches("BSL", 4, 3, 50, per_message=1):
        publisher.publish(topic, payload)
    publisher.wait_acked()
    _wait_processed(ingest, readings=2 * len(expected), duplicates=len(expected))
    _assert_exactly(expected, influxd.url, influx_db)
    assert min(ts for _, _, ts in expected) == 1_763_800_000_000


def _wait_processed(ingest: IngestProcess, *, readings: int, duplicates: int) -> None:
    """Until ingest has received `readings` and delivered all of them: written, or left
    out as one of `duplicates` (its counters, published every half second)."""

    def processed() -> bool:
        metrics = ingest.metrics()
        return (
            metrics.get("readings_received") == readings
            and metrics.get("spool_depth_bytes") == 0
            and metrics.get("duplicates") == duplicates
        )

    wait_until(processed, 30, f"{readings} readings processed, {duplicates} as duplicates")


def _stored_points(influx_url: str, db: str) -> bytes:
    """InfluxDB's answer for every field of every stored reading, as it sends it."""
    response = httpx.post(
        f"{influx_url}/query",
        data={"q": 'SELECT * FROM "reading" GROUP BY *', "db": db, "epoch": "ns"},
        timeout=30,
    )
    response.raise_for_status()
    assert b'"values"' in response.content, response.content[:300]
    return response.content


def test_a_resent_reading_leaves_the_stored_point_unchanged(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    ingest: IngestProcess,
    gateway: Callable[[int], Publisher],
) -> None:
    publisher = gateway(broker.port)
    batches = list(make_batches("BSL", 3, 2, 20, per_message=20))
    readings = sum(len(keys) for _, _, keys in batches)
    humid = orjson.dumps({"sensor": "h1", "ts": 1763800000000, "temp_c": 4.5, "rh": 61.5, "seq": 9})
    for topic, payload, _ in batches:
        publisher.publish(topic, payload)
    publisher.publish("coldchain/v1/BSL/unit/D0000/readings", humid)
    publisher.wait_acked()
    _wait_processed(ingest, readings=readings + 1, duplicates=0)
    before = _stored_points(influxd.url, influx_db)
    resent_at_ms = time.time_ns() // 1_000_000
    assert max(_arrivals(before)) < resent_at_ms, "the re-sends must arrive later"
    # Re-sent one reading per message, as a gateway retrying after a lost ack would.
    for topic, payload, _ in make_batches("BSL", 3, 2, 20, per_message=1):
        publisher.publish(topic, payload)
    publisher.publish("coldchain/v1/BSL/unit/D0000/readings", humid)
    publisher.wait_acked()
    _wait_processed(ingest, readings=2 * (readings + 1), duplicates=readings + 1)
    assert _stored_points(influxd.url, influx_db) == before
    assert ingest.dead_letters() == []


def _arrivals(answer: bytes) -> list[int]:
    """`received_ms` of every reading in a `_stored_points` answer."""
    arrivals: list[int] = []
    for series in orjson.loads(answer)["results"][0]["series"]:
        index = series["columns"].index("received_ms")
        arrivals += [row[index] for row in series["values"]]
    return arrivals


def test_a_conflicting_resend_is_dead_lettered_and_the_stored_point_unchanged(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    ingest: IngestProcess,
    gateway: Callable[[int], Publisher],
) -> None:
    publisher = gateway(broker.port)
    topic = "coldchain/v1/BSL/unit/U3/readings"
    publisher.publish(topic, b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.1, "seq": 4}')
    publisher.wait_acked()
    _wait_processed(ingest, readings=1, duplicates=0)
    before = _stored_points(influxd.url, influx_db)
    publisher.publish(topic, b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 7.3, "seq": 4}')
    publisher.wait_acked()
    wait_until(lambda: ingest.dead_letters(), 30, "the conflicting reading's dead letter")
    [letter] = ingest.dead_letters()
    assert letter["stage"] == "conflict"
    assert str(letter["reason"]).startswith(
        "conflict: reading at 2025-11-22T08:26:40.000+00:00 of "
        "reading,device=U3,sensor=p1,site=BSL,source=unit: stored temp_c=5.1, "
        "received temp_c=7.3; not written"
    )
    line = base64.b64decode(str(letter["payload_b64"])).decode()
    assert line.startswith("reading,device=U3,sensor=p1,site=BSL,source=unit temp_c=7.3,seq=4i,")
    _wait_processed(ingest, readings=2, duplicates=0)
    assert _stored_points(influxd.url, influx_db) == before


def _conflict_points(influx_url: str, db: str) -> list[dict[str, Any]]:
    """Every `reading_conflict` point, its tags and fields by name."""
    response = httpx.post(
        f"{influx_url}/query",
        data={"q": 'SELECT * FROM "reading_conflict" GROUP BY *', "db": db, "epoch": "ms"},
        timeout=30,
    )
    response.raise_for_status()
    points = []
    for series in orjson.loads(response.content)["results"][0].get("series", []):
        for row in series["values"]:
            fields = {k: v for k, v in zip(series["columns"], row, strict=True) if v is not None}
            points.append(series["tags"] | fields)
    return points


def test_two_conflicting_resends_are_written_as_conflict_points_beside_the_kept_reading(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    ingest: IngestProcess,
    gateway: Callable[[int], Publisher],
) -> None:
    publisher = gateway(broker.port)
    topic = "coldchain/v1/BSL/unit/U3/readings"
    publisher.publish(topic, b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 9.5, "seq": 4}')
    publisher.wait_acked()
    _wait_processed(ingest, readings=1, duplicates=0)
    before = _stored_points(influxd.url, influx_db)
    for value in (5.1, 4.9):
        publisher.publish(
            topic, b'{"sensor": "p1", "ts": 1763800000000, "temp_c": %.1f, "seq": 4}' % value
        )
    publisher.wait_acked()
    wait_until(lambda: ingest.metrics().get("conflicts") == 2, 30, "two conflicts counted")
    _wait_processed(ingest, readings=3, duplicates=0)
    assert _stored_points(influxd.url, influx_db) == before
    points = sorted(_conflict_points(influxd.url, influx_db), key=lambda p: p["temp_c"])
    assert [(p["time"], p["temp_c"], p["stored_temp_c"]) for p in points] == [
        (1763800000000, 4.9, 9.5),
        (1763800000000, 5.1, 9.5),
    ]
    for point in points:
        assert (point["site"], point["source"], point["device"], point["sensor"]) == (
            "BSL",
            "unit",
            "U3",
            "p1",
        )
        assert point["received_ms"] > 1763800000000
    assert points[0]["line_sha256"] != points[1]["line_sha256"]  # each names its dead letter
    assert [letter["stage"] for letter in ingest.dead_letters()] == ["conflict", "conflict"]


BAD_PAYLOADS = [
    (
        "coldchain/v1/BSL/unit/U1/readings",
        b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0',
        "not valid UTF-8 JSON",
    ),
    (
        "coldchain/v1/BSL/unit/U1/readings",
        b'{"sensor": "p1", "ts": 1763800000000, "temp_c": "warm", "seq": 1}',
        "temp_c: expected a number, got 'warm'",
    ),
    (
        "coldchain/v1/BSL/unit/U1/readings",
        b'{"sensor": "p1", "temp_c": 5.0, "seq": 1}',
        "ts: missing",
    ),
    (
        "coldchain/v1/BSL/unit/U1/readings",
        b'{"sensor": "p1", "ts": 1763800000000, "temp_c": -999.9, "seq": 1}',
        "temp_c: -999.9 is outside",
    ),
    (
        "coldchain/v1/BSL/unit/U1/readings",
        b'{"sensor": "p\xff1", "ts": 1, "temp_c": 5, "seq": 1}',
        "not valid UTF-8 JSON",
    ),
    (
        "coldchain/v1/BSL/fridge/U1/readings",
        b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": 1}',
        "unknown source 'fridge'",
    ),
    ("coldchain/v1/BSL/unit/U1/status", b'{"battery_pct": 50}', "ts: missing"),
]


def test_bad_messages_become_dead_letters_and_ingest_keeps_running(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    ingest: IngestProcess,
    gateway: Callable[[int], Publisher],
) -> None:
    publisher = gateway(broker.port)
    for topic, payload, _ in BAD_PAYLOADS:
        publisher.publish(topic, payload)
    publisher.publish(
        "coldchain/v1/BSL/unit/U1/readings",
        b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": 2}',
    )
    publisher.wait_acked()
    wait_until(lambda: count_readings(influxd.url, influx_db) == 1, 30, "the good reading")
    wait_until(lambda: len(ingest.dead_letters()) == len(BAD_PAYLOADS), 10, "dead letters")
    letters = ingest.dead_letters()
    for (topic, _payload, reason), letter in zip(BAD_PAYLOADS, letters, strict=True):
        assert letter["topic"] == topic
        assert reason in str(letter["reason"])
        assert letter["stage"] == "decode"
        assert letter["payload_b64"]
    assert ingest.alive()


def test_lines_influxdb_refuses_are_dead_lettered_and_the_rest_lands(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    ingest: IngestProcess,
    gateway: Callable[[int], Publisher],
) -> None:
    # `rh` already holds text in this shard, so a reading with a numeric rh is refused.
    httpx.post(
        f"{influxd.url}/write",
        params={"db": influx_db, "precision": "ms"},
        content='reading,device=OTHER,sensor=p1,site=BSL,source=unit rh="wet" 1763800000000',
    ).raise_for_status()
    publisher = gateway(broker.port)
    readings = [
        {"sensor": f"p{i}", "ts": 1763800000000, "temp_c": 5.0, "seq": i} for i in range(10)
    ]
    readings[4]["rh"] = 55.0
    publisher.publish("coldchain/v1/BSL/unit/U7/readings", orjson.dumps({"readings": readings}))
    publisher.wait_acked()
    wait_until(lambda: len(ingest.dead_letters()) == 1, 30, "the refused line")
    [letter] = ingest.dead_letters()
    assert letter["stage"] == "store"
    assert "field type conflict" in str(letter["reason"])
    # 9 of ours and the pre-written point of OTHER (rh only, no temp_c: not counted).
    assert count_readings(influxd.url, influx_db) == 9


def _publish_in_background(
    publisher: Publisher, messages: list[tuple[str, bytes]], per_second: float
) -> threading.Thread:
    def run() -> None:
        started = time.monotonic()
        for index, (topic, payload) in enumerate(messages):
            publisher.publish(topic, payload)
            lag = index / per_second - (time.monotonic() - started)
            if lag > 0:
                time.sleep(lag)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_all_stored(expected: list[tuple[str, str, int]], url: str, db: str, what: str) -> None:
    wait_until(lambda: count_readings(url, db) >= len(expected), 90, what)
    _assert_exactly(expected, url, db)


def _restart_four_times_during_a_run(
    ingest: IngestProcess,
    publisher: Publisher,
    influx_url: str,
    db: str,
    stop: Callable[[int], None],
) -> None:
    """60,000 readings published at 150 messages/s while ingest is stopped by `stop(n)`
    (n = 0 … 3) and started again four times; every reading must end up stored once."""
    batches = list(make_batches("BSL", 20, 5, 600, per_message=50))
    expected = [key for _, _, keys in batches for key in keys]
    feeder = _publish_in_background(publisher, [(t, p) for t, p, _ in batches], 150)
    rng = random.Random(7)
    for n in range(4):
        time.sleep(rng.uniform(0.8, 1.6))
        stop(n)
        ingest.start()
    feeder.join()
    publisher.wait_acked()
    _wait_all_stored(expected, influx_url, db, "every reading after the restarts")
    assert ingest.starts == 5


@pytest.mark.slow
def test_kill_9_of_ingest_with_readings_spooled_but_not_written_loses_nothing_and_stores_nothing_twice(
    broker: MosquittoServer,
    spawn_ingest: SpawnIngest,
    gateway: Callable[[int], Publisher],
    tmp_path: Path,
) -> None:
    """Most kills land while the writer is idle; the second comes while InfluxDB stalls
    (SIGSTOP), so at least one kill finds acked readings that only the spool holds."""
    with running_influxd(tmp_path / "influxd") as influx:
        ingest = spawn_ingest(broker.url, influx.url, "kills")
        influxd = influx.process
        assert influxd is not None
        unwritten_at_kill: list[int] = []

        def spool_bytes() -> int:
            segments = (ingest.data_dir / "spool" / ingest.client_id).glob("*.seg")
            return sum(segment.stat().st_size for segment in segments)

        def kill(n: int) -> None:
            if n == 1:
                before = spool_bytes()
                influxd.send_signal(signal.SIGSTOP)
                try:
                    wait_until(
                        lambda: spool_bytes() > before,
                        10,
                        "readings to reach the spool while InfluxDB stalls",
                        interval_s=0.05,
                    )
                    ingest.kill9()
                finally:
                    influxd.send_signal(signal.SIGCONT)
            else:
                ingest.kill9()
            # Acked to the broker, durable in the spool, not in InfluxDB: only the spool's
            # replay at the next start can bring these in.
            spooled = set(ingest.spooled_reading_keys())
            stored = set(stored_reading_keys(influx.url, "kills"))
            unwritten_at_kill.append(len(spooled - stored))

        _restart_four_times_during_a_run(ingest, gateway(broker.port), influx.url, "kills", kill)
        print(f"readings spooled but not written at each kill: {unwritten_at_kill}")
        assert max(unwritten_at_kill) > 0, "no kill caught readings between spool and InfluxDB"


@pytest.mark.slow
def test_sigterm_of_ingest_during_a_run_loses_nothing_and_stores_nothing_twice(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    spawn_ingest: SpawnIngest,
    gateway: Callable[[int], Publisher],
) -> None:
    ingest = spawn_ingest(broker.url, influxd.url, influx_db)

    def stop(_: int) -> None:
        assert ingest.stop() == 0

    _restart_four_times_during_a_run(ingest, gateway(broker.port), influxd.url, influx_db, stop)


@pytest.mark.slow
def test_influxdb_down_for_a_while_loses_nothing_and_the_spool_drains(
    broker: MosquittoServer,
    spawn_ingest: SpawnIngest,
    gateway: Callable[[int], Publisher],
    tmp_path: Path,
) -> None:
    with running_influxd(tmp_path / "influxd") as influx:
        ingest = spawn_ingest(broker.url, influx.url, "outage")
        batches = list(make_batches("BSL", 10, 5, 200, per_message=50))  # 10,000 readings
        expected = [key for _, _, keys in batches for key in keys]
        messages = [(t, p) for t, p, _ in batches]
        publisher = gateway(broker.port)
        # Half before the outage, half during it: published only once influxd has exited, so
        # a slow machine cannot deliver everything before the store goes down.
        _publish_in_background(publisher, messages[:100], 100).join()
        influx.stop()
        feeder = _publish_in_background(publisher, messages[100:], 100)
        wait_until(
            lambda: (
                ingest.metrics().get("influx_up") is False
                and int(str(ingest.metrics().get("spool_depth_bytes", 0))) > 0
            ),
            30,  # a wait, not a bound: a loaded machine (or -n 2) gets there later
            "ingest to notice the outage and keep readings in its spool",
        )
        time.sleep(2)
        influx.start()
        feeder.join()
        publisher.wait_acked()
        _wait_all_stored(expected, influx.url, "outage", "the spool to drain")
        wait_until(lambda: ingest.metrics().get("spool_depth_bytes") == 0, 10, "empty spool")
        assert ingest.stop() == 0


@pytest.mark.slow
def test_broker_restart_during_a_run_loses_nothing(
    influxd: InfluxServer,
    influx_db: str,
    spawn_ingest: SpawnIngest,
    gateway: Callable[[int], Publisher],
    tmp_path: Path,
) -> None:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        ingest = spawn_ingest(broker.url, influxd.url, influx_db)
        batches = list(make_batches("BSL", 10, 5, 200, per_message=25))  # 10,000 readings
        expected = [key for _, _, keys in batches for key in keys]
        publisher = gateway(broker.port)
        feeder = _publish_in_background(publisher, [(t, p) for t, p, _ in batches], 150)
        time.sleep(1)
        broker.restart()
        feeder.join()
        publisher.wait_acked(90)
        _wait_all_stored(expected, influxd.url, influx_db, "every reading after the restart")
        assert ingest.log_text().count("mqtt: connected") >= 2


@pytest.mark.slow
def test_two_workers_on_a_shared_subscription_split_the_load_and_lose_nothing(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    spawn_ingest: SpawnIngest,
    gateway: Callable[[int], Publisher],
) -> None:
    workers = [
        spawn_ingest(
            broker.url, influxd.url, influx_db, client_id=f"ingest-{n}", shared_group="ingest"
        )
        for n in (1, 2)
    ]
    batches = list(make_batches("BSL", 10, 5, 200, per_message=10))  # 10,000 readings
    expected = [key for _, _, keys in batches for key in keys]
    publisher = gateway(broker.port)
    for topic, payload, _ in batches:
        publisher.publish(topic, payload)
    publisher.wait_acked()
    _wait_all_stored(expected, influxd.url, influx_db, "readings from both workers")

    def shares() -> list[int]:
        return [int(str(w.metrics().get("messages_received", 0))) for w in workers]

    wait_until(lambda: sum(shares()) == len(batches), 10, "both workers' counters")
    assert min(shares()) > len(batches) // 5, f"one worker did almost nothing: {shares()}"
    for worker in workers:
        assert worker.stop() == 0


@pytest.mark.slow
def test_a_full_spool_pushes_back_on_the_broker_and_drops_nothing(
    broker: MosquittoServer,
    spawn_ingest: SpawnIngest,
    gateway: Callable[[int], Publisher],
    tmp_path: Path,
) -> None:
    with running_influxd(tmp_path / "influxd") as influx:
        ingest = spawn_ingest(
            broker.url,
            influx.url,
            "full",
            extra_env={
                "COLDCHAIN_SPOOL_MAX_BYTES": str(1024 * 1024),
                "COLDCHAIN_INGEST_RECEIVE_MAXIMUM": "50",
            },
        )
        influx.stop()
        batches = list(make_batches("BSL", 10, 5, 400, per_message=50))  # 20,000 readings, ~2 MiB
        expected = [key for _, _, keys in batches for key in keys]
        publisher = gateway(broker.port)
        for topic, payload, _ in batches:
            publisher.publish(topic, payload)
        wait_until(lambda: "spool full" in ingest.log_text(), 30, "the spool to fill up")
        assert "InfluxDB is not keeping up" in ingest.log_text()  # the warning at 80 %
        depth = int(str(ingest.metrics().get("spool_depth_bytes", 0)))
        assert depth < 2 * 1024 * 1024, "the spool grew far past its bound"
        # Ingest took (and acked) only what fitted; the rest waits unacked, most of it in
        # the broker's session since at most Receive Maximum messages are in flight.
        taken = int(str(ingest.metrics().get("messages_received", 0)))
        assert taken < len(batches), "ingest took in more than its spool could hold"
        influx.start()
        publisher.wait_acked(60)
        _wait_all_stored(expected, influx.url, "full", "the held-back readings")


def test_a_dropped_database_is_created_again_and_nothing_is_lost(
    broker: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    ingest: IngestProcess,
    gateway: Callable[[int], Publisher],
) -> None:
    batches = list(make_batches("BSL", 2, 2, 50, per_message=50))  # 200 readings
    first, second = batches[: len(batches) // 2], batches[len(batches) // 2 :]
    publisher = gateway(broker.port)
    for topic, payload, _ in first:
        publisher.publish(topic, payload)
    publisher.wait_acked()
    _wait_all_stored([key for _, _, keys in first for key in keys], influxd.url, influx_db, "first")
    response = httpx.post(f"{influxd.url}/query", params={"q": f'DROP DATABASE "{influx_db}"'})
    assert response.status_code == 200
    for topic, payload, _ in second:
        publisher.publish(topic, payload)
    publisher.wait_acked()
    expected = [key for _, _, keys in second for key in keys]
    _wait_all_stored(expected, influxd.url, influx_db, "the database to be created again")
    assert f"database {influx_db} was missing and has been created" in ingest.log_text()
