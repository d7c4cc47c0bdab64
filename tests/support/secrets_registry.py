"""Secrets produced during the test run, and the shapes any secret has, for the scans.

Tests `register()` every password or token they create; the session fixture in
conftest.py checks at the end that none of them, and nothing shaped like a secret,
appears in a log record or a log file written during the run. Both the values and
the patterns are needed: a value catches a leak in any form, a pattern catches secrets
this registry never heard of (a key, a hash, a token made inside a service).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SECRET_PATTERNS", "find_secrets", "register", "registered"]

_SECRETS: set[str] = set()

#: Shapes of secrets this project makes; a match in a log or a tracked file is a leak.
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "PEM private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "mosquitto password hash": re.compile(r"\$7\$\d+\$[A-Za-z0-9+/=]{8,}\$[A-Za-z0-9+/=]{20,}"),
    "argon2 hash": re.compile(r"\$argon2(?:id|i|d)\$v=\d+\$m=\d+"),
    "API token": re.compile(r"\bcct_[A-Za-z0-9_-]{30,}"),
    "password in a URL": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?P<password>[^/\s@'\"{}<>$]{6,})@"
    ),
}
#: Spelled-out placeholders in documentation and in tests of URL parsing, not secrets.
_PLACEHOLDERS = frozenset({"password", "s3cret", "secret", "changeme"})


def register(*secrets: str) -> None:
    """Remember `secrets` (ignoring short ones, which would match by accident)."""
    _SECRETS.update(secret for secret in secrets if len(secret) >= 12)


def registered() -> frozenset[str]:
    return frozenset(_SECRETS)


def find_secrets(text: str, values: Iterable[str] = ()) -> list[str]:
    """What in `text` looks like a leak: names of patterns matched, and '<registered
    secret>' for a value found (the value itself is not repeated in the report)."""
    found = [
        name
        for name, pattern in SECRET_PATTERNS.items()
        if any(
            match.groupdict().get("password") not in _PLACEHOLDERS
            for match in pattern.finditer(text)
        )
    ]
    if any(value in text for value in values):
        found.append("<registered secret>")
    return found
