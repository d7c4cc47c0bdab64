"""Login rate limiting that slows guessers without letting them lock a user out.

Argon2 makes each guess slow, but not slow enough against a list of common passwords. A
plain per-user lock (five failures, then nobody may log in) hands that lock to anyone who
knows a user name: five bad passwords for `quinn` and QA cannot release a batch. So the
limits follow Microsoft Entra's "smart lockout" and OWASP's advice on account lockout:
punish the place the guesses come from, not the account.

- Per (user, client address): `max_failures_per_user` failures are free, then that
  address backs off exponentially for that user (5 s, 10 s, 20 s, … up to `max_backoff_s`,
  counted from the failed answer); its Retry-After says how long. A success from that
  address clears it.
- Per user, over all addresses: once the user has `max_failures_per_user` failures in the
  window, the user is under attack. Every check for them is then slowed (`slowed`: the
  route sleeps a moment first) and an address gets one failure for that user before it
  backs off (its back-off doubling from its first failure: the address that brought the
  user here meets 80 s at once), so a botnet gets one guess per address and back-off.
  An address that has not failed for the user is still checked: the user, from their own
  address, logs in with the right password after the small delay, whatever the attacker
  does elsewhere.
- Per client address, whatever user it names: `max_attempts_per_client` attempts per
  window (spraying one password over many users).

Each attempt is reserved before the slow password check (`begin`), counted as a failure
until `succeeded` says otherwise: twenty-five concurrent guesses meet the limit as if they
came one after the other. All of it runs on the event loop without awaiting, so the check
and the reservation are atomic. Keys are attacker-chosen; at most `_MAX_KEYS` of each kind
are kept. The counters live in this process: several API processes would each allow the
limits (documented in api/README.md).

Which address is the client's: the direct peer, unless the peer is a trusted proxy
(`TrustedProxies`); then the rightmost `X-Forwarded-For` address that is not a trusted
proxy, so an address a client writes into the header itself is never believed. The app
decides this, not uvicorn: `coldchain api` turns uvicorn's proxy-header handling off (it
would believe `X-Forwarded-For` from 127.0.0.1 by default).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["LoginAttempt", "LoginLimiter", "TrustedProxies"]

# Keys are attacker-chosen (user names, addresses): cap how many are tracked at once.
_MAX_KEYS = 100_000
# An X-Forwarded-For entry is an address; anything longer is cut before it becomes a key.
_MAX_ADDRESS = 64
# The first back-off; each further failure doubles it. Long enough that a botnet's second
# round of guesses (one per address) meets it, short enough for a user's own typo.
_FIRST_BACKOFF_S = 5.0


class TrustedProxies:
    """The reverse proxies whose `X-Forwarded-For` is believed.

    Usage:
        proxies = TrustedProxies(["10.0.0.0/8"])
        proxies.client_of("10.0.0.2", "198.51.100.7, 10.0.0.9")  # "198.51.100.7"
        proxies.client_of("203.0.113.5", "1.2.3.4")               # "203.0.113.5"
    """

    def __init__(self, networks: Iterable[str]) -> None:
        parsed = []
        for network in networks:
            try:
                parsed.append(ipaddress.ip_network(network.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"api_trusted_proxies: {network!r} is not an IP address or network"
                ) from None
        self._networks = tuple(parsed)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client_of(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address: the peer's own unless the peer is a trusted proxy.

        Each proxy appends the address it was reached from, so the header is read from the
        right: the first address not of a trusted proxy is the client. If every address is
        a proxy's, the leftmost is the nearest thing to a client there is.
        """
        if peer is None:
            return "unknown"
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop[:_MAX_ADDRESS]
        return hops[0][:_MAX_ADDRESS] if hops else peer


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
        """Seconds until `key` is below its limit again; 0 when it is now."""
        events = self._recent(key)
        if events is None or len(events) < self.limit:
            return 0.0
        return events[-self.limit] + self.window_s - self._clock()

    def add(self, key: str, at: float) -> None:
        if len(self._events) >= _MAX_KEYS:
            self._prune()
        self._events.setdefault(key, deque(maxlen=self.limit)).append(at)

    def forget_newest(self, key: str, count: int) -> None:
        """Take back the newest `count` events (failures that turned out to be a user's)."""
        events = self._events.get(key)
        if events is None:
            return
        for _ in range(min(count, len(events))):
            events.pop()

    def _prune(self) -> None:
        for key in list(self._events):
            self._recent(key)
        if len(self._events) >= _MAX_KEYS:  # still full: forget the oldest half
            oldest = sorted(self._events, key=lambda k: self._events[k][-1])
            for key in oldest[: len(oldest) // 2]:
                del self._events[key]


@dataclass(slots=True)
class _Failures:
    count: int
    last_at: float


class _Backoff:
    """Failures per key with exponential back-off past the free ones."""

    def __init__(self, window_s: float, max_backoff_s: float, clock: Callable[[], float]) -> None:
        self.window_s = window_s
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self._failures: dict[str, _Failures] = {}

    def _backoff_s(self, count: int, free: int) -> float:
        if count < free:
            return 0.0
        return min(self.max_backoff_s, _FIRST_BACKOFF_S * 2.0 ** min(count - free, 64))

    def _current(self, key: str) -> _Failures | None:
        record = self._failures.get(key)
        if record is None:
            return None
        # Forgotten after a quiet window (or, if longer, once its back-off is over).
        quiet_s = max(self.window_s, self._backoff_s(record.count, 1))
        if self._clock() - record.last_at > quiet_s:
            del self._failures[key]
            return None
        return record

    def wait_s(self, key: str, *, free: int) -> float:
        """Seconds until `key` may try again, when its first `free` failures cost nothing."""
        record = self._current(key)
        if record is None:
            return 0.0
        backoff = self._backoff_s(record.count, free)
        return max(0.0, record.last_at + backoff - self._clock()) if backoff else 0.0

    def add(self, key: str, at: float) -> None:
        record = self._current(key)
        if record is None:
            if len(self._failures) >= _MAX_KEYS:
                self._prune()
            self._failures[key] = _Failures(1, at)
        else:
            record.count += 1
            record.last_at = at

    def touch(self, key: str, at: float) -> None:
        """The failure is known now: its back-off counts from here."""
        record = self._failures.get(key)
        if record is not None:
            record.last_at = at

    def forget_newest(self, key: str) -> None:
        """Take back `key`'s newest failure (a reservation whose password was never
        checked); its back-off still counts from that reservation."""
        record = self._failures.get(key)
        if record is None:
            return
        record.count -= 1
        if record.count <= 0:
            del self._failures[key]

    def clear(self, key: str) -> int:
        """Forget `key`'s failures; how many there were."""
        record = self._failures.pop(key, None)
        return record.count if record is not None else 0

    def _prune(self) -> None:
        for key in list(self._failures):
            self._current(key)
        if len(self._failures) >= _MAX_KEYS:  # still full: forget the oldest half
            oldest = sorted(self._failures, key=lambda k: self._failures[k].last_at)
            for key in oldest[: len(oldest) // 2]:
                del self._failures[key]


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The limiter's answer to one login: refused for `retry_after_s` seconds (> 0), or
    reserved (0) and to be checked, after a short delay first when `slowed`."""

    user: str
    client: str
    retry_after_s: int
    slowed: bool


class LoginLimiter:
    """Decides whether a login attempt may be checked at all.

    Usage:
        limiter = LoginLimiter(max_failures_per_user=5, max_attempts_per_client=30,
                               window_s=300, max_backoff_s=900)
        client = limiter.proxies.client_of(peer, x_forwarded_for)
        attempt = limiter.begin(user="alice", client=client)
        if attempt.retry_after_s: ...            # 429, Retry-After
        if attempt.slowed: await asyncio.sleep(...)
        ... check the password; then limiter.succeeded(attempt) or limiter.failed(attempt)
        ... (limiter.unchecked(attempt) when the request was refused before the check)
    """

    def __init__(
        self,
        *,
        max_failures_per_user: int,
        max_attempts_per_client: int,
        window_s: float,
        max_backoff_s: float,
        trusted_proxies: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.proxies = TrustedProxies(trusted_proxies)
        self._free = max_failures_per_user
        self._clock = clock
        self._user_failures = _Window(max_failures_per_user, window_s, clock)
        self._attempts = _Window(max_attempts_per_client, window_s, clock)
        self._pairs = _Backoff(window_s, max_backoff_s, clock)

    def begin(self, *, user: str, client: str) -> LoginAttempt:
        """Refuse the attempt, or reserve it as a failure until `succeeded` says otherwise."""
        now = self._clock()
        pair = f"{user}\x00{client}"
        under_attack = self._user_failures.wait_s(user) > 0
        wait = max(
            self._attempts.wait_s(client),
            self._pairs.wait_s(pair, free=1 if under_attack else self._free),
        )
        if wait > 0:
            return LoginAttempt(user, client, math.ceil(wait), under_attack)
        self._attempts.add(client, now)
        self._user_failures.add(user, now)
        self._pairs.add(pair, now)
        return LoginAttempt(user, client, 0, under_attack)

    def failed(self, attempt: LoginAttempt) -> None:
        """The password was wrong (the reservation stands): back off from now, since the
        check itself may have taken a while."""
        self._pairs.touch(f"{attempt.user}\x00{attempt.client}", self._clock())

    def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: the reservation was no failure, and this address's
        earlier failures for the user are forgiven (the user's own typos), also in the
        user's count. The attempt still counts against the client's attempts."""
        forgiven = self._pairs.clear(f"{attempt.user}\x00{attempt.client}")
        self._user_failures.forget_newest(attempt.user, max(forgiven, 1))

    def unchecked(self, attempt: LoginAttempt) -> None:
        """The request was refused before its password was checked (a signature on a
        record in the wrong state): the reservation was no failure, and nothing earlier is
        forgiven, so such a request cannot reset a guesser's back-off. The attempt still
        counts against the client's attempts."""
        self._pairs.forget_newest(f"{attempt.user}\x00{attempt.client}")
        self._user_failures.forget_newest(attempt.user, 1)
