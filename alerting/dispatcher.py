"""Delivers the notification outbox: due rows through their channel, retried with
exponential backoff for as long as it takes (nothing is ever dropped).

Rows to one destination go in order (an alert's `open` before its `resolved`): when one
fails, the rest of that destination waits for the next round. Destinations are independent,
so a dead webhook does not hold up e-mail or MQTT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from alerting.channels.base import Channel
from alerting.errors import DeliveryFailed
from coldchain.catalog.errors import CatalogUnavailable
from coldchain.catalog.outbox import Notification, due_notifications, mark_delivered, mark_failed
from coldchain.catalog.store import catalog_session
from coldchain.security.redact import redact_text

__all__ = ["Dispatcher", "backoff"]

log = logging.getLogger(__name__)


def backoff(attempts: int, max_s: float) -> timedelta:
    """1 s, 2 s, 4 s ... capped at `max_s` (attempts counts failures so far, from 1)."""
    return timedelta(seconds=min(max_s, 2.0 ** max(attempts - 1, 0)))


class Dispatcher:
    """Usage:
    dispatcher = Dispatcher(engine, {"webhook": WebhookChannel(secret), ...})
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(dispatcher.run())
    dispatcher.wake()  # after writing new rows
    """

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        *,
        retry_max_s: float = 60.0,
        poll_s: float = 1.0,
        sites: Collection[str] = (),
    ) -> None:
        self._engine = engine
        self._sites = tuple(sites)
        self._channels = channels
        self._retry_max_s = retry_max_s
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.delivered = 0
        self.failed = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                sent = await self.deliver_due()
            except CatalogUnavailable as exc:
                # The rows wait in the catalog for the next round (any sent but not yet
                # marked go out again); ending here would end the detector's task group.
                log.warning("notify: delivery round skipped, catalog unavailable: %s", exc)
                sent = 0
            if sent:
                continue  # there may be more than one page due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def deliver_due(self) -> int:
        """One round: every due row; returns how many were delivered."""
        now = datetime.now(UTC)
        due = await asyncio.to_thread(self._due, now)
        if not any(n.due for n in due):
            return 0
        groups: dict[tuple[str, str], list[Notification]] = defaultdict(list)
        for n in due:
            groups[(n.channel, n.destination)].append(n)
        results = await asyncio.gather(*(self._deliver_group(g) for g in groups.values()))
        outcomes = [item for group in results for item in group]
        await asyncio.to_thread(self._record, outcomes)
        return sum(1 for _, error in outcomes if error is None)

    def _due(self, now: datetime) -> list[Notification]:
        with catalog_session(self._engine) as session:
            return due_notifications(session, now=now, limit=500, sites=self._sites)

    async def _deliver_group(
        self, group: list[Notification]
    ) -> list[tuple[Notification, str | None]]:
        outcomes: list[tuple[Notification, str | None]] = []
        for n in group:
            if not n.due:
                break  # an earlier row is backing off: nothing may overtake it
            channel = self._channels.get(n.channel)
            if channel is None:
                outcomes.append((n, f"no {n.channel} channel configured"))
                break
            try:
                await channel.send(n)
            except DeliveryFailed as exc:
                outcomes.append((n, str(exc)))
                break  # keep the order: the rest of this destination waits
            outcomes.append((n, None))
        return outcomes

    def _record(self, outcomes: list[tuple[Notification, str | None]]) -> None:
        now = datetime.now(UTC)
        with catalog_session(self._engine) as session:
            for n, error in outcomes:
                if error is None:
                    mark_delivered(session, notification_id=n.id, at=now)
                    self.delivered += 1
                    log.info(
                        "notify: delivered id=%d channel=%s alert=%s to=%s",
                        n.id,
                        n.channel,
                        n.alert_id,
                        redact_text(n.destination),
                    )
                else:
                    retry = backoff(n.attempts + 1, self._retry_max_s)
                    mark_failed(session, notification_id=n.id, error=error, retry_in=retry, at=now)
                    self.failed += 1
                    log.warning(
                        "notify: failed id=%d channel=%s alert=%s attempt=%d retry_in=%.0fs "
                        "error=%s",
                        n.id,
                        n.channel,
                        n.alert_id,
                        n.attempts + 1,
                        retry.total_seconds(),
                        error,
                    )

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
