"""A sponsor's deviation notice as an e-mail: its own subject and body, not an alert's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alerting.channels.email import render_email
from coldchain.catalog.deviations import CoveredFinding, Deviation
from coldchain.catalog.outbox import Notification
from coldchain.catalog.sponsor_notices import deviation_event

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _notice(title: str) -> Notification:
    deviation = Deviation(
        id=12,
        batch="LOT-0005",
        sponsor="ACME",
        state="open",
        title=title,
        opened_at=AT,
        opened_by="system",
        reason=None,
        stability_reference=None,
        impact=None,
        sponsor_comment=None,
        updated_at=AT,
        findings=(CoveredFinding("gap-0a1b2c3d4e5f", "gap", "BSL/FRIDGE-02", AT, None),),
        history=(),
        signatures=(),
    )
    payload = json.dumps(deviation_event(deviation, event="deviation_opened", at=AT))
    return Notification(7, None, "email", "qa@acme.example", payload, 0, "DEV-12:opened")


def test_an_opened_deviation_mail_names_deviation_batch_title_and_finding() -> None:
    message = render_email(_notice("Gap in BSL/FRIDGE-02"), "coldchain@cmo.example")
    assert message["Subject"] == "Deviation DEV-12 opened on batch LOT-0005: Gap in BSL/FRIDGE-02"
    assert message["X-Coldchain-Deviation"] == "DEV-12"
    body = message.get_content()
    assert "Batch: LOT-0005 (sponsor ACME)" in body
    assert "- gap at BSL/FRIDGE-02 from 2026-11-20T09:30:00+00:00 to open" in body


def test_a_title_with_a_line_break_makes_a_one_line_subject() -> None:
    message = render_email(_notice("Gap in\nBSL/FRIDGE-02\r\nBcc: x@evil.example"), "c@cmo.example")
    assert message["Subject"] == (
        "Deviation DEV-12 opened on batch LOT-0005: Gap in BSL/FRIDGE-02 Bcc: x@evil.example"
    )
    assert message["Bcc"] is None
    assert message.as_bytes().count(b"Subject:") == 1
