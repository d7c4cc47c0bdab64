"""The e-mail channel against a real SMTP server on loopback (aiosmtpd, STARTTLS with a
certificate from a private CA): the server is verified before anything is sent, and
credentials never travel over a connection that is not encrypted."""

from __future__ import annotations

import asyncio
import email
import json
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope
from cryptography.hazmat.primitives import serialization

from alerting.channels import EmailChannel
from alerting.dispatcher import Dispatcher
from alerting.errors import DeliveryFailed
from coldchain.catalog import catalog_session, create_catalog_engine
from coldchain.catalog.outbox import Notification, enqueue_notification, pending_count
from coldchain.config import Settings
from coldchain.errors import ConfigError
from coldchain.security.tls import TlsFiles, ensure_demo_pki, new_certificate_authority
from tests.support.detector import make_catalog
from tests.support.secrets_registry import register
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "alerts", "smtp-pa55word"
register(PASSWORD)  # and the session's log scan (tests/conftest.py) looks for it too


@dataclass
class SmtpServer:
    """What an aiosmtpd server on 127.0.0.1 saw: the AUTH commands and the messages."""

    port: int
    auth_commands: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)


class StartServer(Protocol):
    def __call__(self, tls: TlsFiles | None, *, implicit: bool = False) -> SmtpServer: ...


class _RecordingSmtp(SMTP):
    """Notes every AUTH command, accepted or not, before the protocol answers it."""

    def __init__(self, record: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._record = record

    async def smtp_AUTH(self, arg: str) -> None:
        self._record.auth_commands.append(arg)
        await super().smtp_AUTH(arg)


def _accept_anyone(*_args: Any) -> AuthResult:
    return AuthResult(success=True)


@pytest.fixture
def start_smtp() -> Iterator[StartServer]:
    """Starts servers offering STARTTLS with the given certificate (TLS from the first
    byte with `implicit`), or clear text only (None); AUTH is offered either way, so only
    the client can keep its password back."""
    controllers: list[Controller] = []

    def start(tls: TlsFiles | None, *, implicit: bool = False) -> SmtpServer:
        record = SmtpServer(free_port())
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.server_cert, tls.server_key)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
                content = envelope.content
                record.messages.append(content if isinstance(content, bytes) else b"")
                return "250 OK"

        class RecordingController(Controller):
            def factory(self) -> SMTP:
                return _RecordingSmtp(
                    record,
                    self.handler,
                    tls_context=None if implicit else context,
                    authenticator=_accept_anyone,
                    auth_require_tls=False,  # the client's duty is under test
                )

        controller = RecordingController(
            Handler(),
            hostname="127.0.0.1",
            port=record.port,
            ssl_context=context if implicit else None,
        )
        controller.start()
        controllers.append(controller)
        return record

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def pki(tmp_path: Path) -> TlsFiles:
    return ensure_demo_pki(tmp_path / "pki", hosts=("127.0.0.1",))


def _foreign_ca(directory: Path) -> Path:
    """A CA that did not sign the server's certificate: to us, the server is an impostor."""
    _key, certificate = new_certificate_authority("someone else's CA")
    path = directory / "foreign-ca.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _event() -> dict[str, str]:
    return {
        "alert_id": "A-1",
        "severity": "alarm",
        "kind": "excursion",
        "state": "open",
        "site": "TST",
        "device": "FR-1",
        "sensor": "p1",
    }


def _notification() -> Notification:
    return Notification(
        id=1,
        alert_id="A-1",
        channel="email",
        destination="night@example.org",
        payload=json.dumps(_event()),
        attempts=0,
        dedupe_key="A-1-open",
    )


def _channel(
    port: int, *, ca_file: Path | None, starttls: bool = True, implicit_tls: bool = False
) -> EmailChannel:
    return EmailChannel(
        "127.0.0.1",
        port,
        "coldchain@example.org",
        username=USER,
        password=PASSWORD,
        starttls=starttls,
        implicit_tls=implicit_tls,
        ca_file=ca_file,
        timeout_s=5.0,
    )


async def test_a_server_whose_certificate_is_not_from_the_ca_gets_no_login_and_no_mail(
    start_smtp: StartServer, pki: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="mail.log")  # the server logs our refusal
    server = start_smtp(pki)
    channel = _channel(server.port, ca_file=_foreign_ca(tmp_path))
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        await channel.send(_notification())
    assert server.auth_commands == []
    assert server.messages == []


async def test_a_server_with_a_certificate_from_the_ca_gets_the_mail_after_login(
    start_smtp: StartServer, pki: TlsFiles
) -> None:
    server = start_smtp(pki)
    await _channel(server.port, ca_file=pki.ca_cert).send(_notification())
    assert len(server.auth_commands) == 1
    [raw] = server.messages
    assert email.message_from_bytes(raw)["X-Coldchain-Alert"] == "A-1"


async def test_a_server_without_starttls_never_sees_an_auth_command(
    start_smtp: StartServer, pki: TlsFiles
) -> None:
    server = start_smtp(None)
    for starttls in (True, False):  # a downgraded server; a channel built without TLS
        with pytest.raises(DeliveryFailed):
            await _channel(server.port, ca_file=pki.ca_cert, starttls=starttls).send(
                _notification()
            )
    assert server.auth_commands == []
    assert server.messages == []


@pytest.mark.parametrize(
    "credentials",
    [
        {"notify_smtp_username": USER, "notify_smtp_password": PASSWORD},
        {"notify_smtp_password": PASSWORD},
    ],
)
def test_smtp_credentials_without_tls_are_a_configuration_error(
    credentials: dict[str, str],
) -> None:
    with pytest.raises(
        ConfigError, match="notify_smtp_starttls or notify_smtp_implicit_tls"
    ) as err:
        Settings.load(None, notify_smtp_host="127.0.0.1", **credentials)
    assert PASSWORD not in str(err.value)
    assert Settings.load(
        None, notify_smtp_host="127.0.0.1", notify_smtp_starttls=True, **credentials
    )


async def test_a_mail_refused_for_an_untrusted_server_stays_queued_and_goes_out_once_trusted(
    start_smtp: StartServer, pki: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="mail.log")  # the server logs our refusal
    server = start_smtp(pki)
    engine = create_catalog_engine(make_catalog(tmp_path))
    try:
        with catalog_session(engine) as session:
            enqueue_notification(
                session,
                alert_id=None,
                channel="email",
                destination="night@example.org",
                payload=json.dumps(_event()),
                dedupe_key="A-1-open-email",
            )
        impostor = _channel(server.port, ca_file=_foreign_ca(tmp_path))
        refused = Dispatcher(engine, {"email": impostor}, retry_max_s=0.1)
        assert await refused.deliver_due() == 0
        assert refused.failed == 1
        with catalog_session(engine) as session:
            assert pending_count(session) == 1
        await asyncio.sleep(1.1)  # the first retry's back-off (1 s)
        trusted = Dispatcher(engine, {"email": _channel(server.port, ca_file=pki.ca_cert)})
        assert await trusted.deliver_due() == 1
        with catalog_session(engine) as session:
            assert pending_count(session) == 0
        assert len(server.messages) == 1
        assert len(server.auth_commands) == 1  # the trusted session's only
    finally:
        engine.dispose()


async def test_implicit_tls_delivers_to_a_trusted_server_and_nothing_to_an_impostor(
    start_smtp: StartServer, pki: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="mail.log")  # the server logs our refusal
    server = start_smtp(pki, implicit=True)
    impostor = _channel(
        server.port, ca_file=_foreign_ca(tmp_path), starttls=False, implicit_tls=True
    )
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        await impostor.send(_notification())
    assert server.auth_commands == []
    trusted = _channel(server.port, ca_file=pki.ca_cert, starttls=False, implicit_tls=True)
    await trusted.send(_notification())
    assert len(server.auth_commands) == 1
    assert len(server.messages) == 1
