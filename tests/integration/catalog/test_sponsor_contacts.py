"""A sponsor's `contacts` in the fleet file: checked, imported into sponsor_contacts, kept
equal to the file's (one removed from the file is removed, audited); and which detector
partition sends the notices they receive (rows of no alert: exactly one partition)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from coldchain.catalog import catalog_session, import_fleet, verify_audit_chain
from coldchain.catalog.outbox import due_notifications, enqueue_notification, pending_count
from coldchain.catalog.schema import AuditEntryRow, SponsorContactRow
from coldchain.errors import ConfigError
from tests.support.catalog import FLEET_YAML

ACME = "{id: ACME, name: Acme Pharma}"
HOOK = "https://acme.example/hooks/coldchain?token=t0ps3cret"


def _with_acme_contacts(contacts: str) -> str:
    return FLEET_YAML.replace(ACME, f"{{id: ACME, name: Acme Pharma, contacts: {contacts}}}")


def _contacts(engine: Engine) -> list[tuple[str, str, str]]:
    with catalog_session(engine) as session:
        rows = session.execute(select(SponsorContactRow).order_by(SponsorContactRow.id)).scalars()
        return [(r.sponsor_id, r.channel, r.destination) for r in rows]


def _contact_audit(engine: Engine) -> list[tuple[str, str, str | None, str | None]]:
    with catalog_session(engine) as session:
        rows = session.execute(
            select(AuditEntryRow)
            .where(AuditEntryRow.entity == "sponsor_contact")
            .order_by(AuditEntryRow.seq)
        ).scalars()
        return [(r.action, r.entity_id, r.old_value, r.new_value) for r in rows]


def test_the_files_contacts_are_imported_into_sponsor_contacts(
    engine: Engine, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        _with_acme_contacts(f"{{email: [qa@acme.example, qp@acme.example], webhook: ['{HOOK}']}}")
    )
    report = import_fleet(engine, fleet, actor="test")
    assert report.created["sponsor_contact"] == 3
    assert _contacts(engine) == [
        ("ACME", "email", "qa@acme.example"),
        ("ACME", "email", "qp@acme.example"),
        ("ACME", "webhook", HOOK),
    ]
    audit = _contact_audit(engine)
    assert [(action, entity_id) for action, entity_id, _, _ in audit] == [("create", "ACME")] * 3
    # the hook's token is in the table, which must reach it, and never in the audit trail
    assert audit[2][3] == json.dumps(
        {"channel": "webhook", "destination": "https://acme.example/hooks/coldchain?token=***"},
        separators=(",", ":"),
    )
    assert not import_fleet(engine, fleet, actor="test").changed


@pytest.mark.parametrize(
    ("contacts", "field", "problem"),
    [
        (
            "{email: [qa.acme.example]}",
            "sponsors.0.contacts.email.0",
            "expected an e-mail address like qa@acme.example, got 'qa.acme.example'",
        ),
        (
            "{email: ['qa@acme.example, qp@acme.example']}",
            "sponsors.0.contacts.email.0",
            "expected an e-mail address like qa@acme.example",
        ),
        (
            "{webhook: ['ftp://acme.example/hook?token=abc']}",
            "sponsors.0.contacts.webhook.0",
            "expected an http(s) URL like https://acme.example/hooks/coldchain, "
            "got 'ftp://acme.example/hook?token=***'",
        ),
        (
            "{webhook: ['https:///hooks']}",
            "sponsors.0.contacts.webhook.0",
            "expected an http(s) URL",
        ),
        ("{sms: ['+41 79 000 00 00']}", "sponsors.0.contacts.sms", "Extra inputs are not"),
        (
            "{email: [qa@acme.example, qa@acme.example]}",
            "sponsors.0.contacts",
            "email: qa@acme.example is listed twice",
        ),
    ],
    ids=["email-without-at", "two-addresses-in-one", "ftp-url", "url-without-host", "sms", "twice"],
)
def test_an_invalid_contact_is_a_config_error_naming_line_and_field(
    engine: Engine, tmp_path: Path, contacts: str, field: str, problem: str
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_with_acme_contacts(contacts))
    with pytest.raises(ConfigError) as refused:
        import_fleet(engine, fleet, actor="test")
    message = str(refused.value)
    assert f"{fleet}: line 1: {field}: " in message
    assert problem in message
    assert "token=abc" not in message  # a hook's token, even in a refused URL
    assert _contacts(engine) == []


def test_a_contact_removed_from_the_file_is_removed_from_the_catalog_and_audited(
    engine: Engine, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_with_acme_contacts(f"{{email: [qa@acme.example], webhook: ['{HOOK}']}}"))
    import_fleet(engine, fleet, actor="test")
    fleet.write_text(_with_acme_contacts("{email: [qa@acme.example]}"))
    report = import_fleet(engine, fleet, actor="bob")
    assert dict(report.updated) == {"sponsor_contact": 1}
    assert _contacts(engine) == [("ACME", "email", "qa@acme.example")]
    last = _contact_audit(engine)[-1]
    assert last[:2] == ("delete", "ACME")
    assert json.loads(last[2] or "null") == {
        "channel": "webhook",
        "destination": "https://acme.example/hooks/coldchain?token=***",
    }
    fleet.write_text(_with_acme_contacts("{}"))
    import_fleet(engine, fleet, actor="bob")
    assert _contacts(engine) == []
    with catalog_session(engine) as session:
        assert verify_audit_chain(session).ok


def test_a_sponsor_without_contacts_in_the_file_keeps_its_recorded_ones(
    engine: Engine, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_with_acme_contacts("{email: [qa@acme.example]}"))
    import_fleet(engine, fleet, actor="test")
    fleet.write_text(FLEET_YAML)
    assert not import_fleet(engine, fleet, actor="test").changed
    assert _contacts(engine) == [("ACME", "email", "qa@acme.example")]


def test_the_partition_watching_the_first_site_alone_sends_the_rows_of_no_alert(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")  # sites BSL and LYS
    now = datetime.now(UTC)
    with catalog_session(engine) as session:
        enqueue_notification(
            session,
            alert_id=None,
            channel="email",
            destination="qa@acme.example",
            payload="{}",
            dedupe_key="DEV-1:deviation_opened:email",
            at=now,
        )
    with catalog_session(engine) as session:
        sent_by = {
            sites: [n.dedupe_key for n in due_notifications(session, now=now, sites=sites)]
            for sites in [("BSL",), ("LYS",), ("BSL", "LYS"), ()]
        }
        pending = {sites: pending_count(session, sites=sites) for sites in sent_by}
    assert sent_by == {
        ("BSL",): ["DEV-1:deviation_opened:email"],
        ("LYS",): [],
        ("BSL", "LYS"): ["DEV-1:deviation_opened:email"],
        (): ["DEV-1:deviation_opened:email"],
    }
    assert pending == {("BSL",): 1, ("LYS",): 0, ("BSL", "LYS"): 1, (): 1}
