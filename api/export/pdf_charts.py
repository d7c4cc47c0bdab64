"""One chart per placement for the PDF: each probe's min–max band per time bucket (so a
short peak is never averaged away), the storage range and the budget's limit, drawn with
matplotlib's Agg canvas into a PNG that the PDF embeds."""

from __future__ import annotations

import io
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from api.export.record import PlacementInfo, ProductInfo
from api.export.walk import PlacementReport
from coldchain.times import to_ms

__all__ = ["placement_chart_png", "time_locator"]

_COLOURS = ("#1f5fa8", "#2a9d3a", "#8e44ad", "#c0392b", "#d35400", "#16a085")


def time_locator(zone: ZoneInfo) -> mdates.AutoDateLocator:
    """Ticks for any placement's length. With only `maxticks=8`, matplotlib finds no hourly
    or daily interval for some spans (about 4 h, or 3.5 to 5 days) and warns, which a
    warnings-as-errors run turns into a failed export; 3 to 9 ticks always fit."""
    return mdates.AutoDateLocator(tz=zone, minticks=3, maxticks=9)  # type: ignore[no-untyped-call]


def _days(ms: int) -> float:
    """matplotlib's date number: days since its epoch (1970-01-01 UTC by default)."""
    return ms / 86_400_000


def _limit_lines(axes: Any, info: PlacementInfo, product: ProductInfo) -> None:
    """The range in force, version by version (a later change does not redraw the past)."""
    parts = [
        (
            max(to_ms(s.valid_from), info.start_ms),
            info.until_ms if s.valid_to is None else min(to_ms(s.valid_to), info.until_ms),
            s.condition.min_c,
            s.condition.max_c,
        )
        for s in product.conditions
    ]
    parts = [p for p in parts if p[0] < p[1]] or [
        (info.start_ms, info.until_ms, product.min_c, product.max_c)
    ]
    for n, (start, end, low, high) in enumerate(parts):
        when = np.array([start, end], dtype="datetime64[ms]")
        for value in (high, low):
            axes.plot(
                when,
                [value, value],
                color="#c0392b",
                linestyle="--",
                linewidth=1,
                label=f"range {low:g}–{high:g} °C" if value == high else None,
            )
        if n:
            axes.axvline(when[0], color="#c0392b", linewidth=0.5, alpha=0.5)


def placement_chart_png(report: PlacementReport, product: ProductInfo) -> bytes:
    """A 7 × 2.6 inch PNG at 150 dpi of the placement's probes against the limits."""
    info = report.info
    zone = ZoneInfo(info.timezone)
    # The object API, not pyplot: no global figure registry, so exports in threads are safe.
    figure = Figure(figsize=(7.0, 2.6), dpi=150)
    axes = figure.subplots()
    span = max(1, info.until_ms - info.start_ms)
    drawn = False
    for n, (sensor, summary) in enumerate(report.sensors):
        buckets = summary.chart_low.size
        if buckets == 0 or np.all(np.isnan(summary.chart_low)):
            continue
        # Buckets over the probe's own part of the placement (fitted then).
        fitted = summary.end_ms > summary.start_ms
        low_ms, part = (
            (summary.start_ms, summary.end_ms - summary.start_ms)
            if fitted
            else (
                info.start_ms,
                span,
            )
        )
        centres = low_ms + (np.arange(buckets) + 0.5) * part / buckets
        when = centres.astype(np.int64).astype("datetime64[ms]")
        colour = _COLOURS[n % len(_COLOURS)]
        name = sensor.sensor if sensor.source == "unit" else f"{sensor.device}/{sensor.sensor}"
        axes.fill_between(
            when,
            summary.chart_low,
            summary.chart_high,
            color=colour,
            alpha=0.35,
            linewidth=0,
            step="mid",
        )
        axes.plot(
            when,
            (summary.chart_low + summary.chart_high) / 2,
            color=colour,
            linewidth=0.8,
            marker="." if buckets <= 200 else None,  # few points: show each one
            markersize=2.5,
            label=f"{name} (min–max per bucket)",
        )
        drawn = True
    _limit_lines(axes, info, product)
    bands = product.budget.bands  # its top band reaching above the range (#22)
    if bands and bands[-1].max_c > product.max_c:
        axes.axhline(
            bands[-1].max_c,
            color="#e67e22",
            linestyle=":",
            linewidth=1,
            label=f"budget limit {bands[-1].max_c:g} °C",
        )
    if not drawn:
        axes.text(
            0.5,
            0.5,
            "no readings in this placement",
            transform=axes.transAxes,
            ha="center",
            va="center",
            color="#c0392b",
            fontsize=10,
        )
    axes.set_xlim(_days(info.start_ms), _days(info.until_ms))
    locator = time_locator(zone)
    formatter = mdates.DateFormatter("%d %b\n%H:%M", tz=zone)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(formatter)
    axes.set_ylabel("°C", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(True, linewidth=0.3, alpha=0.6)
    axes.set_title(
        f"{info.index}. {info.kind} {info.place} — local time ({info.timezone})",
        fontsize=9,
        loc="left",
    )
    axes.legend(fontsize=6.5, loc="upper right", framealpha=0.8)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
