"""Login rate limiting: failures per user and attempts per client address, in memory.

Argon2 makes each guess slow, but not slow enough against a list of common passwords, so
login is limited twice: a user whose password was guessed wrong too often is locked for
the rest of the window (whoever asks), and one client address may not try too often
whatever the user names (spraying one password over many users). The counters live in
this process; several API processes would each allow the limit (documented in README).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginLimiter"]

# Keys are attacker-chosen (user names, addresses): cap how many are tracked at once.
_MAX_KEYS = 100_000


class _Window:
    """Event times per key within a sliding window."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        horizon = self._clock() - self.window_s
        while events and events[0] <= horizon:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def wait_s(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        events = self._recent(key)
        if events is None or len(events) < self.limit:
            return 0.0
        return events[-self.limit] + self.window_s - self._clock()

    def add(self, key: str) -> None:
        if len(self._events) >= _MAX_KEYS:
            self._prune()
        self._events.setdefault(key, deque(maxlen=self.limit)).append(self._clock())

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def _prune(self) -> None:
        for key in list(self._events):
            self._recent(key)
        if len(self._events) >= _MAX_KEYS:  # still full: forget the oldest half
            oldest = sorted(self._events, key=lambda k: self._events[k][-1])
            for key in oldest[: len(oldest) // 2]:
                del self._events[key]


class LoginLimiter:
    """Decides whether a login attempt may be checked at all.

    Usage:
        limiter = LoginLimiter(max_failures_per_user=5, max_attempts_per_client=30,
                               window_s=300)
        wait = limiter.retry_after(user="alice", client="10.0.0.7")  # 0: go ahead
        limiter.record_attempt(client="10.0.0.7")
        limiter.record_failure(user="alice")   # or record_success(user="alice")
    """

    def __init__(
        self,
        *,
        max_failures_per_user: int,
        max_attempts_per_client: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures = _Window(max_failures_per_user, window_s, clock)
        self._attempts = _Window(max_attempts_per_client, window_s, clock)

    def retry_after(self, *, user: str, client: str) -> int:
        """Whole seconds to wait before this attempt may be checked; 0 when it may now."""
        wait = max(self._failures.wait_s(user), self._attempts.wait_s(client))
        return math.ceil(wait) if wait > 0 else 0

    def record_attempt(self, *, client: str) -> None:
        self._attempts.add(client)

    def record_failure(self, *, user: str) -> None:
        self._failures.add(user)

    def record_success(self, *, user: str) -> None:
        self._failures.clear(user)
