"""The CLI's side of the audit trail: `--reason` for changes of record (refused with exit 2,
listing them, nothing written, without it), `--actor` checked against the catalog's users
on every verb that takes it, and `coldchain audit review`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from coldchain.catalog import catalog_session, create_catalog_engine
from coldchain.catalog.audit import read_audit
from coldchain.catalog.schema import AuditEntryRow
from tests.support.catalog import FLEET_YAML

runner = CliRunner()

OPEN_STAY = '{batch: LOT-0002, unit: BSL/FRIDGE-01, from: "2026-11-05T00:00:00+01:00"}'
MOVED = FLEET_YAML.replace(OPEN_STAY, OPEN_STAY[:-1] + ', to: "2026-11-20T00:00:00Z"}').replace(
    "{id: omar, role: warehouse_operator, sites: [BSL]}", "{id: omar, role: qa}"
)
# Each verb that takes --actor (naming who acts), with what it needs besides.
ACTING_VERBS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("catalog", "import"): ("{fleet}",),
    ("user", "add"): ("uma", "--role", "qa", "--no-password"),
    ("user", "end-sessions"): ("omar",),
    ("token", "create"): ("omar",),
    ("token", "revoke"): ("1",),
    ("export",): ("LOT-0001", "-o", "{out}"),
    ("logger", "import"): ("{fleet}", "--shipment", "SHP-100"),
    ("gateway", "add"): ("BSL", "gw-1"),
    ("gateway", "revoke"): ("BSL", "gw-1"),
    ("budget", "tor", "add"): (
        *("LOT-0001", "--from", "2026-11-02T08:00:00Z", "--to", "2026-11-02T09:00:00Z"),
        *("--max-c", "15", "--reason", "staged on dock 3"),
    ),
    ("calibration", "add"): (
        *("BSL/FRIDGE-01/p1", "--certificate", "CAL-7", "--lab", "Metrolab"),
        *("--calibrated", "2026-10-01", "--due", "2027-10-01"),
    ),
    ("budget", "carry-in"): (
        *("LOT-0001", "--hours", "1", "--band-min-c", "8", "--band-max-c", "25"),
        *("--source", "sponsor CoA 2026-10-30"),
    ),
}
# `audit review --actor` filters the entries by a name (the detector's, an OS account's).
FILTERS = {("audit", "review")}


def _run(*args: str, data_dir: Path, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _entries(data_dir: Path) -> int:
    engine = create_catalog_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    try:
        with catalog_session(engine) as session:
            return session.execute(select(func.count()).select_from(AuditEntryRow)).scalar_one()
    finally:
        engine.dispose()


def _last_entries(data_dir: Path, n: int) -> list[tuple[str, str, str, dict[str, object]]]:
    engine = create_catalog_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    try:
        with catalog_session(engine) as session:
            entries = read_audit(session)[-n:]
    finally:
        engine.dispose()
    return [(e.actor, e.action, e.entity_id, json.loads(e.new_value or "{}")) for e in entries]


@pytest.fixture
def imported(data_dir: Path, fleet_file: Path) -> Path:
    code, _, err = _run("catalog", "import", str(fleet_file), data_dir=data_dir)
    assert code == 0, err
    return fleet_file


def test_an_import_changing_the_record_without_reason_exits_2_listing_the_changes(
    data_dir: Path, imported: Path
) -> None:
    before = _entries(data_dir)
    imported.write_text(MOVED, encoding="utf-8")
    code, _, err = _run("catalog", "import", str(imported), data_dir=data_dir)
    assert code == 2
    assert err.startswith("refused, nothing written: these changes need a reason (--reason")
    assert '  - user omar: role warehouse_operator → qa, sites ["BSL"] → []' in err
    assert "  - placement 3 of batch LOT-0002 in unit BSL/FRIDGE-01 from " in err
    assert _entries(data_dir) == before
    code, out, err = _run(
        "catalog", "import", str(imported), "--reason", "QA transfer", data_dir=data_dir
    )
    assert (code, out.strip()) == (0, "updated 1 placement; updated 1 user"), err
    reasons = [entry[3].get("reason") for entry in _last_entries(data_dir, 2)]
    assert reasons == ["QA transfer", "QA transfer"]


def test_user_add_changing_a_role_needs_a_reason(data_dir: Path, imported: Path) -> None:
    args = ("user", "add", "omar", "--role", "qa", "--no-password")
    code, _, err = _run(*args, data_dir=data_dir)
    assert code == 2
    assert '  - user omar: role warehouse_operator → qa, sites ["BSL"] → []' in err
    code, out, err = _run(*args, "--reason", "moved to QA", "--actor", "alice", data_dir=data_dir)
    assert (code, out.strip()) == (0, "user omar updated (qa)"), err
    [(actor, action, user, new)] = _last_entries(data_dir, 1)
    assert (actor, action, user, new["reason"]) == ("alice", "update", "omar", "moved to QA")


def _acting_verbs() -> set[tuple[str, ...]]:
    """Every verb of `coldchain` with an --actor option, found in the app itself."""
    found: set[tuple[str, ...]] = set()

    def walk(command: Any, path: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():  # a group of verbs
            walk(sub, (*path, name))
        if any("--actor" in getattr(p, "opts", ()) for p in command.params):
            found.add(path)

    walk(typer.main.get_command(app), ())
    return found - FILTERS


def test_the_actor_check_covers_every_verb_that_takes_an_actor() -> None:
    assert _acting_verbs() == set(ACTING_VERBS)


@pytest.mark.parametrize("verb", sorted(ACTING_VERBS), ids=" ".join)
def test_a_verb_refuses_an_actor_that_is_not_a_catalog_user(
    verb: tuple[str, ...], data_dir: Path, imported: Path, tmp_path: Path
) -> None:
    before = _entries(data_dir)
    args = [a.format(fleet=imported, out=tmp_path / "out.csv") for a in ACTING_VERBS[verb]]
    code, _, err = _run(*verb, *args, "--actor", "mallory", data_dir=data_dir)
    assert code == 2
    assert "--actor 'mallory' is not a catalog user" in err
    assert f"recorded as cli:{getpass.getuser()}" in err
    assert _entries(data_dir) == before
    assert not (tmp_path / "out.csv").exists()


def test_without_actor_the_os_account_is_recorded(data_dir: Path, imported: Path) -> None:
    code, _, err = _run("user", "end-sessions", "omar", data_dir=data_dir)
    assert code == 0, err
    [(actor, action, user, _)] = _last_entries(data_dir, 1)
    assert (actor, action, user) == (f"cli:{getpass.getuser()}", "revoke_sessions", "omar")


def test_audit_review_lists_a_batchs_entries_with_their_reasons(
    data_dir: Path, imported: Path
) -> None:
    imported.write_text(MOVED, encoding="utf-8")
    assert (
        _run("catalog", "import", str(imported), "--reason", "QA transfer", data_dir=data_dir)[0]
        == 0
    )
    span = ("--from", "2000-01-01T00:00:00Z", "--to", "2999-01-01T00:00:00+01:00")
    code, out, err = _run("audit", "review", *span, "--batch", "LOT-0002", data_dir=data_dir)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in row.strip("│").split("│")] for row in rows]
    assert [(c[3], c[4], c[5], c[6]) for c in cells] == [
        ("create", "batch", "LOT-0002", ""),
        ("create", "placement", "3", ""),
        ("close", "placement", "3", "QA transfer"),
    ]
    assert cells[2][7] == "to none → 2026-11-20T00:00:00+00:00"
    assert out.splitlines()[-1] == "3 entries"
    code, out, _ = _run("audit", "review", *span, "--actor", "nobody", data_dir=data_dir)
    assert (code, out.splitlines()[-1]) == (0, "0 entries")


@pytest.mark.parametrize(
    ("span", "message"),
    [
        (
            ("--from", "2026-12-01", "--to", "2026-12-02T00:00:00Z"),
            "--from: an RFC 3339 time needs an offset",
        ),
        (("--from", "2026-12-02T00:00:00Z", "--to", "yesterday"), "--to: Invalid isoformat"),
        (("--from", "2026-12-02T00:00:00Z", "--to", "2026-12-01T00:00:00Z"), "must be after from"),
    ],
)
def test_audit_review_refuses_a_span_it_cannot_read(
    span: tuple[str, ...], message: str, data_dir: Path
) -> None:
    code, _, err = _run("audit", "review", *span, data_dir=data_dir)
    assert code == 2
    assert message in err
