"""The seam every notification channel implements (Telegraf's `Output`: connect, write,
close), so the outbox dispatcher neither knows nor cares how a notification travels."""

from __future__ import annotations

from typing import Protocol

from coldchain.catalog.outbox import Notification

__all__ = ["Channel"]


class Channel(Protocol):
    """Delivers one notification or raises `DeliveryFailed` (the row stays, retried later)."""

    name: str

    async def send(self, notification: Notification) -> None: ...

    async def close(self) -> None: ...
