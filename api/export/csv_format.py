"""The CSV export: a `#` header block, one row per reading, a `#` summary trailer.

    # coldchain batch record
    # batch,LOT-0001
    # ...
    # placement,1,unit,BSL/FRIDGE-01,2026-11-01T08:00:00.000Z,...
    # alarm_limits,1
    # alarm_limit,placement,place,from_utc,from_local,to_utc,to_local,range_c,warning_low_c,...
    placement,place,site,source,device,sensor,time_utc,time_local,temp_c,invalid,calibration
    1,BSL/FRIDGE-01,BSL,unit,FRIDGE-01,p1,2026-11-01T08:00:00.000Z,2026-11-01T09:00:00.000+01:00,5.1,,
    1,BSL/FRIDGE-01,...,2026-11-01T09:01:00.000+01:00,85.0,error code 85 °C,
    1,BSL/FRIDGE-01,...,2027-03-01T00:00:00.000+01:00,5.2,,past calibration due 2027-03-01
    ...
    # summary
    # verdict,open findings
    # screen,automated screen of the record ...
    # findings,2
    # finding,id,kind,start_utc,start_local,end_utc,end_local,where,state,deviation,...
    ...
    # deviations,1
    # deviation,id,number,...,reason,stability_reference,impact,sponsor_decision,...
    # deviation_finding,deviation,id,kind,where,start,end,alert
    # release,batch,decision,comment,decided_at_utc,...   (# releases,0: not released)
    # signature,id,subject,subject_id,...,meaning,signed_at,local_time,...,seal
    #coldchain-esignature,v1,<base64 of the canonical JSON>   (the signature manifest)
    #coldchain-signature,v1,sha256=...,ed25519=...,key=...   (added by the signer)

Comment lines are themselves CSV after the `# `, so the summary can be read back by a
program; free text (comments, root causes) has its line breaks replaced by spaces so a
line is always one record. A text cell that would begin with `=`, `+`, `-`, `@`, a tab or
a carriage return (a spreadsheet would run it as a formula: an operator's comment such as
`=HYPERLINK(...)`) is prefixed with a single quote, the OWASP defence against CSV
injection; numbers (a temperature of -18.5) are written as they are. The header says so
in its `text_cells` line. Readings are grouped by placement, then sensor, in time order;
`invalid` is empty for a temperature and says why for a reading that is not one
(coldchain.judgement.validity); `calibration` (#22) is empty, or for a temperature taken at
or after the due date of its probe's certificate in force "past calibration due
2027-03-01" (an invalid reading keeps its reason only, as `past_due_readings` counts).

The deviations, the release decision and the signatures are tables like the others; the
`#coldchain-esignature` line holds the same, with each signature's signed content, as
base64 of canonical JSON for `coldchain verify` (esignatures.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from api.export.document import (
    ExportMeta,
    alarm_limits_dicts,
    header_dict,
    manifest_dict,
    placement_dict,
    summary_dict,
)
from api.export.esignatures import manifest_line
from api.export.record import BatchRecord
from api.export.rows import reading_rows
from api.export.walk import Event, PlacementBegin, Readings, RecordEnd, SensorBegin
from coldchain.judgement.validity import ReadingValidity

__all__ = ["COLUMNS", "render_csv"]

COLUMNS = (
    "placement",
    "place",
    "site",
    "source",
    "device",
    "sensor",
    "time_utc",
    "time_local",
    "temp_c",
    "invalid",
    "calibration",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_CELLS_NOTE = (
    "a text cell beginning with = + - @ or a tab or carriage return is prefixed with a "
    "single quote (') so that a spreadsheet does not run it as a formula; numbers are not"
)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _safe(value: Any) -> str:
    """The cell as written: text that a spreadsheet would read as a formula gets a leading
    single quote (OWASP, CSV injection); numbers, and text that is a number, do not."""
    text = _cell(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or not text.startswith(_FORMULA_STARTS) or _is_number(text):
        return text
    return "'" + text


def _row(cells: Iterable[Any], comment: bool = False) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([_safe(c) for c in cells])
    return ("# " if comment else "") + out.getvalue()


def _header(record: BatchRecord, meta: ExportMeta) -> str:
    lines = ["# coldchain batch record\n", _row(["text_cells", TEXT_CELLS_NOTE], comment=True)]
    for key, value in header_dict(record, meta).items():
        if key == "conditions_in_force":  # one row per version: from, to, what
            lines.extend(
                _row(
                    [
                        "condition_in_force",
                        c["from"],
                        c["to"],
                        c["storage_condition"],
                        c["range_c"],
                        c["alarm_delay_min"],
                        c["budget"],
                    ],
                    comment=True,
                )
                for c in value
            )
            continue
        lines.append(_row([key, value], comment=True))
    for placement in record.placements:
        info = placement_dict(placement)
        lines.append(
            _row(
                [
                    "placement",
                    info["index"],
                    info["kind"],
                    info["place"],
                    info["from"],
                    info["to"] or "open",
                    info["timezone"],
                    " ".join(
                        s["sensor"] if s["source"] == "unit" else f"{s['device']}/{s['sensor']}"
                        for s in info["sensors"]
                    ),
                ],
                comment=True,
            )
        )
    # The limits each placement was alarmed by, per version in force there (#22).
    lines.extend(
        _table(
            "alarm_limit",
            [
                {"placement": p.index, "place": p.place, **limits}
                for p in record.placements
                for limits in alarm_limits_dicts(record, p)
            ],
        )
    )
    lines.append(_row(COLUMNS))
    return "".join(lines)


def _signed(manifest: dict[str, Any]) -> list[str]:
    """The deviations with the findings each covers, the release decision and the
    signatures (their signed content is in the manifest line)."""
    deviations = manifest["deviations"]
    lines = _table(
        "deviation",
        [{k: v for k, v in d.items() if k not in ("findings", "history")} for d in deviations],
    )
    lines.extend(
        _table(
            "deviation_finding",
            [{"deviation": d["number"], **f} for d in deviations for f in d["findings"]],
        )
    )
    release = manifest["release"]
    lines.extend(_table("release", [] if release is None else [release]))
    lines.extend(
        _table(
            "signature",
            [{k: v for k, v in s.items() if k != "content"} for s in manifest["signatures"]],
        )
    )
    return lines


def _summary(record_end: RecordEnd, manifest: dict[str, Any]) -> str:
    summary = summary_dict(record_end.report)
    lines = ["# summary\n"]
    lines.append(_row(["verdict", summary["verdict"]], comment=True))
    lines.append(_row(["screen", summary["screen"]], comment=True))
    lines.extend(_table("finding", summary["findings"]))
    figure_keys: list[str] = []
    for placement in summary["placements"]:
        figure_keys = [k for k in placement if k not in ("index", "place", "sensors")]
        break
    if figure_keys:
        lines.append(_row(["figures", "scope", *figure_keys], comment=True))
        for placement in summary["placements"]:
            lines.append(
                _row(
                    ["figures", f"placement {placement['index']} {placement['place']}"]
                    + [placement[k] for k in figure_keys],
                    comment=True,
                )
            )
        for n, path in enumerate(summary["paths"], start=1):
            scope = f"path {n} (placements {' '.join(map(str, path['placements']))})"
            if path["worst"]:
                scope += " worst"
            lines.append(
                _row(["figures", scope, *[path.get(k) for k in figure_keys]], comment=True)
            )
        chain = summary["chain"]
        lines.append(_row(["figures", "chain", *[chain.get(k) for k in figure_keys]], comment=True))
    tables = ("bands", "charges", "tor_entries", "carried_in")
    for key, value in summary["budget"].items():
        if key not in tables:
            lines.append(_row(["budget", key, value], comment=True))
    names = ("budget_band", "budget_charge", "tor_entry", "carried_in")
    for key, name in zip(tables, names, strict=True):
        lines.extend(_table(name, summary["budget"][key]))
    for key, value in summary["mkt"].items():
        lines.append(_row(["mkt", key, value], comment=True))
    lines.extend(_table("excursion", summary["excursions"]))
    lines.extend(_table("gap", summary["gaps"]))
    lines.extend(_table("invalid_reading", summary["invalid_readings"]))
    lines.extend(_table("custody_gap", summary["custody_gaps"]))
    lines.extend(_table("calibration", summary["calibration"]))
    lines.extend(_device_reports(summary["device_reports"]))
    lines.extend(_table("conflicting_reading", summary["conflicting_readings"]))
    lines.extend(_signed(manifest))
    return "".join(lines)


def _flat(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict) and key in ("detector_alert", "mkt_window"):
            flat.update(_flat(value, f"{key}."))
        elif isinstance(value, dict) and set(value) == {"utc", "local"}:
            flat[f"{prefix}{key}_utc"] = value["utc"]
            flat[f"{prefix}{key}_local"] = value["local"]
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _table(name: str, items: list[dict[str, Any]]) -> list[str]:
    lines = [_row([f"{name}s", len(items)], comment=True)]
    rows = [_flat(item) for item in items]
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    if rows:
        lines.append(_row([name, *columns], comment=True))
        lines.extend(_row([name, *[row.get(c) for c in columns]], comment=True) for row in rows)
    return lines


def _device_reports(reports: list[dict[str, Any]]) -> list[str]:
    """Imported USB logger reports: one table of reports, then the device's figures next to
    ours (run, per day) and the device's alarm events, each row naming its report."""
    parts = ("run", "days", "events")
    lines = _table(
        "device_report", [{k: v for k, v in r.items() if k not in parts} for r in reports]
    )
    for part, name in zip(parts, ("device_run", "device_day", "device_event"), strict=True):
        rows = [{"report_id": r["report_id"], **row} for r in reports for row in r[part]]
        lines.extend(_table(name, rows))
    return lines


def _note(validity: ReadingValidity, mark: str | None) -> Callable[[float], bytes]:
    """A reading's `invalid` and `calibration` cells: for a temperature, empty and the
    chunk's calibration `mark` (or empty); else why it is not one, and empty."""
    valid = ("," + _row(["", mark or ""])[:-1]).encode()

    def note(value: float) -> bytes:
        reason = validity.reason(value)
        return valid if reason is None else ("," + _row([reason, ""])[:-1]).encode()

    return note


async def render_csv(
    record: BatchRecord, meta: ExportMeta, events: AsyncIterator[Event]
) -> AsyncIterator[bytes]:
    """The CSV body (everything but the signature trailer), chunk by chunk."""
    yield _header(record, meta).encode()
    prefix = b""
    async for event in events:
        if isinstance(event, SensorBegin):
            s = event.sensor
            prefix = (
                _row(
                    [
                        event.placement.index,
                        event.placement.place,
                        s.site,
                        s.source,
                        s.device,
                        s.sensor,
                    ]
                )[:-1]
                + ","
            ).encode()
        elif isinstance(event, Readings):
            yield reading_rows(
                event.times,
                event.temps,
                event.placement.timezone,
                head=prefix,
                mid=b",",
                sep=b",",
                tail=b"\n",
                note=_note(event.validity, event.calibration_mark),
            )
        elif isinstance(event, RecordEnd):
            manifest = manifest_dict(record)
            yield _summary(event, manifest).encode()
            yield manifest_line("csv", manifest)
        elif isinstance(event, PlacementBegin):
            continue
