"""Durations ("90s", "15m", "12h", "7d") and moments (RFC 3339 or an offset from start)."""

from __future__ import annotations

import re
from typing import Final

from coldchain import times

__all__ = ["parse_duration_s", "parse_rfc3339_ms"]

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration_s(value: object) -> float:
    """Seconds from a number (seconds) or a text like "90s", "15m", "12h", "7d".

    Raises:
        ValueError: naming the value, for pydantic and the CLI to wrap with the field.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '15m', '12h' or '7d', got {value!r}") from None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration like '15m', '12h' or '7d', got {value!r}") from None
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}") from None
    return seconds


def parse_rfc3339_ms(value: str) -> int:
    """Epoch ms of an RFC 3339 time that carries an offset or Z, as a person types it in a
    spec or on the command line: spaces around it and a lowercase z are fine.

    Raises:
        ValueError: naming the value, for pydantic and the CLI to wrap with the field.
    """
    try:
        return times.parse_rfc3339_ms(value.strip().replace("z", "Z"))
    except times.NaiveTimeError:
        raise ValueError(f"an RFC 3339 time needs an offset or Z: {value!r}") from None
    except ValueError:
        raise ValueError(f"expected an RFC 3339 time with an offset, got {value!r}") from None
