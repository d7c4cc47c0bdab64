"""Bounds on open streams and exports (`api.concurrency.ConcurrencyLimit`): per user and
in all, a 429 with Retry-After and a log line beyond, and a slot given back exactly once
however its stream ends. (Through the real app and a real stream: the integration tests
in tests/integration/test_api_limits.py.)"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from api.concurrency import ConcurrencyLimit
from api.errors import RateLimited


def test_a_user_over_their_bound_is_refused_with_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    streams = ConcurrencyLimit("live stream", per_user=2, total=100, retry_after_s=7)
    streams.acquire("alice")
    streams.acquire("alice")
    with (
        caplog.at_level(logging.WARNING, logger="api.concurrency"),
        pytest.raises(RateLimited) as refused,
    ):
        streams.acquire("alice")
    assert refused.value.status_code == 429
    assert refused.value.retry_after_s == 7
    assert "live stream refused user=alice: 2 already open (per-user limit 2)" in caplog.text
    streams.acquire("bob")  # another user is not held back by alice's


def test_the_server_wide_bound_holds_across_users() -> None:
    streams = ConcurrencyLimit("live stream", per_user=4, total=3)
    for user in ("a", "b", "c"):
        streams.acquire(user)
    with pytest.raises(RateLimited, match="on this server"):
        streams.acquire("d")


def test_a_released_slot_is_free_again_and_counts_once() -> None:
    exports = ConcurrencyLimit("export", per_user=1)
    slot = exports.acquire("quinn")
    slot.release()
    slot.release()  # the stream's end and the response's background task both call it
    assert exports.open_for("quinn") == 0
    assert exports.total_open == 0
    exports.acquire("quinn")
    assert exports.total_open == 1


async def _failing() -> AsyncIterator[bytes]:
    yield b"first"
    raise OSError("store gone mid-export")


async def test_a_stream_that_fails_gives_its_slot_back() -> None:
    exports = ConcurrencyLimit("export", per_user=1)
    slot = exports.acquire("quinn")
    with pytest.raises(OSError, match="mid-export"):
        async for _chunk in slot.holding(_failing()):
            pass
    assert exports.open_for("quinn") == 0


async def test_a_stream_closed_half_read_gives_its_slot_back() -> None:
    exports = ConcurrencyLimit("export", per_user=1)
    slot = exports.acquire("quinn")
    chunks = slot.holding(_failing())
    assert await anext(chunks) == b"first"
    await chunks.aclose()  # what the server does to the body of a client that left
    assert exports.open_for("quinn") == 0
