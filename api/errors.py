"""Exceptions of the API, split by the HTTP answer they become.

    ColdchainError
    └── ApiError               an answer other than success, with a status and a safe text
        ├── NotAuthenticated   401: no token, a wrong one or an expired one
        ├── Forbidden          403: the viewer sees the thing but their role may not act on it
        ├── RateLimited        429: too many login attempts; carries Retry-After
        ├── BadRequest         422: a parameter the domain refuses (e.g. an empty range)
        └── Unavailable        503: the server's own fault (e.g. an unusable signing key)

Catalog and store errors are not translated into these by the routes: the exception
handlers in `api.app` map them in one place (`CatalogNotFound` → 404 with no detail, so an
id another tenant owns answers exactly like one that does not exist; `SignatureRefused` →
403 "signature refused: ..."; `CatalogConflict` and its subclasses, `ReasonRequired` and
`SegregationOfDuties`, → 409 with their sentence).
"""

from __future__ import annotations

from coldchain.errors import ColdchainError

__all__ = [
    "ApiError",
    "BadRequest",
    "Forbidden",
    "NotAuthenticated",
    "RangeNotHeld",
    "RateLimited",
    "Unavailable",
]


class ApiError(ColdchainError):
    """An error answer; `detail` is shown to the client, so it never holds a secret."""

    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class BadRequest(ApiError):
    status_code = 422


class RangeNotHeld(ApiError):
    """A well-formed history range that the store cannot hold (before any reading can be,
    beyond the future ingest accepts, or longer than one request may scan)."""

    status_code = 400


class RateLimited(ApiError):
    """Too many attempts; `retry_after_s` becomes the Retry-After header (whole seconds)."""

    status_code = 429

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(ApiError):
    """503: the server cannot do it now for a reason of its own (its log says which); the
    client may retry later, the operator has to act."""

    status_code = 503
