"""Webhook channel: POST the alert event as JSON, signed with HMAC-SHA256.

Headers: `X-Coldchain-Signature: sha256=<hex of HMAC(secret, body)>` (the GitHub webhook
convention, so receivers have libraries for it) and `X-Coldchain-Delivery: <dedupe key>`,
which stays the same across retries so a receiver can drop a repeat it already has.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification
from coldchain.security.redact import redact_text

__all__ = ["SIGNATURE_HEADER", "WebhookChannel", "sign"]

SIGNATURE_HEADER = "X-Coldchain-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        secret: str | None,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def send(self, notification: Notification) -> None:
        body = notification.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "X-Coldchain-Delivery": notification.dedupe_key or str(notification.id),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        try:
            response = await self._client.post(
                notification.destination, content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            # A hook's URL may carry its token: never in a log line or a stored error.
            raise DeliveryFailed(
                redact_text(f"webhook {notification.destination}: {type(exc).__name__}: {exc}")
            ) from None
        if not response.is_success:
            raise DeliveryFailed(
                f"webhook {redact_text(notification.destination)}: HTTP {response.status_code} "
                f"{response.text[:200]!r}"
            )

    async def close(self) -> None:
        await self._client.aclose()
