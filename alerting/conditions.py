"""Which limits apply to which sensor when: the catalog's chain of custody turned into a
timeline per sensor, loaded in bulk and cached (the hot path never queries the catalog).

For each storage unit and shipment the placements are cut into segments at every start and
end; a segment's limits are the strictest of the products then there (highest minimum,
lowest maximum, shortest alarm delay), as `coldchain.catalog.queries.
storage_condition_for_sensor` answers for a single moment, set up by the strictest of the
alarm profiles in force there (the products' and the unit's own, `coldchain.judgement.
profiles`; each cut where a version took effect). Where nothing is stored:
a unit falls back to its kind's default range (`KIND_DEFAULT_RANGES`), a shipment's logger
has no limits and is not expected to report (it may be on a shelf).

A logger that records to memory (offline in the catalog, or one whose export was imported)
is a recorder (`Segment.recorder`): never expected to report while it travels, and its
plateaus at the device's resolution are no stuck probe.

On top of the limits, every segment of a sensor carries the enabled `alert_rules` of kind
"excursion" set on its shipment (the sensors of the shipment's loggers) or its unit: the
alarm rules a USB logger applied itself, imported with its file (device_rules.py). A logger
reused on several shipments gets every one of their rules; each imported rule carries the
window of its own run ("from"/"until"), which the rule itself honours, so the segments need
no cut there. A rule whose parameters cannot be read (a window included) is left out with a
warning, never a failed refresh. A
reading stands for at most the sensor's logging interval there: the catalog's, or the
longer one of a logger export imported for that sensor (`logger_reports`), since a
Fridge-tag logging every 5 min may report as the probe of a unit that logs every minute.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerting.device_rules import DeviceRule, device_rule
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Handover, Segment
from coldchain.catalog.calibration import calibrations
from coldchain.catalog.conditions import ProductCondition, all_condition_versions
from coldchain.catalog.logger_reports import imported_intervals_s
from coldchain.catalog.profiles import ProfileVersions, load_profile_versions
from coldchain.catalog.schema import (
    AlertRuleRow,
    BatchRow,
    LoggerRow,
    PlacementRow,
    SensorRow,
    ShipmentRow,
    StorageUnitRow,
)
from coldchain.catalog.store import catalog_session
from coldchain.judgement.limits import KIND_DEFAULT_RANGES, NO_LIMITS, Limits, strictest
from coldchain.judgement.profiles import (
    NO_PROFILE,
    AlarmProfile,
    apply_profile,
    apply_profiles,
)
from coldchain.models import SensorKey
from coldchain.times import to_ms

__all__ = ["load_timeline"]

log = logging.getLogger(__name__)


_Stored = tuple[int, int, ProductCondition, AlarmProfile]  # [start, end): what and how


def _cut(
    placements: list[_Stored],
    idle: Limits,
    idle_expected: bool,
    place_profiles: tuple[list[int], Callable[[int], AlarmProfile]] = ([], lambda _: NO_PROFILE),
) -> list[Segment]:
    """Segments over the whole time axis: stored products' limits, `idle` in between, each
    set up by the strictest of the products' alarm profiles and the place's own in force
    (`place_profiles`: where the place's profile changed, and the one in force at a time)."""
    changes, place_profile = place_profiles
    points = sorted({FAR_PAST, *changes, *(p[0] for p in placements), *(p[1] for p in placements)})
    segments: list[Segment] = []
    for start, end in zip(points, [*points[1:], FAR_FUTURE], strict=True):
        if start >= end:
            continue
        active = [(c, f) for a, b, c, f in placements if a <= start and b > start]
        if active:
            limits = apply_profiles(
                strictest([c for c, _ in active]), [place_profile(start), *(f for _, f in active)]
            )
            segment = Segment(start, end, limits, True)
        else:
            segment = Segment(start, end, apply_profile(idle, place_profile(start)), idle_expected)
        if (
            segments
            and segments[-1].limits == segment.limits
            and (segments[-1].expected == segment.expected)
        ):
            segments[-1] = Segment(segments[-1].start_ms, end, segment.limits, segment.expected)
        else:
            segments.append(segment)
    return segments


def _in_force(
    versions: list[tuple[datetime, ProductCondition]],
    profiles: ProfileVersions,
    start_ms: int,
    end_ms: int,
) -> list[_Stored]:
    """A placement [start_ms, end_ms) cut where its product's condition or alarm profile
    changed: each part judged by the versions then in force (a later change never rewrites
    the past)."""
    bounds = [to_ms(valid_from) for valid_from, _ in versions[1:]] + [FAR_FUTURE]
    parts = []
    for (valid_from, condition), valid_to in zip(versions, bounds, strict=True):
        low, high = max(start_ms, to_ms(valid_from)), min(end_ms, valid_to)
        cuts = [low, *(t for t in profiles.changes([condition.id], None) if low < t < high)]
        for a, b in itertools.pairwise([*cuts, high]):
            if a < b:
                parts.append((a, b, condition, profiles.product(condition.id, a)))
    return parts


def _fitted(segments: list[Segment], installed_ms: int, removed_ms: int) -> list[Segment]:
    """`segments` cut where the probe was fitted and removed: not expected to report
    outside [installed_ms, removed_ms) (a swapped probe's silence is no missing data)."""
    if installed_ms == FAR_PAST and removed_ms == FAR_FUTURE:
        return segments
    out: list[Segment] = []
    for segment in segments:
        cuts = sorted({segment.start_ms, segment.end_ms, installed_ms, removed_ms})
        for low, high in itertools.pairwise(cuts):
            if segment.start_ms <= low and high <= segment.end_ms and low < high:
                fitted = installed_ms <= low and high <= removed_ms
                out.append(
                    replace(
                        segment, start_ms=low, end_ms=high, expected=segment.expected and fitted
                    )
                )
    return out


_Place = tuple[str, int | str]  # ("unit", unit id) or ("shipment", shipment id)


def _handovers(
    stays: dict[str, list[tuple[int, int, _Place]]], place_keys: dict[_Place, list[SensorKey]]
) -> dict[SensorKey, list[Handover]]:
    """Where a batch's placement ends as its next begins in another place: each sensor of
    the receiving place gets a `Handover` from the sensors of the place it came from."""
    found: dict[SensorKey, dict[int, set[SensorKey]]] = defaultdict(lambda: defaultdict(set))
    for placements in stays.values():
        for _, end_ms, there in placements:
            for start_ms, _, here in placements:
                if start_ms == end_ms and here != there and place_keys.get(there):
                    for key in place_keys.get(here, []):
                        found[key][start_ms].update(place_keys[there])
    return {
        key: [Handover(at, tuple(sorted(froms))) for at, froms in sorted(by_time.items())]
        for key, by_time in found.items()
    }


def _with_handovers(segments: list[Segment], handovers: list[Handover]) -> list[Segment]:
    """`segments` cut at each hand-over, the segment from there on carrying it."""
    out = list(segments)
    for handover in handovers:
        at = handover.at_ms
        for i, segment in enumerate(out):
            if segment.start_ms <= at < segment.end_ms:
                after = replace(segment, start_ms=at, handover=handover)
                before = [replace(segment, end_ms=at)] if segment.start_ms < at else []
                out[i : i + 1] = [*before, after]
                break
    return out


def load_timeline(engine: Engine, default_alarm_delay_ms: int) -> ConditionTimeline:
    """Read units, loggers, sensors and placements once and build every sensor's timeline;
    `default_alarm_delay_ms`: an empty unit's (`DetectorConfig.default_alarm_delay_ms`).

    Raises:
        CatalogError: the catalog could not be read (translated in `catalog_session`).
    """
    with catalog_session(engine) as session:
        versions = all_condition_versions(session)
        profiles = load_profile_versions(session)
        batch_product = {b: p for b, p in session.execute(select(BatchRow.id, BatchRow.product_id))}
        by_unit: dict[int, list[_Stored]] = defaultdict(list)
        by_shipment: dict[str, list[_Stored]] = defaultdict(list)
        stays: dict[str, list[tuple[int, int, _Place]]] = defaultdict(list)
        for row in session.execute(select(PlacementRow)).scalars():
            end_ms = FAR_FUTURE if row.end_at is None else to_ms(row.end_at)
            place: _Place = (
                ("unit", row.unit_id)
                if row.unit_id is not None
                else (
                    "shipment",
                    row.shipment_id or "",
                )
            )
            stays[row.batch_id].append((to_ms(row.start_at), end_ms, place))
            entries = _in_force(
                versions[batch_product[row.batch_id]], profiles, to_ms(row.start_at), end_ms
            )
            if row.unit_id is not None:
                by_unit[row.unit_id].extend(entries)
            elif row.shipment_id is not None:
                by_shipment[row.shipment_id].extend(entries)
        units = {u.id: u for u in session.execute(select(StorageUnitRow)).scalars()}
        loggers = {g.id: g for g in session.execute(select(LoggerRow)).scalars()}
        origins = {
            s: o for s, o in session.execute(select(ShipmentRow.id, ShipmentRow.origin_site_id))
        }
        sensors = list(session.execute(select(SensorRow)).scalars())
        unit_rules, shipment_rules = _load_rules(session)
        imported = {k: v * 1000 for k, v in imported_intervals_s(session).items()}
        calibrated = calibrations(session)
    segments: dict[SensorKey, list[Segment]] = {}
    carried: dict[SensorKey, list[_Stored]] = {}
    fitted: dict[SensorKey, tuple[int, int]] = {}
    rules: dict[SensorKey, list[DeviceRule]] = defaultdict(list)
    intervals: dict[SensorKey, int] = {}
    offline: set[SensorKey] = set()
    place_keys: dict[_Place, list[SensorKey]] = defaultdict(list)
    for sensor in sensors:
        if sensor.unit_id is not None:
            unit = units[sensor.unit_id]
            low, high = KIND_DEFAULT_RANGES.get(unit.kind, (NO_LIMITS.low_c, NO_LIMITS.high_c))
            idle = Limits(low, high, default_alarm_delay_ms, f"default of a {unit.kind}")
            key = SensorKey(unit.site_id, "unit", unit.code, sensor.code)
            unit_profile = (
                profiles.changes([], unit.id),
                functools.partial(profiles.unit, unit.id),
            )
            segments[key] = _cut(by_unit.get(unit.id, []), idle, True, unit_profile)
            place_keys["unit", unit.id].append(key)
            cap_ms, found = unit.log_interval_s * 1000, unit_rules.get(unit.id, [])
        elif sensor.logger_id is not None:
            logger = loggers[sensor.logger_id]
            key = SensorKey(origins[logger.shipment_id], "logger", logger.code, sensor.code)
            # A logger reused on several shipments: every shipment's placements count.
            carried.setdefault(key, []).extend(by_shipment.get(logger.shipment_id, []))
            place_keys["shipment", logger.shipment_id].append(key)
            if logger.offline:
                offline.add(key)
            cap_ms, found = logger.log_interval_s * 1000, shipment_rules.get(logger.shipment_id, [])
        else:
            continue
        fitted[key] = (
            FAR_PAST if sensor.installed_at is None else to_ms(sensor.installed_at),
            FAR_FUTURE if sensor.removed_at is None else to_ms(sensor.removed_at),
        )
        cap_ms = intervals[key] = max(cap_ms, imported.get(key, 0), 1)
        rules[key] += [replace(rule, cap_ms=cap_ms) for rule in found]
    for key, placements in carried.items():
        segments[key] = _cut(placements, NO_LIMITS, False)
    for key, cut in segments.items():
        cut = _fitted(cut, *fitted[key])
        own = tuple(rules.get(key, ()))
        recorder = key in imported or key in offline
        segments[key] = [
            replace(
                s,
                rules=own,
                interval_ms=intervals[key],
                recorder=recorder,
                expected=s.expected and not recorder,
            )
            for s in cut
        ]
    for key, handovers in _handovers(stays, place_keys).items():
        segments[key] = _with_handovers(segments[key], handovers)
    for key, interval_ms in imported.items():
        # An imported logger the catalog has no sensor for (read out onto a unit): known,
        # so that its backfill is neither a silent sensor afterwards nor a stuck probe.
        if key not in segments:
            segments[key] = [
                Segment(FAR_PAST, FAR_FUTURE, NO_LIMITS, False, (), interval_ms, recorder=True)
            ]
    removed = {k: until for k, (_, until) in fitted.items() if until != FAR_FUTURE}
    return ConditionTimeline(segments, calibrated, removed)


def _load_rules(
    session: Session,
) -> tuple[dict[int, list[DeviceRule]], dict[str, list[DeviceRule]]]:
    """The enabled excursion rules by unit and by shipment (the logging interval, which
    depends on the sensor, is filled in by the caller)."""
    by_unit: dict[int, list[DeviceRule]] = defaultdict(list)
    by_shipment: dict[str, list[DeviceRule]] = defaultdict(list)
    query = select(AlertRuleRow).where(
        AlertRuleRow.kind == "excursion", AlertRuleRow.enabled.is_(True)
    )
    for row in session.execute(query.order_by(AlertRuleRow.id)).scalars():
        if row.unit_id is None and row.shipment_id is None:
            continue  # a product-wide rule: not a device's, nothing here applies it
        try:
            params = json.loads(row.params_json or "{}")
            if not isinstance(params, dict):
                raise ValueError("params_json: expected a JSON object")
            rule = device_rule(row.id, params, cap_ms=1)
        except ValueError as exc:
            log.warning("detect: alert rule %d left out: %s", row.id, exc)
            continue
        if row.unit_id is not None:
            by_unit[row.unit_id].append(rule)
        if row.shipment_id is not None:
            by_shipment[row.shipment_id].append(rule)
    return by_unit, by_shipment
