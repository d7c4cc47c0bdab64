"""No configuration message shows a secret: every setting that can hold one (a password,
a key, a URL with credentials), given a bad value that contains one, is refused with a
message naming the setting and the problem, and the secret is not in it, in the
ConfigError and on the CLI's stderr alike."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cli.main import app
from coldchain.config import Settings
from coldchain.errors import ConfigError
from coldchain.influx import InfluxClient
from coldchain.security.redact import MASK, is_secret_name, redact_text
from tests.support.secrets_registry import register

SECRET = "Tr0ub4dor-and-3"
register(SECRET)  # and the session's log scan (tests/conftest.py) looks for it too

# Every field that can hold a secret: named like one, or a URL (credentials in userinfo).
SECRET_FIELDS = sorted(
    name for name in Settings.model_fields if is_secret_name(name) or name.endswith("_url")
)

# (setting, bad value, what the message must say is wrong)
BAD_VALUES: list[tuple[str, object, str]] = [
    *((name, [f"mqtt://user:{SECRET}@host"], "valid") for name in SECRET_FIELDS),
    ("mqtt_url", f"mqtt://user:{SECRET}@broker:bad", "port"),
    ("mqtt_url", f"mqtt://user:{SECRET}@broker:99999", "port"),
    ("mqtt_url", f"http://user:{SECRET}@broker:1883", "scheme"),
    ("influx_url", f"http://user:{SECRET}@influx:bad", "port"),
    ("influx_url", f"ftp://user:{SECRET}@influx:8086", "scheme"),
]


def test_the_secret_fields_include_every_password_and_url() -> None:
    expected = {"mqtt_url", "influx_url", "influx_password", "catalog_url"}
    expected |= {"notify_webhook_url", "notify_webhook_secret", "notify_smtp_password"}
    assert expected <= set(SECRET_FIELDS)


@pytest.mark.parametrize(("field", "value", "problem"), BAD_VALUES)
def test_a_bad_secret_setting_is_named_without_its_secret(
    field: str, value: object, problem: str
) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load(None, **{field: value})
    message = str(err.value)
    assert message.startswith(f"{field}: ")
    assert problem in message
    assert SECRET not in message
    assert err.value.__cause__ is None
    assert err.value.__suppress_context__  # pydantic's own text, which quotes it, is not chained


def test_a_bad_url_in_the_environment_is_shown_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLDCHAIN_MQTT_URL", f"mqtt://gw-acme:{SECRET}@broker:bad")
    shown = re.escape(f"'mqtt://gw-acme:{MASK}@broker:bad'")
    with pytest.raises(ConfigError, match=shown) as err:
        Settings.load()
    assert SECRET not in str(err.value)


def test_settings_built_directly_do_not_quote_a_secret_either() -> None:
    with pytest.raises(ValueError, match="mqtt_url") as err:
        Settings(mqtt_url=f"mqtt://user:{SECRET}@broker:bad")
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("arguments", "environment"),
    [
        (["dashboards", "check", "--influx-url", f"http://grafana:{SECRET}@influx:bad"], {}),
        (["simulate", "fleet.yaml"], {"COLDCHAIN_MQTT_URL": f"mqtt://gw:{SECRET}@broker:x"}),
        (
            ["dashboards", "check"],
            {"COLDCHAIN_NOTIFY_SMTP_HOST": "smtp", "COLDCHAIN_NOTIFY_SMTP_PASSWORD": SECRET},
        ),
    ],
)
def test_the_cli_exits_with_the_configuration_error_and_no_secret(
    arguments: list[str], environment: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, arguments, env=environment)
    assert result.exit_code == 2
    assert "configuration error: " in result.stderr
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("mqtt://user:pa:ss@word@host:1883/x", "mqtt://user:***@host:1883/x"),
        ("postgresql+psycopg://cc:pw@db/catalog", "postgresql+psycopg://cc:***@db/catalog"),
        ("https://hooks/x?site=A&token=abc#f", "https://hooks/x?site=A&token=***#f"),
        ("mqtts://ingest@broker:8883", "mqtts://ingest@broker:8883"),
    ],
)
def test_redact_text_masks_url_passwords_and_secret_parameters(text: str, shown: str) -> None:
    assert redact_text(text) == shown


async def test_an_influx_client_shows_its_url_with_the_password_masked() -> None:
    async with InfluxClient(f"http://grafana:{SECRET}@influx:8086", "coldchain") as influx:
        assert repr(influx) == "InfluxClient(http://grafana:***@influx:8086, db='coldchain')"
