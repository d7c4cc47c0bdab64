"""An unacknowledged alarm escalates along its site's on-call rota, with `coldchain detect`
as a process and real SMTP and webhook receivers on loopback: level 0 of the shift in force
is called, level 1 after `escalate_after_min`, acknowledging stops the chain, nobody of
another shift nor of the global settings hears of it; an alarm at a site without a rota
goes to the global contacts as before."""

from __future__ import annotations

import email
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import orjson
import pytest

from coldchain.catalog import catalog_session, create_catalog_engine
from coldchain.catalog.alerts import acknowledge_alert
from coldchain.times import now_ms, rfc3339
from tests.support.catalog import catalog_from_fleet
from tests.support.detector import DetectProcess, SmtpReceiver, WebhookReceiver, alerts
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import free_port, running_mosquitto

pytestmark = pytest.mark.integration

ESCALATE_AFTER_S: Final = 6.0
UNIT = "{id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}"
FLEET = """\
sponsors: [{{id: ACME, name: Acme}}]
sites:
  - id: TST
    units: [{unit}]
    oncall:
      escalate_after_min: {after_min}
      shifts:
        - from: "{now_from}"
          to: "{now_to}"
          chain:
            - {{name: Ana, email: ana@cmo.example}}
            - {{name: Ben, webhook: "http://127.0.0.1:{web_port}/ben"}}
            - {{name: Cyd, email: cyd@cmo.example}}
        - from: "{now_to}"
          to: "{later_to}"
          chain: [{{name: Zed, email: zed@cmo.example}}]
  - id: OTH
    units: [{unit}]
products:
  - {{id: VAX, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 0.2}}}}
batches: [{{id: LOT-1, product: VAX}}, {{id: LOT-2, product: VAX}}]
placements:
  - {{batch: LOT-1, unit: TST/FR-1, from: "2020-01-01T00:00:00Z"}}
  - {{batch: LOT-2, unit: OTH/FR-1, from: "2020-01-01T00:00:00Z"}}
"""


def _fleet(web_port: int) -> str:
    now = datetime.now(UTC)
    return FLEET.format(
        unit=UNIT,
        after_min=ESCALATE_AFTER_S / 60,
        web_port=web_port,
        now_from=rfc3339(now - timedelta(hours=1)),
        now_to=rfc3339(now + timedelta(hours=1)),
        later_to=rfc3339(now + timedelta(hours=3)),
    )


def _reading(ts_ms: int, temp_c: float, seq: int) -> bytes:
    return orjson.dumps({"sensor": "p1", "ts": ts_ms, "temp_c": temp_c, "seq": seq})


def test_an_unacknowledged_alarm_escalates_along_the_rota_until_acknowledged(
    tmp_path: Path,
) -> None:
    web_port, smtp_port = free_port(), free_port()
    webhook, smtp = WebhookReceiver(web_port), SmtpReceiver(smtp_port)
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        detect = DetectProcess(
            broker.url,
            catalog_from_fleet(tmp_path, _fleet(web_port)),
            tmp_path / "var",
            env={
                "COLDCHAIN_NOTIFY_SMTP_HOST": "127.0.0.1",
                "COLDCHAIN_NOTIFY_SMTP_PORT": str(smtp_port),
                "COLDCHAIN_NOTIFY_EMAIL_TO": '["night@cmo.example"]',
                "COLDCHAIN_NOTIFY_ESCALATION": '[["qa-lead@cmo.example"]]',
                "COLDCHAIN_NOTIFY_ESCALATE_AFTER_MIN": str(ESCALATE_AFTER_S / 60),
                "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "5",
            },
        )
        gateway = Publisher(broker.port, client_id="gw-oncall")
        engine = create_catalog_engine(detect.catalog_url)
        try:
            detect.start()
            # 15 s at 1 °C (limits 2-8 °C, alarm delay 12 s): each alarm opens at once.
            t0 = now_ms()
            for site in ("TST", "OTH"):
                topic = f"coldchain/v1/{site}/unit/FR-1/readings"
                gateway.publish(topic, _reading(t0 - 15_000, 1.0, 0))
                gateway.publish(topic, _reading(t0, 1.0, 1))

            def recipients() -> list[str]:
                return [r for rcpts, _ in list(smtp.messages) for r in rcpts]

            wait_until(
                lambda: len(webhook.received) == 1,
                30 + ESCALATE_AFTER_S,
                f"Ben called at level 1:\n{detect.log_text()[-3000:]}",
            )
            alarm = next(a for a in alerts(detect.catalog_url) if a.site_id == "TST")
            with catalog_session(engine) as session:
                acknowledge_alert(session, alarm.id, actor="ana", at=datetime.now(UTC))
            event = json.loads(webhook.received[0][0])
            assert (event["alert_id"], event["state"], event["escalation_level"]) == (
                alarm.id,
                "open",
                1,
            )
            wait_until(
                lambda: "qa-lead@cmo.example" in recipients(),
                30,
                f"the global level 1 of the site without a rota:\n{detect.log_text()[-3000:]}",
            )
            time.sleep(2 * ESCALATE_AFTER_S)  # Cyd's turn would have come by now
            site_of = {a.id: a.site_id for a in alerts(detect.catalog_url)}
            calls = sorted(
                (rcpt, site_of[email.message_from_bytes(m)["X-Coldchain-Alert"]])
                for rcpts, m in list(smtp.messages)
                for rcpt in rcpts
            )
            # Ana (level 0 of the shift in force) for TST, the global contacts for OTH;
            # never Cyd (acknowledged before level 2), Zed (another shift) nor, for TST,
            # the global ones.
            assert calls == [
                ("ana@cmo.example", "TST"),
                ("night@cmo.example", "OTH"),
                ("qa-lead@cmo.example", "OTH"),
            ]
            assert len(webhook.received) == 1
            assert detect.stop() == 0
        finally:
            gateway.close()
            engine.dispose()
            webhook.close()
            smtp.close()
            if detect.process is not None and detect.process.poll() is None:
                detect.kill9()
