from __future__ import annotations

from pathlib import Path

import pytest

from coldchain.config import Settings
from coldchain.errors import ConfigError


def test_precedence_defaults_file_environment_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "coldchain.toml"
    toml.write_text(
        'influx_db = "from_file"\nmqtt_url = "mqtt://file:1883"\ninflux_url = "http://file:8086"\n'
    )
    monkeypatch.setenv("COLDCHAIN_MQTT_URL", "mqtt://env:1884")
    monkeypatch.setenv("COLDCHAIN_INFLUX_URL", "http://env:8086/")
    settings = Settings.load(toml, influx_url="http://option:9999", data_dir=None)
    assert settings.influx_db == "from_file"
    assert settings.mqtt.host == "env"
    assert settings.mqtt.port == 1884
    assert settings.influx_url == "http://option:9999"
    assert settings.data_dir == Path("var")


def test_credentials_come_from_the_url_and_never_show_in_repr() -> None:
    endpoint = Settings.load(mqtt_url="mqtts://ingest:s3cret@broker").mqtt
    assert (endpoint.username, endpoint.password, endpoint.port, endpoint.tls) == (
        "ingest",
        "s3cret",
        8883,
        True,
    )
    assert "s3cret" not in repr(endpoint)


@pytest.mark.parametrize(
    ("option", "value"), [("mqtt_url", "http://broker"), ("influx_url", "influx:8086")]
)
def test_bad_urls_are_config_errors(option: str, value: str) -> None:
    overrides: dict[str, object] = {option: value}
    with pytest.raises(ConfigError, match="expected"):
        Settings.load(None, **overrides)


def test_unreadable_settings_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("influx_db = [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        Settings.load(bad)
