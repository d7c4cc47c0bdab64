"""Security headers (`api.headers.SecurityHeaders`) on every answer of the real app, and
the promise the CSP rests on: nothing inline in the page's files.

The middleware is pure ASGI so that streams (SSE, exports) pass through untouched; a small
ASGI app behind it checks that, and that headers a route sets itself are kept."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from api.app import STATIC_DIR
from api.headers import CSP, SecurityHeaders

COMMON = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def _assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get_list(name) == [value], name


def test_csp_allows_only_the_pages_own_files() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in CSP  # no 'unsafe-inline', no 'unsafe-eval'


@pytest.mark.parametrize(
    ("path", "status", "cached"),
    [
        ("/", 200, True),
        ("/static/app.js", 200, True),
        ("/static/app.css", 200, True),
        ("/v1/openapi.json", 200, False),
        ("/v1/products", 401, False),  # no token
        ("/v1/no-such-route", 404, False),
    ],
)
async def test_every_answer_carries_the_security_headers(
    app_client: httpx.AsyncClient, path: str, status: int, cached: bool
) -> None:
    """API answers (even errors) hold tenant data or tokens: never cached. The page and
    its files may be."""
    response = await app_client.get(path)
    assert response.status_code == status
    _assert_common(response)
    assert (response.headers.get("cache-control") == "no-store") is not cached


async def test_a_validation_error_carries_the_headers_too(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post("/v1/auth/token", data={"username": "alice"})
    assert response.status_code == 422
    _assert_common(response)
    assert response.headers["cache-control"] == "no-store"


async def _streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that sets its own Cache-Control and X-Frame-Options and streams."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache"),
                (b"X-Frame-Options", b"SAMEORIGIN"),
            ],
        }
    )
    for n in range(3):
        await send(
            {"type": "http.response.body", "body": f"data: {n}\n\n".encode(), "more_body": True}
        )
    await send({"type": "http.response.body", "body": b""})


async def test_headers_a_route_sets_are_kept_and_streams_pass_through() -> None:
    transport = httpx.ASGITransport(app=SecurityHeaders(_streaming_app))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        response = await client.get("/v1/live/stream")
    assert response.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert response.headers.get_list("cache-control") == ["no-cache"]  # not doubled
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]  # case-insensitive
    assert response.headers["content-security-policy"] == CSP


async def test_non_http_scopes_pass_untouched() -> None:
    seen: list[Message] = []

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "lifespan.startup.complete"})

    async def send(message: Message) -> None:
        seen.append(message)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    await SecurityHeaders(lifespan_app)({"type": "lifespan"}, receive, send)
    assert seen == [{"type": "lifespan.startup.complete"}]


class _InlineFinder(HTMLParser):
    """Collects whatever the CSP would block: inline script, inline style, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower() for name, _ in attrs}
        if tag == "script":
            self._in_script = True
            if "src" not in names:
                self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        self.found += [f"{name}= attribute on <{tag}>" for name in names if name == "style"]
        self.found += [f"{name}= handler on <{tag}>" for name in names if name.startswith("on")]
        for name, value in attrs:
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL in {name} of <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("script text inline")


@pytest.mark.parametrize("page", sorted(STATIC_DIR.glob("*.html")), ids=lambda p: p.name)
def test_page_has_nothing_inline_that_the_csp_would_block(page: Path) -> None:
    finder = _InlineFinder()
    finder.feed(page.read_text(encoding="utf-8"))
    assert finder.found == []


@pytest.mark.parametrize("script", sorted(STATIC_DIR.glob("*.js")), ids=lambda p: p.name)
def test_script_builds_the_page_as_text_not_markup(script: Path) -> None:
    """Batch ids, comments and alert details come from other people: they are shown with
    textContent, never parsed as HTML (and `style` attributes would break the CSP)."""
    source = script.read_text(encoding="utf-8")
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert risky not in source, risky
    assert 'setAttribute("style"' not in source
