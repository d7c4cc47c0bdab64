"""An httpx transport to the real influxd that keeps each `/query` request's statements, so
a test can count what reached InfluxDB."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx

__all__ = ["QueryCounter"]


class QueryCounter(httpx.AsyncBaseTransport):
    """The real HTTP transport to influxd, keeping the statements of each `/query`
    request that goes through it."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.requests: list[list[str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            [text] = parse_qs((await request.aread()).decode())["q"]
            self.requests.append(text.split(";"))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
