"""The login rate limiter (`api.ratelimit.LoginLimiter`) on an injected clock: failures per
user, attempts per client address, the sliding window and the Retry-After it computes.

The limiter is driven the way the login route drives it (`retry_after` first, then
`record_attempt`, then `record_failure` or `record_success`), so these tests pin the
behaviour an attacker meets, not the internals."""

from __future__ import annotations

import httpx
import pytest

from api.ratelimit import LoginLimiter
from tests.unit.api.conftest import PASSWORD


class FakeClock:
    """A monotonic clock the test moves by hand (the limiter takes any `() -> float`)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _limiter(
    clock: FakeClock, *, failures: int = 3, attempts: int = 10, window_s: float = 300.0
) -> LoginLimiter:
    return LoginLimiter(
        max_failures_per_user=failures,
        max_attempts_per_client=attempts,
        window_s=window_s,
        clock=clock,
    )


def _fail(limiter: LoginLimiter, user: str, client: str) -> int:
    """One refused login as the route makes it; returns the wait it was checked against."""
    wait = limiter.retry_after(user=user, client=client)
    limiter.record_attempt(client=client)
    limiter.record_failure(user=user)
    return wait


def test_a_fresh_limiter_lets_anyone_try(clock: FakeClock) -> None:
    assert _limiter(clock).retry_after(user="alice", client="10.0.0.1") == 0


def test_user_is_locked_after_max_failures_whoever_asks(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    for _ in range(3):
        assert _fail(limiter, "alice", "10.0.0.1") == 0
        clock.advance(1)
    # Locked for every client: the guesses may come from many addresses.
    assert limiter.retry_after(user="alice", client="10.0.0.1") > 0
    assert limiter.retry_after(user="alice", client="192.0.2.99") > 0


def test_failures_of_one_user_do_not_lock_another(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
    assert limiter.retry_after(user="bob", client="10.0.0.2") == 0


def test_fewer_failures_than_the_limit_never_lock(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    for _ in range(2):
        _fail(limiter, "alice", "10.0.0.1")
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 0


def test_a_success_clears_the_users_failures(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    for _ in range(2):
        _fail(limiter, "alice", "10.0.0.1")
    limiter.record_success(user="alice")
    for _ in range(2):
        _fail(limiter, "alice", "10.0.0.1")
    # 2 + 2 failures, but the success in between reset the count.
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 0


def test_client_is_limited_by_attempts_whatever_user_it_names(clock: FakeClock) -> None:
    """Password spraying: one address, one guess per user, many users."""
    limiter = _limiter(clock, failures=3, attempts=5)
    for n in range(5):
        assert _fail(limiter, f"user-{n}", "203.0.113.7") == 0
    assert limiter.retry_after(user="nobody-yet", client="203.0.113.7") > 0
    assert limiter.retry_after(user="nobody-yet", client="203.0.113.8") == 0


def test_successful_logins_count_as_attempts_too(clock: FakeClock) -> None:
    limiter = _limiter(clock, attempts=3)
    for _ in range(3):
        limiter.record_attempt(client="10.0.0.1")
        limiter.record_success(user="alice")
    assert limiter.retry_after(user="alice", client="10.0.0.1") > 0


def test_retry_after_is_the_time_until_the_oldest_counted_failure_leaves_the_window(
    clock: FakeClock,
) -> None:
    limiter = _limiter(clock, failures=3, window_s=300)
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
        clock.advance(10)
    # Failures at 0, 10, 20; now 30: the one at 0 leaves the window at 300.
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 270


def test_retry_after_rounds_up_to_whole_seconds(clock: FakeClock) -> None:
    """Retry-After carries whole seconds; rounding down would invite a retry that is
    still refused."""
    limiter = _limiter(clock, failures=1, window_s=10)
    _fail(limiter, "alice", "10.0.0.1")
    clock.advance(9.2)
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 1
    clock.advance(0.7)
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 1


def test_retry_after_is_the_longer_of_the_user_and_client_waits(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=1, attempts=2, window_s=100)
    _fail(limiter, "alice", "10.0.0.1")  # alice locked until 100; client has 1 attempt
    clock.advance(40)
    _fail(limiter, "bob", "10.0.0.1")  # client full until 100, bob locked until 140
    assert limiter.retry_after(user="alice", client="10.0.0.9") == 60
    assert limiter.retry_after(user="carol", client="10.0.0.1") == 60
    assert limiter.retry_after(user="bob", client="10.0.0.1") == 100


def test_the_lock_ends_when_the_window_has_passed(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3, window_s=300)
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
    clock.advance(299.5)
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 1
    clock.advance(0.5)  # exactly one window after the failures
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 0


def test_the_window_slides_one_failure_at_a_time(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3, window_s=300)
    for _ in range(3):  # failures at 0, 100, 200
        _fail(limiter, "alice", "10.0.0.1")
        clock.advance(100)
    # now 300: the failure at 0 has left, two remain: one more guess is allowed ...
    assert _fail(limiter, "alice", "10.0.0.1") == 0
    # ... and then the lock lasts until the failure at 100 leaves (at 400).
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 100
    clock.advance(100)
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 0


def test_attempts_expire_with_the_window_too(clock: FakeClock) -> None:
    limiter = _limiter(clock, attempts=2, window_s=60)
    limiter.record_attempt(client="10.0.0.1")
    limiter.record_attempt(client="10.0.0.1")
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 60
    clock.advance(60)
    assert limiter.retry_after(user="alice", client="10.0.0.1") == 0


def test_many_attacker_chosen_names_keep_the_limiter_working(clock: FakeClock) -> None:
    """User names and addresses are attacker-chosen, so the limiter bounds what it keeps;
    past that bound it must still refuse the key being hammered right now."""
    limiter = _limiter(clock, failures=3)
    for n in range(100_050):
        limiter.record_failure(user=f"spray-{n}")
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
    assert limiter.retry_after(user="alice", client="10.0.0.1") > 0


# ---- through the app: what a client sees -----------------------------------------------


async def test_login_answers_429_with_retry_after_once_a_user_is_locked(
    app_client: httpx.AsyncClient,
) -> None:
    """Default settings: 5 failures per user in 300 s. The lock holds even for the right
    password (the guesser may have found it), and Retry-After says how long, in seconds."""
    for _ in range(5):
        wrong = await app_client.post(
            "/v1/auth/token", data={"username": "alice", "password": "hunter2-hunter2"}
        )
        assert wrong.status_code == 401
        assert "retry-after" not in wrong.headers
    locked = await app_client.post(
        "/v1/auth/token", data={"username": "alice", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json() == {"detail": "too many login attempts; try again later"}
    assert 290 <= int(locked.headers["retry-after"]) <= 300
    other = await app_client.post(
        "/v1/auth/token", data={"username": "quinn", "password": PASSWORD}
    )
    assert other.status_code == 200
