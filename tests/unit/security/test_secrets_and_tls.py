"""Secret files are 0600 and created once; the private CA signs a usable server certificate."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509

from coldchain.config import Settings
from coldchain.errors import ConfigError
from coldchain.security import ensure_demo_pki, read_or_create_secret, write_private_file

_DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = read_or_create_secret(tmp_path, "mqtt-ingest")
    assert read_or_create_secret(tmp_path, "mqtt-ingest") == first
    path = tmp_path / "secrets" / "mqtt-ingest.secret"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert len(first) >= 43


def test_the_environment_wins_and_nothing_is_written(tmp_path: Path) -> None:
    assert read_or_create_secret(tmp_path, "x", env_value="from-env-123456") == "from-env-123456"
    assert not (tmp_path / "secrets").exists()


def test_a_secret_file_others_can_read_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "leaky.secret"
    write_private_file(path, "hunter2-hunter2\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="0644") as caught:
        read_or_create_secret(tmp_path, "leaky")
    assert "hunter2" not in str(caught.value)


def test_settings_read_passwords_from_files(tmp_path: Path) -> None:
    mqtt, influx = tmp_path / "m.secret", tmp_path / "i.secret"
    write_private_file(mqtt, "mqtt-pass-0123456789\n")
    write_private_file(influx, "influx-pass-0123456789\n")
    settings = Settings.load(
        mqtt_url="mqtts://coldchain-ingest@127.0.0.1:8883",
        mqtt_password_file=mqtt,
        mqtt_ca_file=tmp_path / "ca.crt",
        influx_password_file=influx,
    )
    endpoint = settings.mqtt
    assert (endpoint.username, endpoint.password) == ("coldchain-ingest", "mqtt-pass-0123456789")
    assert endpoint.tls
    assert endpoint.ca_file == tmp_path / "ca.crt"
    assert settings.influx_password == "influx-pass-0123456789"
    assert "mqtt-pass" not in repr(endpoint)


def test_the_demo_ca_signs_a_server_certificate_for_loopback(tmp_path: Path) -> None:
    files = ensure_demo_pki(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert _mode(files.server_key) == 0o600
    assert _mode(tmp_path / "tls" / "ca.key") == 0o600
    before = files.ca_cert.read_bytes()
    assert ensure_demo_pki(tmp_path / "tls") == files
    assert files.ca_cert.read_bytes() == before  # kept, so pinned clients keep working


def test_deployed_influx_config_differs_from_the_demo_one_only_by_authentication() -> None:
    def settings_lines(name: str) -> list[str]:
        lines = (_DEPLOY / "influxdb" / name).read_text().splitlines()
        return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]

    demo, deployed = settings_lines("influxdb.conf"), settings_lines("influxdb-auth.conf")
    assert [line for line in deployed if line not in demo] == [
        "  auth-enabled = true",
        "  pprof-enabled = false",
    ]
    assert [line for line in demo if line not in deployed] == []
