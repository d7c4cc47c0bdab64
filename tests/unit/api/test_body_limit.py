"""Request bodies are bounded before anything reads them (`api.bodylimit.BodyLimit`).

Through the real app (in process): an oversize body to an alert action is a 413 before
authentication, deeply nested JSON under the limit a clear 4xx. The middleware alone, fed
a body chunk by chunk as a server would: it stops reading at the limit, and a body that
trickles in slower than the timeout is a 408."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from api.bodylimit import BodyLimit

LIMIT = 65_536


JSON = {"Content-Type": "application/json"}


async def test_an_oversize_body_is_refused_with_413_before_login(
    app_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"comment": "' + b"x" * (2 * LIMIT) + b'"}'
    with caplog.at_level(logging.WARNING, logger="api.bodylimit"):
        answer = await app_client.post("/v1/alerts/x/acknowledge", content=body, headers=JSON)
    assert answer.status_code == 413  # not 401: refused before anyone read the body
    assert "65536" in answer.json()["detail"]
    assert answer.headers["x-frame-options"] == "DENY"  # still inside the security headers
    assert "status=413 path=/v1/alerts/x/acknowledge" in caplog.text


async def test_a_body_under_the_limit_reaches_the_route(app_client: httpx.AsyncClient) -> None:
    body = b'{"comment": "' + b"x" * 1500 + b'"}'
    answer = await app_client.post("/v1/alerts/x/acknowledge", content=body, headers=JSON)
    assert answer.status_code == 401  # past the limit, read and parsed: no token


@pytest.mark.parametrize("depth", [100, 10_000, 30_000])
async def test_deeply_nested_json_under_the_limit_is_a_clear_4xx(
    app_client: httpx.AsyncClient, depth: int
) -> None:
    """FastAPI parses the body before any dependency (the login check included) runs, so
    an anonymous request is the worst case."""
    body = b'{"comment": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(body) < LIMIT
    answer = await app_client.post(
        "/v1/alerts/x/acknowledge",
        content=body,
        headers=JSON,
    )
    assert answer.status_code in (400, 401), answer.text
    assert answer.json()["detail"]


class _Client:
    """A server's side of one request: the body in chunks, `pause_s` between them."""

    def __init__(self, chunks: list[bytes], pause_s: float = 0.0) -> None:
        self.chunks = chunks
        self.pause_s = pause_s
        self.read = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.read >= len(self.chunks):
            await asyncio.sleep(3600)  # a client that stays: only a disconnect would come
        await asyncio.sleep(self.pause_s)
        self.read += 1
        more = self.read < len(self.chunks)
        return {"type": "http.request", "body": self.chunks[self.read - 1], "more_body": more}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])


async def _app_reading_the_body(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/v1/x", "headers": headers}


CHUNKED = [(b"transfer-encoding", b"chunked")]


async def test_a_chunked_body_is_read_only_up_to_the_limit() -> None:
    client = _Client([b"x" * 16_384] * 1000)  # 16 MB announced by nothing
    limited = BodyLimit(_app_reading_the_body, max_bytes=LIMIT, timeout_s=10)
    await limited(_scope(CHUNKED), client.receive, client.send)
    assert client.status == 413
    assert client.read == LIMIT // 16_384 + 1  # the chunk that passed the limit, no more


async def test_a_chunked_body_within_the_limit_reaches_the_app_whole() -> None:
    client = _Client([b"x" * 1000] * 10)
    limited = BodyLimit(_app_reading_the_body, max_bytes=LIMIT, timeout_s=10)
    await limited(_scope(CHUNKED), client.receive, client.send)
    assert client.status == 200
    assert client.sent[1]["body"] == b"10000"


async def test_a_declared_oversize_body_is_refused_without_reading_it() -> None:
    client = _Client([b"x" * 16_384] * 13)
    limited = BodyLimit(_app_reading_the_body, max_bytes=LIMIT, timeout_s=10)
    await limited(_scope([(b"content-length", b"212992")]), client.receive, client.send)
    assert client.status == 413
    assert client.read == 0


async def test_a_trickled_body_is_cut_off_with_408_at_the_timeout() -> None:
    client = _Client([b"x"] * 1000, pause_s=0.05)  # 1 byte every 50 ms: 50 s in all
    limited = BodyLimit(_app_reading_the_body, max_bytes=LIMIT, timeout_s=0.5)
    started = asyncio.get_running_loop().time()
    await limited(_scope([(b"content-length", b"1000")]), client.receive, client.send)
    assert client.status == 408
    assert asyncio.get_running_loop().time() - started < 1.5
    assert client.read < 20
