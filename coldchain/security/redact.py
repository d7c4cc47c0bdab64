"""Secrets kept out of messages: passwords in URLs and the values of secret settings.

Configuration errors, connection errors and log lines are read by people (and collected
by log shippers) who must not learn a password from them. A message that may quote a URL
or a setting's value goes through here, so one rule decides what is shown.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import ValidationError

__all__ = ["MASK", "is_secret_name", "redact_text", "validation_summary"]

MASK: Final = "***"

# scheme://user:password@ : the password runs to the last "@" before the path, so one
# containing "@" or ":" is masked whole; a URL without a password is left alone.
_URL_PASSWORD: Final = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s'\"]*):[^/\s'\"]*@")
# influx_password, notify_webhook_secret, mqtt_password_file; not api_login_token_ttl_s
_SECRET_NAME: Final = re.compile(r"(password|secret|token|key)(_file)?$", re.IGNORECASE)
# ?token=... or &api_key=... : a query parameter named like a secret (webhook URLs)
_QUERY_SECRET: Final = re.compile(
    r"(?P<head>[?&][^=&\s'\"#]*(?:password|secret|token|key)[^=&\s'\"#]*=)[^&\s'\"#]*",
    re.IGNORECASE,
)
_SHOWN_INPUT_CHARS: Final = 80


def redact_text(text: str) -> str:
    """`text` with the password of every URL in it, and every query parameter named like a
    secret, replaced by `MASK`: `mqtt://user:***@host:1883`, `https://h/hook?token=***`."""
    text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    return _QUERY_SECRET.sub(rf"\g<head>{MASK}", text)


def is_secret_name(name: str) -> bool:
    """Whether a field of that name holds a secret whose value is never shown."""
    return bool(_SECRET_NAME.search(name))


def _shown_input(field: str, value: Any) -> str:
    if not field or is_secret_name(field) or isinstance(value, dict):
        return ""  # a model-level error's input is every setting at once
    return f" (got {redact_text(repr(value))[:_SHOWN_INPUT_CHARS]})"


def validation_summary(exc: ValidationError) -> str:
    """`field: problem (got value)` per error, `; `-separated, secrets masked: pydantic's
    own text quotes every input value, passwords and URLs with passwords included."""
    lines = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        problem = redact_text(str(error["msg"]).removeprefix("Value error, "))
        shown = _shown_input(field, error.get("input"))
        lines.append(f"{field or exc.title}: {problem}{shown}")
    return "; ".join(lines)
