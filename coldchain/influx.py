"""Async client for the InfluxDB v1 HTTP API (`/write`, `/query`, `/ping`).

The v1 API is served by InfluxDB 1.x, by 2.x through its v1 compatibility layer and by
3 Core, so the pipeline runs on any of them. httpx exceptions and HTTP statuses are
translated here, and only here, into `StoreUnavailable` (retry) or `StoreRejected` (the
same request will fail again: dead-letter it).
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
import orjson

from coldchain.config import Settings
from coldchain.errors import DatabaseNotFound, StoreRejected, StoreUnavailable
from coldchain.security.redact import redact_text

if TYPE_CHECKING:  # only its attributes are read: the client stays free of numpy
    from coldchain.judgement.validity import ReadingValidity

__all__ = [
    "InfluxClient",
    "RawAnswer",
    "Series",
    "quote_identifier",
    "quote_string",
    "tags_condition",
    "valid_readings_condition",
]


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a query result; `rows` zips columns with values for convenience."""

    name: str
    columns: list[str]
    values: list[list[Any]]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """A query answer as the server sends it: its media type and its bytes as they arrive."""

    media_type: str
    pieces: AsyncIterator[bytes]


def quote_identifier(name: str) -> str:
    """An InfluxQL identifier in double quotes (database, measurement, tag key)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal in single quotes (a tag value in WHERE)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tags_condition(tags: Iterable[tuple[str, str]]) -> str:
    """`"site" = 'S' AND "device" = 'D' ...`: the points with these tag values, in the
    order given (a statement's text is a cache key, so callers keep theirs stable)."""
    return " AND ".join(f"{quote_identifier(tag)} = {quote_string(value)}" for tag, value in tags)


def valid_readings_condition(validity: ReadingValidity, field: str = "temp_c") -> str:
    """`("temp_c" >= -100.0 AND "temp_c" <= 70.0 AND "temp_c" != -127.0 ...)`: the points
    whose `field` is a temperature by the one reading-validity rule (`validity`, docs/
    design.md §11), as a WHERE condition. Every query that reads temperatures for a chart, a
    tile or a downsampled series ANDs it in, so an error code or an out-of-range value never
    becomes a min, max or mean. Valid in InfluxQL WHERE clauses beside a time range."""
    name = quote_identifier(field)
    parts = [
        f"{name} >= {float(validity.probe_min_c)!r}",
        f"{name} <= {float(validity.probe_max_c)!r}",
    ]
    parts += [f"{name} != {float(code)!r}" for code in sorted(set(validity.error_values_c))]
    return "(" + " AND ".join(parts) + ")"


def _server_message(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text.strip()[:2000]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text.strip()[:2000]


# 401/403: our credentials are wrong, not the data; 404 on /write: the database is missing.
# Both are fixed by an operator, after which the same data must still go in.
_RETRYABLE_CLIENT_ERRORS = frozenset({401, 403, 404, 408, 429})


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        raise StoreUnavailable(f"InfluxDB {action}: {type(exc).__name__}: {exc}") from exc


def _series(result: dict[str, Any]) -> list[Series]:
    return [
        Series(
            name=item.get("name", ""),
            columns=item.get("columns", []),
            values=item.get("values", []),
            tags=item.get("tags", {}),
        )
        for item in result.get("series", [])
    ]


class InfluxClient:
    """A connection pool to one InfluxDB database.

    Usage:
        async with InfluxClient("http://127.0.0.1:8086", "coldchain") as influx:
            await influx.create_database()
            await influx.write_lines(["reading,site=BSL temp_c=5 1763800000000"])
            series = await influx.query('SELECT count(temp_c) FROM "reading"')
    """

    @classmethod
    def for_settings(
        cls, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> InfluxClient:
        """The client every service builds from its settings (URL, database, user);
        `transport`: tests count the statements that go through it."""
        return cls(
            settings.influx_url,
            settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
            timeout_s=settings.influx_timeout_s,
            transport=transport,
        )

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.AsyncClient(
            base_url=self.url, auth=auth, timeout=timeout_s, transport=transport
        )

    def __repr__(self) -> str:  # for log lines: the URL may carry a password
        return f"InfluxClient({redact_text(self.url)}, db={self.database!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _raise_for_status(self, response: httpx.Response, action: str) -> None:
        if response.status_code < 300:
            return
        message = _server_message(response)
        text = f"InfluxDB {action}: HTTP {response.status_code}: {message}"
        if response.status_code == 404 and message.startswith("database not found"):
            raise DatabaseNotFound(text)
        if response.status_code >= 500 or response.status_code in _RETRYABLE_CLIENT_ERRORS:
            raise StoreUnavailable(text)
        raise StoreRejected(text, status_code=response.status_code, server_message=message)

    async def ping(self) -> bool:
        try:
            response = await self._http.get("/ping")
        except httpx.TransportError:
            return False
        return response.status_code == 204

    async def write_lines(self, lines: Sequence[str], *, precision: str = "ms") -> None:
        """Write line-protocol lines in one gzip-compressed request.

        InfluxDB answers only after the points are in its WAL, so a return means durable.
        """
        if lines:
            await self.write_body("\n".join(lines).encode("utf-8"), precision=precision)

    async def write_body(
        self, body: bytes, *, precision: str = "ms", retention_policy: str | None = None
    ) -> None:
        """Write a line-protocol body as it is (lines joined by newlines), gzip-compressed.

        `retention_policy` None writes to the database's default RP, as the ingest does.
        """
        body = gzip.compress(body, compresslevel=1)
        params = {"db": self.database, "precision": precision}
        if retention_policy is not None:
            params["rp"] = retention_policy
        with _translated("write"):
            response = await self._http.post(
                "/write",
                params=params,
                content=body,
                headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
            )
        self._raise_for_status(response, "write")

    async def _post_query(self, query: str, *, database: bool) -> list[dict[str, Any]]:
        params = {"q": query, "epoch": "ms"}
        if database:
            params["db"] = self.database
        with _translated("query"):
            response = await self._http.post("/query", data=params)
        self._raise_for_status(response, "query")
        results: list[dict[str, Any]] = orjson.loads(response.content).get("results", [])
        for result in results:
            if "error" in result:
                raise StoreRejected(
                    f"InfluxDB query: {result['error']} (query: {query[:200]})",
                    status_code=response.status_code,
                    server_message=str(result["error"]),
                )
        return results

    async def query(self, query: str) -> list[Series]:
        """Run InfluxQL against this database; times come back as epoch milliseconds."""
        return [
            s for result in await self._post_query(query, database=True) for s in _series(result)
        ]

    async def query_each(self, statements: Sequence[str]) -> list[list[Series]]:
        """Several statements in one request, each statement's series apart (so a caller
        can cache them one by one)."""
        if not statements:
            return []
        answers: list[list[Series]] = [[] for _ in statements]
        for result in await self._post_query(";".join(statements), database=True):
            answers[int(result.get("statement_id", 0))] = _series(result)
        return answers

    async def stream_query(self, query: str, *, epoch: str = "ms") -> AsyncIterator[Series]:
        """Series of a large result as they arrive (chunked), so memory stays flat.

        `epoch="ns"` gives times exactly as stored (a backup must not round them).
        """
        params = {"q": query, "db": self.database, "epoch": epoch, "chunked": "true"}
        with _translated("query"):
            async with self._http.stream("POST", "/query", data=params) as response:
                if response.status_code >= 300:
                    await response.aread()
                    self._raise_for_status(response, "query")
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    chunk = orjson.loads(line)
                    for result in chunk.get("results", []):
                        if "error" in result:
                            raise StoreRejected(
                                f"InfluxDB query: {result['error']}",
                                status_code=response.status_code,
                                server_message=str(result["error"]),
                            )
                        for series in _series(result):
                            yield series

    @contextlib.asynccontextmanager
    async def raw_query(
        self, query: str, *, accept: str, epoch: str = "ms"
    ) -> AsyncIterator[RawAnswer]:
        """A chunked query answered in the format `accept` names (e.g. MessagePack) and not
        compressed, for callers that decode a large answer faster than JSON allows (on
        loopback, compressing costs InfluxDB more than it saves). A server that ignores
        `accept` says so in `media_type`; statement errors are in the body, the caller's
        to decode."""
        params = {"q": query, "db": self.database, "epoch": epoch, "chunked": "true"}
        headers = {"Accept": accept, "Accept-Encoding": "identity"}
        with _translated("query"):
            async with self._http.stream(
                "POST", "/query", data=params, headers=headers
            ) as response:
                if response.status_code >= 300:
                    await response.aread()
                    self._raise_for_status(response, "query")
                media_type = response.headers.get("content-type", "").split(";")[0].strip()
                yield RawAnswer(media_type, response.aiter_bytes())

    async def create_database(self) -> None:
        """CREATE DATABASE is idempotent in InfluxQL, so this is safe at every start."""
        await self._post_query(f"CREATE DATABASE {quote_identifier(self.database)}", database=False)

    async def drop_database(self) -> None:
        await self._post_query(f"DROP DATABASE {quote_identifier(self.database)}", database=False)
