"""Password hashes mosquitto accepts, and ACLs that confine each gateway to its site."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from coldchain.broker_auth import (
    BrokerAccount,
    Listener,
    check_mosquitto_password,
    gateway_username,
    mosquitto_password_hash,
    render_acl,
    render_listeners,
    render_password_file,
    service_accounts,
)
from coldchain.errors import ConfigError

# Made by `mosquitto_passwd -b pw.txt alice s3cret` (mosquitto 2.0.11).
_FROM_MOSQUITTO_PASSWD = "$7$101$jZ4nc4q3fkOBXBd7$aVtBv+8jf6QuzMsTQESjhyB8G7wmOT/743FOEh83ovPRYrucDBIPU3U6zFrScrUTtC/hVKiZjejqkfdQ/mrSdA=="


def test_hash_matches_what_mosquitto_passwd_makes_for_the_same_salt() -> None:
    salt = base64.b64decode("jZ4nc4q3fkOBXBd7")
    assert mosquitto_password_hash("s3cret", salt=salt) == _FROM_MOSQUITTO_PASSWD
    assert check_mosquitto_password("s3cret", _FROM_MOSQUITTO_PASSWD)
    assert not check_mosquitto_password("s3cret!", _FROM_MOSQUITTO_PASSWD)


def test_each_hash_gets_its_own_salt() -> None:
    first, second = mosquitto_password_hash("same"), mosquitto_password_hash("same")
    assert first != second
    assert check_mosquitto_password("same", first)
    assert check_mosquitto_password("same", second)


def test_a_malformed_hash_never_matches() -> None:
    assert not check_mosquitto_password("x", "not-a-hash")
    assert not check_mosquitto_password("x", "$6$101$abc$def")


@pytest.mark.parametrize("bad", ["A:B", "A/B", "A+", "#", "", "A B", "A~B"])
def test_ids_that_would_break_the_broker_files_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="cannot name a broker account"):
        gateway_username(bad, "gw1")


def test_a_gateway_may_write_only_its_own_sites_readings_status_and_will() -> None:
    account = BrokerAccount(gateway_username("BSL", "gw1"), "$7$x", site="BSL", gateway="gw1")
    rules = account.topic_rules()
    assert all(rule.startswith("topic write coldchain/v1/BSL/") for rule in rules)
    assert "topic write coldchain/v1/BSL/gateway/gw1/status" in rules
    assert not any("alerts" in rule or "#" in rule for rule in rules)


def test_services_only_read_except_the_detector_which_writes_alerts() -> None:
    rules = {
        service: BrokerAccount(service, "$7$x", service=service).topic_rules()
        for service in ("ingest", "detector", "api")
    }
    writes = {s: [r for r in rs if r.startswith("topic write")] for s, rs in rules.items()}
    assert writes == {"ingest": [], "api": [], "detector": ["topic write coldchain/v1/+/alerts"]}


def test_acl_has_one_block_per_account_and_password_file_one_line() -> None:
    accounts = [
        BrokerAccount("gw~A~g", "$7$aaa", site="A", gateway="g"),
        BrokerAccount("coldchain-ingest", "$7$bbb", service="ingest"),
    ]
    acl = render_acl(accounts)
    assert acl.count("\nuser ") == 2
    assert render_password_file(accounts) == "gw~A~g:$7$aaa\ncoldchain-ingest:$7$bbb\n"


def test_an_account_that_is_neither_gateway_nor_service_is_refused() -> None:
    with pytest.raises(ConfigError, match="neither a gateway nor a service"):
        BrokerAccount("who", "$7$x").topic_rules()


def test_each_ingest_worker_gets_an_account_of_its_own_and_keeps_it(tmp_path: Path) -> None:
    """The broker uses user names as client ids, so two workers may not share one."""
    names = [a.username for a in service_accounts(tmp_path, ingest_workers=3)]
    assert {"coldchain-ingest", "coldchain-ingest-2", "coldchain-ingest-3"} <= set(names)
    again = [a.username for a in service_accounts(tmp_path)]  # e.g. after `gateway add`
    assert sorted(again) == sorted(names)
    assert all(a.topic_rules() for a in service_accounts(tmp_path) if a.service == "ingest")


def test_every_listener_binds_client_ids_to_user_names(tmp_path: Path) -> None:
    conf = render_listeners(tmp_path, [Listener(1883), Listener(8883)]).splitlines()
    for port in (1883, 8883):
        at = conf.index(f"listener {port} 127.0.0.1")
        assert conf[at + 1] == "use_username_as_clientid true"
