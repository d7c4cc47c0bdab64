"""The notification outbox dispatcher: a catalog outage delays delivery, it never ends it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alerting.dispatcher import Dispatcher
from coldchain.catalog import catalog_session, create_catalog_engine, upgrade_catalog
from coldchain.catalog.outbox import Notification, enqueue_notification


class _Recorder:
    """A channel that delivers by remembering."""

    name = "webhook"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    async def close(self) -> None:
        pass


async def _until(condition: Callable[[], bool], running: asyncio.Task[None]) -> None:
    """Wait for `condition`; a loop that ended meanwhile fails with its own exception."""
    deadline = time.monotonic() + 10
    while not condition():
        if running.done():
            running.result()
            pytest.fail("the dispatcher returned")
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "alerting.dispatcher"]


async def test_a_round_without_the_catalog_does_not_end_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    volume = tmp_path / "volume"
    engine = create_catalog_engine(f"sqlite:///{volume / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    with catalog_session(engine) as session:
        enqueue_notification(
            session,
            alert_id=None,
            channel="webhook",
            destination="https://qa.example/hook",
            payload="{}",
            dedupe_key="open:1",
        )
    engine.dispose()  # no pooled connection keeps the moved file open
    unmounted = volume.rename(tmp_path / "unmounted")  # SQLite: "unable to open database file"
    channel = _Recorder()
    dispatcher = Dispatcher(engine, {"webhook": channel}, poll_s=0.01)
    running = asyncio.create_task(dispatcher.run())
    try:
        await _until(lambda: bool(_logged(caplog)), running)
        assert all(
            r.levelno == logging.WARNING and "catalog unavailable" in r.getMessage()
            for r in _logged(caplog)
        )
        assert channel.sent == []
        unmounted.rename(volume)
        await _until(lambda: dispatcher.delivered == 1, running)
        assert [n.dedupe_key for n in channel.sent] == ["open:1"]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        engine.dispose()
