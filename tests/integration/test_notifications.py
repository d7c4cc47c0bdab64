"""Notifications survive receivers that are down: webhook (HMAC-signed), SMTP and MQTT
alert topic, each a real peer on loopback, started only after the alert was raised."""

from __future__ import annotations

import asyncio
import email
import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from alerting.channels import sign
from alerting.channels.mqtt import MqttChannel
from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification
from coldchain.config import MqttEndpoint
from coldchain.mqtt import MqttSubscriber
from tests.integration.test_detector_support import (
    AlertListener,
    DetectProcess,
    SmtpReceiver,
    WebhookReceiver,
    alerts,
    make_catalog,
)
from tests.pipeline import Publisher, wait_until
from tests.servers import MosquittoServer, free_port, running_mosquitto

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
    detect.start()
    gateway = Publisher(broker.port, client_id="gw-notify")
    webhook: WebhookReceiver | None = None
    smtp: SmtpReceiver | None = None
    listener: AlertListener | None = None
    try:
        seq = 0
        deadline = time.monotonic() + 60
        while not any(a.severity == "alarm" for a in alerts(detect.catalog_url)):
            assert time.monotonic() < deadline, detect.log_text()[-3000:]
            gateway.publish(
                TOPIC,
                orjson.dumps(
                    {"sensor": "p1", "ts": time.time_ns() // 1_000_000, "temp_c": 11.0, "seq": seq}
                ),
            )
            seq += 1
            time.sleep(1.0)
        # Escalation happens while nobody can be reached; then the alarm clears.
        time.sleep(8)
        for _ in range(10):
            gateway.publish(
                TOPIC,
                orjson.dumps(
                    {"sensor": "p1", "ts": time.time_ns() // 1_000_000, "temp_c": 5.0, "seq": seq}
                ),
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


def test_mqtt_alert_events_wait_for_the_broker(broker: MosquittoServer, tmp_path: Path) -> None:
    """The alert topic's peer is the broker: stop it mid-alarm, restart, events still arrive."""
    detect = DetectProcess(
        broker.url,
        make_catalog(tmp_path),
        tmp_path / "var",
        env={"COLDCHAIN_NOTIFY_RETRY_MAX_S": "2", "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "5"},
    )
    detect.start()
    listener = AlertListener(broker.port)
    gateway = Publisher(broker.port, client_id="gw-mqtt")
    try:
        seq = 0
        deadline = time.monotonic() + 60
        while not any(e["severity"] == "alarm" for e in listener.events):
            assert time.monotonic() < deadline, detect.log_text()[-3000:]
            gateway.publish(
                TOPIC,
                orjson.dumps(
                    {"sensor": "p1", "ts": time.time_ns() // 1_000_000, "temp_c": 1.0, "seq": seq}
                ),
            )
            seq += 1
            time.sleep(1.0)
        event = next(e for e in listener.events if e["severity"] == "alarm")
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
    finally:
        gateway.close()
        listener.close()
        detect.stop()


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
