"""Berlinger Fridge-tag 2 / 2 L / UltraLow and Q-tag CLm text exports (the device's `.txt`).

Layout (CRLF, ASCII; see tests/data/real-loggers/msupply-berlinger-fridgetag-qtag):
a `Device:` header, `Conf:` (serial, logging interval, alarm rules), then `Hist:` (Fridge-tag:
one summary per day, newest first) or `Res:` (Q-tag: the run's min/max/mean/MKT and alarm
events), the log as a tab-separated `Data:` table (not on the Fridge-tag 2, which keeps
daily summaries only), and the device's certificate and signatures (berlinger_signature.py).

A file is accepted only when its signature verifies. The consistency checks in
berlinger_checks.py run first so that a damaged file is refused at the line where the
damage shows (a missing stretch of log, a flag that contradicts its value) rather than
only at the signature; in a correctly signed file their findings are the device's own
irregularities and are kept as notes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Final

from coldchain.loggers._tree import Node, parse_number, parse_timestamp, parse_tree, split_lines
from coldchain.loggers.berlinger_checks import Finding, check_consistency
from coldchain.loggers.berlinger_signature import SignedParts, verify_signatures
from coldchain.loggers.errors import LoggerFileError
from coldchain.loggers.model import (
    AlarmDirection,
    AlarmMode,
    AlarmRule,
    DailyAlarm,
    DailySummary,
    LoggedReading,
    LoggerFile,
    MissingReading,
    RunEvent,
    RunSummary,
    SensorTimeout,
)

__all__ = ["BerlingerFormat"]

_DEVICE_PREFIX: Final = "Device: Q-tag "
_DATA_HEADER: Final = ["yyyy-MM-dd hh:mm", "T", "Out of limits"]
_NO_VALUE: Final = "--.-"
_FLAG: Final = "x"
#: Q-tag `Type` codes (msupply-foundation/temperature-sensor src/lib.rs); 0 = disabled.
_QTAG_TYPES: Final[dict[int, tuple[AlarmDirection, AlarmMode]]] = {
    1: ("low", "consecutive"),
    2: ("high", "consecutive"),
    3: ("low", "cumulative"),
    4: ("high", "cumulative"),
}
#: Fridge-tag alarm 0 is the cold one, 1 the hot one. Their trigger times in the 2 L and
#: UL logs match one uninterrupted excursion reaching `t AL` (05-10 of the 2 L file has
#: 147 minutes above 8 °C in ≈ 50-minute runs and no alarm), hence "consecutive".
_FRIDGETAG_DIRECTIONS: Final[dict[int, AlarmDirection]] = {0: "low", 1: "high"}


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the sections are (0-based line indices)."""

    data: int | None
    cert: int
    sig_cert: int
    sig: int


class BerlingerFormat:
    """The `LoggerFormat` of Berlinger exports."""

    name = "berlinger"

    def sniff(self, text: str) -> bool:
        return text.startswith(_DEVICE_PREFIX)

    def parse(self, text: str) -> LoggerFile:
        lines = split_lines(text)
        layout = _locate(lines)
        root = parse_tree(lines, 0, layout.sig_cert)
        device_model = lines[0].removeprefix("Device: ").strip()
        conf = root.child("Conf")
        serial = conf.value("Serial")
        interval = _interval(conf)
        hist, res = root.find("Hist"), root.find("Res")
        if (hist is None) == (res is None):
            raise LoggerFileError("expected exactly one of 'Hist:' and 'Res:'", line=conf.line)
        rules = (
            _qtag_rules(conf, device_model, serial)
            if res is not None
            else _fridgetag_rules(conf, device_model, serial)
        )
        readings, missing = _log(root, layout, interval)
        daily = _daily(hist) if hist is not None else ()
        run = _run(res, conf) if res is not None else None
        summary = hist if hist is not None else res
        assert summary is not None
        activated_at = summary.child("TS Actv").timestamp("TS Actv")
        created_at = (
            summary.child("TS Report Creation").timestamp("TS Report Creation")
            if hist is not None
            else None
        )
        findings = check_consistency(
            readings=readings,
            missing=missing,
            interval_min=interval,
            rules=rules,
            daily=daily,
            run=run,
            starts_at=activated_at if run is None else run.started_at,
            ends_at=created_at if run is None else run.stopped_at,
            activation_row=run is None,
        )
        self._verify(lines, layout, root, findings)
        canonical = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        cert = root.child("Cert")
        return LoggerFile(
            format=self.name,
            device_model=device_model,
            serial=serial,
            firmware=root.value("Fw Vers"),
            log_interval_min=interval,
            rules=rules,
            readings=readings,
            missing=missing,
            daily=daily,
            run=run,
            activated_at=activated_at,
            created_at=created_at,
            sha256=hashlib.sha256(canonical).hexdigest(),
            signature=(
                f"device signature verified: certificate of {cert.value('Issuer')}, "
                f"lot {cert.value('Lot')}"
            ),
            notes=tuple(f"line {f.line}: {f.reason}" for f in findings),
        )

    @staticmethod
    def _verify(lines: list[str], layout: _Layout, root: Node, findings: list[Finding]) -> None:
        def joined(start: int, stop: int) -> bytes:
            return ("".join(line + "\r\n" for line in lines[start:stop])).encode("utf-8")

        parts = SignedParts(
            content=joined(0, layout.sig),
            certificate=joined(layout.cert, layout.sig_cert),
            device_key_hex=root.child("Cert").value("Public Key"),
            certificate_signature_hex=lines[layout.sig_cert].partition(":")[2].strip(),
            signature_hex=lines[layout.sig].partition(":")[2].strip(),
            certificate_line=layout.sig_cert + 1,
            signature_line=layout.sig + 1,
        )
        try:
            verify_signatures(parts)
        except LoggerFileError as exc:
            if not findings:
                raise
            first = findings[0]
            raise LoggerFileError(
                f"{first.reason}; the device signature does not verify either (line {exc.line})",
                line=first.line,
            ) from None


def _locate(lines: list[str]) -> _Layout:
    """Find the sections that must be there, in order; their absence means truncation."""
    if not lines or not lines[0].startswith(_DEVICE_PREFIX):
        raise LoggerFileError(f"expected a first line '{_DEVICE_PREFIX}...'", line=1)
    top = {line.partition(":")[0]: i for i, line in enumerate(lines) if line[:1] not in " \t"}
    for marker in ("Conf", "Cert", "Sig Cert", "Sig"):
        if marker not in top:
            raise LoggerFileError(
                f"missing '{marker}:': the export ends at line {len(lines)} without it "
                "(truncated?)",
                line=len(lines),
            )
    sig = top["Sig"]
    if sig != len(lines) - 1 or top["Sig Cert"] != sig - 1 or not top["Cert"] < top["Sig Cert"]:
        raise LoggerFileError(
            "the export must end with 'Cert:', 'Sig Cert:', 'Sig:' and nothing after",
            line=sig + 2 if sig != len(lines) - 1 else sig + 1,
        )
    data = top.get("Data")
    if data is not None and data > top["Cert"]:
        raise LoggerFileError("'Data:' after the certificate", line=data + 1)
    return _Layout(data=data, cert=top["Cert"], sig_cert=top["Sig Cert"], sig=sig)


def _interval(conf: Node) -> int | None:
    """Minutes between log rows; None on devices that keep daily summaries only."""
    node = conf.find("Logging Interval")
    if node is None:
        return None
    minutes = node.integer("Logging Interval")
    if minutes <= 0:
        raise LoggerFileError(
            f"Logging Interval: expected minutes > 0, got {minutes}", line=node.line
        )
    return minutes


def _origin(device_model: str, serial: str, number: int) -> str:
    return f"{device_model} {serial} alarm {number}"


def _fridgetag_rules(conf: Node, device_model: str, serial: str) -> tuple[AlarmRule, ...]:
    rules = []
    for number, node in conf.child("Alarm").numbered():
        direction = _FRIDGETAG_DIRECTIONS.get(number)
        if direction is None:
            raise LoggerFileError(
                f"Alarm {number}: Fridge-tags have alarms 0 and 1", line=node.line
            )
        setting = node.child("T AL")
        rules.append(
            AlarmRule(
                number=number,
                direction=direction,
                limit_c=setting.number("T AL"),
                delay_min=setting.number("t AL"),
                mode="consecutive",
                origin=_origin(device_model, serial, number),
            )
        )
    return tuple(rules)


def _qtag_rules(conf: Node, device_model: str, serial: str) -> tuple[AlarmRule, ...]:
    rules = []
    for number, node in conf.child("Alarm").numbered():
        if len(node.children) != 1:
            raise LoggerFileError(f"Alarm {number}: expected one 'Type:' line", line=node.line)
        setting = node.children[0]
        code = setting.integer("Type")
        if code == 0:
            continue
        if code not in _QTAG_TYPES:
            raise LoggerFileError(f"Alarm {number}: unknown Type {code}", line=setting.line)
        direction, mode = _QTAG_TYPES[code]
        rules.append(
            AlarmRule(
                number=number,
                direction=direction,
                limit_c=setting.number("T AL"),
                delay_min=setting.number("t AL"),
                mode=mode,
                origin=_origin(device_model, serial, number),
            )
        )
    return tuple(rules)


def _log(
    root: Node, layout: _Layout, interval: int | None
) -> tuple[tuple[LoggedReading, ...], tuple[MissingReading, ...]]:
    data = root.find("Data")
    if interval is None:
        if data is not None:
            raise LoggerFileError("'Data:' in an export without 'Logging Interval'", line=data.line)
        return (), ()
    if data is None:
        raise LoggerFileError(
            "missing 'Data:': 'Logging Interval' is set, so the log must be there",
            line=layout.cert + 1,
        )
    if not data.rows or data.rows[0][1] != _DATA_HEADER:
        raise LoggerFileError(
            f"'Data:' must start with the header row {'<TAB>'.join(_DATA_HEADER)!r}",
            line=data.line + 1,
        )
    readings: list[LoggedReading] = []
    missing: list[MissingReading] = []
    for row, (line, cells) in enumerate(data.rows[1:]):
        if cells[2:] in ([], [""], [_FLAG]) and len(cells) >= 2:
            stamp = parse_timestamp(cells[0], "Data time", line)
            value, flagged = cells[1], cells[2:] == [_FLAG]
        else:
            raise LoggerFileError(
                f"Data row: expected '<TAB>yyyy-MM-dd hh:mm<TAB>T[<TAB>x]', got {cells!r}",
                line=line,
            )
        if value == _NO_VALUE:
            missing.append(MissingReading(local_time=stamp, row=row, line=line))
            continue
        temp = parse_number(value, "T", line)
        readings.append(
            LoggedReading(local_time=stamp, temp_c=temp, row=row, line=line, flagged=flagged)
        )
    return tuple(readings), tuple(missing)


def _daily(hist: Node) -> tuple[DailySummary, ...]:
    days = hist.numbered()
    if [n for n, _ in days] != list(range(1, len(days) + 1)):
        raise LoggerFileError("Hist: days must be numbered 1, 2, 3, ...", line=hist.line)
    return tuple(sorted((_day(node) for _, node in days), key=lambda d: d.day))


def _day(node: Node) -> DailySummary:
    day: date = node.child("Date").day("Date")
    low, high = node.child("Min T"), node.child("Max T")
    alarms = tuple(
        DailyAlarm(
            number=number,
            minutes=alarm.child("t Acc").integer("t Acc"),
            triggered_at=alarm.child("t Acc").time_on("TS A", day)
            if "TS A" in alarm.child("t Acc").fields
            else None,
            ambient_c=alarm.child("t Acc").number("T Amb")
            if "T Amb" in alarm.child("t Acc").fields
            else None,
        )
        for number, alarm in node.child("Alarm").numbered()
    )
    timeouts = tuple(
        SensorTimeout(
            sensor=child.key.removesuffix(" Sensor timeout"),
            minutes=child.child("t AccST").integer("t AccST"),
            since=child.child("t AccST").time_on("TS ST", day)
            if "TS ST" in child.child("t AccST").fields
            else None,
        )
        for child in node.children
        if child.key.endswith(" Sensor timeout")
    )
    return DailySummary(
        day=day,
        min_c=low.number("Min T"),
        min_at=low.time_on("TS Min T", day),
        max_c=high.number("Max T"),
        max_at=high.time_on("TS Max T", day),
        mean_c=node.child("Avrg T").number("Avrg T"),
        alarms=alarms,
        timeouts=timeouts,
        events=node.child("Events").integer("Events"),
        line=node.line,
    )


def _run(res: Node, conf: Node) -> RunSummary:
    low, high = res.child("Min T"), res.child("Max T")
    events = []
    for number, alarm in res.child("Alarm").numbered():
        for line in alarm.children:
            start = line.timestamp("TS S")
            if start is None:
                raise LoggerFileError("TS S: empty", line=line.line)
            events.append(
                RunEvent(
                    number=number,
                    start=start,
                    minutes=line.integer("t A"),
                    triggered_at=line.timestamp("TS A"),
                    end=line.timestamp("TS E") if "TS E" in line.fields else None,
                    end_reported="TS E" in line.fields,
                    extreme_c=line.number("T M") if "T M" in line.fields else None,
                    extreme_at=line.timestamp("TS M") if "TS M" in line.fields else None,
                )
            )
    min_at, max_at = low.timestamp("TS Min T"), high.timestamp("TS Max T")
    if min_at is None or max_at is None:
        raise LoggerFileError("Res: TS Min T / TS Max T must not be empty", line=low.line)
    return RunSummary(
        started_at=res.child("TS Start").timestamp("TS Start"),
        stopped_at=res.child("TS Stop").timestamp("TS Stop"),
        min_c=low.number("Min T"),
        min_at=min_at,
        max_c=high.number("Max T"),
        max_at=max_at,
        mean_c=res.child("Avrg T").number("Avrg T"),
        mkt_c=res.child("MKT").number("MKT"),
        mkt_delta_h_kj_per_mol=conf.child("MKT Energy").number("MKT Energy"),
        run_number=res.child("Run Number").integer("Run Number")
        if res.find("Run Number")
        else None,
        events=tuple(events),
    )
