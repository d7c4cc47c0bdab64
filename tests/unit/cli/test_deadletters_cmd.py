from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from cli.main import app
from ingest.dead_letters import DeadLetter, DeadLetterStore


def test_dead_letters_are_listed_with_their_reason_and_as_json(tmp_path: Path) -> None:
    DeadLetterStore(tmp_path / "dead-letters").append(
        [
            DeadLetter(
                1763800000000,
                "decode",
                "coldchain/v1/BSL/unit/U1/readings",
                "ts: missing",
                b'{"temp_c": 5}',
            )
        ]
    )
    runner = CliRunner()
    table = runner.invoke(app, ["deadletters", "list", "--data-dir", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "ts: missing" in table.output
    as_json = runner.invoke(app, ["deadletters", "list", "--data-dir", str(tmp_path), "--json"])
    assert orjson.loads(as_json.output)["reason"] == "ts: missing"
