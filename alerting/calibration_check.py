"""`calibration_due` alerts (#22): the probes of the detector's partition whose calibration
in force runs out. A warning `detect_calibration_warn_days` before the due date of the
certificate in force (or of a bare `calibration_due`), an alarm from the date on; each once
per certificate and level (a deterministic id, so a repeated check or a restart opens
nothing twice). They are ordinary alerts from there: acknowledged, escalated, notified and
closed like any other. A newer certificate supersedes: the alerts of the one before are
resolved by the detector.

A probe taken out of service (the catalog's `removed_at`, the fleet file's `removed`)
measures nothing any more, so its calibration is nobody's concern: from its removal it gets
no new `calibration_due` alert, and those still open are resolved by the detector with
their end at the removal (never before the alert's start). QA closes them as any other.

The service runs `calibration_changes` every `detect_catalog_refresh_s`, beside escalation,
on the calibrations the catalog refresh loaded (alerting/conditions.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from alerting.episodes import AlertChange, AlertKind, Severity
from coldchain.judgement.calibration import Calibration, Certificate
from coldchain.models import SensorKey

__all__ = ["calibration_alert_id", "calibration_changes"]

DAY_MS = 86_400_000


def calibration_alert_id(key: SensorKey, certificate: Certificate, severity: Severity) -> str:
    """One id per probe, certificate (or bare due date) and level."""
    which = certificate.certificate or f"due {certificate.due_ms}"
    text = "/".join((*key, AlertKind.CALIBRATION_DUE, severity, which))
    return "al-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _change(
    state: str,
    key: SensorKey,
    certificate: Certificate,
    severity: Severity,
    start_ms: int,
    at_ms: int,
    end_ms: int | None = None,
) -> AlertChange:
    """An open (no end) or a resolve, ending at `end_ms` (default: `at_ms`)."""
    detail = {
        "certificate": certificate.certificate,
        "lab": certificate.lab,
        "due_ms": certificate.due_ms,
    }
    return AlertChange(
        "open" if state == "open" else "resolved",
        calibration_alert_id(key, certificate, severity),
        AlertKind.CALIBRATION_DUE,
        severity,
        key,
        start_ms,
        None if state == "open" else (at_ms if end_ms is None else end_ms),
        None,
        False,
        at_ms,
        detail,
    )


def _level_start(certificate: Certificate, severity: Severity, warn_ms: int) -> int:
    """When a level's alert of `certificate` starts: the warning `warn_ms` before the due
    date, but not before the certificate was issued (a short one is not warned of before
    it existed), the alarm at the due date."""
    if severity == Severity.ALARM:
        return certificate.due_ms
    return max(certificate.due_ms - warn_ms, certificate.calibrated_ms)


def calibration_changes(
    calibrations: Mapping[SensorKey, Calibration],
    now_ms: int,
    warn_days: float,
    removed: Mapping[SensorKey, int] | None = None,
) -> list[AlertChange]:
    """The alert changes the calibrations call for at `now_ms`: the open of each level
    reached under the certificate in force, the resolve of every level of the certificates
    it superseded, and for a probe removed by then (`removed`: epoch ms per probe) the
    resolve of every level of every certificate, ending at the removal (the store ignores
    an open that exists and a resolve of an alert never opened or already resolved)."""
    warn_ms = round(warn_days * DAY_MS)
    removed = removed or {}
    changes: list[AlertChange] = []
    for key, calibration in calibrations.items():
        removed_ms = removed.get(key)
        if removed_ms is not None and removed_ms <= now_ms:
            for certificate in calibration.certificates:
                for severity in (Severity.WARNING, Severity.ALARM):
                    start_ms = _level_start(certificate, severity, warn_ms)
                    end_ms = max(removed_ms, start_ms)
                    changes.append(
                        _change("resolved", key, certificate, severity, start_ms, now_ms, end_ms)
                    )
            continue
        current = calibration.at(now_ms)
        if current is None:
            continue
        for earlier in calibration.certificates:
            if earlier is current:
                break
            for severity in (Severity.WARNING, Severity.ALARM):
                start_ms = _level_start(earlier, severity, warn_ms)
                changes.append(_change("resolved", key, earlier, severity, start_ms, now_ms))
        warn_from = _level_start(current, Severity.WARNING, warn_ms)
        if now_ms >= warn_from:
            changes.append(_change("open", key, current, Severity.WARNING, warn_from, now_ms))
        if now_ms >= current.due_ms:
            changes.append(_change("open", key, current, Severity.ALARM, current.due_ms, now_ms))
    return changes
