"""Grafana's InfluxQL macro and template-variable expansion, re-implemented to run outside it.

Followed from Grafana's sources (public/app/plugins/datasource/influxdb/datasource.ts,
packages/grafana-data/src/datetime/rangeutil.ts, public/app/features/templating/), so a
query checked here is the query Grafana sends:
- `$timeFilter` → `time >= now() - 6h and time <= now()` for a relative range (`now-6h` …
  `now`), else epoch milliseconds `time >= 1763800000000ms and time <= 1763886400000ms`.
- `$__interval` / `$interval` → range / max data points, rounded by Grafana's table
  (`roundInterval`), not below the panel's or data source's minimum, printed `1m`, `5m`, `1h`.
- `$var`, `${var}`, `[[var]]`, `${var:format}`: a multi-value or All variable becomes a
  regex-escaped alternation `(a|b)`; a single value is regex-escaped inside `=~ /.../`,
  else inserted as it is; `:raw` never escapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "TimeRange",
    "VariableValue",
    "calculate_interval_ms",
    "escape_regex",
    "format_interval",
    "interpolate",
    "option_values",
    "parse_interval_ms",
    "time_filter",
    "time_range",
]

_UNIT_MS: Final = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}
_RELATIVE: Final = re.compile(r"^now-(\d+)([dhms])$")  # the forms Grafana keeps relative
_DURATION: Final = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
# Grafana's variableRegex (public/app/features/variables/utils.ts).
_VARIABLE: Final = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
_REGEX_SPECIALS: Final = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_IN_REGEX: Final = re.compile(r"=~\s*/((?:[^/\\\r\n]|\\.)*)/")

# rangeutil.roundInterval: (upper bound of the raw interval, rounded interval), in ms.
_ROUNDING: Final = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
    (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000),
    (1050000, 900000), (1500000, 1200000), (2700000, 1800000), (5400000, 3600000),
    (9000000, 7200000), (16200000, 10800000), (32400000, 21600000), (86400000, 43200000),
    (604800000, 86400000), (1814400000, 604800000), (3628800000, 2592000000),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A dashboard's time range as written (`now-6h`) and as epoch milliseconds."""

    raw_from: str
    raw_to: str
    from_ms: int
    to_ms: int


@dataclass(frozen=True, slots=True)
class VariableValue:
    """The current value of a template variable.

    Attributes:
        values: the selected values (every option when All is selected).
        multi: the variable is multi-value or has All (Grafana always regex-escapes those).
    """

    values: tuple[str, ...]
    multi: bool = False


def parse_interval_ms(text: str) -> int:
    """`10s`, `>1m`, `15m` → milliseconds (a leading `>` marks a minimum in Grafana)."""
    match = _DURATION.match(text.strip().lstrip(">"))
    if match is None:
        raise ValueError(f"interval: expected e.g. 10s, 1m, 1h, got {text!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _point(raw: str, now_ms: int) -> int:
    if raw == "now":
        return now_ms
    if raw.isdigit():
        return int(raw)
    match = re.match(r"^now-(\d+)(ms|s|m|h|d|w|y)$", raw)
    if match is None:
        raise ValueError(f"time: expected now, now-<n><unit> or epoch ms, got {raw!r}")
    return now_ms - int(match.group(1)) * _UNIT_MS[match.group(2)]


def time_range(raw_from: str, raw_to: str, now_ms: int) -> TimeRange:
    """A range as Grafana's time picker holds it; relative ends are resolved at `now_ms`."""
    return TimeRange(raw_from, raw_to, _point(raw_from, now_ms), _point(raw_to, now_ms))


def _influx_time(raw: str, value_ms: int) -> str:
    if raw == "now":
        return "now()"
    match = _RELATIVE.match(raw)
    if match:
        return f"now() - {match.group(1)}{match.group(2)}"
    return f"{value_ms}ms"


def time_filter(span: TimeRange) -> str:
    """`$timeFilter` as the InfluxDB data source writes it (getTimeFilter)."""
    return (
        f"time >= {_influx_time(span.raw_from, span.from_ms)}"
        f" and time <= {_influx_time(span.raw_to, span.to_ms)}"
    )


def _round_interval(raw_ms: float) -> int:
    for bound, rounded in _ROUNDING:
        if raw_ms < bound:
            return rounded
    return 31_536_000_000


def calculate_interval_ms(span: TimeRange, max_data_points: int, min_interval: str | None) -> int:
    """rangeutil.calculateInterval: range / points, rounded, not below the minimum."""
    interval = _round_interval((span.to_ms - span.from_ms) / max(max_data_points, 1))
    low = parse_interval_ms(min_interval) if min_interval else 1
    return max(interval, low)


def format_interval(ms: int) -> str:
    """rangeutil.secondsToHms: the largest unit with a non-zero count (`90000` → `1m`)."""
    seconds = ms / 1000
    rest = seconds % 31_536_000
    counts = (
        ("y", seconds // 31_536_000),
        ("d", rest // 86_400),
        ("h", rest % 86_400 // 3_600),
        ("m", rest % 86_400 % 3_600 // 60),
        ("s", rest % 86_400 % 3_600 % 60 // 1),
        ("ms", seconds * 1000 // 1),
    )
    for unit, count in counts:
        if count:
            return f"{int(count)}{unit}"
    return "less than a millisecond"


def escape_regex(value: str) -> str:
    """Grafana's escapeRegex: every regex special character, and `/`, backslash-escaped."""
    return _REGEX_SPECIALS.sub(lambda m: "\\" + m.group(0), value)


def _used_in_regex(query: str, name: str) -> bool:
    return any(
        f"${name}" in m.group(1) or f"${{{name}" in m.group(1) or f"[[{name}" in m.group(1)
        for m in _IN_REGEX.finditer(query)
    )


def _format(name: str, value: VariableValue, fmt: str | None, query: str) -> str:
    values = value.values
    if fmt == "raw":
        return ",".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "regex" or value.multi:
        escaped = [escape_regex(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    single = values[0] if values else ""
    return escape_regex(single) if _used_in_regex(query, name) else single


def interpolate(
    query: str,
    variables: Mapping[str, VariableValue],
    span: TimeRange,
    interval_ms: int,
) -> str:
    """The query Grafana would send for these variable values, range and interval."""
    query = query.replace("$timeFilter", time_filter(span))
    builtins = {
        "__interval": format_interval(interval_ms),
        "interval": format_interval(interval_ms),
        "__interval_ms": str(interval_ms),
        "__from": str(span.from_ms),
        "__to": str(span.to_ms),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in builtins:
            return builtins[name]
        if name in variables:
            return _format(name, variables[name], fmt, query)
        return match.group(0)  # Grafana leaves unknown variables as written

    return _VARIABLE.sub(replace, query)


def option_values(options: Sequence[str]) -> VariableValue:
    """All options of a variable selected (Grafana's All without a custom all value)."""
    return VariableValue(tuple(options), multi=True)
