"""A sponsor's contacts hear of a deviation on their product when it opens and when it is
assessed: each notice once, in order, signed on the webhook, readable in the e-mail, after a
contact that was down comes back, and from exactly one of a pair of partitioned detectors.
Real peers on loopback: mosquitto, `coldchain detect` processes, an HTTP receiver and an
SMTP server."""

from __future__ import annotations

import email
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

import pytest

from alerting.channels.webhook import sign, sponsor_secret
from coldchain.catalog import catalog_session, create_catalog_engine, set_password
from coldchain.catalog.deviations import (
    CoveredFinding,
    Deviation,
    assess_deviation,
    open_deviation,
)
from coldchain.catalog.sponsor_notices import deviation_event
from tests.support.catalog import catalog_from_fleet
from tests.support.detector import DetectProcess, SmtpReceiver, WebhookReceiver
from tests.support.pipeline import wait_until
from tests.support.servers import MosquittoServer, free_port, running_mosquitto

pytestmark = pytest.mark.integration

SECRET = "s3cret"
PASSWORD = "quinn-signs-2026"

FLEET = """\
sponsors:
  - id: ACME
    name: Acme Pharma
    contacts: {{email: [qa@acme.example], webhook: ["http://127.0.0.1:{acme}/hooks/coldchain"]}}
  - id: BETA
    name: Beta Bio
    contacts: {{email: [qa@beta.example], webhook: ["http://127.0.0.1:{beta}/hooks/coldchain"]}}
users: [{{id: quinn, role: qa, name: Quinn Quality}}]
sites:
  - id: BSL
    units: [{{id: FR-1, kind: refrigerator, setpoint_c: 5.0, sensors: [{{id: p1}}]}}]
  - id: ZRH
    units: [{{id: FR-2, kind: refrigerator, setpoint_c: 5.0, sensors: [{{id: p1}}]}}]
products:
  - {{id: VAX, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0}}}}
  - {{id: BIO, sponsor: BETA, storage: {{min_c: 2.0, max_c: 8.0}}}}
batches: [{{id: LOT-0005, product: VAX}}, {{id: LOT-0006, product: BIO}}]
placements:
  - {{batch: LOT-0005, unit: ZRH/FR-2, from: "2026-11-01T08:00:00Z"}}
  - {{batch: LOT-0006, unit: ZRH/FR-2, from: "2026-11-01T08:00:00Z"}}
"""

FINDING = CoveredFinding(
    "excursion-1a2b3c4d5e6f",
    "excursion",
    "ZRH/FR-2",
    datetime(2026, 11, 20, 3, 10, tzinfo=UTC),
    datetime(2026, 11, 20, 4, 5, tzinfo=UTC),
)
REASON = "55 min at up to 9.1 °C; stability data cover 24 h up to 25 °C"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


class World:
    """The catalog (ACME's and BETA's contacts on loopback ports) and the receivers'
    ports."""

    def __init__(self, tmp_path: Path) -> None:
        self.acme_port, self.beta_port, self.smtp_port = free_port(), free_port(), free_port()
        self.catalog_url = catalog_from_fleet(
            tmp_path, FLEET.format(acme=self.acme_port, beta=self.beta_port)
        )
        self.engine = create_catalog_engine(self.catalog_url)
        with catalog_session(self.engine) as session:
            set_password(session, user_id="quinn", password=PASSWORD, actor="test")

    def detector(self, broker: MosquittoServer, data_dir: Path, **env: str) -> DetectProcess:
        return DetectProcess(
            broker.url,
            self.catalog_url,
            data_dir,
            env={
                "COLDCHAIN_NOTIFY_WEBHOOK_SECRET": SECRET,
                "COLDCHAIN_NOTIFY_SMTP_HOST": "127.0.0.1",
                "COLDCHAIN_NOTIFY_SMTP_PORT": str(self.smtp_port),
                "COLDCHAIN_NOTIFY_RETRY_MAX_S": "2",
                **env,
            },
        )

    def open(self) -> Deviation:
        with catalog_session(self.engine) as session:
            return open_deviation(
                session,
                batch_id="LOT-0005",
                findings=[FINDING],
                title="Excursion in ZRH/FR-2",
                actor="quinn",
            )

    def assess(self, deviation: Deviation) -> Deviation:
        with catalog_session(self.engine) as session:
            return assess_deviation(
                session,
                deviation.id,
                user_id="quinn",
                password=PASSWORD,
                reason=REASON,
                stability_reference="STAB-VAX-2025-07",
                impact="minor",
            )

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def _mails(smtp: SmtpReceiver, to: str) -> list[Message]:
    return [email.message_from_bytes(raw) for rcpts, raw in smtp.messages if to in rcpts]


def _wait(detectors: list[DetectProcess], condition: Callable[[], object], what: str) -> None:
    """`wait_until`, showing the detectors' logs as they are when it times out."""
    try:
        wait_until(condition, 60, what)
    except AssertionError as exc:
        logs = "\n".join(f"--- {d.data_dir.name}:\n{d.log_text()[-2500:]}" for d in detectors)
        raise AssertionError(f"{exc}\n{logs}") from None


def _stop(detectors: list[DetectProcess]) -> None:
    for d in detectors:
        if d.alive():
            d.kill9()


def _assert_acme_heard_once_each_in_order(
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
    opened: Deviation,
    assessed: Deviation,
) -> None:
    """The webhook got the two events as JSON, as sponsor_notices wrote them, signed; the
    e-mail contact two mails that say what happened."""
    expected = [
        deviation_event(opened, event="deviation_opened", at=opened.opened_at),
        deviation_event(assessed, event="deviation_assessed", at=assessed.updated_at),
    ]
    assert [json.loads(body) for body, _ in webhook.received] == expected
    for body, headers in webhook.received:
        # ACME's own key: it cannot forge the CMO's alert webhooks or BETA's notices
        assert headers["X-Coldchain-Signature"] == sign(sponsor_secret(SECRET, "ACME"), body)
        assert headers["X-Coldchain-Signature"] != sign(SECRET, body)
    mails = _mails(smtp, "qa@acme.example")
    assert [m["Subject"] for m in mails] == [
        f"Deviation {opened.number} opened on batch LOT-0005: Excursion in ZRH/FR-2",
        f"Deviation {opened.number} assessed on batch LOT-0005: impact minor",
    ]
    assessed_text = mails[1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Impact: minor" in assessed_text
    assert f"Reason: {REASON}" in assessed_text
    assert "Stability data: STAB-VAX-2025-07" in assessed_text
    assert "excursion at ZRH/FR-2 from 2026-11-20T03:10:00+00:00" in assessed_text


def test_acmes_contacts_get_the_deviation_opened_then_assessed_once_each_when_back_and_beta_nothing(
    broker: MosquittoServer, world: World, tmp_path: Path
) -> None:
    detect = world.detector(broker, tmp_path / "detect")
    beta_webhook = WebhookReceiver(world.beta_port)
    acme_webhook: WebhookReceiver | None = None
    smtp: SmtpReceiver | None = None
    try:
        detect.start()
        opened = world.open()
        # ACME's webhook and the mail server are down: the notice waits in the outbox
        _wait([detect], lambda: detect.log_text().count("notify: failed") >= 2, "failures")
        assessed = world.assess(opened)
        _wait(
            [detect],
            lambda: "attempt=3" in detect.log_text(),
            "the notices to be retried while their contacts are down",
        )
        acme_webhook, smtp = WebhookReceiver(world.acme_port), SmtpReceiver(world.smtp_port)
        _wait(
            [detect],
            lambda: len(acme_webhook.received) >= 2 and len(smtp.messages) >= 2,
            "ACME's contacts to hear of the deviation once they are back",
        )
        detect_stopped = detect.stop()
        _assert_acme_heard_once_each_in_order(acme_webhook, smtp, opened, assessed)
        assert len(smtp.messages) == 2
        assert _mails(smtp, "qa@beta.example") == []
        assert beta_webhook.received == []
        assert detect_stopped == 0
    finally:
        _stop([detect])
        for peer in (beta_webhook, acme_webhook, smtp):
            if peer is not None:
                peer.close()


def test_a_partitioned_pair_of_detectors_delivers_each_notice_exactly_once(
    broker: MosquittoServer, world: World, tmp_path: Path
) -> None:
    """The batch is at ZRH, yet BSL's partition sends: BSL is the catalog's first site. The
    contacts are down at first, so each partition that took the notices as its own would
    try them, and be seen trying."""
    first = world.detector(
        broker,
        tmp_path / "detect-bsl",
        COLDCHAIN_DETECT_SITES='["BSL"]',
        COLDCHAIN_DETECT_CLIENT_ID="coldchain-detect-bsl",
    )
    other = world.detector(
        broker,
        tmp_path / "detect-zrh",
        COLDCHAIN_DETECT_SITES='["ZRH"]',
        COLDCHAIN_DETECT_CLIENT_ID="coldchain-detect-zrh",
    )
    detectors = [first, other]
    webhook: WebhookReceiver | None = None
    smtp: SmtpReceiver | None = None
    try:
        first.start()
        other.start()
        opened = world.open()
        assessed = world.assess(opened)
        _wait(detectors, lambda: "attempt=2" in first.log_text(), "retries by BSL's partition")
        webhook, smtp = WebhookReceiver(world.acme_port), SmtpReceiver(world.smtp_port)
        _wait(
            detectors,
            lambda: len(webhook.received) >= 2 and len(smtp.messages) >= 2,
            "ACME's contacts to hear of the deviation",
        )
        assert [d.stop() for d in detectors] == [0, 0]
        _assert_acme_heard_once_each_in_order(webhook, smtp, opened, assessed)
        assert len(smtp.messages) == 2
        deliveries = [h["X-Coldchain-Delivery"] for _, h in webhook.received]
        assert len(set(deliveries)) == 2
        assert first.log_text().count("notify: delivered") == 4
        # ZRH's partition never tried one, nor sent one
        assert "notify: failed" not in other.log_text()
        assert "notify: delivered" not in other.log_text()
    finally:
        _stop(detectors)
        for peer in (webhook, smtp):
            if peer is not None:
                peer.close()
