"""Limits of the API on the real path (uvicorn, InfluxDB, the catalog world): live streams
and exports per user, `/v1/metrics` scoped to an operator's sites, and the export signing
key made once by racing first exports.

Exports are held open by calling the app itself (a second instance on the same catalog,
InfluxDB and data dir) with a client that stops reading: over loopback a whole export fits
in the socket buffers, so a real connection could not hold one open reliably."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import orjson
import pytest
from starlette.types import Message

from api.app import create_app
from api.export import verify_bytes
from api.export.signing import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME, load_public_key
from coldchain import times
from coldchain.pipeline_metrics import metrics_file
from tests.support.api_world import World

API_SETTINGS = {"api_stream_interval_s": 0.2, "api_max_streams_per_user": 2}

# Who may export what: each user twice at once is exactly their bound (2).
EXPORTERS = {"quinn": "LOT-A2", "ada": "LOT-B1", "alice": "LOT-A1", "bob": "LOT-B1"}


def _auth(world: World, user: str) -> dict[str, str]:
    """An API token's header: streams re-check it every round, like a login's."""
    return world.headers(user, api_token=True)


def _first_event(lines: Iterator[str]) -> None:
    for line in lines:
        if line.startswith("event: live"):
            return
    raise AssertionError("the stream ended before its first event")


@pytest.fixture
def streams() -> Iterator[ExitStack]:
    """Streams a test holds open, closed (the clients hang up) when it ends."""
    with ExitStack() as stack:
        yield stack


def _open_stream(world: World, stack: ExitStack, user: str) -> tuple[int, Iterator[str]]:
    """A live stream held open until `stack` closes, with its lines (the same iterator
    throughout: dropping one half-read closes the connection)."""
    client = stack.enter_context(httpx.Client(base_url=world.base_url, timeout=10))
    response = stack.enter_context(
        client.stream("GET", "/v1/live/stream", headers=_auth(world, user))
    )
    lines = response.iter_lines()
    stack.callback(lambda: lines)  # held until the stack closes
    if response.status_code == 200:
        _first_event(lines)
    return response.status_code, lines


def test_a_user_over_the_stream_bound_gets_429_with_retry_after(
    world: World, streams: ExitStack
) -> None:
    for _ in range(2):
        assert _open_stream(world, streams, "omar")[0] == 200
    refused = world.client.get("/v1/live/stream", headers=_auth(world, "omar"))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert _open_stream(world, streams, "quinn")[0] == 200  # another user is not held back


def test_a_stream_slot_is_given_back_when_the_client_disconnects(world: World) -> None:
    with ExitStack() as held:
        for _ in range(2):
            assert _open_stream(world, held, "alice")[0] == 200
        assert world.client.get("/v1/live/stream", headers=_auth(world, "alice")).status_code == 429
    # Both clients hung up; the server notices at its next round (0.2 s here).
    deadline = time.monotonic() + 10
    while True:
        with (
            httpx.Client(base_url=world.base_url, timeout=10) as client,
            client.stream(
                "GET", "/v1/live/stream", headers=_auth(world, "alice"), params={"max_events": 1}
            ) as again,
        ):
            if again.status_code == 200:
                _first_event(again.iter_lines())
                break
        assert time.monotonic() < deadline, "the slots were never given back"
        time.sleep(0.2)


class _StalledClient:
    """An ASGI client that reads the answer's first chunk and then stops reading until
    `leave()`, when it disconnects."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.first_chunk = asyncio.Event()
        self.gone = asyncio.Event()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and message.get("more_body"):
            self.first_chunk.set()
            await self.gone.wait()

    def leave(self) -> None:
        self.gone.set()

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])


def _export_scope(world: World, user: str, batch: str) -> dict[str, object]:
    token = _auth(world, user)["Authorization"].encode()
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/v1/batches/{batch}/export",
        "raw_path": f"/v1/batches/{batch}/export".encode(),
        "query_string": b"format=csv",
        "root_path": "",
        "headers": [(b"host", b"api.test"), (b"authorization", token)],
        "client": ("127.0.0.1", 40000),
        "server": ("api.test", 80),
    }


async def test_a_third_export_at_once_gets_429_and_a_left_one_frees_its_slot(
    world: World,
) -> None:
    app = create_app(world.settings, engine=world.engine)
    async with app.router.lifespan_context(app):

        async def start(client: _StalledClient) -> asyncio.Task[None]:
            scope = _export_scope(world, "quinn", "LOT-A2")
            task = asyncio.create_task(app(scope, client.receive, client.send))
            await asyncio.wait_for(client.first_chunk.wait(), 30)
            return task

        held = [_StalledClient(), _StalledClient()]
        tasks = [await start(client) for client in held]
        assert [client.status for client in held] == [200, 200]

        third = _StalledClient()
        third.leave()
        await app(_export_scope(world, "quinn", "LOT-A2"), third.receive, third.send)
        assert third.status == 429
        assert dict(third.messages[0]["headers"])[b"retry-after"] == b"30"

        held[0].leave()  # one client hangs up mid-download
        await asyncio.wait_for(tasks[0], 30)
        fourth = _StalledClient()
        tasks.append(await start(fourth))
        assert fourth.status == 200
        for client in (held[1], fourth):
            client.leave()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert app.state.api.exports.open_for("quinn") == 0


def test_racing_first_exports_all_succeed_signed_with_one_key(world: World) -> None:
    keys = world.settings.data_dir / "keys"
    for name in (PRIVATE_KEY_NAME, PUBLIC_KEY_NAME):
        (keys / name).unlink(missing_ok=True)  # whatever ran before: these are first exports

    def export(user: str) -> httpx.Response:
        with httpx.Client(base_url=world.base_url, timeout=60) as client:
            return client.get(
                f"/v1/batches/{EXPORTERS[user]}/export",
                params={"format": "csv"},
                headers=_auth(world, user),
            )

    users = [user for user in EXPORTERS for _ in range(2)]
    with ThreadPoolExecutor(len(users)) as pool:
        answers = list(pool.map(export, users))
    assert [a.status_code for a in answers] == [200] * len(users), [a.text for a in answers]
    public = load_public_key(keys / PUBLIC_KEY_NAME)
    assert {verify_bytes(a.content, public).key_id for a in answers} == {
        verify_bytes(answers[0].content, public).key_id
    }


def test_an_export_with_a_key_others_may_read_is_a_503_and_the_log_names_the_fix(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    path = world.settings.data_dir / "keys" / PRIVATE_KEY_NAME
    first = world.client.get("/v1/batches/LOT-A2/export", headers=_auth(world, "quinn"))
    assert first.status_code == 200  # the key exists now
    path.chmod(0o644)
    try:
        with caplog.at_level(logging.ERROR, logger="api.routes.exports"):
            answer = world.client.get("/v1/batches/LOT-A2/export", headers=_auth(world, "quinn"))
    finally:
        path.chmod(0o600)
    assert answer.status_code == 503
    assert "signing key" in answer.json()["detail"]
    assert str(path) not in answer.text  # the path is for the operator's log only
    assert f"export signing key {path}: mode 0644" in caplog.text
    assert "chmod 600" in caplog.text


def _publish(world: World, worker: str, sites: list[str]) -> None:
    path = metrics_file(world.settings.data_dir, "detector", worker)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"worker": worker, "sites": sites, "time_ms": times.now_ms()}))


def test_metrics_show_an_operator_only_their_own_sites(world: World) -> None:
    _publish(world, "bsl", ["BSL"])
    _publish(world, "lys", ["LYS"])
    _publish(world, "both", ["BSL", "LYS"])
    operator = world.client.get("/v1/metrics", headers=_auth(world, "omar")).json()
    assert sorted(operator["services"]) == ["detector-both", "detector-bsl"]
    assert operator["services"]["detector-both"]["sites"] == ["BSL"]
    assert "LYS" not in str(operator)
    staff = world.client.get("/v1/metrics", headers=_auth(world, "quinn")).json()
    assert sorted(staff["services"]) == ["detector-both", "detector-bsl", "detector-lys"]
    assert staff["services"]["detector-both"]["sites"] == ["BSL", "LYS"]
    for worker in ("both", "lys"):
        metrics_file(world.settings.data_dir, "detector", worker).unlink()
    # LYS is now watched by no detector: QA is told, BSL's operator learns nothing of it.
    staff = world.client.get("/v1/metrics", headers=_auth(world, "ada")).json()
    assert staff["sites_without_detector"] == ["LYS"]
    operator = world.client.get("/v1/metrics", headers=_auth(world, "omar")).json()
    assert operator["sites_without_detector"] == []
    assert "LYS" not in str(operator)
    metrics_file(world.settings.data_dir, "detector", "bsl").unlink()


def test_metrics_are_not_for_sponsors(world: World) -> None:
    assert world.client.get("/v1/metrics", headers=_auth(world, "alice")).status_code == 403
