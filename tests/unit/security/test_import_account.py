from __future__ import annotations

from pathlib import Path

from coldchain.broker_auth import check_mosquitto_password, import_accounts, render_acl


def test_the_import_account_may_write_logger_readings_of_any_site_only(tmp_path: Path) -> None:
    [account] = import_accounts(tmp_path)
    assert render_acl([account]).splitlines()[1:] == [
        "",
        "user coldchain-import",
        "topic write coldchain/v1/+/logger/+/readings",
    ]
    secret = tmp_path / "secrets" / "mqtt-import.secret"
    assert check_mosquitto_password(secret.read_text().strip(), account.password_hash)
    assert secret.stat().st_mode & 0o777 == 0o600


def test_each_import_station_gets_an_account_of_its_own_and_keeps_it(tmp_path: Path) -> None:
    """The broker uses user names as client ids: two stations on one account would take
    turns on one session."""
    names = [a.username for a in import_accounts(tmp_path, stations=2)]
    assert names == ["coldchain-import", "coldchain-import-2"]
    again = import_accounts(tmp_path)  # e.g. after `gateway add`
    assert [a.username for a in again] == names
    assert {tuple(a.topic_rules()) for a in again} == {
        ("topic write coldchain/v1/+/logger/+/readings",)
    }
