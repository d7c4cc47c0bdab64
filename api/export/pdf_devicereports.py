"""The PDF's section on imported USB logger reports, as text and table rows.

Kept apart from pdf_format.py, which lays out whatever blocks this returns: the device's
figures and ours are shown as "device / ours" so that a QA person reads them side by side.
The device truncates to 0.1 °C, so ours carry one more decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["TableBlock", "device_report_blocks"]


@dataclass(frozen=True, slots=True)
class TableBlock:
    rows: list[Sequence[Any]]
    widths: tuple[float, ...]  # mm


def _text(value: Any, places: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{places}f}" if isinstance(value, float) else str(value)


def _pair(device: Any, ours: Any, places: int = 1) -> str:
    return f"{_text(device, places)} / {_text(ours, places + 1)}"


def _local(when: dict[str, str] | None) -> str:
    return "–" if when is None else when["local"].replace("T", " ")[:16]


def _invalid(r: dict[str, Any]) -> str:
    n = r.get("readings_invalid", 0)
    return f" ({n} invalid, left out of ours)" if n else ""


def _intro(r: dict[str, Any]) -> str:
    # A sponsor's record withholds the file's name and who imported it (record.py).
    file = f"file {r['file']} " if r.get("file") else "file "
    by = f" by {r['imported_by']}" if r.get("imported_by") else ""
    return (
        f"Placement {r['placement']}: {r['device']}, {file}(sha256 "
        f"{r['sha256'][:16]}…), {r['authenticity']}; imported {r['imported_at']}"
        f"{by}; {r['readings_in_file']} readings in the file, "
        f"{r['readings_stored']} stored for {r['sensor']} within the placement"
        f"{_invalid(r)}; the device's clock read in "
        f"{r['timezone']}. Rules: {'; '.join(r['rules']) or 'none'}."
    )


def _run(r: dict[str, Any]) -> TableBlock:
    rows: list[Sequence[Any]] = [
        ("Quantity", "Device", "At (device)", "Ours", "At (ours)", "Ours − device")
    ]
    rows += [
        [
            q["quantity"],
            q["device"],
            q["device_at"] or "–",
            _text(q["ours"], 2),
            _local(q["ours_at"]),
            _text(q["difference"], 2),
        ]
        for q in r["run"]
    ]
    return TableBlock(rows, (22, 20, 32, 20, 40, 26))


def _events(r: dict[str, Any]) -> TableBlock:
    rows: list[Sequence[Any]] = [
        ("Alarm", "Start", "Triggered", "End", "Minutes", "Extreme °C", "At")
    ]
    rows += [
        [
            e["rule"] or e["alarm"],
            e["start"],
            e["triggered_at"] or "–",
            e["end"] or "–",
            e["minutes"],
            _text(e["extreme_c"], 1),
            e["extreme_at"] or "–",
        ]
        for e in r["events"]
    ]
    return TableBlock(rows, (44, 24, 24, 24, 16, 18, 24))


def _days(r: dict[str, Any]) -> TableBlock:
    rows: list[Sequence[Any]] = [
        ("Day", "Min °C dev. / ours", "Max °C", "Mean °C", "Min. above", "Min. below", "Alarm at")
    ]
    for d in r["days"]:
        alarms = (d.get("device_above_alarm_at"), d.get("device_below_alarm_at"))
        rows.append(
            [
                d["day"],
                _pair(d["device_min_c"], d["ours_min_c"]),
                _pair(d["device_max_c"], d["ours_max_c"]),
                _pair(d["device_mean_c"], d["ours_mean_c"]),
                _pair(d.get("device_above_min"), d.get("ours_above_min"), 0),
                _pair(d.get("device_below_min"), d.get("ours_below_min"), 0),
                " ".join(a[11:] for a in alarms if a) or "–",
            ]
        )
    return TableBlock(rows, (20, 27, 27, 27, 27, 27, 25))


def device_report_blocks(items: list[dict[str, Any]]) -> list[str | TableBlock]:
    """Per report: an introduction, then run, events and days tables where the device has them."""
    blocks: list[str | TableBlock] = []
    for r in items:
        blocks.append(_intro(r))
        if r["run"]:
            blocks.append(_run(r))
        if r["events"]:
            blocks.append(_events(r))
        if r["days"]:
            blocks.append(_days(r))
        blocks.extend(f"Note: {note}" for note in r["notes"])
    return blocks
