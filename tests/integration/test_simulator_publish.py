"""The simulator publishes over a real mosquitto; a paho subscriber decodes what arrives."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from coldchain import times
from coldchain.config import MqttEndpoint
from coldchain.fleet import Fleet
from coldchain.models import Reading
from coldchain.wire import decode_gateway_state, decode_readings, decode_status, parse_topic
from simulators.engine import Simulation
from simulators.plan import build_plan
from simulators.runner import CatchUp, RunStats, run_to_mqtt
from tests.support.servers import MosquittoServer

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000
HOUR_MS = 3_600_000


@dataclass
class Received:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout_s: float = 20.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self.lock:
                if len(self.messages) >= count:
                    return
            time.sleep(0.05)
        pytest.fail(f"received {len(self.messages)} of {count} messages")


@pytest.fixture
def site() -> str:
    return f"SIM{uuid.uuid4().hex[:6].upper()}"


@pytest.fixture
def received(mosquitto: MosquittoServer, site: str) -> Iterator[Received]:
    sink = Received()
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"test-sub-{site}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    subscribed = threading.Event()

    def on_message(c: paho.Client, u: Any, message: paho.MQTTMessage) -> None:
        with sink.lock:
            sink.messages.append((message.topic, bytes(message.payload)))

    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(f"coldchain/v1/{site}/#", qos=1)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    assert subscribed.wait(10)
    try:
        yield sink
    finally:
        client.disconnect()
        client.loop_stop()


def _fleet(site: str) -> Fleet:
    return Fleet.model_validate(
        {
            "sites": [
                {
                    "id": site,
                    "units": [
                        {
                            "id": "F1",
                            "kind": "refrigerator",
                            "setpoint_c": 5.0,
                            "sensors": [{"id": "p1"}, {"id": "p2"}],
                        },
                        {
                            "id": "Z1",
                            "kind": "freezer",
                            "setpoint_c": -20.0,
                            "sensors": [{"id": "p1"}],
                            "simulation": {
                                "faults": [
                                    {"kind": "probe_disconnected", "at": "30m", "duration": "30m"}
                                ]
                            },
                        },
                    ],
                }
            ],
            "shipments": [
                {
                    "id": "SHP-1",
                    "origin": site,
                    "destination": site,
                    "loggers": [{"id": "LOG-1", "sensors": [{"id": "p1"}], "log_interval_s": 120}],
                    "simulation": {
                        "burst_size": 5,
                        "duplicate_probability": 0.5,
                        "lane": [
                            {"name": "dock", "duration": "30m", "ambient_c": 20},
                            {
                                "name": "flight",
                                "duration": "3h",
                                "ambient_c": 10,
                                "connected": False,
                            },
                            {"name": "road", "duration": "1h", "ambient_c": 25},
                        ],
                    },
                }
            ],
        }
    )


def _publish(site: str, url: str, *, hours: int, speed: float, seed: int = 1) -> RunStats:
    plan = build_plan(_fleet(site), START_MS, START_MS + hours * HOUR_MS, seed)
    return asyncio.run(
        run_to_mqtt(Simulation(plan), MqttEndpoint(url), speed=speed, client_prefix=f"test-{site}")
    )


def test_published_messages_decode_and_gateway_says_online_then_offline(
    mosquitto: MosquittoServer, received: Received, site: str
) -> None:
    stats = _publish(site, mosquitto.url, hours=5, speed=0)
    received.wait_for(stats.messages + 2)  # + retained online and closing offline
    readings: list[Reading] = []
    states = []
    for topic_text, payload in received.messages:
        topic = parse_topic(topic_text)
        if topic.source == "gateway":
            states.append(decode_gateway_state(topic, payload))
        elif topic.kind == "status":
            decode_status(topic, payload)
        else:
            readings += decode_readings(topic, payload)
    assert len(readings) == stats.readings
    assert states == ["online", "offline"]
    assert {r.device for r in readings} == {"F1", "Z1", "LOG-1"}
    assert -127.0 in {r.temp_c for r in readings if r.device == "Z1"}


def test_logger_backfill_arrives_out_of_order_and_partly_twice(
    mosquitto: MosquittoServer, received: Received, site: str
) -> None:
    stats = _publish(site, mosquitto.url, hours=5, speed=0, seed=4)
    received.wait_for(stats.messages + 2)
    batches = [
        (payload, decode_readings(parse_topic(topic), payload))
        for topic, payload in received.messages
        if "/logger/LOG-1/readings" in topic
    ]
    firsts = [readings[0].seq for _, readings in batches]
    assert firsts != sorted(firsts)  # the burst came out of order
    payloads = [payload for payload, _ in batches]
    assert len(set(payloads)) < len(payloads)  # some batches twice
    seqs = {r.seq for _, readings in batches for r in readings}
    assert seqs == set(range(len(seqs)))  # none lost


def test_speed_paces_publishing_against_the_wall_clock(
    mosquitto: MosquittoServer, received: Received, site: str
) -> None:
    began = time.monotonic()
    stats = _publish(site, mosquitto.url, hours=1, speed=7200)  # 1 h in 0.5 s
    assert time.monotonic() - began >= 0.45
    received.wait_for(stats.messages + 2)


def test_catch_up_sends_the_past_at_once_then_paces_from_now(
    mosquitto: MosquittoServer, received: Received, site: str
) -> None:
    """`coldchain up`'s one simulation: two hours of history as fast as the broker takes
    them, then the five minutes after now at 60x (5 s), the same plan throughout."""
    started_ms = times.now_ms()
    now_ms = started_ms // 60_000 * 60_000
    end_ms = now_ms + 5 * 60_000
    plan = build_plan(_fleet(site), now_ms - 2 * HOUR_MS, end_ms, 1)
    reports: list[tuple[float, CatchUp]] = []
    began = time.monotonic()
    stats = asyncio.run(
        run_to_mqtt(
            Simulation(plan),
            MqttEndpoint(mosquitto.url),
            speed=60,
            client_prefix=f"test-{site}",
            catch_up=True,
            progress=lambda at: reports.append((time.monotonic() - began, at)),
        )
    )
    elapsed = time.monotonic() - began
    received.wait_for(stats.messages + 2)
    (caught_up_after_s, caught_up), *_ = [(t, at) for t, at in reports if at.caught_up]
    assert [at.caught_up for _, at in reports].count(True) == 1
    assert [at.done_ms for _, at in reports[:2]] == [HOUR_MS, 2 * HOUR_MS]  # per hour
    assert caught_up.span_ms >= 2 * HOUR_MS
    assert caught_up_after_s < 3.0  # two hours not paced
    # the rest of the five minutes after now were paced: 4-5 s, as far as now was into its minute
    paced_s = (end_ms - started_ms) / 60 / 1000 - caught_up_after_s
    assert elapsed - caught_up_after_s >= paced_s - 0.1
    assert stats.readings == sum(
        len(decode_readings(parse_topic(topic), payload))
        for topic, payload in received.messages
        if topic.endswith("/readings")
    )
