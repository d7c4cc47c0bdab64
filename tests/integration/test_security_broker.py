"""Issue 10 on a real mosquitto 2.0 with the generated passwd, ACL and TLS listener."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
import typer
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli import broker_cmd
from cli import main as cli_main
from cli.local_servers import LocalInflux, LocalMosquitto, free_port
from coldchain.catalog import catalog_session, create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.catalog.schema import LoggerReportRow, SiteRow
from coldchain.config import MqttEndpoint
from coldchain.errors import MqttPublishFailed
from coldchain.fleet import Fleet
from coldchain.times import now_ms
from simulators.engine import Simulation
from simulators.plan import build_plan
from simulators.runner import run_to_mqtt
from tests.support.detector import DetectProcess, make_catalog
from tests.support.pipeline import IngestProcess, wait_until
from tests.support.real_loggers import real_path
from tests.support.secrets_registry import register

pytestmark = pytest.mark.integration

# The three sub-apps as `coldchain` mounts them, without importing every service's CLI.
coldchain = typer.Typer()
coldchain.add_typer(broker_cmd.broker_app, name="broker")
coldchain.add_typer(broker_cmd.gateway_app, name="gateway")
coldchain.add_typer(broker_cmd.influx_app, name="influx")


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(coldchain, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class SecuredBroker:
    data_dir: Path
    server: LocalMosquitto
    tls_port: int
    ca_file: Path
    passwords: dict[str, str] = field(default_factory=dict)  # username -> password

    def cli(self, *args: str) -> str:
        return run_cli(
            "gateway", *args, "--data-dir", str(self.data_dir), "--broker-pid", str(self.pid)
        )

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def add_gateway(self, site: str, gateway: str) -> str:
        output = self.cli("add", site, gateway)
        password = output.split("stored hashed): ", 1)[1].split()[0]
        register(password)
        username = f"gw~{site}~{gateway}"
        self.passwords[username] = password
        return username


def _secret(data_dir: Path, name: str) -> str:
    value = (data_dir / "secrets" / f"{name}.secret").read_text().strip()
    register(value)
    return value


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    data_dir = tmp_path_factory.mktemp("secured")
    engine = create_catalog_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    with catalog_session(engine) as session:
        session.add_all([SiteRow(id=site, timezone="UTC") for site in ("BSL", "ZRH", "LYS")])
    engine.dispose()
    port, tls_port = free_port(), free_port()
    run_cli(
        "broker",
        "config",
        "--data-dir",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{port}",
        "--tls-listen",
        f"127.0.0.1:{tls_port}",
        "--demo-tls",
        "--detector-partitions",
        "2",
    )
    server = LocalMosquitto(
        data_dir / "mosquitto", port, auth_conf=data_dir / "broker" / "listeners.conf"
    )
    secured = SecuredBroker(data_dir, server, tls_port, data_dir / "tls" / "ca.crt")
    for service in ("ingest", "detector", "api"):
        secured.passwords[f"coldchain-{service}"] = _secret(data_dir, f"mqtt-{service}")
    secured.passwords["coldchain-detector-2"] = _secret(data_dir, "mqtt-detector-2")
    try:
        server.start()
        secured.add_gateway("BSL", "gw1")
        secured.add_gateway("ZRH", "gw1")
        yield secured
    finally:
        server.stop()


class Client:
    """A paho MQTT 5 client that records CONNACK, PUBACK reasons and messages."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        *,
        ca_file: Path | None = None,
        client_id: str = "",
        will: str | None = None,
        session_expiry_s: int | None = None,
    ) -> None:
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.disconnected = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if ca_file is not None:
            self._client.tls_set(ca_certs=str(ca_file))
        if will is not None:
            self._client.will_set(will, b"offline", qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc)
        self._client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        self._client.on_disconnect = lambda *args: self.disconnected.set()
        properties = None
        if session_expiry_s is not None:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = session_expiry_s
        try:
            self._client.connect(
                "127.0.0.1",
                port,
                keepalive=5,
                clean_start=session_expiry_s is None,
                properties=properties,
            )
        except OSError:
            self.disconnected.set()
            return
        self._client.loop_start()
        deadline = time.monotonic() + 5
        while (
            self.connack is None and not self.disconnected.is_set() and time.monotonic() < deadline
        ):
            time.sleep(0.02)

    def _on_connect(
        self, client: paho.Client, userdata: object, flags: object, rc: ReasonCode, props: object
    ) -> None:
        self.connack = rc

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self._client.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.pubacks, 5, f"PUBACK for {topic}", 0.02)
        return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> None:
        granted = threading.Event()
        self._client.on_subscribe = lambda *args: granted.set()
        self._client.subscribe(topic, qos=1)
        assert granted.wait(5), f"no SUBACK for {topic}"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def test_anonymous_and_wrong_password_connections_are_refused(broker: SecuredBroker) -> None:
    anonymous = Client(broker.server.port, None, None)
    wrong = Client(broker.server.port, "gw~BSL~gw1", "not-the-password")
    unknown = Client(broker.server.port, "gw~BSL~gw9", broker.passwords["gw~BSL~gw1"])
    for client in (anonymous, wrong, unknown):
        client.close()
        assert client.connack is not None
        assert client.connack.getName() == "Not authorized"


def test_plaintext_to_the_tls_listener_fails_and_the_ca_makes_it_work(
    broker: SecuredBroker,
) -> None:
    user, password = "gw~BSL~gw1", broker.passwords["gw~BSL~gw1"]
    plain = Client(broker.tls_port, user, password)
    plain.close()
    assert plain.connack is None
    # The system's CAs did not sign the broker's certificate: the handshake fails.
    public_cas = ssl.create_default_context()
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", broker.tls_port), 5) as raw,
        public_cas.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass
    pinned = Client(broker.tls_port, user, password, ca_file=broker.ca_file)
    pinned.close()
    assert pinned.accepted


def test_a_gateway_publishes_only_for_its_own_site_and_never_alerts(broker: SecuredBroker) -> None:
    gateway = Client(
        broker.tls_port,
        "gw~BSL~gw1",
        broker.passwords["gw~BSL~gw1"],
        ca_file=broker.ca_file,
        will="coldchain/v1/BSL/gateway/gw1/status",
    )
    try:
        assert gateway.accepted
        payload = b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": 1}'
        assert gateway.publish("coldchain/v1/BSL/unit/U1/readings", payload).getName() in (
            "Success",
            "No matching subscribers",
        )
        for forged in (
            "coldchain/v1/ZRH/unit/U1/readings",
            "coldchain/v1/BSL/alerts",
            "coldchain/v1/BSL/gateway/gw2/status",
            "coldchain/v1/ZRH/gateway/gw1/status",
        ):
            assert gateway.publish(forged, payload).getName() == "Not authorized", forged
    finally:
        gateway.close()


def test_services_read_but_only_the_detector_writes_alerts(broker: SecuredBroker) -> None:
    clients = {
        name: Client(broker.server.port, f"coldchain-{name}", broker.passwords[f"coldchain-{name}"])
        for name in ("ingest", "detector", "api")
    }
    try:
        alert = b'{"alert_id": "a1"}'
        reasons = {
            name: c.publish("coldchain/v1/BSL/alerts", alert).getName()
            for name, c in clients.items()
        }
        assert reasons == {
            "ingest": "Not authorized",
            "detector": "No matching subscribers",
            "api": "Not authorized",
        }
        assert (
            clients["ingest"].publish("coldchain/v1/BSL/unit/U1/readings", b"{}").getName()
            == "Not authorized"
        )
    finally:
        for client in clients.values():
            client.close()


def test_a_revoked_gateway_is_refused_after_the_reload_without_a_restart(
    broker: SecuredBroker,
) -> None:
    username = broker.add_gateway("LYS", "gw1")
    pid = broker.pid
    connected = Client(broker.server.port, username, broker.passwords[username])
    assert connected.accepted
    broker.cli("revoke", "LYS", "gw1")

    def refused() -> bool:
        attempt = Client(broker.server.port, username, broker.passwords[username])
        attempt.close()
        return attempt.connack is not None and attempt.connack.getName() == "Not authorized"

    wait_until(refused, 10, "the broker to refuse the revoked gateway", 0.1)
    # mosquitto 2.0 also drops the revoked gateway's open connection on reload.
    assert connected.disconnected.wait(5)
    connected.close()
    assert broker.pid == pid
    assert broker.server.process is not None
    assert broker.server.process.poll() is None


@pytest.fixture(scope="module")
def secured_influx(broker: SecuredBroker) -> Iterator[LocalInflux]:
    server = LocalInflux(broker.data_dir / "influxd", auth_enabled=True)
    try:
        server.start()
        run_cli(
            "influx",
            "setup-users",
            "--influx-url",
            server.url,
            "--influx-db",
            "secured",
            "--data-dir",
            str(broker.data_dir),
        )
        yield server
    finally:
        server.stop()


def _stored_devices(influx: LocalInflux, data_dir: Path) -> set[str]:
    response = httpx.post(
        f"{influx.url}/query",
        data={"q": 'SHOW TAG VALUES FROM "reading" WITH KEY = "site"', "db": "secured"},
        auth=("coldchain-reader", _secret(data_dir, "influx-reader")),
        timeout=10,
    )
    series = orjson.loads(response.content)["results"][0].get("series", [])
    return {row[1] for item in series for row in item["values"]}


def test_a_forged_reading_for_another_site_never_reaches_ingest(
    broker: SecuredBroker, secured_influx: LocalInflux
) -> None:
    data_dir = broker.data_dir
    ingest = IngestProcess(
        f"mqtts://coldchain-ingest@127.0.0.1:{broker.tls_port}",
        secured_influx.url,
        "secured",
        data_dir / "ingest",
        client_id="ingest-secured",
        extra_env={
            "COLDCHAIN_MQTT_PASSWORD_FILE": str(data_dir / "secrets" / "mqtt-ingest.secret"),
            "COLDCHAIN_MQTT_CA_FILE": str(broker.ca_file),
            "COLDCHAIN_INFLUX_USERNAME": "coldchain-ingest",
            "COLDCHAIN_INFLUX_PASSWORD_FILE": str(data_dir / "secrets" / "influx-ingest.secret"),
        },
    )
    gateway = Client(
        broker.tls_port, "gw~ZRH~gw1", broker.passwords["gw~ZRH~gw1"], ca_file=broker.ca_file
    )
    try:
        ingest.start()
        forged = b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 4.0, "seq": 1}'
        assert (
            gateway.publish("coldchain/v1/BSL/unit/F1/readings", forged).getName()
            == "Not authorized"
        )
        assert gateway.publish("coldchain/v1/ZRH/unit/U1/readings", forged).getName() in (
            "Success",
            "No matching subscribers",
        )
        wait_until(lambda: "ZRH" in _stored_devices(secured_influx, data_dir), 20, "ZRH's reading")
        assert _stored_devices(secured_influx, data_dir) == {"ZRH"}
        assert ingest.dead_letters() == []
    finally:
        gateway.close()
        assert ingest.stop() == 0


def test_a_gateway_cannot_take_over_a_services_session(broker: SecuredBroker) -> None:
    """A gateway that connects with ingest's client id gets its own user name as id
    (`use_username_as_clientid`), so the readings queued in ingest's session survive."""
    port = broker.server.port
    password = broker.passwords["coldchain-ingest"]
    ingest = Client(port, "coldchain-ingest", password, client_id="svc-1", session_expiry_s=600)
    assert ingest.accepted
    ingest.subscribe("coldchain/v1/+/+/+/readings")
    ingest.close()
    gateway = Client(port, "gw~BSL~gw1", broker.passwords["gw~BSL~gw1"])
    queued = b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 4.0, "seq": 7}'
    assert gateway.publish("coldchain/v1/BSL/unit/U9/readings", queued).getName() == "Success"
    gateway.close()
    impostor = Client(port, "gw~BSL~gw1", broker.passwords["gw~BSL~gw1"], client_id="svc-1")
    impostor.close()
    back = Client(port, "coldchain-ingest", password, client_id="svc-1", session_expiry_s=600)
    try:
        wait_until(lambda: back.messages, 5, "the reading queued in ingest's session")
        assert back.messages == [("coldchain/v1/BSL/unit/U9/readings", queued)]
    finally:
        back.close()


def test_two_detector_partitions_each_on_one_connection_of_their_own_account(
    broker: SecuredBroker, tmp_path: Path
) -> None:
    """The broker makes the client id the user name, so a detector must subscribe and send
    its alert events on one connection (a second one would take its session over), and
    each partition needs an account (`broker config --detector-partitions`)."""
    engine = create_catalog_engine(f"sqlite:///{broker.data_dir / 'catalog.sqlite3'}")
    with catalog_session(engine) as session:
        session.add(SiteRow(id="TST", timezone="UTC"))
    engine.dispose()
    gateway_user = broker.add_gateway("TST", "gw1")
    catalog = make_catalog(tmp_path)  # site TST: FR-1 (2-8 °C, 12 s alarm delay)
    partitions = [
        DetectProcess(
            f"mqtt://{user}@127.0.0.1:{broker.server.port}",
            catalog,
            tmp_path / user,
            env={
                "COLDCHAIN_MQTT_PASSWORD_FILE": str(
                    broker.data_dir / "secrets" / f"{secret}.secret"
                ),
                "COLDCHAIN_DETECT_CLIENT_ID": user,
                "COLDCHAIN_DETECT_SITES": sites,
            },
        )
        for user, secret, sites in (
            ("coldchain-detector", "mqtt-detector", '["TST"]'),
            ("coldchain-detector-2", "mqtt-detector-2", '["BSL", "ZRH"]'),
        )
    ]
    watcher = Client(broker.server.port, "coldchain-api", broker.passwords["coldchain-api"])
    watcher.subscribe("coldchain/v1/+/alerts")
    gateway = Client(broker.server.port, gateway_user, broker.passwords[gateway_user])
    try:
        for partition in partitions:
            partition.start()
        seq = 0
        deadline = time.monotonic() + 60
        while not watcher.messages:
            assert time.monotonic() < deadline, partitions[0].log_text()[-3000:]
            reading = {"sensor": "p1", "ts": now_ms(), "temp_c": 9.5}
            answer = gateway.publish(
                "coldchain/v1/TST/unit/FR-1/readings", orjson.dumps({**reading, "seq": seq})
            )
            assert not answer.is_failure, answer
            seq += 1
            time.sleep(0.5)
        topic, payload = watcher.messages[0]
        assert topic == "coldchain/v1/TST/alerts"
        assert orjson.loads(payload)["site"] == "TST"
        for partition in partitions:
            log = partition.log_text()
            assert log.count("mqtt: connected") == 1, log[-3000:]
            assert "mqtt: disconnected" not in log, log[-3000:]
    finally:
        gateway.close()
        watcher.close()
        for partition in partitions:
            partition.stop()


def _stored_devices_of(influx: LocalInflux, data_dir: Path, source: str) -> set[str]:
    response = httpx.post(
        f"{influx.url}/query",
        data={
            "q": f'SHOW TAG VALUES FROM "reading" WITH KEY = "device" WHERE "source" = \'{source}\'',
            "db": "secured",
        },
        auth=("coldchain-reader", _secret(data_dir, "influx-reader")),
        timeout=10,
    )
    series = orjson.loads(response.content)["results"][0].get("series", [])
    return {row[1] for item in series for row in item["values"]}


def test_the_import_account_writes_logger_readings_of_any_site_and_nothing_else(
    broker: SecuredBroker, secured_influx: LocalInflux
) -> None:
    """Issue #20 item 7: an import station publishes a logger's readings under its origin
    site without any site's gateway password; it may write nothing else and read nothing."""
    data_dir = broker.data_dir
    ingest = IngestProcess(
        f"mqtt://coldchain-ingest@127.0.0.1:{broker.server.port}",
        secured_influx.url,
        "secured",
        data_dir / "ingest-import",
        client_id="ingest-import",
        extra_env={
            "COLDCHAIN_MQTT_PASSWORD_FILE": str(data_dir / "secrets" / "mqtt-ingest.secret"),
            "COLDCHAIN_INFLUX_USERNAME": "coldchain-ingest",
            "COLDCHAIN_INFLUX_PASSWORD_FILE": str(data_dir / "secrets" / "influx-ingest.secret"),
        },
    )
    station = Client(
        broker.tls_port,
        "coldchain-import",
        _secret(data_dir, "mqtt-import"),
        ca_file=broker.ca_file,
    )
    gateway = Client(broker.server.port, "gw~BSL~gw1", broker.passwords["gw~BSL~gw1"])
    try:
        assert station.accepted
        ingest.start()
        station.subscribe("coldchain/v1/#")
        reading = b'{"sensor": "t1", "ts": 1763800000000, "temp_c": 4.0, "seq": 1}'
        for topic in (
            "coldchain/v1/BSL/logger/IMP-A/readings",
            "coldchain/v1/ZRH/logger/IMP-B/readings",
        ):
            assert station.publish(topic, reading).getName() in (
                "Success",
                "No matching subscribers",
            ), topic
        for forged in (
            "coldchain/v1/BSL/unit/IMP-U/readings",
            "coldchain/v1/BSL/logger/IMP-A/status",
            "coldchain/v1/BSL/unit/IMP-U/status",
            "coldchain/v1/BSL/alerts",
            "coldchain/v1/BSL/gateway/usb-import/status",
        ):
            assert station.publish(forged, reading).getName() == "Not authorized", forged
        # A site's gateway still writes only its own site, logger readings included.
        assert (
            gateway.publish("coldchain/v1/ZRH/logger/IMP-C/readings", reading).getName()
            == "Not authorized"
        )
        assert gateway.publish("coldchain/v1/BSL/unit/IMP-G/readings", reading).getName() in (
            "Success",
            "No matching subscribers",
        )
        wait_until(
            lambda: _stored_devices_of(secured_influx, data_dir, "unit") >= {"IMP-G"},
            60,
            "the gateway's own reading (published after the station's)",
        )
        assert _stored_devices_of(secured_influx, data_dir, "logger") >= {"IMP-A", "IMP-B"}
        stored = _stored_devices_of(secured_influx, data_dir, "unit") | _stored_devices_of(
            secured_influx, data_dir, "logger"
        )
        assert not stored & {"IMP-U", "IMP-C"}
        assert [d for d in ingest.dead_letters() if "IMP-" in str(d["topic"])] == []
        assert station.messages == []  # it reads nothing, not even its own readings
    finally:
        station.close()
        gateway.close()
        assert ingest.stop() == 0


def test_a_simulated_gateway_whose_readings_the_broker_refuses_fails_loudly(
    broker: SecuredBroker,
) -> None:
    """A gateway account of LYS publishing BSL's readings: mosquitto's ACL answers each
    PUBACK "Not authorized" and drops the message. The simulator must fail with how many
    were refused and why; it used to count them as delivered."""
    fleet = Fleet.model_validate(
        {
            "sites": [
                {
                    "id": "BSL",
                    "units": [
                        {
                            "id": "F1",
                            "kind": "refrigerator",
                            "setpoint_c": 5.0,
                            "sensors": [{"id": "p1"}],
                        },
                    ],
                }
            ]
        }
    )
    start = now_ms() - 3_600_000
    plan = build_plan(fleet, start, start + 3_600_000, seed=1)
    lys = broker.add_gateway("LYS", "sim")
    endpoint = MqttEndpoint(
        f"mqtt://{lys}@127.0.0.1:{broker.server.port}", password=broker.passwords[lys]
    )
    with pytest.raises(MqttPublishFailed) as refused:
        asyncio.run(run_to_mqtt(Simulation(plan), endpoint, speed=0, client_prefix="refused"))
    assert f"messages as {lys}: Not authorized" in str(refused.value)
    assert "the broker refused " in str(refused.value)


IMPORT_FLEET = """\
sponsors: [{id: ACME, name: Acme Pharma}]
users: [{id: quinn, role: qa}]
sites:
  - {id: BSL, timezone: Europe/Zurich}
  - {id: LYS, timezone: Europe/Paris}
shipments:
  - {id: SHP-1, origin: BSL, destination: LYS,
     loggers: [{id: RCPJ00010, sensors: [{id: t1}], log_interval_s: 600}]}
"""


def test_a_logger_import_at_the_destination_publishes_as_the_import_account(
    broker: SecuredBroker, secured_influx: LocalInflux, tmp_path: Path
) -> None:
    """The Q-tag travelled from BSL to LYS; LYS imports it. With LYS's own gateway account
    the broker refuses the BSL readings: the import fails and records nothing (it used to
    count the refused PUBACKs as delivered). By default it publishes as `coldchain-import`
    and the readings land."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(IMPORT_FLEET, encoding="utf-8")
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    engine = create_catalog_engine(catalog_url)
    upgrade_catalog(engine)
    import_fleet(engine, fleet, actor="test")
    data_dir = broker.data_dir
    ingest = IngestProcess(
        f"mqtt://coldchain-ingest@127.0.0.1:{broker.server.port}",
        secured_influx.url,
        "secured",
        data_dir / "ingest-logger-import",
        client_id="ingest-logger-import",
        extra_env={
            "COLDCHAIN_MQTT_PASSWORD_FILE": str(data_dir / "secrets" / "mqtt-ingest.secret"),
            "COLDCHAIN_INFLUX_USERNAME": "coldchain-ingest",
            "COLDCHAIN_INFLUX_PASSWORD_FILE": str(data_dir / "secrets" / "influx-ingest.secret"),
        },
    )
    station = broker.add_gateway("LYS", "station")

    def run_import(mqtt_url: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            cli_main.app,
            [
                "logger",
                "import",
                str(real_path("qtag_run2")),
                "--shipment",
                "SHP-1",
                "--mqtt-url",
                mqtt_url,
                "--catalog-url",
                catalog_url,
                "--data-dir",
                str(data_dir),
                "--actor",
                "quinn",
                "--timeout",
                "20",
            ],
        )
        return result.exit_code, result.stdout + result.stderr

    def reports() -> int:
        with catalog_session(engine) as session:
            return session.scalar(select(func.count()).select_from(LoggerReportRow)) or 0

    try:
        ingest.start()
        password = broker.passwords[station]
        code, out = run_import(f"mqtt://{station}:{password}@127.0.0.1:{broker.server.port}")
        assert code == 1, out
        assert "the broker refused 1 of 1 messages as gw~LYS~station: Not authorized" in out
        assert "nothing recorded" in out
        assert reports() == 0

        code, out = run_import(f"mqtt://127.0.0.1:{broker.server.port}")
        assert code == 0, out
        assert "imported: 124 readings in 1 messages acknowledged by the broker" in out
        assert reports() == 1
        wait_until(
            lambda: "RCPJ00010" in _stored_devices_of(secured_influx, data_dir, "logger"),
            30,
            "the imported readings stored",
        )
    finally:
        engine.dispose()
        assert ingest.stop() == 0
