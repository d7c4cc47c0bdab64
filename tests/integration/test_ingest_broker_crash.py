"""A broker killed -9, with the persistence settings mosquitto.conf ships, real ingest and
influxd: what survives and what is lost, exactly (ingest/README.md, "A broker crash").

Mosquitto keeps its queues in memory and writes all of them to disk every
`autosave_interval` seconds. A kill -9 loses what changed since the last save; a gateway
resends what the broker had not acknowledged, ingest spools what it had received, so what
is lost is what the broker acknowledged to a gateway after its last save and had not yet
handed to ingest. Ingest is down here (a restart, or a full spool pushing back) so that
is a known set of messages.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.pipeline import (
    IngestProcess,
    Publisher,
    ReadingKey,
    count_readings,
    make_batches,
    stored_reading_keys,
    wait_until,
)
from tests.support.servers import InfluxServer, MosquittoServer, running_mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"


def _shipped_settings() -> dict[str, str]:
    settings = {}
    for line in _SHIPPED.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings[key] = value.strip()
    return settings


def _publish(publisher: Publisher, hour: int) -> set[ReadingKey]:
    """10 messages of 10 readings of the `hour`th hour; returns the readings."""
    keys: set[ReadingKey] = set()
    start_ms = 1_763_800_000_000 + hour * 3_600_000
    for topic, payload, batch in make_batches("BSL", 2, 2, 25, per_message=10, start_ms=start_ms):
        publisher.publish(topic, payload)
        keys.update(batch)
    return keys


def _autosaves(broker: MosquittoServer) -> int:
    log = (broker.directory / "mosquitto.log").read_text(errors="replace")
    return log.count("Saving in-memory database")


def test_a_broker_killed_9_loses_exactly_what_it_acked_after_its_last_autosave_and_had_not_delivered(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    shipped = _shipped_settings()
    assert shipped["persistence"] == "true"
    assert shipped.get("autosave_on_changes", "false") == "false", "autosaves by the clock"
    autosave_s = int(shipped["autosave_interval"])
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        assert (broker.directory / "mosquitto.conf").read_text().startswith(_SHIPPED.read_text())
        ingest = IngestProcess(broker.url, influxd.url, influx_db, tmp_path / "var")
        publisher = Publisher(broker.port, client_id="crash-gateway")
        try:
            ingest.start()
            delivered = _publish(publisher, 0)
            publisher.wait_acked()
            wait_until(
                lambda: count_readings(influxd.url, influx_db) == len(delivered),
                30,
                "the readings ingest took while it ran",
            )
            assert ingest.stop() == 0  # from now on the broker queues for ingest's session

            saved = _publish(publisher, 1)
            publisher.wait_acked()
            before = _autosaves(broker)
            wait_until(lambda: _autosaves(broker) > before, autosave_s + 3, "an autosave")
            autosaves = _autosaves(broker)
            unsaved = _publish(publisher, 2)  # acked by the broker, queued in memory
            publisher.wait_acked()
            assert broker.process is not None
            broker.process.send_signal(signal.SIGSTOP)
            acked = publisher.acked
            unacked = _publish(publisher, 3)  # sent to a broker that never answers
            assert publisher.acked == acked
            broker.stop(signal.SIGKILL)
            assert _autosaves(broker) == autosaves, "the broker saved again before the kill"

            broker.start()
            publisher.wait_acked(60)  # the gateway resends what was never acknowledged
            ingest.start()
            last = _publish(publisher, 4)
            publisher.wait_acked()
            # The broker hands a session's queue over in order and ingest writes its spool
            # in order, so once the last readings are stored every earlier one is.
            wait_until(
                lambda: last <= set(stored_reading_keys(influxd.url, influx_db)),
                60,
                "the readings published after the restart",
            )
            stored = stored_reading_keys(influxd.url, influx_db)
            assert len(stored) == len(set(stored))
            assert set(stored) == delivered | saved | unacked | last
            assert not set(stored) & unsaved
        finally:
            publisher.close()
            ingest.stop()
