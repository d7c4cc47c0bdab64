"""A site's `oncall` rota in the fleet file: imported, replaced whole when it changes (one
audit entry, old and new), and followed by the alert store: the shift in force calls its
chain one level at a time, outside every shift the global settings do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from alerting.alert_store import NotifyConfig, escalate_due, write_changes
from alerting.episodes import AlertChange, AlertKind, Severity
from coldchain.catalog import catalog_session, import_fleet
from coldchain.catalog.rota import load_rota
from coldchain.catalog.schema import AlertRow, AuditEntryRow, OutboxRow
from coldchain.models import SensorKey
from coldchain.times import to_ms
from tests.support.catalog import FLEET_YAML

HOOK = "https://pager.example/hooks/bsl?token=t0ps3cret"
ROTA = f"""\
    oncall:
      escalate_after_min: 10
      shifts:
        - from: "2026-12-07T08:00:00+01:00"
          to: "2026-12-07T20:00:00+01:00"
          chain:
            - {{name: Ana Day, email: ana@cmo.example}}
            - {{name: Ben Lead, webhook: "{HOOK}"}}
        - weekdays: [sat, sun]
          from: "08:00"
          to: "20:00"
          chain: [{{name: Wes Weekend, email: wes@cmo.example}}]
"""
SITE = "  - id: BSL\n    timezone: Europe/Zurich\n"
IN_SHIFT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday 10:00 in Zurich
GLOBAL = NotifyConfig(
    email_to=("night@cmo.example",),
    escalation=(("qa-head@cmo.example",),),
    escalate_after=timedelta(minutes=30),
)


def _import(engine: Engine, tmp_path: Path, rota: str) -> bool:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET_YAML.replace(SITE, SITE + rota), encoding="utf-8")
    return import_fleet(engine, path, actor="test").changed


def _rota_audit(engine: Engine) -> list[tuple[str, str, str | None, str | None]]:
    with catalog_session(engine) as session:
        rows = session.execute(
            select(AuditEntryRow)
            .where(AuditEntryRow.entity == "oncall_rota")
            .order_by(AuditEntryRow.seq)
        ).scalars()
        return [(r.action, r.entity_id, r.old_value, r.new_value) for r in rows]


def _open_alarm(engine: Engine, at: datetime) -> None:
    change = AlertChange(
        state="open",
        alert_id="al-1",
        kind=AlertKind.EXCURSION,
        severity=Severity.ALARM,
        key=SensorKey("BSL", "unit", "FRIDGE-01", "p1"),
        start_ms=to_ms(at) - 60_000,
        end_ms=None,
        peak_c=9.5,
        retrospective=False,
        at_ms=to_ms(at),
    )
    assert write_changes(engine, [change], GLOBAL) == 1


def _calls(engine: Engine) -> list[tuple[int, str, str]]:
    """(level, channel, destination) of each person's notification, in outbox order."""
    with catalog_session(engine) as session:
        rows = session.execute(
            select(OutboxRow).where(OutboxRow.channel != "mqtt").order_by(OutboxRow.id)
        ).scalars()
        return [(json.loads(r.payload)["escalation_level"], r.channel, r.destination) for r in rows]


def _next_escalation(engine: Engine) -> datetime | None:
    with catalog_session(engine) as session:
        row = session.get(AlertRow, "al-1")
        assert row is not None
        return row.next_escalation_at


def test_the_files_rota_is_imported_and_reimporting_it_changes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    assert _import(engine, tmp_path, ROTA)
    with catalog_session(engine) as session:
        rota = load_rota(session, "BSL")
        assert load_rota(session, "LYS") is None
    assert rota is not None
    assert rota.escalate_after == timedelta(minutes=10)
    assert [c.name for c in rota.shifts[0].chain] == ["Ana Day", "Ben Lead"]
    assert rota.shifts[0].chain[1].destination == HOOK  # the table keeps what it must call
    [(action, site, old, new)] = _rota_audit(engine)
    assert (action, site, old) == ("create", "BSL", None)
    assert new is not None
    assert json.loads(new)["shifts"][0]["chain"][1] == {
        "name": "Ben Lead",
        "webhook": "https://pager.example/hooks/bsl?token=***",
    }
    assert json.loads(new)["shifts"][1] == {
        "weekdays": ["sat", "sun"],
        "from": "08:00",
        "to": "20:00",
        "chain": [{"name": "Wes Weekend", "email": "wes@cmo.example"}],
    }
    assert not _import(engine, tmp_path, ROTA)


def test_a_changed_rota_replaces_the_old_one_audited_old_and_new(
    engine: Engine, tmp_path: Path
) -> None:
    _import(engine, tmp_path, ROTA)
    changed = ROTA.replace("escalate_after_min: 10", "escalate_after_min: 5").replace(
        "Wes Weekend, email: wes@", "Wil Weekend, email: wil@"
    )
    assert _import(engine, tmp_path, changed)
    with catalog_session(engine) as session:
        rota = load_rota(session, "BSL")
    assert rota is not None
    assert rota.escalate_after == timedelta(minutes=5)
    assert [c.name for s in rota.shifts for c in s.chain] == ["Ana Day", "Ben Lead", "Wil Weekend"]
    _, (action, site, old, new) = _rota_audit(engine)
    assert (action, site) == ("update", "BSL")
    assert old is not None
    assert new is not None
    assert json.loads(old)["escalate_after_min"] == 10
    assert json.loads(new)["escalate_after_min"] == 5
    assert json.loads(new)["shifts"][1]["chain"] == [
        {"name": "Wil Weekend", "email": "wil@cmo.example"}
    ]


def test_an_alarm_escalates_along_the_chain_of_the_shift_in_force(
    engine: Engine, tmp_path: Path
) -> None:
    _import(engine, tmp_path, ROTA)
    _open_alarm(engine, IN_SHIFT)
    assert _calls(engine) == [(0, "email", "ana@cmo.example")]
    assert _next_escalation(engine) == IN_SHIFT + timedelta(minutes=10)
    assert escalate_due(engine, GLOBAL, IN_SHIFT + timedelta(minutes=9)) == []
    assert escalate_due(engine, GLOBAL, IN_SHIFT + timedelta(minutes=10)) == ["al-1"]
    assert _calls(engine) == [(0, "email", "ana@cmo.example"), (1, "webhook", HOOK)]
    assert _next_escalation(engine) is None  # the chain ends with Ben: nobody left to call


def test_outside_every_shift_the_global_settings_call(engine: Engine, tmp_path: Path) -> None:
    _import(engine, tmp_path, ROTA)
    night = IN_SHIFT + timedelta(hours=12)  # Monday 22:00 in Zurich
    _open_alarm(engine, night)
    assert _calls(engine) == [(0, "email", "night@cmo.example")]
    assert _next_escalation(engine) == night + timedelta(minutes=30)
    assert escalate_due(engine, GLOBAL, night + timedelta(minutes=30)) == ["al-1"]
    assert _calls(engine)[1:] == [(1, "email", "qa-head@cmo.example")]


def test_an_escalation_calls_the_shift_in_force_when_it_falls_due(
    engine: Engine, tmp_path: Path
) -> None:
    """Opened in the night (global level 0), escalated once the day shift has begun: level
    1 of the day shift's chain is called, not the global level 1."""
    _import(engine, tmp_path, ROTA)
    _open_alarm(engine, IN_SHIFT - timedelta(hours=3))  # Monday 07:00 in Zurich: no shift
    assert escalate_due(engine, GLOBAL, IN_SHIFT) == ["al-1"]
    assert _calls(engine) == [(0, "email", "night@cmo.example"), (1, "webhook", HOOK)]


def test_a_contact_with_a_webhook_url_as_long_as_the_file_allows_is_called(
    engine: Engine, tmp_path: Path
) -> None:
    """Such a URL does not fit the outbox's dedupe key as is (PostgreSQL refuses the row,
    and the detector would retry the batch for ever): the key holds its digest instead."""
    long_hook = f"https://pager.example/hooks/bsl?token={'x' * 340}"
    _import(engine, tmp_path, ROTA.replace(HOOK, long_hook))
    _open_alarm(engine, IN_SHIFT)
    assert escalate_due(engine, GLOBAL, IN_SHIFT + timedelta(minutes=10)) == ["al-1"]
    assert _calls(engine) == [(0, "email", "ana@cmo.example"), (1, "webhook", long_hook)]
