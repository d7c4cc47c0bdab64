"""`coldchain sponsor webhook-secret`: the key a sponsor checks its deviation notices with."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerting.channels.webhook import sponsor_secret
from cli.main import app

runner = CliRunner()
SECRET = "cmo-webhook-secret"


def _secret_of(sponsor: str, data_dir: Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["sponsor", "webhook-secret", sponsor, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout.strip(), result.stderr


def test_each_sponsor_gets_its_own_key_never_the_cmos(
    data_dir: Path, fleet_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLDCHAIN_NOTIFY_WEBHOOK_SECRET", SECRET)
    imported = runner.invoke(
        app, ["catalog", "import", str(fleet_file), "--data-dir", str(data_dir)]
    )
    assert imported.exit_code == 0, imported.stdout
    code, acme, _ = _secret_of("ACME", data_dir)
    assert (code, acme) == (0, sponsor_secret(SECRET, "ACME"))
    assert acme not in (SECRET, sponsor_secret(SECRET, "BETA"))
    code, _, err = _secret_of("NOBODY", data_dir)
    assert (code, err.strip()) == (2, "no sponsor 'NOBODY' in the catalog")


def test_without_a_webhook_secret_there_is_no_key_to_hand_out(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLDCHAIN_NOTIFY_WEBHOOK_SECRET", raising=False)
    code, _, err = _secret_of("ACME", data_dir)
    assert code == 2
    assert "no notify_webhook_secret is configured" in err
