"""The login rate limiter (`api.ratelimit.LoginLimiter`) on an injected clock: back-off per
user and address, a user under attack, attempts per client address, the Retry-After it
computes; and `TrustedProxies`, which decides what the client's address is.

The limiter is driven the way the login route drives it (`begin`, then `succeeded` when the
password was right), so these tests pin the behaviour an attacker meets, not the
internals."""

from __future__ import annotations

import httpx
import pytest

from api.ratelimit import LoginLimiter, TrustedProxies
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
    clock: FakeClock,
    *,
    failures: int = 3,
    attempts: int = 10,
    window_s: float = 300.0,
    max_backoff_s: float = 900.0,
) -> LoginLimiter:
    return LoginLimiter(
        max_failures_per_user=failures,
        max_attempts_per_client=attempts,
        window_s=window_s,
        max_backoff_s=max_backoff_s,
        clock=clock,
    )


def _fail(limiter: LoginLimiter, user: str, client: str) -> int:
    """One wrong password as the route makes it; returns the Retry-After it met (0: checked)."""
    attempt = limiter.begin(user=user, client=client)
    if not attempt.retry_after_s:
        limiter.failed(attempt)
    return attempt.retry_after_s


def _succeed(limiter: LoginLimiter, user: str, client: str) -> int:
    attempt = limiter.begin(user=user, client=client)
    if not attempt.retry_after_s:
        limiter.succeeded(attempt)
    return attempt.retry_after_s


def _wait(limiter: LoginLimiter, user: str, client: str) -> int:
    """The Retry-After a right password would meet now (it is then taken back)."""
    return _succeed(limiter, user, client)


def test_a_fresh_limiter_lets_anyone_try(clock: FakeClock) -> None:
    assert _fail(_limiter(clock), "alice", "10.0.0.1") == 0


def test_an_address_backs_off_after_the_free_failures(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    for _ in range(3):
        assert _fail(limiter, "alice", "10.0.0.1") == 0
    assert _fail(limiter, "alice", "10.0.0.1") > 0


def test_the_back_off_doubles_with_each_failure_up_to_the_cap(clock: FakeClock) -> None:
    """5 s, doubling with each failure, never over the cap. The user is under attack after
    3 failures, so the address's back-off counts from its first failure: its fourth meets
    20 s."""
    limiter = _limiter(clock, failures=3, max_backoff_s=100)
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
    waits = []
    for _ in range(4):
        wait = _fail(limiter, "alice", "10.0.0.1")
        waits.append(wait)
        clock.advance(wait)
        assert _fail(limiter, "alice", "10.0.0.1") == 0
    assert waits == [20, 40, 80, 100]


def test_a_locked_out_address_does_not_lock_the_user_elsewhere(clock: FakeClock) -> None:
    """The finding: five bad passwords locked quinn out for everybody. Now the guessing
    address backs off and quinn, from an address that has not failed, is still checked."""
    limiter = _limiter(clock, failures=3)
    for _ in range(50):
        _fail(limiter, "quinn", "203.0.113.66")
    assert _fail(limiter, "quinn", "203.0.113.66") > 0
    attempt = limiter.begin(user="quinn", client="10.0.0.5")
    assert attempt.retry_after_s == 0
    assert attempt.slowed  # under attack: checked after a short delay


def test_under_attack_every_new_address_gets_one_guess(clock: FakeClock) -> None:
    """A botnet: many addresses, one user. Past the user's free failures, an address backs
    off after its first failure, so each address costs the attacker a back-off per guess."""
    limiter = _limiter(clock, failures=3)
    for n in range(3):
        _fail(limiter, "quinn", f"198.51.100.{n}")
    for n in range(3, 40):
        assert _fail(limiter, "quinn", f"198.51.100.{n}") == 0
        assert _fail(limiter, "quinn", f"198.51.100.{n}") == 5
    assert _succeed(limiter, "quinn", "10.0.0.5") == 0


def test_a_user_not_under_attack_is_not_slowed(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    _fail(limiter, "alice", "10.0.0.1")
    assert not limiter.begin(user="alice", client="10.0.0.1").slowed


def test_failures_of_one_user_do_not_hold_back_another(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
    attempt = limiter.begin(user="bob", client="10.0.0.1")
    assert (attempt.retry_after_s, attempt.slowed) == (0, False)


def test_a_success_forgives_the_addresss_failures(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3)
    for _ in range(2):
        _fail(limiter, "alice", "10.0.0.1")
    assert _succeed(limiter, "alice", "10.0.0.1") == 0
    for _ in range(2):
        assert _fail(limiter, "alice", "10.0.0.1") == 0
    # 2 + 2 failures, but the success in between forgave the first two.
    assert _fail(limiter, "alice", "10.0.0.1") == 0


def test_concurrent_attempts_are_reserved_before_the_check(clock: FakeClock) -> None:
    """The finding: 25 concurrent guesses all reached the password check, since failures
    were recorded after it. `begin` reserves each as a failure at once."""
    limiter = _limiter(clock, failures=5, attempts=100)
    started = [limiter.begin(user="omar", client="10.0.0.9") for _ in range(25)]
    assert sum(1 for attempt in started if attempt.retry_after_s == 0) == 5


def test_client_is_limited_by_attempts_whatever_user_it_names(clock: FakeClock) -> None:
    """Password spraying: one address, one guess per user, many users."""
    limiter = _limiter(clock, failures=3, attempts=5)
    for n in range(5):
        assert _fail(limiter, f"user-{n}", "203.0.113.7") == 0
    assert _fail(limiter, "nobody-yet", "203.0.113.7") > 0
    assert _fail(limiter, "nobody-yet", "203.0.113.8") == 0


def test_successful_logins_count_as_attempts_too(clock: FakeClock) -> None:
    limiter = _limiter(clock, attempts=3)
    for _ in range(3):
        assert _succeed(limiter, "alice", "10.0.0.1") == 0
    assert _succeed(limiter, "alice", "10.0.0.1") > 0


def test_attempts_expire_with_the_window(clock: FakeClock) -> None:
    limiter = _limiter(clock, attempts=2, window_s=60)
    _succeed(limiter, "alice", "10.0.0.1")
    _succeed(limiter, "alice", "10.0.0.1")
    assert _wait(limiter, "alice", "10.0.0.1") == 60
    clock.advance(60)
    assert _wait(limiter, "alice", "10.0.0.1") == 0


def test_retry_after_rounds_up_to_whole_seconds(clock: FakeClock) -> None:
    """Retry-After carries whole seconds; rounding down would invite a retry that is
    still refused."""
    limiter = _limiter(clock, failures=1)
    _fail(limiter, "alice", "10.0.0.1")  # back-off 5 s
    clock.advance(4.2)
    assert _fail(limiter, "alice", "10.0.0.1") == 1
    clock.advance(0.7)
    assert _fail(limiter, "alice", "10.0.0.1") == 1
    clock.advance(0.1)
    assert _fail(limiter, "alice", "10.0.0.1") == 0


def test_a_quiet_window_forgets_an_addresss_failures(clock: FakeClock) -> None:
    limiter = _limiter(clock, failures=3, window_s=300)
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
    clock.advance(300.5)
    for _ in range(3):
        assert _fail(limiter, "alice", "10.0.0.1") == 0


def test_many_attacker_chosen_names_keep_the_limiter_working(clock: FakeClock) -> None:
    """User names and addresses are attacker-chosen, so the limiter bounds what it keeps;
    past that bound it must still refuse the key being hammered right now."""
    limiter = _limiter(clock, failures=3, attempts=1_000_000)
    for n in range(100_050):
        _fail(limiter, f"spray-{n}", "10.9.9.9")
    for _ in range(3):
        _fail(limiter, "alice", "10.0.0.1")
    assert _fail(limiter, "alice", "10.0.0.1") > 0


# ---- which address is the client's ----------------------------------------------------


def test_no_trusted_proxy_means_the_peer_is_the_client() -> None:
    proxies = TrustedProxies([])
    assert proxies.client_of("10.0.0.2", "198.51.100.7") == "10.0.0.2"


def test_a_trusted_proxy_names_the_rightmost_untrusted_address() -> None:
    """Each proxy appends the address it saw: what the client wrote itself is on the left,
    so the rightmost address that is not a proxy's is the client's."""
    proxies = TrustedProxies(["10.0.0.0/24", "192.0.2.1"])
    assert proxies.client_of("10.0.0.2", "1.1.1.1, 198.51.100.7, 192.0.2.1") == "198.51.100.7"
    assert proxies.client_of("10.0.0.2", None) == "10.0.0.2"
    assert proxies.client_of("10.0.0.2", "10.0.0.9, 10.0.0.8") == "10.0.0.9"


def test_a_forged_header_from_an_untrusted_peer_changes_nothing() -> None:
    proxies = TrustedProxies(["10.0.0.0/24"])
    assert proxies.client_of("203.0.113.5", "10.0.0.7, 1.2.3.4") == "203.0.113.5"


def test_ipv6_proxies_and_clients() -> None:
    proxies = TrustedProxies(["fd00::/8"])
    assert proxies.client_of("fd00::1", "2001:db8::7") == "2001:db8::7"


def test_a_setting_that_is_no_address_is_refused() -> None:
    with pytest.raises(ValueError, match=r"api_trusted_proxies: 'proxy\.local'"):
        TrustedProxies(["proxy.local"])


# ---- through the app: what a client sees -----------------------------------------------


async def test_login_answers_429_with_retry_after_once_an_address_backs_off(
    app_client: httpx.AsyncClient,
) -> None:
    """Default settings: 5 free failures per user and address; then the user is under
    attack, and the address waits 5 s doubled for each failure past its first: 80 s. The
    back-off holds even for the right password from that address (the guesser may have
    found it), and Retry-After says how long, in seconds."""
    for _ in range(5):
        wrong = await app_client.post(
            "/v1/auth/token", data={"username": "alice", "password": "hunter2-hunter2"}
        )
        assert wrong.status_code == 401
        assert "retry-after" not in wrong.headers
    held = await app_client.post("/v1/auth/token", data={"username": "alice", "password": PASSWORD})
    assert held.status_code == 429
    assert held.json() == {"detail": "too many login attempts; try again later"}
    assert 75 <= int(held.headers["retry-after"]) <= 80
    other = await app_client.post(
        "/v1/auth/token", data={"username": "quinn", "password": PASSWORD}
    )
    assert other.status_code == 200
