"""How the batch record names a probe's calibration (#22): each certificate in force over
the placement, the correction applied to its readings in words, and the readings past
calibration, counted per certificate and marked on each row ("past calibration due
2027-03-01"). The rule itself is `coldchain.judgement.calibration`; walk.py applies it and
cuts each chunk of readings where the mark changes (`past_due_parts`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration, Certificate

if TYPE_CHECKING:
    from api.export.walk import Report

__all__ = [
    "calibration_dicts",
    "calibration_lines",
    "calibration_rows",
    "correction_text",
    "past_due_mark",
    "past_due_parts",
]

#: A reading not past calibration, in `past_due_parts`' table of marks (no due date is).
_NOT_DUE: Final = np.iinfo(np.int64).min


def _local_date(ms: int, zone: str) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(zone)).date()


def correction_text(certificate: Certificate) -> str:
    """E.g. "corrected +0.3 °C per certificate CAL-123", or "no correction"."""
    if certificate.correction_c == 0.0:
        return "no correction"
    return f"corrected {certificate.correction_c:+g} °C per certificate {certificate.certificate}"


def _past_due(due: str) -> str:
    return f"past calibration due {due}"


def past_due_mark(certificate: Certificate, zone: str) -> str:
    """A reading's mark when taken at or after the due date of `certificate`, in force at
    its time: "past calibration due 2027-03-01" (the local date, as the calibration table
    shows it)."""
    return _past_due(_local_date(certificate.due_ms, zone).isoformat())


def past_due_parts(
    calibration: Calibration, times: npt.NDArray[np.int64], due_ms: npt.NDArray[np.int64]
) -> list[tuple[slice, Certificate | None]]:
    """A chunk of readings (`times` in order, `due_ms` of the certificate in force at each,
    `Calibration.due_ms`) cut where its mark changes: each part with the certificate its
    readings are past the due date of, or None. Most chunks are one unmarked part."""
    past = times >= due_ms
    if not past.any():
        return [(slice(None), None)]
    marks = np.where(past, due_ms, _NOT_DUE)
    cuts = [0, *(np.flatnonzero(marks[1:] != marks[:-1]) + 1).tolist(), times.size]
    return [
        (
            slice(a, b),
            None if marks[a] == _NOT_DUE else calibration.at(int(times[a])),
        )
        for a, b in pairwise(cuts)
    ]


def calibration_dicts(calibration: Calibration, zone: str) -> list[dict[str, Any]]:
    """The certificates in force over a placement, oldest first; a bare due date has no
    certificate, lab or calibration date."""
    return [
        {
            "certificate": c.certificate,
            "lab": c.lab,
            "calibrated": None
            if c.calibrated_ms == SINCE_EVER_MS
            else _local_date(c.calibrated_ms, zone).isoformat(),
            "due": _local_date(c.due_ms, zone).isoformat(),
            "offset_c": c.offset_c,
            "correction": correction_text(c),
        }
        for c in calibration.certificates
    ]


def calibration_rows(report: Report) -> list[dict[str, Any]]:
    """The record's calibration table (JSON, CSV): one row per placement, probe and
    certificate in force there, with the correction applied and `past_due_readings`, the
    valid readings at or after its due date (still judged, only marked)."""
    rows: list[dict[str, Any]] = []
    for placement in report.placements:
        info, zone = placement.info, placement.info.timezone
        for sensor, summary in placement.sensors:
            if sensor.calibration is None:
                continue
            past = dict(summary.past_calibration)
            for certificate, row in zip(
                sensor.calibration.certificates,
                calibration_dicts(sensor.calibration, zone),
                strict=True,
            ):
                rows.append(
                    {
                        "placement": info.index,
                        "place": info.place,
                        "sensor": sensor.label,
                        **row,
                        "past_due_readings": past.get(certificate.due_ms, 0),
                    }
                )
    return rows


def calibration_lines(report: Report) -> list[str]:
    """The PDF's calibration statement: per row of `calibration_rows`, the certificate and
    the correction applied ("1 BSL/FRIDGE-01 FRIDGE-01/p1: certificate CAL-123 (Metrolab,
    calibrated 2026-03-01, due 2027-03-01): corrected +0.3 °C per certificate CAL-123"),
    then, where readings were taken after its due date, "… past calibration due
    2027-03-01: 14 readings"."""
    lines: list[str] = []
    for row in calibration_rows(report):
        probe = f"{row['placement']} {row['place']} {row['sensor']}"
        if row["certificate"] is None:
            lines.append(f"{probe}: no certificate on record, due {row['due']}")
        else:
            lines.append(
                f"{probe}: certificate {row['certificate']} ({row['lab']}, calibrated "
                f"{row['calibrated']}, due {row['due']}): {row['correction']}"
            )
        if row["past_due_readings"]:
            lines.append(f"{probe}: {_past_due(row['due'])}: {row['past_due_readings']} readings")
    return lines
