"""The QA export's rows for a daily logger (Fridge-tag 2 L): the device's day next to ours,
made by the same `daily_figures` the agreement test checks (no InfluxDB needed here)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from api.export.devicereports import LoggerComparison, device_report_dict
from api.export.pdf_devicereports import TableBlock, device_report_blocks
from api.export.record import SensorRef
from coldchain.catalog.logger_reports import StoredReport
from coldchain.loggers.compare import daily_figures
from coldchain.loggers.serialize import device_record
from coldchain.loggers.timebase import epoch_ms
from tests.support.real_loggers import real_file

ZONE = "Europe/Zurich"


def test_daily_rows_put_device_and_ours_side_by_side() -> None:
    parsed = real_file("fridgetag2l")
    times = epoch_ms(parsed.readings, ZONE)
    temps = np.array([r.temp_c for r in parsed.readings])
    stored = StoredReport(
        id=7,
        shipment="SHP-1",
        unit_id=None,
        site="BSL",
        source="logger",
        device="LOG-1",
        sensor="t1",
        timezone=ZONE,
        file_name="130500109088_202206081014.txt",
        imported_at=datetime(2026, 1, 1, tzinfo=UTC),
        imported_by="quinn",
        first_reading_at=None,
        last_reading_at=None,
        record=device_record(parsed),
    )
    comparison = LoggerComparison(
        placement=1,
        report=stored,
        sensor=SensorRef("BSL", "logger", "LOG-1", "t1", 300),
        stored=times.size,
        run=None,
        days=tuple(
            daily_figures(times, temps, interval_ms=300_000, timezone=ZONE, low_c=2.0, high_c=8.0)
        ),
    )
    report = device_report_dict(comparison)
    assert (report["run"], report["events"]) == ([], [])
    assert len(report["days"]) == 38
    june6 = next(d for d in report["days"] if d["day"] == "2022-06-06")
    assert (june6["device_above_min"], june6["device_below_min"]) == (408, 753)
    assert abs(june6["ours_above_min"] - 408) <= 10
    assert abs(june6["ours_below_min"] - 753) <= 10
    assert (june6["device_above_alarm_at"], june6["device_below_alarm_at"]) == (
        "2022-06-06T13:35",
        "2022-06-06T00:00",
    )
    assert (june6["device_max_c"], june6["ours_max_c"]) == (30.3, 30.2)  # 1-min vs 5-min log
    blocks = device_report_blocks([report])
    assert isinstance(blocks[0], str)
    assert "Q-tag Fridge-tag 2 L 130500109088" in blocks[0]
    (days,) = [b for b in blocks if isinstance(b, TableBlock)]
    assert len(days.rows) == 39
    assert days.rows[0][0] == "Day"
