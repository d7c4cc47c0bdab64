"""How many long requests (live streams, exports) one user, and everybody, may hold open.

A stream holds a connection, a task and a catalog and store read every few seconds for
as long as the client stays; an export holds a store scan for minutes. Without a bound one
login could open thousands of either and starve every other tenant. A request over the
bound is refused with 429 and Retry-After before any work; its slot is given back when the
stream or export ends, however it ends (finished, failed, or the client went away).
The counts live in this process, like the login limiter's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

from api.errors import RateLimited

__all__ = ["ConcurrencyLimit", "Slot"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class Slot:
    """One admitted request; `release()` may be called more than once (the stream's end
    and the response's background task both call it), only the first counts."""

    limit: ConcurrencyLimit
    user_id: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limit.give_back(self.user_id)

    async def holding(self, chunks: AsyncIterator[T]) -> AsyncGenerator[T, None]:
        """`chunks`, giving the slot back when they end, fail or are closed."""
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            self.release()


@dataclass(slots=True)
class ConcurrencyLimit:
    """Usage:
    streams = ConcurrencyLimit("live stream", per_user=4, total=1000, retry_after_s=5)
    slot = streams.acquire("alice")   # RateLimited (429) when over a bound
    ...
    slot.release()
    """

    what: str
    per_user: int
    total: int | None = None
    retry_after_s: int = 5
    _open: dict[str, int] = field(default_factory=dict, init=False)
    _total_open: int = field(default=0, init=False)

    def acquire(self, user_id: str) -> Slot:
        held = self._open.get(user_id, 0)
        if held >= self.per_user:
            log.warning(
                "api: %s refused user=%s: %d already open (per-user limit %d)",
                self.what,
                user_id,
                held,
                self.per_user,
            )
            raise RateLimited(
                f"too many open {self.what}s for this user (at most {self.per_user}); "
                "close one or retry later",
                retry_after_s=self.retry_after_s,
            )
        if self.total is not None and self._total_open >= self.total:
            log.warning(
                "api: %s refused user=%s: %d open in all (limit %d)",
                self.what,
                user_id,
                self._total_open,
                self.total,
            )
            raise RateLimited(
                f"too many open {self.what}s on this server; retry later",
                retry_after_s=self.retry_after_s,
            )
        self._open[user_id] = held + 1
        self._total_open += 1
        return Slot(self, user_id)

    def give_back(self, user_id: str) -> None:
        held = self._open.get(user_id, 0) - 1
        if held > 0:
            self._open[user_id] = held
        else:
            self._open.pop(user_id, None)  # no entry kept per user who left
        self._total_open -= 1

    def open_for(self, user_id: str) -> int:
        return self._open.get(user_id, 0)

    @property
    def total_open(self) -> int:
        return self._total_open
