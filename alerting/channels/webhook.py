"""Webhook channel: POST the alert event as JSON, signed with HMAC-SHA256.

Headers: `X-Coldchain-Signature: sha256=<hex of HMAC(secret, body)>` (the GitHub webhook
convention, so receivers have libraries for it) and `X-Coldchain-Delivery: <dedupe key>`,
which stays the same across retries so a receiver can drop a repeat it already has.

A sponsor's deviation notices (no alert: coldchain/catalog/sponsor_notices.py) are signed
with that sponsor's own key, `sponsor_secret(secret, sponsor)`, an HMAC of the sponsor's id
under the CMO's secret (`coldchain sponsor webhook-secret ID` prints it for the sponsor):
a sponsor who can check its notices cannot forge the CMO's internal alert webhooks or
another sponsor's notices, and no key is stored per sponsor.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification
from coldchain.security.redact import redact_text

__all__ = ["SIGNATURE_HEADER", "WebhookChannel", "sign", "sponsor_secret"]

SIGNATURE_HEADER = "X-Coldchain-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sponsor_secret(secret: str, sponsor: str) -> str:
    """The key a sponsor checks its deviation notices with, derived from the CMO's."""
    return hmac.new(secret.encode(), f"sponsor:{sponsor}".encode(), hashlib.sha256).hexdigest()


def _key_for(secret: str, notification: Notification) -> str:
    if notification.alert_id is not None:
        return secret
    return sponsor_secret(secret, str(json.loads(notification.payload)["sponsor"]))


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
            headers[SIGNATURE_HEADER] = sign(_key_for(self._secret, notification), body)
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
