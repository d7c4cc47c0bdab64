"""The PDF a QA person reads: summary, the automated screen's verdict and every finding
(with its id and the deviation covering it), the deviations, chain of custody with a chart
per placement, excursion and gap tables (exact, never downsampled), MKT, QA's signed release
decision and a "Signature manifest" page listing every electronic signature about the batch.
Nobody signs the printout: the signatures are electronic (coldchain/catalog/signatures.py),
and the manifest is also in the file, machine-readable after `%%EOF`, for `coldchain
verify` (esignatures.py). Laid out with reportlab once the single pass is over; the readings
themselves are not in the PDF (the CSV/JSON carry them), only their charts.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    LongTable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from api.export.calibration import calibration_lines
from api.export.document import (
    ExportMeta,
    alarm_limits_dicts,
    header_dict,
    manifest_dict,
    record_zone,
    summary_dict,
    when_dict,
)
from api.export.esignatures import manifest_line
from api.export.findings import INCOMPLETE, NO_OPEN_FINDINGS
from api.export.pdf_budget import budget_tables, budget_text
from api.export.pdf_charts import placement_chart_png
from api.export.pdf_devicereports import device_report_blocks
from api.export.reconcile import OTHER_LIMITS
from api.export.record import BatchRecord
from api.export.walk import Event, RecordEnd, Report

__all__ = ["build_pdf", "render_pdf", "story"]

_FONT = "DejaVuSans"
_BOLD = "DejaVuSans-Bold"


def _fonts() -> None:
    """DejaVu (shipped inside matplotlib) covers °, –, ≤ and ≥, which the PDF base fonts lack."""
    if _FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(_FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(_BOLD, str(folder / "DejaVuSans-Bold.ttf")))


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=_FONT, fontSize=8.5, leading=11)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=_BOLD, fontSize=15),
        "h2": ParagraphStyle(
            "h2",
            parent=base["Heading2"],
            fontName=_BOLD,
            fontSize=11.5,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,  # a heading never ends a page without what it heads
        ),
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=7, leading=8.5),
        "verdict": ParagraphStyle("verdict", parent=body, fontName=_BOLD, fontSize=12, leading=15),
    }


def _esc(value: Any) -> str:
    text = "–" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


def _local(when: dict[str, str] | None) -> str:
    if when is None:
        return "–"
    return when["local"].replace("T", " ")[:16] + " " + when["local"][-6:]


def _table(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    styles: dict[str, ParagraphStyle],
    highlight: Sequence[int] = (),
) -> LongTable:
    cells = [[Paragraph(_esc(c), styles["cell"]) for c in row] for row in rows]
    table = LongTable(cells, colWidths=[w * mm for w in widths], repeatRows=1)
    style: list[Any] = [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    style.extend(("BACKGROUND", (0, r), (-1, r), colors.HexColor("#fdecea")) for r in highlight)
    table.setStyle(TableStyle(style))
    return table


def _summary_section(
    report: Report, meta: ExportMeta, styles: dict[str, ParagraphStyle]
) -> list[Flowable]:
    header = header_dict(report.record, meta)
    summary = summary_dict(report)
    budget = header["budget"]
    generated = header["generated_at"]
    facts = [
        ("Batch", header["batch"]),
        (
            "Product",
            f"{header['product']} {header['product_name'] or ''} (sponsor {header['sponsor']})",
        ),
        (
            "Storage condition",
            f"{header['storage_condition']}; alarm delay {header['alarm_delay_min']:g} min",
        ),
        (
            "Stability budget",
            budget_text(budget),
        ),
        *(
            (
                "Condition in force" if n == 0 else "",
                f"{_local(c['from'])} to {_local(c['to'])}: {c['storage_condition']} "
                f"({c['range_c'][0]:g}–{c['range_c'][1]:g} °C), alarm delay "
                f"{c['alarm_delay_min']:g} min",
            )
            for n, c in enumerate(header["conditions_in_force"])
            if len(header["conditions_in_force"]) > 1
        ),
        ("Period", f"{_local(header['period_start'])} to {_local(header['period_end'])}"),
        (
            "Generated",
            f"{_local(generated)} ({generated['utc']}) by {header['generated_by']}",
        ),
        ("Software", f"{header['software']}, record format {header['format_version']}"),
    ]
    out: list[Flowable] = [
        Paragraph(f"Batch release record — {_esc(header['batch'])}", styles["title"]),
        _table([("Field", "Value"), *facts], (38, 142), styles),
        Spacer(1, 4 * mm),
    ]
    verdict = summary["verdict"]
    colour = {NO_OPEN_FINDINGS: "#1e7b34", INCOMPLETE: "#b9770e"}.get(verdict, "#b03a2e")
    out.append(
        Paragraph(
            f'Automated screen: <font color="{colour}">{_esc(verdict)}</font>', styles["verdict"]
        )
    )
    out.append(Paragraph(_esc(summary["screen"]) + ".", styles["body"]))
    out.extend(_findings(summary["findings"], styles))
    out.append(Paragraph("Figures per placement and for the whole chain", styles["h2"]))
    rows: list[Sequence[Any]] = [
        (
            "#",
            "Place",
            "From",
            "To",
            "Readings (present)",
            "Min °C",
            "Max °C",
            "Mean °C",
            "MKT °C",
            "In range",
            "Out of range h",
        )
    ]
    for p, info in zip(summary["placements"], report.record.placements, strict=True):
        rows.append(
            _figures_row(
                str(p["index"]),
                f"{info.kind} {info.place}",
                _local(when_dict(info.start, info.timezone)),
                "open" if info.end is None else _local(when_dict(info.end, info.timezone)),
                p,
            )
        )
    if len(summary["paths"]) > 1:
        for n, path in enumerate(summary["paths"], start=1):
            through = " → ".join(str(i) for i in path["placements"])
            worst = " (worst)" if path["worst"] else ""
            rows.append(_figures_row(f"path {n}", f"placements {through}{worst}", "", "", path))
    rows.append(
        _figures_row(
            "all",
            "whole chain" + (" (worst path)" if len(summary["paths"]) > 1 else ""),
            _local(header["period_start"]),
            _local(header["period_end"]),
            summary["chain"],
        )
    )
    out.append(_table(rows, (8, 27, 22, 22, 23, 12, 12, 12, 12, 15, 15), styles))
    b = summary["budget"]
    out.append(Spacer(1, 2 * mm))
    out.append(
        Paragraph(
            f"<b>Stability budget:</b> {b['charged_h']:.2f} h charged "
            f"of {b['allowed_h']:g} h allowed — "
            + (
                "<font color='#b03a2e'><b>EXCEEDED</b></font>"
                + (f" by {b['over_by_h']:.2f} h" if b["over_by_h"] > 0 else "")
                if b["exceeded"]
                else f"within ({b['remaining_h']:.2f} h remaining)"
            )
            + (f"; {_esc(b['applies'])}" if b["versions_differ"] else ""),
            styles["body"],
        )
    )
    for rows, widths in budget_tables(b):
        out.append(Spacer(1, 1 * mm))
        out.append(_table(rows, widths, styles))
    mkt = summary["mkt"]
    out.append(
        Paragraph(
            f"MKT per {_esc(mkt['standard'])} with ΔH = {mkt['delta_h_kj_per_mol']:g} kJ/mol, "
            f"R = {mkt['gas_constant_j_per_mol_k']:g} J/(mol·K), on the actual time base "
            f"({_esc(mkt['time_base'])}). {_esc(mkt['excursion_window'])}. "
            f"<b>{_esc(mkt['caveat'])}.</b>",
            styles["body"],
        )
    )
    return out


_FINDING_KEYS = ("id", "kind", "start", "end", "where", "state", "deviation")


def _finding_detail(finding: dict[str, Any]) -> str:
    return "; ".join(
        f"{k.replace('_', ' ')}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in finding.items()
        if k not in _FINDING_KEYS and v not in (None, [], "")
    )


def _findings(items: list[dict[str, Any]], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Every finding of the screen, as the JSON and CSV list them."""
    if not items:
        return [Paragraph("No findings.", styles["body"])]
    rows: list[Sequence[Any]] = [
        ("Id", "Kind", "Where", "From", "To", "State", "Deviation", "Detail")
    ]
    flagged = []
    for n, f in enumerate(items, start=1):
        rows.append(
            [
                f["id"],
                f["kind"].replace("_", " "),
                f["where"],
                _local(f["start"]),
                _local(f["end"]),
                f["state"],
                f["deviation"] or "–",
                _finding_detail(f),
            ]
        )
        if f["state"] in ("open", "ongoing"):
            flagged.append(n)
    return [_table(rows, (27, 15, 30, 20, 20, 12, 14, 42), styles, flagged)]


def _span(finding: dict[str, Any], zone: str) -> str:
    """A covered finding's id and span (signed in UTC), shown in the record's local time."""
    start, end = (
        None if finding[k] is None else when_dict(datetime.fromisoformat(finding[k]), zone)
        for k in ("start", "end")
    )
    return f"{finding['id']} ({_local(start)} to {_local(end)})"


def _deviations(
    manifest: dict[str, Any], zone: str, styles: dict[str, ParagraphStyle]
) -> list[Flowable]:
    """Each deviation: state, title, findings covered (id and span), QA's assessment and the
    sponsor's decision with its comment."""
    items = manifest["deviations"]
    out: list[Flowable] = [Paragraph(f"Deviations ({len(items)})", styles["h2"])]
    if not items:
        return [*out, Paragraph("No deviation was opened on this batch.", styles["body"])]
    rows: list[Sequence[Any]] = [
        ("Deviation", "State", "Title", "Findings covered", "Assessment", "Sponsor decision")
    ]
    flagged = []
    for n, d in enumerate(items, start=1):
        assessment = (
            "not assessed"
            if d["impact"] is None
            else f"impact {d['impact']}; reason: {d['reason']}; stability data: "
            f"{d['stability_reference'] or 'none cited'}"
        )
        decision = d["sponsor_decision"] or "pending"
        if d["sponsor_decision"] and d["sponsor_comment"]:
            decision += f": {d['sponsor_comment']}"
        rows.append(
            [
                d["number"],
                d["state"],
                d["title"],
                "; ".join(_span(f, zone) for f in d["findings"]),
                assessment,
                decision,
            ]
        )
        if d["state"] != "closed":
            flagged.append(n)
    out.append(_table(rows, (20, 13, 30, 49, 40, 28), styles, flagged))
    return out


def _figures_row(index: str, place: str, start: str, end: str, f: dict[str, Any]) -> list[str]:
    return [
        index,
        place,
        start,
        end,
        f"{f['readings']} ({_pct(f['present_share'])})",
        _num(f["min_c"]),
        _num(f["max_c"]),
        _num(f["mean_c"]),
        _num(f["mkt_c"]),
        _pct(f["in_range_share"]),
        _num(f["out_of_range_h"]),
    ]


def _charts(report: Report, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("Chain of custody: temperature per placement", styles["h2"])]
    for placement in report.placements:
        png = placement_chart_png(placement, report.record.product)
        out.append(KeepTogether([Image(io.BytesIO(png), width=178 * mm, height=66 * mm)]))
    return out


def _beyond(low: float | None, high: float | None, unset: str) -> str:
    """A pair of limits as what lies beyond them: "below 0 °C, above 12 °C"."""
    pairs = (("below", low), ("above", high))
    return ", ".join(f"{word} {value:g} °C" for word, value in pairs if value is not None) or unset


def _alarm_limits(report: Report, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The limits each placement was alarmed by (#22), per version in force there: the
    product's range set up by its alarm profile and the unit's."""
    rows: list[Sequence[Any]] = [
        (
            "Pl.",
            "Place",
            "From",
            "To",
            "Range °C",
            "Warning beyond",
            "Alarm delay above / below",
            "Critical (alarms at once)",
            "Latching",
        )
    ]
    for placement in report.record.placements:
        for a in alarm_limits_dicts(report.record, placement):
            rows.append(
                [
                    placement.index,
                    placement.place,
                    _local(a["from"]),
                    _local(a["to"]),
                    f"{a['range_c'][0]:g}–{a['range_c'][1]:g}",
                    _beyond(
                        a["warning_low_c"],
                        a["warning_high_c"],
                        "not set: the detector's margin inside the range",
                    ),
                    f"{a['high_delay_min']:g} / {a['low_delay_min']:g} min",
                    _beyond(a["critical_low_c"], a["critical_high_c"], "none"),
                    "yes: until acknowledged" if a["latching"] else "no",
                ]
            )
    return [
        Paragraph("Alarm limits in force", styles["h2"]),
        _table(rows, (9, 27, 22, 22, 14, 24, 20, 26, 16), styles),
    ]


def _alert_text(alert: dict[str, Any] | None) -> tuple[str, str]:
    if alert is None:
        return "none raised", "–"
    # A sponsor's record has the states and times only (record.py `sponsor_view`).
    ack = "not acknowledged"
    if alert["acknowledged_at"]:
        who = f"{alert['acknowledged_by']} " if alert["acknowledged_by"] else ""
        ack = f"ack {who}{_local(alert['acknowledged_at'])}"
        if alert["acknowledge_comment"]:
            ack += f": {alert['acknowledge_comment']}"
    closed = f"{alert['state']}"
    if alert["closed_at"]:
        who = f"{alert['closed_by']} " if alert["closed_by"] else ""
        closed = f"closed {who}{_local(alert['closed_at'])}"
        if alert["root_cause"]:
            closed += f"; root cause: {alert['root_cause']}"
    retro = " (retrospective)" if alert["retrospective"] else ""
    limits = f"; limits: {alert['limits']}" if alert["limits"] else ""
    return f"{alert['alert_id'][:14]}{retro}{limits}; {ack}", closed


def _excursions(report: Report, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    items = summary_dict(report)["excursions"]
    out: list[Flowable] = [Paragraph(f"Excursions ({len(items)})", styles["h2"])]
    if not items:
        return [*out, Paragraph("No reading outside the storage range.", styles["body"])]
    rows: list[Sequence[Any]] = [
        (
            "Where",
            "Start",
            "End",
            "Min.",
            "Peak °C",
            "MKT window °C",
            "Readings vs detector",
            "Detector alert, acknowledged",
            "Closed",
        )
    ]
    flagged = []
    for n, e in enumerate(items, start=1):
        alert, closed = _alert_text(e["detector_alert"])
        kind = e["agreement"] + ("" if e["alarm"] else " (below alarm delay)")
        if e["ended"] not in (None, "back in range"):
            kind += f"; ended: {e['ended']}"
        window = e["mkt_window"]
        rows.append(
            [
                e["where"] or e["sensor"],
                _local(e["start"]),
                _local(e["end"]),
                _num(e["duration_min"], "", 1),
                _num(e["peak_c"], "", 2),
                "–" if window is None else _num(window["mkt_c"], "", 2),
                kind,
                alert,
                closed,
            ]
        )
        if e["alarm"] and not e["explained"] and e["agreement"] != OTHER_LIMITS:
            flagged.append(n)
    # Start and end need 22 mm for "15:02 +01:00" on one line (7 pt DejaVu and padding).
    out.append(_table(rows, (24, 22, 22, 13, 12, 14, 19, 28, 26), styles, flagged))
    return out


def _gaps(report: Report, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    items = summary_dict(report)["gaps"]
    out: list[Flowable] = [Paragraph(f"Gaps in the record ({len(items)})", styles["h2"])]
    if not items:
        return [
            *out,
            Paragraph(
                "Every sensor logged without a gap longer than 1.5 logging intervals.",
                styles["body"],
            ),
        ]
    rows: list[Sequence[Any]] = [
        ("Pl.", "Sensor", "Where", "From", "To", "Minutes", "Missing readings", "Explained by")
    ]
    flagged = []
    for n, g in enumerate(items, start=1):
        rows.append(
            [
                g["placement"],
                g["sensor"],
                g["where"],
                _local(g["start"]),
                _local(g["end"]),
                _num(g["duration_min"], "", 1),
                g["missing_readings"],
                g["explained_by"] or "unexplained",
            ]
        )
        if g["explained_by"] is None:
            flagged.append(n)
    out.append(_table(rows, (9, 33, 15, 24, 24, 15, 18, 42), styles, flagged))
    return out


def _calibration(report: Report, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The probes' certificates in force, the corrections applied and the readings past
    calibration (#22), a line each."""
    lines = calibration_lines(report)
    if not lines:
        return []
    out: list[Flowable] = [Paragraph("Calibration", styles["h2"])]
    out += [Paragraph(_esc(line), styles["body"]) for line in lines]
    return out


def _device_reports(report: Report, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Each imported USB logger report: the device's own figures next to ours."""
    items = summary_dict(report)["device_reports"]
    if not items:
        return []
    out: list[Flowable] = [Paragraph(f"Loggers' own reports ({len(items)})", styles["h2"])]
    for block in device_report_blocks(items):
        if isinstance(block, str):
            out.append(Paragraph(_esc(block), styles["body"]))
        else:
            out.append(_table(block.rows, block.widths, styles))
    return out


def _conflicts(report: Report, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Re-sent readings refused because InfluxDB held the reading with other values: the
    stored value is the one the record judges."""
    items = summary_dict(report)["conflicting_readings"]
    if not items:
        return []
    total = sum(run.total for run in report.conflicts)
    out: list[Flowable] = [
        Paragraph(f"Conflicting re-sent readings ({total})", styles["h2"]),
        Paragraph(
            "A reading was sent again for the same sensor and time with another value. The "
            "stored reading was kept and is the one judged; the refused one is listed here."
            + ("" if total == len(items) else f" The first {len(items)} are shown."),
            styles["body"],
        ),
    ]
    rows: list[Sequence[Any]] = [
        ("Pl.", "Sensor", "Time", "Stored °C", "Refused °C", "Stored RH", "Refused RH", "Received")
    ]
    for c in items:
        rows.append(
            [
                c["placement"],
                c["sensor"],
                _local(c["time"]),
                _num(c["stored_temp_c"]),
                _num(c["refused_temp_c"]),
                _num(c["stored_rh"]),
                _num(c["refused_rh"]),
                _local(c["received"]),
            ]
        )
    out.append(_table(rows, (9, 40, 26, 16, 16, 15, 15, 26), styles, range(1, len(rows))))
    return out


NOT_RELEASED = "not released: no signed release decision"


def _signer(signature: dict[str, Any]) -> str:
    return f"{signature['printed_name']} ({signature['user_id']}, {signature['role']})"


def _release(manifest: dict[str, Any], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """QA's signed decision on the temperature record, where a blank box to sign was."""
    out: list[Flowable] = [Paragraph("Release decision", styles["h2"])]
    release = manifest["release"]
    if release is None:
        return [*out, Paragraph(f"<b>{_esc(NOT_RELEASED)}</b>.", styles["body"])]
    number, signature = next(
        (n, s)
        for n, s in enumerate(manifest["signatures"], start=1)
        if s["id"] == release["signature"]
    )
    rows = [
        ("Decision", release["decision"]),
        ("Comment", release["comment"] or "–"),
        ("Signed", f"{signature['meaning']} by {_signer(signature)}"),
        ("At", f"{_local(release['decided_at'])} ({release['decided_at']['utc']})"),
        ("Signature", f"{number} in the signature manifest"),
    ]
    return [*out, KeepTogether([_table([("Field", "Value"), *rows], (38, 142), styles)])]


def _manifest(manifest: dict[str, Any], styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Every electronic signature about the batch, on a page of its own (21 CFR 11.50)."""
    items = manifest["signatures"]
    out: list[Flowable] = [
        PageBreak(),
        Paragraph("Signature manifest", styles["h2"]),
        Paragraph(
            "Each signature was made with the signer's password entered again, and binds "
            "the SHA-256 of exactly what was signed; its seal covers every field. "
            "`coldchain verify FILE` lists and checks them from this file.",
            styles["body"],
        ),
    ]
    if not items:
        return [*out, Paragraph("No electronic signatures.", styles["body"])]
    rows: list[Sequence[Any]] = [
        ("#", "Meaning", "Signed by", "UTC / local time", "Subject", "Content SHA-256", "Seal")
    ]
    for n, s in enumerate(items, start=1):
        rows.append(
            [
                n,
                s["meaning"],
                _signer(s),
                f"{_utc_seconds(s['signed_at'])} / {s['local_time']} {s['timezone']}",
                f"{s['subject'].replace('_', ' ')} {s['subject_id']}",
                s["content_sha256"],
                s["seal"],
            ]
        )
    out.append(_table(rows, (6, 18, 30, 38, 24, 32, 32), styles))
    return out


def _utc_seconds(iso: str) -> str:
    """An ISO time with microseconds and offset as a person reads it: 2026-12-06 09:18:27 UTC."""
    return f"{iso[:10]} {iso[11:19]} UTC"


def _footer(batch: str) -> Any:
    def draw(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(_FONT, 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(
            15 * mm, 10 * mm, f"Batch {batch} — signed export: check with `coldchain verify FILE`"
        )
        canvas.drawRightString(195 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    return draw


def story(report: Report, meta: ExportMeta) -> list[Flowable]:
    """The PDF's content in reading order (its text is what a test can read back)."""
    _fonts()
    styles = _styles()
    manifest = manifest_dict(report.record)
    return [
        *_summary_section(report, meta, styles),
        *_deviations(manifest, record_zone(report.record), styles),
        *_charts(report, styles),
        *_alarm_limits(report, styles),
        *_excursions(report, styles),
        *_gaps(report, styles),
        *_calibration(report, styles),
        *_device_reports(report, styles),
        *_conflicts(report, styles),
        *_release(manifest, styles),
        *_manifest(manifest, styles),
    ]


def build_pdf(report: Report, meta: ExportMeta) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=f"Batch release record {report.record.batch}",
        author=meta.software,
        subject="QA batch-release record",
    )
    footer = _footer(report.record.batch)
    doc.build(story(report, meta), onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


async def render_pdf(
    record: BatchRecord, meta: ExportMeta, events: AsyncIterator[Event]
) -> AsyncIterator[bytes]:
    """The PDF body: the document (ends with %%EOF and a newline), then the signature
    manifest's comment line; the signer appends its comment trailer."""
    report: Report | None = None
    async for event in events:
        if isinstance(event, RecordEnd):
            report = event.report
    assert report is not None, "walk_record always ends with RecordEnd"
    # Layout and charts take CPU for a second or so: off the event loop (the API serves on).
    data = await asyncio.to_thread(build_pdf, report, meta)
    yield data if data.endswith(b"\n") else data + b"\n"
    yield manifest_line("pdf", manifest_dict(record))
