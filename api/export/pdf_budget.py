"""The PDF's stability budget section as table rows (#22): each band, each charge with its
source, and the manual time-out-of-refrigeration entries with who recorded them and why
(voided ones too, saying by which entry). pdf_format.py lays them out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["budget_tables", "budget_text"]

_TOR_WIDTHS = (10, 30, 30, 16, 24, 60)


def _pct(share: float | None) -> str:
    return "∞ (none allowed)" if share is None else f"{share * 100:.1f} %"


def _local(when: dict[str, str] | None) -> str:
    return "–" if when is None else when["local"].replace("T", " ")[:16]


def budget_text(header_budget: dict[str, Any] | None) -> str:
    """The header's "Stability budget" line: each band and the freeze events allowed."""
    if header_budget is None:
        return "none (no time out of range allowed)"
    parts = [
        f"{b['hours']:g} h at {b['min_c']:g}–{b['max_c']:g} °C" for b in header_budget["bands"]
    ]
    text = "; ".join(parts) + " cumulative" if parts else "no time out of range allowed"
    if header_budget["freeze_c"] is not None:
        text += (
            f"; {header_budget['freeze_events']} freeze event(s) at or below "
            f"{header_budget['freeze_c']:g} °C allowed"
        )
    return text


def budget_tables(budget: dict[str, Any]) -> list[tuple[list[Sequence[Any]], tuple[float, ...]]]:
    """(rows, column widths in mm) of the bands, the charges and the manual entries."""
    tables: list[tuple[list[Sequence[Any]], tuple[float, ...]]] = []
    if budget["bands"]:
        rows: list[Sequence[Any]] = [["Band", "Allowed h", "Charged h", "Remaining h", "Used"]]
        rows += [
            [
                f"{b['min_c']:g}–{b['max_c']:g} °C",
                f"{b['allowed_h']:g}",
                f"{b['charged_h']:.2f}",
                f"{b['remaining_h']:.2f}",
                _pct(b["share"]),
            ]
            for b in budget["bands"]
        ]
        tables.append((rows, (40, 25, 25, 25, 30)))
    if budget["charges"]:
        rows = [["Source", "Band", "From", "To", "Hours", "Detail"]]
        rows += [
            [
                c["source"],
                c["band"] or "no band (over at once)",
                _local(c["from"]),
                _local(c["to"]),
                f"{c['hours']:.2f}",
                c["detail"],
            ]
            for c in budget["charges"]
        ]
        tables.append((rows, (20, 28, 28, 28, 14, 52)))
    if budget["tor_entries"]:
        rows = [["Entry", "From", "To", "Max °C", "Recorded by", "Reason"]]
        rows += [
            [
                str(e["id"]) + ("" if e["voided_by"] is None else f" (voided by {e['voided_by']})"),
                _local(e["from"]),
                _local(e["to"]),
                f"{e['max_c']:g}",
                e["recorded_by"],
                e["reason"] + ("" if e["voids"] is None else f" (voids entry {e['voids']})"),
            ]
            for e in budget["tor_entries"]
        ]
        tables.append((rows, _TOR_WIDTHS))
    return tables
