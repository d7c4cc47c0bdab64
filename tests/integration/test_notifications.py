"""Notifications survive receivers that are down: webhook (HMAC-signed), SMTP and MQTT
alert topic, each a real peer on loopback, started only after the alert was raised."""

from __future__ import annotations

import asyncio
import email
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerting.alert_store import count_pending
from alerting.channels import sign
from alerting.channels.mqtt import MqttChannel
from alerting.errors import DeliveryFailed
from coldchain.catalog import catalog_session, create_catalog_engine
from coldchain.catalog.alerts import acknowledge_alert
from coldchain.catalog.outbox import Notification
from coldchain.config import MqttEndpoint
from coldchain.mqtt import MqttSubscriber
from coldchain.times import now_ms
from tests.support.detector import (
    AlertListener,
    DetectProcess,
    SmtpReceiver,
    WebhookReceiver,
    alerts,
    make_catalog,
)
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import MosquittoServer, free_port, running_mosquitto

pytestmark = pytest.mark.integration

SECRET = "s3cret"
TOPIC = "coldchain/v1/TST/unit/FR-1/readings"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


def test_every_notification_arrives_once_after_receivers_come_back(
    broker: MosquittoServer, tmp_path: Path
) -> None:
    web_port, smtp_port = free_port(), free_port()
    detect = DetectProcess(
        broker.url,
        make_catalog(tmp_path),
        tmp_path / "var",
        env={
            "COLDCHAIN_NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{web_port}/hook",
            "COLDCHAIN_NOTIFY_WEBHOOK_SECRET": SECRET,
            "COLDCHAIN_NOTIFY_SMTP_HOST": "127.0.0.1",
            "COLDCHAIN_NOTIFY_SMTP_PORT": str(smtp_port),
            "COLDCHAIN_NOTIFY_EMAIL_TO": '["night@example.org"]',
            "COLDCHAIN_NOTIFY_ESCALATION": '[["qa-lead@example.org"]]',
            "COLDCHAIN_NOTIFY_ESCALATE_AFTER_MIN": "0.1",
            "COLDCHAIN_NOTIFY_RETRY_MAX_S": "2",
            "COLDCHAIN_DETECT_CLEAR_AFTER_MIN": "0.05",
            "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "5",
        },
    )
    gateway = Publisher(broker.port, client_id="gw-notify")
    webhook: WebhookReceiver | None = None
    smtp: SmtpReceiver | None = None
    listener: AlertListener | None = None
    try:
        detect.start()  # in the try: a detector that never connects is still killed
        seq = 0
        deadline = time.monotonic() + 60
        while not any(a.severity == "alarm" for a in alerts(detect.catalog_url)):
            assert time.monotonic() < deadline, detect.log_text()[-3000:]
            gateway.publish(
                TOPIC,
                orjson.dumps({"sensor": "p1", "ts": now_ms(), "temp_c": 11.0, "seq": seq}),
            )
            seq += 1
            time.sleep(1.0)
        # Escalation happens while nobody can be reached; then the alarm clears.
        time.sleep(8)
        for _ in range(10):
            gateway.publish(
                TOPIC,
                orjson.dumps({"sensor": "p1", "ts": now_ms(), "temp_c": 5.0, "seq": seq}),
            )
            seq += 1
            time.sleep(0.5)
        wait_until(
            lambda: any(
                a.state == "resolved" and a.severity == "alarm" for a in alerts(detect.catalog_url)
            ),
            30,
            "the alarm to resolve",
        )
        wait_until(lambda: "notify: failed" in detect.log_text(), 10, "failed deliveries")
        time.sleep(5)  # receivers stay down a while longer, retries back off
        webhook, smtp = WebhookReceiver(web_port), SmtpReceiver(smtp_port)
        listener = AlertListener(broker.port)  # late subscriber: sees only what comes later
        alarm = next(a for a in alerts(detect.catalog_url) if a.severity == "alarm")
        wait_until(
            lambda: len(webhook.received) >= 3 and len(smtp.messages) >= 2,
            60,
            f"deliveries after the receivers came back:\n{detect.log_text()[-2000:]}",
        )
        time.sleep(3)  # nothing more should come
        states = []
        for body, headers in webhook.received:
            assert headers["X-Coldchain-Signature"] == sign(SECRET, body)
            event = json.loads(body)
            states.append((event["alert_id"], event["state"], event["escalation_level"]))
        assert states == [(alarm.id, "open", 0), (alarm.id, "open", 1), (alarm.id, "resolved", 1)]
        deliveries = [h["X-Coldchain-Delivery"] for _, h in webhook.received]
        assert len(deliveries) == len(set(deliveries))
        recipients = sorted(r for rcpts, _ in smtp.messages for r in rcpts)
        assert recipients == ["night@example.org", "qa-lead@example.org"]
        subject = email.message_from_bytes(smtp.messages[0][1])["Subject"]
        assert "ALARM" in subject
        assert "excursion" in subject
        assert detect.stop() == 0
    finally:
        gateway.close()
        for peer in (webhook, smtp, listener):
            if peer is not None:
                peer.close()
        if detect.process is not None and detect.process.poll() is None:
            detect.kill9()


class SessionListener:
    """Subscribes to every site's alert topic with a persistent session (QoS 1), so the
    broker keeps its subscription and queues its events while it reconnects, across the
    broker's own restart; keeps every event that arrives, duplicates included."""

    def __init__(self, port: int, client_id: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self._client.reconnect_delay_set(1, 1)
        self._client.on_message = lambda c, u, m: self.events.append(json.loads(m.payload))
        self._client.on_connect = lambda c, u, f, r, p: c.subscribe("coldchain/v1/+/alerts", qos=1)
        self._client.on_subscribe = lambda c, u, mid, codes, p: self._subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        # clean_start=False from the first connection, as the services connect: mosquitto
        # 2.0 writes to its persistence file only sessions begun without clean start.
        self._client.connect("127.0.0.1", port, keepalive=5, clean_start=False, properties=props)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the alert listener did not subscribe"

    def states(self, alert_id: str) -> list[str]:
        return [e["state"] for e in list(self.events) if e["alert_id"] == alert_id]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Logs:
    """Waits that, when they time out, show the detector's and the broker's logs as they
    are then."""

    def __init__(self, detect: DetectProcess, broker: MosquittoServer) -> None:
        self._detect, self._broker = detect, broker

    def wait(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        try:
            wait_until(condition, timeout_s, what)
        except AssertionError as exc:
            broker_log = self._broker.directory / "mosquitto.log"
            raise AssertionError(
                f"{exc}\n--- detector:\n{self._detect.log_text()[-3000:]}\n--- broker:\n"
                f"{broker_log.read_text(errors='replace')[-2000:]}"
            ) from None


def _reading(ts_ms: int, temp_c: float, seq: int) -> bytes:
    return orjson.dumps({"sensor": "p1", "ts": ts_ms, "temp_c": temp_c, "seq": seq})


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "crash"])
def test_mqtt_alert_events_wait_for_the_broker(
    broker: MosquittoServer, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    """The alert topic's peer is the broker: it stops (SIGTERM) or crashes (kill -9) while
    an alarm is open, the alarm's acknowledgement falls due while it is down (and fails),
    then the same broker restarts; the open, acknowledged and resolved events each arrive
    exactly once and the outbox is empty."""
    detect = DetectProcess(
        broker.url,
        make_catalog(tmp_path),
        tmp_path / "var",
        env={
            "COLDCHAIN_NOTIFY_RETRY_MAX_S": "2",
            "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "5",
            "COLDCHAIN_DETECT_CLEAR_AFTER_MIN": "0.05",  # 3 s back in range resolves
        },
    )
    listener = SessionListener(broker.port, client_id=f"alert-listener-{stop_signal.name}")
    gateway = Publisher(broker.port, client_id="gw-mqtt")
    engine = create_catalog_engine(detect.catalog_url)
    try:
        detect.start()
        # 15 s of event time at 1 °C (limits 2-8 °C, alarm delay 12 s): the alarm opens
        # on the second reading.
        t0 = now_ms()
        gateway.publish(TOPIC, _reading(t0 - 15_000, 1.0, 0))
        gateway.publish(TOPIC, _reading(t0, 1.0, 1))
        logs = Logs(detect, broker)
        logs.wait(lambda: any(e["severity"] == "alarm" for e in listener.events), 30, "open event")
        event = next(e for e in listener.events if e["severity"] == "alarm")
        alarm_id = event["alert_id"]
        assert set(event) >= {
            "alert_id",
            "kind",
            "severity",
            "state",
            "site",
            "device",
            "sensor",
            "start",
            "end",
            "peak_c",
            "retrospective",
        }
        assert (event["kind"], event["state"], event["site"], event["device"]) == (
            "excursion",
            "open",
            "TST",
            "FR-1",
        )
        assert event["start"].endswith("Z")
        assert event["end"] is None
        assert event["peak_c"] == 1.0
        if stop_signal == signal.SIGKILL:
            # kill -9 loses what the broker changed since its last autosave (every 5 s,
            # deploy/mosquitto/mosquitto.conf): wait for one, so the crash cannot bring
            # back the open event the listener already acknowledged (MQTT QoS 1 would
            # then deliver it twice: at least once, not exactly once).
            time.sleep(6)

        # The broker goes down mid-alarm.
        old_broker = broker.process
        assert old_broker is not None
        connects = detect.log_text().count("mqtt: connected")
        broker.stop(stop_signal)
        assert old_broker.returncode == (-stop_signal if stop_signal == signal.SIGKILL else 0)
        with catalog_session(engine) as session:
            acknowledge_alert(
                session, alarm_id, actor="quinn", at=datetime.now(UTC), comment="on my way"
            )
        failed = re.compile(rf"notify: failed id=\d+ channel=mqtt alert={alarm_id} ")
        logs.wait(lambda: bool(failed.search(detect.log_text())), 15, "a failed delivery")
        assert listener.states(alarm_id) == ["open"]

        # The same broker (port, persistence) comes back.
        broker.start()
        assert broker.process is not None
        assert broker.process.pid != old_broker.pid
        logs.wait(lambda: detect.log_text().count("mqtt: connected") > connects, 30, "reconnect")
        # Back in range for longer than the clear time: the alarm resolves.
        while now_ms() < t0 + 5_000:
            time.sleep(0.1)
        gateway.publish(TOPIC, _reading(t0 + 1_000, 5.0, 2))
        gateway.publish(TOPIC, _reading(t0 + 5_000, 5.0, 3))
        logs.wait(lambda: gateway.acked >= gateway.published, 30, "the gateway's acks")
        logs.wait(lambda: "resolved" in listener.states(alarm_id), 30, "the resolved event")
        logs.wait(lambda: count_pending(engine) == 0, 15, "an empty outbox")
        time.sleep(2)  # a duplicate would come within the retry time (2 s)
        assert listener.states(alarm_id) == ["open", "acknowledged", "resolved"]
        arrived = [(e["alert_id"], e["state"]) for e in listener.events]
        assert len(arrived) == len(set(arrived)), arrived
        assert count_pending(engine) == 0
        assert detect.stop() == 0
    finally:
        engine.dispose()
        gateway.close()
        listener.close()
        if detect.process is not None and detect.process.poll() is None:
            detect.kill9()


async def test_many_concurrent_mqtt_alert_events_all_complete(broker: MosquittoServer) -> None:
    """Thousands of alert events in flight on the detector's own connection at once: every
    send completes with its PUBACK, and every event reaches a subscriber."""
    listener = AlertListener(broker.port)
    subscriber = MqttSubscriber(MqttEndpoint(broker.url), "detect-load", ["coldchain/v1/+/x"])
    channel = MqttChannel(subscriber, timeout_s=30)
    try:
        async with subscriber:
            await subscriber.wait_connected(10)
            sends = [
                channel.send(
                    Notification(
                        n,
                        f"al-{n}",
                        "mqtt",
                        "coldchain/v1/TST/alerts",
                        f'{{"alert_id": "al-{n}"}}',
                        0,
                        None,
                    )
                )
                for n in range(3000)
            ]
            await asyncio.wait_for(asyncio.gather(*sends), 60)
        wait_until(lambda: len(listener.events) >= 3000, 30, "every event at the subscriber")
        assert {e["alert_id"] for e in listener.events} == {f"al-{n}" for n in range(3000)}
    finally:
        listener.close()


async def test_an_alert_event_without_a_broker_is_a_failed_delivery(tmp_path: Path) -> None:
    """Not connected: the channel says so at once (the outbox retries), it does not hang."""
    subscriber = MqttSubscriber(MqttEndpoint(f"mqtt://127.0.0.1:{free_port()}"), "d", ["a/b"])
    channel = MqttChannel(subscriber, timeout_s=1)
    with pytest.raises(DeliveryFailed, match="not connected"):
        await channel.send(
            Notification(1, "al-1", "mqtt", "coldchain/v1/TST/alerts", "{}", 0, None)
        )
