"""The one pass over a batch record: placements in order, each sensor's readings streamed
from InfluxDB and folded into its statistics, as a stream of events the formats render.

The summary can only be known at the end of a single pass, so it arrives last (`RecordEnd`);
CSV and JSON put it in a trailer, the PDF (small, charts downsampled) is laid out then.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from api.export.calibration import past_due_mark, past_due_parts
from api.export.conflicts import ConflictRun, placement_conflicts
from api.export.devicereports import LoggerComparison, compare_report
from api.export.excursions import Carry, Leg, ProbeExcursions, RecordExcursion, worst
from api.export.findings import Finding, collect_findings, verdict
from api.export.inforce import alarm_limits
from api.export.mktwindow import window_ms
from api.export.reconcile import (
    ExcursionFinding,
    GapFinding,
    InvalidFinding,
    MktWindow,
    reconcile_excursions,
    reconcile_gaps,
    reconcile_invalid,
)
from api.export.record import (
    BatchRecord,
    PlacementInfo,
    SensorRef,
    prefetched,
    speaks_msgpack,
    stream_sensor_readings,
)
from api.export.stats import SensorAccumulator, SensorSummary
from api.export.summary import (
    Figures,
    PathFigures,
    budget_account_of,
    combine,
    worst_path,
)
from api.export.timeline import HAND_OVER, CustodyGap, Timeline, build_timeline
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from coldchain.judgement.budget import BudgetAccount
from coldchain.judgement.calibration import Certificate
from coldchain.judgement.excursion import ExcursionRule
from coldchain.judgement.validity import ReadingValidity

__all__ = [
    "Event",
    "PlacementBegin",
    "PlacementEnd",
    "PlacementReport",
    "Readings",
    "RecordEnd",
    "Report",
    "Rules",
    "SensorBegin",
    "SensorEnd",
    "walk_record",
]


@dataclass(frozen=True, slots=True)
class Rules:
    """The domain's rules the record applies (coldchain.judgement), configured as the
    detector's are, so both judge the same readings the same way."""

    excursion: ExcursionRule
    validity: ReadingValidity

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(ExcursionRule.from_settings(settings), ReadingValidity.from_settings(settings))


@dataclass(frozen=True, slots=True)
class PlacementBegin:
    placement: PlacementInfo


@dataclass(frozen=True, slots=True)
class SensorBegin:
    placement: PlacementInfo
    sensor: SensorRef


@dataclass(frozen=True, slots=True)
class Readings:
    """A chunk of one sensor's readings, in time order (epoch ms, °C), invalid ones too
    (`validity` says which: the formats mark them); `past_due`: the certificate in force
    whose due date they were all taken at or after (#22: the formats mark the valid ones,
    `calibration_mark`), None for readings within their calibration."""

    placement: PlacementInfo
    sensor: SensorRef
    times: npt.NDArray[np.int64]
    temps: npt.NDArray[np.float64]
    validity: ReadingValidity
    past_due: Certificate | None = None

    @property
    def calibration_mark(self) -> str | None:
        """E.g. "past calibration due 2027-03-01"; None when not past calibration."""
        if self.past_due is None:
            return None
        return past_due_mark(self.past_due, self.placement.timezone)


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
    """What the record found: figures per placement, per path and for the chain (its worst
    path), the budget, every excursion, gap and invalid run with how it was handled, the
    custody gaps, the findings and the verdict (findings.py); `conflicts`: re-sent readings
    refused because they differed from the stored ones (conflicts.py)."""

    record: BatchRecord
    placements: tuple[PlacementReport, ...]
    paths: tuple[PathFigures, ...]
    worst: PathFigures | None
    chain: Figures
    budget: BudgetAccount
    excursions: tuple[ExcursionFinding, ...]
    gaps: tuple[GapFinding, ...]
    invalid: tuple[InvalidFinding, ...]
    custody_gaps: tuple[CustodyGap, ...]
    findings: tuple[Finding, ...]
    verdict: str
    conflicts: tuple[ConflictRun, ...]


@dataclass(frozen=True, slots=True)
class RecordEnd:
    report: Report


Event = PlacementBegin | SensorBegin | Readings | SensorEnd | PlacementEnd | RecordEnd


async def walk_record(
    record: BatchRecord,
    influx: InfluxClient,
    *,
    rules: Rules,
    chart_buckets: int = 0,
    window_ms: int = 7 * 86_400_000,
) -> AsyncIterator[Event]:
    """Events of the whole record in order; readings come in chunks, never all at once.

    Placements come in time order (record.py), so the state an excursion hands over at a
    hand-over (timeline.py, excursions.py) is known before the next placement is read.
    """
    product = record.product
    limits, delta_h = product.in_force, product.delta_h_kj_per_mol
    timeline = build_timeline(record.placements)
    msgpack = await speaks_msgpack(influx)
    carries: dict[int, Carry] = {}
    placements: list[PlacementReport] = []
    excursions: list[RecordExcursion] = []
    gaps: list[GapFinding] = []
    invalid: list[InvalidFinding] = []
    conflicts: list[ConflictRun] = []
    for placement in record.placements:
        yield PlacementBegin(placement)
        handed = timeline.handed_from[placement.index]
        seed = worst(carries[i] for i in handed if i in carries)
        sensors: list[tuple[SensorRef, SensorSummary]] = []
        probes: list[ProbeExcursions] = []
        # Excursions alarm as the detector's do: by the alarm profiles in force there (#22).
        alarms_by = alarm_limits(product, placement)
        for sensor in placement.sensors:
            yield SensorBegin(placement, sensor)
            interval_ms = sensor.log_interval_s * 1000
            # A probe counts only while fitted; one fitted later than the placement's start
            # was not there to see what was handed over.
            start_ms, end_ms = placement.fitted_ms(sensor)
            accumulator = SensorAccumulator(
                start_ms=start_ms,
                end_ms=end_ms,
                interval_ms=interval_ms,
                limits=limits,
                delta_h_kj_per_mol=delta_h,
                validity=rules.validity,
                chart_buckets=chart_buckets,
                budget=product.budget,
            )
            probe = ProbeExcursions(
                rules.excursion,
                alarms_by,
                Leg(placement, sensor),
                interval_ms,
                seed if start_ms == placement.start_ms else None,
            )
            stream = stream_sensor_readings(
                influx,
                sensor,
                start_ms=start_ms,
                end_ms=end_ms,
                window_ms=window_ms,
                msgpack=msgpack,
            )
            past_due: Counter[int] = Counter()
            async for times, temps in prefetched(stream):
                parts: list[tuple[slice, Certificate | None]] = [(slice(None), None)]
                if sensor.calibration is not None:
                    # Corrected before anything judges them, as the detector does (#22).
                    temps = sensor.calibration.corrected(times, temps, rules.validity)
                    due_ms = sensor.calibration.due_ms(times)
                    past = (times >= due_ms) & rules.validity.valid(temps)
                    past_due.update(due_ms[past].tolist())
                    # Each row says whether it is past calibration: a part per mark.
                    parts = past_due_parts(sensor.calibration, times, due_ms)
                probe.add(*accumulator.add(times, temps))
                accumulator.hours.prune(int(times[-1]), probe.spans())
                for part, certificate in parts:
                    yield Readings(
                        placement, sensor, times[part], temps[part], rules.validity, certificate
                    )
            past_calibration = tuple(sorted(past_due.items()))
            summary = replace(accumulator.finish(), past_calibration=past_calibration)
            sensors.append((sensor, summary))
            probes.append(probe)
            gaps.extend(reconcile_gaps(placement.index, sensor, summary.gaps, record.alerts))
            invalid.extend(
                reconcile_invalid(placement.index, sensor, summary.invalid_runs, record.alerts)
            )
            yield SensorEnd(placement, sensor, summary)
        excursions.extend(_hand_over(record, timeline, placement, probes, carries))
        for probe, (_, summary) in zip(probes, sensors, strict=True):
            summary.hours.prune(math.inf, probe.spans())
        figures = combine([[s for _, s in sensors]], delta_h, chain=False)
        comparisons = [
            await compare_report(
                influx, placement, r, delta_h=delta_h, msgpack=msgpack, validity=rules.validity
            )
            for r in placement.logger_reports
        ]
        conflicts.extend(await placement_conflicts(influx, placement))
        report = PlacementReport(placement, figures, tuple(sensors), tuple(comparisons))
        placements.append(report)
        yield PlacementEnd(report)
    yield RecordEnd(
        build_report(record, timeline, placements, excursions, gaps, invalid, conflicts)
    )


def _hand_over(
    record: BatchRecord,
    timeline: Timeline,
    placement: PlacementInfo,
    probes: list[ProbeExcursions],
    carries: dict[int, Carry],
) -> list[RecordExcursion]:
    """The placement's excursions, once all its probes are read. At a hand-over to a place
    with sensors, the worst probe's state goes on (`carries`) and its open excursion is not
    reported here: it continues in the next place. Only probes still fitted at the
    hand-over hand anything on."""
    exit = timeline.exits[placement.index]
    onward = exit == HAND_OVER and any(
        q.sensors and placement.index in timeline.handed_from[q.index] for q in record.placements
    )
    states = [probe.carry() for probe in probes]
    present = [
        s for s, p in zip(states, probes, strict=True) if p.leg.until_ms == placement.until_ms
    ]
    chosen = worst(present) if onward else None
    if chosen is not None:
        carries[placement.index] = chosen
    found: list[RecordExcursion] = []
    for probe, state in zip(probes, states, strict=True):
        handed_on = state is chosen and state.excursion is not None
        found.extend(probe.close(exit, handed_on))
    return found


def _window(
    excursion: RecordExcursion, summaries: dict[tuple[int, SensorRef], SensorSummary]
) -> MktWindow:
    """The MKT of the excursion's evaluation window (mktwindow.py) along its probes."""
    start, end = window_ms(excursion.start_ms, excursion.end_ms)
    total = None
    for leg in excursion.legs:
        part = summaries[(leg.placement.index, leg.sensor)].hours.window(start, end)
        if part is not None:
            if total is None:
                total = part
            else:
                total.merge(part)
    return MktWindow(
        max(start, excursion.legs[0].start_ms),
        min(end, excursion.legs[-1].until_ms),
        None if total is None else total.value_or_none(),
    )


def build_report(
    record: BatchRecord,
    timeline: Timeline,
    placements: list[PlacementReport],
    excursions: list[RecordExcursion],
    gaps: list[GapFinding],
    invalid: list[InvalidFinding],
    conflicts: list[ConflictRun],
) -> Report:
    """Paths, chain figures, budget, reconciliation, findings and verdict from the
    per-placement results."""
    delta_h = record.product.delta_h_kj_per_mol
    probes = {p.info.index: [s for _, s in p.sensors] for p in placements}
    paths = tuple(
        PathFigures(path, combine([probes[i] for i in path if probes[i]], delta_h, chain=True))
        for path in timeline.paths
    )
    worst = worst_path(list(paths))
    chain = worst.figures if worst is not None else combine([], delta_h, chain=True)
    extremes = combine([g for g in probes.values() if g], delta_h, chain=True)
    budget = budget_account_of(record.product, chain, extremes, record.entries)
    summaries = {(p.info.index, s): summary for p in placements for s, summary in p.sensors}
    table = [
        f
        if f.excursion is None or not f.excursion.run.alarm
        else replace(f, window=_window(f.excursion, summaries))
        for f in reconcile_excursions(
            excursions, record.alerts, [(p.info, s) for p in placements for s, _ in p.sensors]
        )
    ]
    refused = tuple(conflicts)
    findings = collect_findings(
        record,
        timeline,
        excursions=table,
        gaps=gaps,
        invalid=invalid,
        budget=budget,
        conflicts=refused,
    )
    return Report(
        record=record,
        placements=tuple(placements),
        paths=paths,
        worst=worst,
        chain=chain,
        budget=budget,
        excursions=tuple(table),
        gaps=tuple(gaps),
        invalid=tuple(invalid),
        custody_gaps=timeline.custody_gaps,
        findings=tuple(findings),
        verdict=verdict(findings, record),
        conflicts=refused,
    )
