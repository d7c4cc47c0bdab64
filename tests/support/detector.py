"""Helpers for the detector's integration tests: the detector as a child process, a small
fleet in a catalog, and loopback notification receivers (webhook, SMTP, MQTT)."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from aiosmtpd.controller import Controller
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from coldchain.catalog import catalog_session, create_catalog_engine
from coldchain.catalog.schema import AlertRow
from tests.support.catalog import catalog_from_fleet
from tests.support.processes import ServiceProcess

FLEET = """\
sponsors: [{id: ACME, name: Acme}]
sites:
  - id: TST
    timezone: UTC
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
products:
  - {id: VAX, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 0.2}}
batches: [{id: LOT-1, product: VAX}, {id: LOT-2, product: VAX}]
shipments:
  - {id: SHP-1, origin: TST, destination: TST, loggers: [{id: LOG-1, sensors: [{id: p1}], log_interval_s: 300}]}
placements:
  - {batch: LOT-1, unit: TST/FR-1, from: "2020-01-01T00:00:00Z"}
  - {batch: LOT-2, shipment: SHP-1, from: "2020-01-01T00:00:00Z"}
"""


def make_catalog(tmp_path: Path) -> str:
    return catalog_from_fleet(tmp_path, FLEET)


def alerts(catalog_url: str) -> list[AlertRow]:
    engine = create_catalog_engine(catalog_url)
    try:
        with catalog_session(engine) as session:
            return list(session.execute(select(AlertRow)).scalars())
    finally:
        engine.dispose()


@dataclass
class DetectProcess(ServiceProcess):
    """`coldchain detect` as a child process, so a test can kill -9 it."""

    mqtt_url: str
    catalog_url: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.data_dir / "detect.log"

    def arguments(self) -> list[str]:
        return [
            "detect",
            "--mqtt-url",
            self.mqtt_url,
            "--catalog-url",
            self.catalog_url,
            "--data-dir",
            str(self.data_dir),
        ]

    def environment(self) -> dict[str, str]:
        return {"COLDCHAIN_DETECT_TICK_S": "0.2", **self.env}


class AlertListener:
    """Subscribes to every site's alert topic and keeps the events."""

    def __init__(self, port: int) -> None:
        self.events: list[dict[str, Any]] = []
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="alert-listener", protocol=paho.MQTTv5
        )
        self._client.on_message = lambda c, u, m: self.events.append(json.loads(m.payload))
        self._client.on_connect = lambda c, u, f, r, p: c.subscribe("coldchain/v1/+/alerts", qos=1)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class WebhookReceiver:
    """An HTTP server on loopback that records each POST (body, headers)."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.arrived: list[float] = []  # time.perf_counter() of each POST
        received, arrived = self.received, self.arrived

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                arrived.append(time.perf_counter())
                received.append((body, dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmtpReceiver:
    """aiosmtpd on loopback keeping every message (envelope recipients, raw content)."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        messages = self.messages

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self._controller.start()

    def close(self) -> None:
        self._controller.stop()
