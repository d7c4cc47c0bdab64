"""Calibration corrections in panel queries (#22, docs/design.md §11): a probe whose
certificates correct its readings is drawn corrected, as the detector, the record, the live
view and the history chart judge it.

Grafana cannot ask the catalog for certificates, so, like the limits, they are baked into
the query when the dashboards are built. InfluxQL cannot add a different number to each
reading by its time, but a query may read several subqueries as one source, and a series is
its measurement and tags: so a panel's one query reads the probes without a correction by
its usual condition (with the corrected probes left out), and each corrected probe once per
certificate period, `"temp_c" + offset` where `time >= calibrated AND time < next`. The
periods meet one series per probe again: one line, one tile, one colour, the limits'
overrides still matched by its name. Each subquery keeps the panel's whole condition, the
validity rule included, so only temperatures are corrected (error codes are never drawn).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from coldchain.influx import quote_identifier, quote_string, tags_condition
from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration
from coldchain.models import SensorKey
from coldchain.times import rfc3339_ms

__all__ = [
    "CertificatePeriod",
    "certificate_periods",
    "corrected_query",
    "correction_note",
    "corrections_table",
    "probe_name",
]

_TAGS = ("site", "source", "device", "sensor")


@dataclass(frozen=True, slots=True)
class CertificatePeriod:
    """Where one certificate is in force, and what it adds.

    Attributes:
        start_ms: its calibration time; None: since ever (before the first certificate,
            or a bare due date).
        end_ms: the next certificate's calibration time; None: still in force.
        offset_c: the correction, 0 where none applies.
        certificate: its id; None before the first certificate and for a bare due date.
    """

    start_ms: int | None
    end_ms: int | None
    offset_c: float
    certificate: str | None

    def condition(self) -> str:
        """The time condition of the period, ANDed into a query's WHERE (InfluxQL
        intersects it with `$timeFilter`); empty for since ever and still."""
        parts = []
        if self.start_ms is not None:
            parts.append(f" AND time >= {self.start_ms}ms")
        if self.end_ms is not None:
            parts.append(f" AND time < {self.end_ms}ms")
        return "".join(parts)


def certificate_periods(calibration: Calibration) -> tuple[CertificatePeriod, ...]:
    """The probe's timeline cut at each certificate's calibration time, oldest first; the
    same rule as `Calibration.at` (the latest calibrated on or before a time)."""
    certificates = calibration.certificates
    found: list[CertificatePeriod] = []
    if certificates and certificates[0].calibrated_ms != SINCE_EVER_MS:
        found.append(CertificatePeriod(None, certificates[0].calibrated_ms, 0.0, None))
    for i, certificate in enumerate(certificates):
        start = None if certificate.calibrated_ms == SINCE_EVER_MS else certificate.calibrated_ms
        end = certificates[i + 1].calibrated_ms if i + 1 < len(certificates) else None
        if start is not None and end is not None and end <= start:
            continue  # superseded the day it was calibrated: never in force
        found.append(
            CertificatePeriod(start, end, certificate.correction_c, certificate.certificate)
        )
    return tuple(found)


def _shifted(fields: Sequence[str], offset_c: float) -> str:
    if offset_c == 0.0:
        return ", ".join(quote_identifier(f) for f in fields)
    sign = "+" if offset_c > 0 else "-"
    return ", ".join(
        f"{quote_identifier(f)} {sign} {abs(offset_c)!r} AS {quote_identifier(f)}" for f in fields
    )


def _other_probes(keys: Sequence[SensorKey]) -> str:
    return " AND ".join(
        "("
        + " OR ".join(
            f"{quote_identifier(tag)} != {quote_string(value)}"
            for tag, value in zip(_TAGS, key, strict=True)
        )
        + ")"
        for key in keys
    )


def corrected_query(
    select: str,
    fields: Sequence[str],
    source: str,
    where: str,
    group_by: str,
    corrections: Mapping[SensorKey, Calibration],
) -> str:
    """`SELECT {select} FROM {source} WHERE {where} GROUP BY {group_by}`, with the
    readings of each probe of `corrections` (that `where` lets through) corrected.

    Without corrections this is that query, as it was before corrections existed.

    Args:
        select: the outer selection, over `fields` (e.g. `last("temp_c")`).
        fields: the temperature fields `select` reads; each gets the correction.
        where: the panel's whole condition, `$timeFilter` and the validity rule included.
        group_by: must group by the tags a series is named by (`site`, `device`,
            `sensor`): an outer query sees only the tags it groups by.
    """
    if not corrections:
        return f"SELECT {select} FROM {source} WHERE {where} GROUP BY {group_by}"
    keys = sorted(corrections)
    parts = [
        f"SELECT {_shifted(fields, 0.0)} FROM {source} WHERE {where} AND {_other_probes(keys)}"
    ]
    for key in keys:
        probe = tags_condition(zip(_TAGS, key, strict=True))
        parts += [
            f"SELECT {_shifted(fields, period.offset_c)} FROM {source}"
            f" WHERE {where} AND {probe}{period.condition()}"
            for period in certificate_periods(corrections[key])
        ]
    sources = ", ".join(f"({part})" for part in parts)
    return f"SELECT {select} FROM {sources} WHERE $timeFilter GROUP BY {group_by}"


def probe_name(key: SensorKey) -> str:
    """A probe as the panels name its series: `SITE/UNIT sensor`, a logger's `LOGGER
    sensor`."""
    if key.source == "logger":
        return f"{key.device} {key.sensor}"
    return f"{key.site}/{key.device} {key.sensor}"


def _corrected_periods(calibration: Calibration) -> list[CertificatePeriod]:
    return [p for p in certificate_periods(calibration) if p.offset_c != 0.0]


def _in_force(period: CertificatePeriod) -> str:
    parts = []
    if period.start_ms is not None:
        parts.append(f"from {rfc3339_ms(period.start_ms)}")
    if period.end_ms is not None:
        parts.append(f"until {rfc3339_ms(period.end_ms)}")
    return " ".join(parts) or "since ever"


def correction_note(corrections: Mapping[SensorKey, Calibration]) -> str | None:
    """A panel description naming each correction the panel applies, or None."""
    if not corrections:
        return None
    probes = [
        f"{probe_name(key)} corrected per certificate {period.certificate}"
        f" ({period.offset_c:+g} °C {_in_force(period)})"
        for key in sorted(corrections)
        for period in _corrected_periods(corrections[key])
    ]
    return (
        "Calibration-corrected as the detector and the record judge (docs/design.md §11): "
        + "; ".join(probes)
        + "."
    )


def corrections_table(corrections: Mapping[SensorKey, Calibration]) -> str:
    """The generated README's list of the corrections baked into the build."""
    if not corrections:
        return "No probe's certificate gives a correction: every panel draws readings as sent.\n"
    lines = [
        "| probe | certificate | correction | in force |",
        "|---|---|---|---|",
        *(
            f"| {key.source} {probe_name(key)} | {period.certificate} | {period.offset_c:+g} °C "
            f"| {_in_force(period)} |"
            for key in sorted(corrections)
            for period in _corrected_periods(corrections[key])
        ),
    ]
    return "\n".join(lines) + "\n"
