"""Shared pieces of the dashboards: template variables, thresholds, panel defaults.

Every dashboard reads the one InfluxDB data source (`influxql.DATASOURCE`); variables are
refreshed when the dashboard loads, so a new site or unit appears without a rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.influxql import DATASOURCE, InfluxQuery

__all__ = [
    "custom_variable",
    "grid",
    "query_variable",
    "stat_panel",
    "thresholds",
    "timeseries_panel",
]


def query_variable(
    name: str, label: str, query: str, *, multi: bool = False
) -> cogbuilder.Builder[model.VariableModel]:
    """A variable filled by an InfluxQL `SHOW TAG VALUES` query, sorted; `multi` adds All."""
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True)
    return variable


def custom_variable(
    name: str,
    label: str,
    options: Sequence[tuple[str, str]],
    *,
    multi: bool = False,
    selected: int = 1,
) -> cogbuilder.Builder[model.VariableModel]:
    """A fixed list of (text, value) options in Grafana's `text : value` form; the first
    `selected` are selected (several only with `multi`)."""
    values = ",".join(text if text == value else f"{text} : {value}" for text, value in options)
    chosen = options[: selected if multi else 1]
    current = (
        model.VariableOption(
            selected=True, text=[t for t, _ in chosen], value=[v for _, v in chosen]
        )
        if multi
        else model.VariableOption(selected=True, text=chosen[0][0], value=chosen[0][1])
    )
    variable = (
        dash.CustomVariable(name)
        .label(label)
        .values(values)
        .current(current)
        .options(
            [
                model.VariableOption(selected=i < len(chosen), text=text, value=value)
                for i, (text, value) in enumerate(options)
            ]
        )
    )
    return variable.multi(True) if multi else variable


def thresholds(steps: Sequence[tuple[float | None, str]]) -> dash.ThresholdsConfig:
    """Absolute thresholds; the first step's value must be None (minus infinity)."""
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def grid(x: int, y: int, w: int, h: int) -> model.GridPos:
    """An explicit grid position, so panel layout never depends on insertion order."""
    return model.GridPos(x=x, y=y, w=w, h=h)


def timeseries_panel(
    panel_id: int, title: str, unit: str, queries: Sequence[InfluxQuery], pos: model.GridPos
) -> timeseries.Panel:
    """A time series with lines, no points, gaps left as gaps (spanNulls off)."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .grid_pos(pos)
        .line_width(1)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def stat_panel(
    panel_id: int, title: str, unit: str, queries: Sequence[InfluxQuery], pos: model.GridPos
) -> stat.Panel:
    """Big values coloured by their thresholds, the last value of each series."""
    panel = (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .grid_pos(pos)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel
