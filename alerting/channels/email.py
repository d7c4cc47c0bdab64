"""E-mail channel over SMTP (stdlib smtplib in a worker thread: a blocking client, one short
session per message, as `asyncio.to_thread` is meant for)."""

from __future__ import annotations

import asyncio
import json
import smtplib
from email.message import EmailMessage

from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification

__all__ = ["EmailChannel", "render_email"]


def render_email(notification: Notification, sender: str) -> EmailMessage:
    """Subject and body of an alert e-mail, from the alert event JSON."""
    event = json.loads(notification.payload)
    level = event.get("escalation_level", 0)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.destination
    message["Subject"] = (
        f"[coldchain {event['severity'].upper()}] {event['kind']} {event['state']} "
        f"{event['site']}/{event['device']}/{event['sensor']}"
        + (f" (escalation level {level})" if level else "")
    )
    message["X-Coldchain-Alert"] = str(event["alert_id"])
    message["Message-ID"] = f"<{notification.dedupe_key or notification.id}@coldchain>"
    lines = [f"{key}: {value}" for key, value in event.items()]
    message.set_content("\n".join(lines) + "\n")
    return message


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
        timeout_s: float = 10.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._timeout_s = starttls, timeout_s

    def _send_blocking(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username:
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
