"""The login limiter through real uvicorn (issue #20, finding 3): behind a reverse proxy,
under concurrent guesses, and against an attacker who tries to lock a user out.

Clients connect from distinct loopback addresses (Linux routes all of 127.0.0.0/8 to lo,
so a socket may bind any of them as its source): 127.0.0.3 plays the trusted reverse
proxy, the others are clients reaching the API directly. Uvicorn's own proxy-header
handling trusts only 127.0.0.1 by default, so none of these peers is rewritten by it: what
the tests see is the app's decision (`api_trusted_proxies`), as under `coldchain api`,
which turns uvicorn's off."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from tests.support.api_world import PASSWORD, World

pytestmark = pytest.mark.integration

PROXY = "127.0.0.3"
SLOW_S = 0.3
API_SETTINGS = {
    "api_trusted_proxies": [PROXY],
    "api_login_max_attempts_per_client": 10,
    "api_login_slow_s": SLOW_S,
}
WRONG = "hunter2-hunter2"


def _client(world: World, source: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=world.base_url, transport=transport, timeout=30)


async def _login(
    client: httpx.AsyncClient, user: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(
        "/v1/auth/token", data={"username": user, "password": password}, headers=headers
    )


async def test_behind_the_trusted_proxy_each_client_has_its_own_attempts(world: World) -> None:
    """The finding: keyed on the peer, every client behind the proxy was one address, so
    one client's ten tries locked everybody out."""
    async with _client(world, PROXY) as proxy:
        for n in range(10):
            answer = await _login(proxy, f"nobody-{n}", WRONG, "198.51.100.1")
            assert answer.status_code == 401
        spent = await _login(proxy, "nobody-10", WRONG, "198.51.100.1")
        assert spent.status_code == 429
        other = await _login(proxy, "bob", PASSWORD, "198.51.100.2")
        assert other.status_code == 200


async def test_the_client_is_the_rightmost_address_the_proxy_does_not_trust(
    world: World,
) -> None:
    """A client writes its own X-Forwarded-For; the proxy appends the real address: only the
    rightmost untrusted one counts, so a client varying the left part gains nothing."""
    async with _client(world, PROXY) as proxy:
        for n in range(10):
            answer = await _login(proxy, f"nobody-{n}", WRONG, f"10.9.9.{n}, 198.51.100.3")
            assert answer.status_code == 401
        spent = await _login(proxy, "nobody-10", WRONG, "10.9.9.99, 198.51.100.3")
        assert spent.status_code == 429


async def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(
    world: World,
) -> None:
    async with _client(world, "127.0.0.2") as direct:
        for n in range(10):
            answer = await _login(direct, f"nobody-{n}", WRONG, f"198.51.100.{100 + n}")
            assert answer.status_code == 401
        spent = await _login(direct, "nobody-10", WRONG, "198.51.100.200")
        assert spent.status_code == 429
        assert int(spent.headers["retry-after"]) > 0


async def test_25_concurrent_wrong_logins_check_at_most_the_limit(world: World) -> None:
    """The finding: the failure was recorded after the password check, so 25 concurrent
    guesses all reached argon2. Default limit: 5 failures per user and address."""
    async with _client(world, "127.0.0.4") as attacker:
        answers = await asyncio.gather(*(_login(attacker, "omar", WRONG) for _ in range(25)))
    counts = Counter(answer.status_code for answer in answers)
    assert counts == {401: 5, 429: 20}


async def test_an_attacker_at_one_address_cannot_lock_quinn_out(world: World) -> None:
    async with _client(world, "127.0.0.5") as attacker, _client(world, "127.0.0.6") as quinn:
        statuses: Counter[int] = Counter()
        for _ in range(50):
            statuses[(await _login(attacker, "quinn", WRONG)).status_code] += 1
        assert statuses == {401: 5, 429: 45}
        refused = await _login(attacker, "quinn", PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1

        started = time.monotonic()
        mine = await _login(quinn, "quinn", PASSWORD)
        assert mine.status_code == 200
        assert SLOW_S <= time.monotonic() - started < SLOW_S + 5


async def test_attackers_at_many_addresses_behind_the_proxy_cannot_lock_ada_out(
    world: World,
) -> None:
    """A botnet through the proxy: one guess per address, then each address backs off;
    ada, from her own address behind the same proxy, still logs in."""
    async with _client(world, PROXY) as proxy:

        async def guess_twice(address: str) -> tuple[int, httpx.Response]:
            first = await _login(proxy, "ada", WRONG, address)
            return first.status_code, await _login(proxy, "ada", WRONG, address)

        answers = await asyncio.gather(*(guess_twice(f"203.0.113.{n}") for n in range(1, 51)))
        assert Counter(first for first, _ in answers) == {401: 50}
        assert Counter(second.status_code for _, second in answers) == {429: 50}
        assert all(int(second.headers["retry-after"]) >= 1 for _, second in answers)

        started = time.monotonic()
        mine = await _login(proxy, "ada", PASSWORD, "192.0.2.10")
        assert mine.status_code == 200
        assert time.monotonic() - started < SLOW_S + 5
