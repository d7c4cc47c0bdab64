from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from ingest.dead_letters import DeadLetter, DeadLetterStore


def test_deadletters_list_by_stage_shows_only_the_conflicts(tmp_path: Path) -> None:
    DeadLetterStore(tmp_path / "dead-letters").append(
        [
            DeadLetter(1763800000000, "decode", "t", "ts: missing", b"{}"),
            DeadLetter(1763800000001, "conflict", "", "conflict: reading at ...", b"reading,x"),
        ]
    )
    runner = CliRunner()
    args = ["deadletters", "list", "--data-dir", str(tmp_path), "--stage"]
    shown = runner.invoke(app, [*args, "conflict"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "conflict: reading at" in shown.output
    assert "ts: missing" not in shown.output
    refused = runner.invoke(app, [*args, "conflicts"])
    assert refused.exit_code == 2
    assert "expected one of decode, store, conflict, spool" in refused.output
