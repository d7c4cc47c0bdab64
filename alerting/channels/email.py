"""E-mail channel over SMTP (stdlib smtplib in a worker thread: a blocking client, one short
session per message, as `asyncio.to_thread` is meant for).

The server is always verified when TLS is on (STARTTLS or implicit TLS): its certificate
against the system's CAs or a configured CA file, and its host name. Credentials never
cross a connection that is not encrypted: without TLS the channel refuses to log in, so a
misconfigured or downgraded server (one that stops offering STARTTLS) gets no password;
the notification stays in the outbox and is retried like any other failed delivery.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification
from coldchain.catalog.sponsor_notices import EVENTS

__all__ = ["EmailChannel", "render_email"]


def render_email(notification: Notification, sender: str) -> EmailMessage:
    """Subject and body of a notification e-mail: a sponsor's deviation notice when the
    payload is one (`sponsor_notices.deviation_event`), else an alert event."""
    event = json.loads(notification.payload)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.destination
    message["Message-ID"] = f"<{notification.dedupe_key or notification.id}@coldchain>"
    if event.get("event") in EVENTS:
        message["Subject"] = _deviation_subject(event)
        message["X-Coldchain-Deviation"] = str(event["deviation"])
        message.set_content(_deviation_body(event))
        return message
    level = event.get("escalation_level", 0)
    message["Subject"] = (
        f"[coldchain {event['severity'].upper()}] {event['kind']} {event['state']} "
        f"{event['site']}/{event['device']}/{event['sensor']}"
        + (f" (escalation level {level})" if level else "")
    )
    message["X-Coldchain-Alert"] = str(event["alert_id"])
    lines = [f"{key}: {value}" for key, value in event.items()]
    message.set_content("\n".join(lines) + "\n")
    return message


def _deviation_subject(event: dict[str, Any]) -> str:
    """E.g. "Deviation DEV-12 opened on batch LOT-0005: Excursion in FRIDGE-02", or for
    an assessment "Deviation DEV-12 assessed on batch LOT-0005: impact minor"."""
    verb = event["event"].removeprefix("deviation_")
    head = f"Deviation {event['deviation']} {verb} on batch {event['batch']}"
    if event["event"] == "deviation_assessed":
        return f"{head}: impact {event['impact']}"
    # A title is typed by people: a line break in it would be refused as a header.
    return f"{head}: {' '.join(event['title'].split())}"


def _deviation_body(event: dict[str, Any]) -> str:
    """What a sponsor's QA reads: the deviation, what it covers and, once assessed, the
    CMO's assessment."""
    lines = [
        f"{_deviation_subject(event)}.",
        "",
        f"Deviation: {event['deviation']} ({event['title']})",
        f"Batch: {event['batch']} (sponsor {event['sponsor']})",
        f"State: {event['state']} since {event['at']}",
        "Findings:",
        *(
            f"- {f['kind']} at {f['where']} from {f['start'] or '?'} to {f['end'] or 'open'} "
            f"({f['id']})"
            for f in event["findings"]
        ),
    ]
    if event["event"] == "deviation_assessed":
        lines += [
            "",
            "Assessment by the CMO's QA:",
            f"Impact: {event['impact']}",
            f"Reason: {event['reason']}",
            f"Stability data: {event['stability_reference'] or 'none referenced'}",
        ]
    return "\n".join(lines) + "\n"


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that verifies the chain (a private CA when given, else the
    system's) and the host name: smtplib's own default for STARTTLS verifies neither."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class EmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        ca_file: Path | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._implicit_tls = starttls, implicit_tls
        self._timeout_s = timeout_s
        self._tls = _tls_context(ca_file) if starttls or implicit_tls else None

    def _connect(self) -> smtplib.SMTP:
        if self._implicit_tls:
            return smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout_s, context=self._tls
            )
        return smtplib.SMTP(self._host, self._port, timeout=self._timeout_s)

    def _send_blocking(self, message: EmailMessage) -> None:
        with self._connect() as smtp:
            if self._starttls:
                # raises SMTPNotSupportedError when the server does not offer it: no login
                smtp.starttls(context=self._tls)
            if self._username:
                if not isinstance(smtp.sock, ssl.SSLSocket):
                    raise smtplib.SMTPException(
                        "refusing to log in over an unencrypted connection "
                        "(set notify_smtp_starttls or notify_smtp_implicit_tls)"
                    )
                smtp.login(self._username, self._password or "")
            smtp.send_message(message)

    async def send(self, notification: Notification) -> None:
        message = render_email(notification, self._sender)
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                f"smtp {self._host}:{self._port} to {notification.destination}: {exc}"
            ) from exc

    async def close(self) -> None:
        return None
