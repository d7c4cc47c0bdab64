"""The one pass over a batch record: placements in order, each sensor's readings streamed
from InfluxDB and folded into its statistics, as a stream of events the formats render.

The summary can only be known at the end of a single pass, so it arrives last (`RecordEnd`);
CSV and JSON put it in a trailer, the PDF (small, charts downsampled) is laid out then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from api.export.devicereports import LoggerComparison, compare_report
from api.export.recommend import Recommendation, recommend
from api.export.reconcile import (
    ExcursionFinding,
    GapFinding,
    reconcile_excursions,
    reconcile_gaps,
)
from api.export.record import (
    BatchRecord,
    PlacementInfo,
    SensorRef,
    prefetched,
    speaks_msgpack,
    stream_sensor_readings,
)
from api.export.stats import Limits, SensorAccumulator, SensorSummary
from api.export.summary import BudgetVerdict, Figures, budget_verdict, combine
from coldchain.influx import InfluxClient

__all__ = [
    "Event",
    "PlacementBegin",
    "PlacementEnd",
    "PlacementReport",
    "Readings",
    "RecordEnd",
    "Report",
    "SensorBegin",
    "SensorEnd",
    "walk_record",
]


@dataclass(frozen=True, slots=True)
class PlacementBegin:
    placement: PlacementInfo


@dataclass(frozen=True, slots=True)
class SensorBegin:
    placement: PlacementInfo
    sensor: SensorRef


@dataclass(frozen=True, slots=True)
class Readings:
    """A chunk of one sensor's readings, in time order (epoch ms, °C)."""

    placement: PlacementInfo
    sensor: SensorRef
    times: npt.NDArray[np.int64]
    temps: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SensorEnd:
    placement: PlacementInfo
    sensor: SensorRef
    summary: SensorSummary


@dataclass(frozen=True, slots=True)
class PlacementReport:
    """A placement's figures; `logger_reports`: imported USB logger reports beside ours."""

    info: PlacementInfo
    figures: Figures
    sensors: tuple[tuple[SensorRef, SensorSummary], ...]
    logger_reports: tuple[LoggerComparison, ...] = ()


@dataclass(frozen=True, slots=True)
class PlacementEnd:
    report: PlacementReport


@dataclass(frozen=True, slots=True)
class Report:
    """The record's findings: figures per placement and for the chain, the budget verdict,
    every excursion and gap with how it was handled, and the recommendation."""

    record: BatchRecord
    placements: tuple[PlacementReport, ...]
    chain: Figures
    budget: BudgetVerdict
    excursions: tuple[ExcursionFinding, ...]
    gaps: tuple[GapFinding, ...]
    recommendation: Recommendation


@dataclass(frozen=True, slots=True)
class RecordEnd:
    report: Report


Event = PlacementBegin | SensorBegin | Readings | SensorEnd | PlacementEnd | RecordEnd


def limits_of(record: BatchRecord) -> Limits:
    product = record.product
    return Limits(
        low_c=product.min_c,
        high_c=product.max_c,
        alarm_delay_ms=round(product.alarm_delay_min * 60_000),
        delta_h_kj_per_mol=product.delta_h_kj_per_mol,
    )


async def walk_record(
    record: BatchRecord,
    influx: InfluxClient,
    *,
    chart_buckets: int = 0,
    window_ms: int = 7 * 86_400_000,
) -> AsyncIterator[Event]:
    """Events of the whole record in order; readings come in chunks, never all at once."""
    limits = limits_of(record)
    alerts = list(record.alerts)
    msgpack = await speaks_msgpack(influx)
    placements: list[PlacementReport] = []
    excursions: list[ExcursionFinding] = []
    gaps: list[GapFinding] = []
    for placement in record.placements:
        yield PlacementBegin(placement)
        sensors: list[tuple[SensorRef, SensorSummary]] = []
        for sensor in placement.sensors:
            yield SensorBegin(placement, sensor)
            accumulator = SensorAccumulator(
                start_ms=placement.start_ms,
                end_ms=placement.until_ms,
                interval_ms=sensor.log_interval_s * 1000,
                limits=limits,
                chart_buckets=chart_buckets,
            )
            stream = stream_sensor_readings(
                influx,
                sensor,
                start_ms=placement.start_ms,
                end_ms=placement.until_ms,
                window_ms=window_ms,
                msgpack=msgpack,
            )
            async for times, temps in prefetched(stream):
                accumulator.add(times, temps)
                yield Readings(placement, sensor, times, temps)
            summary = accumulator.finish()
            sensors.append((sensor, summary))
            window = (placement.start_ms, placement.until_ms)
            excursions.extend(
                reconcile_excursions(
                    placement.index, sensor, summary.excursions, alerts, window=window
                )
            )
            gaps.extend(reconcile_gaps(placement.index, sensor, summary.gaps, alerts))
            yield SensorEnd(placement, sensor, summary)
        figures = combine([[s for _, s in sensors]], limits.delta_h_kj_per_mol, chain=False)
        comparisons = [
            await compare_report(
                influx, placement, r, delta_h=limits.delta_h_kj_per_mol, msgpack=msgpack
            )
            for r in placement.logger_reports
        ]
        report = PlacementReport(placement, figures, tuple(sensors), tuple(comparisons))
        placements.append(report)
        yield PlacementEnd(report)
    yield RecordEnd(build_report(record, placements, excursions, gaps))


def build_report(
    record: BatchRecord,
    placements: list[PlacementReport],
    excursions: list[ExcursionFinding],
    gaps: list[GapFinding],
) -> Report:
    """Chain figures, budget and recommendation from the per-placement results."""
    groups = [[s for _, s in p.sensors] for p in placements if p.sensors]
    chain = combine(groups, record.product.delta_h_kj_per_mol, chain=True)
    budget = budget_verdict(record.product, chain)
    recommendation = recommend(
        excursions=excursions,
        gaps=gaps,
        budget=budget,
        open_placement=any(p.end is None for p in record.placements),
        placements=len(record.placements),
        unmonitored=[f"{p.index} ({p.place})" for p in record.placements if not p.sensors],
    )
    return Report(
        record, tuple(placements), chain, budget, tuple(excursions), tuple(gaps), recommendation
    )
