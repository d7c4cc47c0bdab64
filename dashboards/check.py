"""`coldchain dashboards check`: run every panel query of the built JSON on a real InfluxDB.

Variables are resolved as Grafana does when a dashboard loads: query variables by running
their (expanded) `SHOW TAG VALUES`, selecting All when the variable offers it, else the first
value; a custom variable (a fixed list, e.g. the downsampling resolution or the shipments) is
checked with each of its options, so every retention policy and every shipment is proven.
A query fails when InfluxDB answers an error or no series with a value.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from coldchain.errors import StoreRejected
from coldchain.influx import InfluxClient, Series
from dashboards.macros import (
    TimeRange,
    VariableValue,
    calculate_interval_ms,
    interpolate,
    time_range,
)
from dashboards.render import iter_targets

__all__ = ["DEFAULT_MAX_DATA_POINTS", "QueryCheck", "check_dashboard", "check_dashboards"]

# Grafana asks for about one point per pixel of the panel's width; 1,000 is a wide panel.
DEFAULT_MAX_DATA_POINTS: Final = 1000


@dataclass(frozen=True, slots=True)
class QueryCheck:
    """The outcome of one panel (or annotation, or variable) query.

    Attributes:
        dashboard: uid. panel: panel title, `annotation: NAME` or `variable: NAME`.
        ref_id: the target's refId. query: the query as sent. series: series with a value.
        error: InfluxDB's error, or None.
        options: the custom-variable options this run used.
    """

    dashboard: str
    panel: str
    ref_id: str
    query: str
    series: int
    error: str | None
    options: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.series > 0

    def describe(self) -> str:
        where = f"{self.dashboard} / {self.panel} [{self.ref_id}]"
        where += f" ({self.options})" if self.options else ""
        outcome = "ok" if self.ok else (self.error or "no series")
        return f"{where}: {outcome} ({self.series} series)\n    {self.query}"


def _with_values(series: list[Series]) -> int:
    return sum(1 for s in series if any(v is not None for row in s.values for v in row[1:]))


async def _run(influx: InfluxClient, query: str) -> tuple[list[Series], str | None]:
    try:
        return await influx.query(query), None
    except StoreRejected as exc:
        return [], exc.server_message or str(exc)


def _custom_options(variable: dict[str, Any]) -> list[str]:
    options = variable.get("options") or []
    if options:
        return [str(o["value"]) for o in options]
    values: list[str] = []
    for item in str(variable.get("query", "")).split(","):
        text, _, value = item.partition(" : ")
        values.append((value or text).strip())
    return values


def _combinations(variables: list[dict[str, Any]]) -> Iterator[dict[str, str]]:
    custom = [v for v in variables if v.get("type") == "custom"]
    names = [v["name"] for v in custom]
    for combo in itertools.product(*(_custom_options(v) for v in custom)):
        yield dict(zip(names, combo, strict=True))


async def _resolve(
    influx: InfluxClient,
    uid: str,
    variables: list[dict[str, Any]],
    chosen: Mapping[str, str],
    span: TimeRange,
    results: list[QueryCheck],
) -> dict[str, VariableValue]:
    values: dict[str, VariableValue] = {}
    for variable in variables:
        name = variable["name"]
        multi = bool(variable.get("multi") or variable.get("includeAll"))
        if variable.get("type") == "custom":
            values[name] = VariableValue((chosen[name],), multi=False)
            continue
        query = interpolate(str(variable.get("query", "")), values, span, 60_000)
        series, error = await _run(influx, query)
        found = sorted({str(row["value"]) for s in series for row in s.rows})
        results.append(QueryCheck(uid, f"variable: {name}", "", query, len(found), error))
        if not found:
            found = ["__no_value__"]  # go on, so the panels' own failures show too
        values[name] = VariableValue(tuple(found) if multi else (found[0],), multi=multi)
    return values


async def check_dashboard(
    influx: InfluxClient,
    data: dict[str, Any],
    *,
    now_ms: int,
    min_interval: str | None = None,
    time_from: str | None = None,
    time_to: str | None = None,
) -> list[QueryCheck]:
    """Every query of one dashboard, for each combination of its custom variables."""
    uid = str(data["uid"])
    variables = list(data.get("templating", {}).get("list", []))
    span = time_range(time_from or data["time"]["from"], time_to or data["time"]["to"], now_ms)
    results: list[QueryCheck] = []
    for chosen in _combinations(variables):
        label = ", ".join(f"{k}={v}" for k, v in chosen.items())
        values = await _resolve(influx, uid, variables, chosen, span, results)
        for panel, target in iter_targets(data):
            panel_span = span
            if panel.get("timeFrom"):  # a panel's relative time replaces the dashboard's
                panel_span = time_range(f"now-{panel['timeFrom']}", "now", now_ms)
            low = panel.get("interval") or min_interval
            if low:
                low = interpolate(low, values, panel_span, 1)
            interval = calculate_interval_ms(
                panel_span, int(panel.get("maxDataPoints") or DEFAULT_MAX_DATA_POINTS), low
            )
            query = interpolate(str(target["query"]), values, panel_span, interval)
            series, error = await _run(influx, query)
            results.append(
                QueryCheck(
                    uid, panel["title"], target["refId"], query, _with_values(series), error, label
                )
            )
        for annotation in data.get("annotations", {}).get("list", []):
            if "query" not in annotation:
                continue
            query = interpolate(str(annotation["query"]), values, span, 60_000)
            series, error = await _run(influx, query)
            results.append(
                QueryCheck(
                    uid,
                    f"annotation: {annotation['name']}",
                    "Anno",
                    query,
                    _with_values(series),
                    error,
                    label,
                )
            )
    return results


async def check_dashboards(
    influx: InfluxClient,
    dashboards: Mapping[str, dict[str, Any]],
    *,
    now_ms: int,
    min_interval: str | None = None,
    time_from: str | None = None,
    time_to: str | None = None,
) -> list[QueryCheck]:
    """`check_dashboard` for each dashboard, in uid order."""
    results: list[QueryCheck] = []
    for uid in sorted(dashboards):
        results += await check_dashboard(
            influx,
            dashboards[uid],
            now_ms=now_ms,
            min_interval=min_interval,
            time_from=time_from,
            time_to=time_to,
        )
    return results
