"""A bound on request bodies, before any route, dependency or login check sees them.

FastAPI reads a body whole before it authenticates (the body is a parameter like any
other), so without this a 200 MB JSON to an alert action cost 200 MB per anonymous
request. Here a body is refused with 413 by its Content-Length before a byte is read, or,
chunked, as soon as the bytes received pass the limit (the rest is never read); a body
that takes longer than the timeout to arrive (a client trickling it byte by byte to hold
a worker) is refused with 408. What passes is handed to the app unchanged, so every
request with a body costs at most the limit. Pure ASGI, so responses, streams included,
pass through untouched.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]

log = logging.getLogger(__name__)


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class BodyLimit:
    """Usage: `app.add_middleware(BodyLimit, max_bytes=65536, timeout_s=10.0)`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        try:
            _check_length(scope, self.max_bytes)
            async with asyncio.timeout(self.timeout_s):
                body = await _read_body(receive, self.max_bytes)
        except TimeoutError:
            await _refuse(
                scope, send, 408, f"request body not received within {self.timeout_s:g} s"
            )
            return
        except _Refused as refused:
            await _refuse(scope, send, refused.status, refused.detail)
            return
        if body is None:  # the client left while sending: nobody to answer
            return
        await self.app(scope, _replay(body, receive), send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (
        length is not None and length.strip() not in (b"", b"0")
    )


def _check_length(scope: Scope, max_bytes: int) -> None:
    declared = _header(scope, b"content-length")
    if declared is None:
        return
    try:
        length = int(declared)
    except ValueError:
        raise _Refused(400, "Content-Length is not a number") from None
    if length > max_bytes:
        raise _Refused(413, f"request body larger than {max_bytes} bytes")


async def _read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body, or None if the client disconnected; stops reading past the limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _Refused(413, f"request body larger than {max_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body read here, then the client's own messages
    (a disconnect, which streaming responses wait for)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    client = scope.get("client")
    log.warning(
        "api: request body refused status=%d path=%s client=%s: %s",
        status,
        scope.get("path", ""),
        client[0] if client else "-",
        detail,
    )
    payload = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                # The unread rest of the body would otherwise be taken for the next request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
