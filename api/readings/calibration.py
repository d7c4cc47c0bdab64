"""The live view's readings and the charts' buckets as the detector and the record judge
them (#22): with each probe's calibration correction in force added (the domain's rule,
`coldchain.judgement.calibration`), so a tile's status or a chart line never disagrees with
the alarm."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sqlalchemy.orm import Session

from api.readings.history import HistoryResult
from api.readings.live import LiveReading
from coldchain.catalog.calibration import calibrations
from coldchain.judgement.calibration import Calibration, add_correction
from coldchain.judgement.validity import ReadingValidity
from coldchain.models import SensorKey

__all__ = ["corrected_history", "corrected_live", "load_corrections"]


def load_corrections(session: Session) -> dict[SensorKey, Calibration]:
    """The probes whose certificates correct their readings (every certificate of the
    catalog: the API holds them while the catalog does not change, `api.catalog_rules`)."""
    return {k: c for k, c in calibrations(session).items() if c.corrects}


def corrected_live(
    readings: Mapping[SensorKey, LiveReading],
    corrections: Mapping[SensorKey, Calibration],
    validity: ReadingValidity,
) -> dict[SensorKey, LiveReading]:
    """`readings`, each corrected by its probe's certificate in force at its time."""
    out = dict(readings)
    for key, reading in readings.items():
        calibration = corrections.get(key)
        if calibration is not None:
            value = calibration.corrected(
                np.array([reading.ts_ms], dtype=np.int64),
                np.array([reading.temp_c]),
                validity,
            )
            out[key] = LiveReading(reading.ts_ms, float(value[0]))
    return out


def corrected_history(result: HistoryResult, corrections: Mapping[SensorKey, Calibration]) -> None:
    """Each bucket's min, max and mean (temperatures only: invalid readings make no
    bucket) with the correction in force at the bucket's start added, in place. A bucket
    that spans a new certificate's calibration takes the correction at its start: a chart
    line, not a judgement (the record and the detector correct reading by reading)."""
    for series in result.series:
        calibration = corrections.get(
            SensorKey(series.site, series.source, series.device, series.sensor)
        )
        if calibration is None or not series.points:
            continue
        points = np.array(series.points, dtype=np.float64)
        offsets = calibration.offsets(points[:, 0].astype(np.int64))[:, np.newaxis]
        corrected = add_correction(points[:, 1:], offsets).tolist()
        series.points = [
            (t, lo, hi, mean)
            for (t, *_), (lo, hi, mean) in zip(series.points, corrected, strict=True)
        ]
