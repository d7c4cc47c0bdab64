"""The one calibration rule (coldchain.judgement.calibration): which certificate is in
force, the correction it adds, and which readings are past calibration."""

from __future__ import annotations

import numpy as np

from coldchain.config import Settings
from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration, Certificate
from coldchain.judgement.validity import ReadingValidity

DAY = 86_400_000
VALIDITY = ReadingValidity.from_settings(Settings())
BARE = Certificate(None, None, SINCE_EVER_MS, 10 * DAY)
FIRST = Certificate("CAL-1", "Metrolab", 5 * DAY, 20 * DAY, 0.3)
SECOND = Certificate("CAL-2", "Metrolab", 15 * DAY, 40 * DAY, -0.2)
CALIBRATION = Calibration.of([SECOND, BARE, FIRST])


def test_the_certificate_in_force_is_the_latest_calibrated_on_or_before_the_time() -> None:
    assert CALIBRATION.at(0) is BARE
    assert CALIBRATION.at(5 * DAY - 1) is BARE
    assert CALIBRATION.at(5 * DAY) is FIRST
    assert CALIBRATION.at(15 * DAY - 1) is FIRST
    assert CALIBRATION.at(15 * DAY) is SECOND
    assert Calibration.of([FIRST]).at(0) is None


def test_the_correction_in_force_is_added_to_temperatures_only() -> None:
    times = np.array([DAY, 6 * DAY, 6 * DAY, 16 * DAY], dtype=np.int64)
    temps = np.array([5.0, 5.0, 85.0, 5.0])
    corrected = CALIBRATION.corrected(times, temps, VALIDITY)
    # no correction under the bare due date; +0.3 under CAL-1 (an error code stays one);
    # -0.2 under CAL-2
    assert corrected.tolist() == [5.0, 5.3, 85.0, 4.8]
    assert VALIDITY.reason(float(corrected[2])) == "error code 85 °C"


def test_a_corrected_reading_reads_as_the_sum_a_person_would_write() -> None:
    times = np.array([6 * DAY, 6 * DAY, 16 * DAY], dtype=np.int64)
    temps = np.array([5.06, 7.61, 2.01])
    # binary sums: 5.359999999999999, 7.91, 1.8099999999999998; QA reads the record's text
    assert [repr(t) for t in CALIBRATION.corrected(times, temps, VALIDITY).tolist()] == [
        "5.36",
        "7.91",
        "1.81",
    ]


def test_readings_at_or_after_the_due_date_of_the_certificate_in_force_are_past_calibration() -> (
    None
):
    times = np.array([10 * DAY - 1, 10 * DAY, 5 * DAY, 20 * DAY, 40 * DAY], dtype=np.int64)
    # the bare due date passed at 10 days, but CAL-1 is in force from day 5 (due day 20),
    # and CAL-2 from day 15 (due day 40)
    assert CALIBRATION.past_due(times).tolist() == [False, False, False, False, True]
    assert Calibration.of([BARE]).past_due(times).tolist() == [False, True, False, True, True]


def test_certificates_in_force_over_a_span_include_the_one_at_its_start() -> None:
    assert CALIBRATION.between(6 * DAY, 16 * DAY) == (FIRST, SECOND)
    assert CALIBRATION.between(16 * DAY, 17 * DAY) == (SECOND,)
    assert CALIBRATION.between(0, DAY) == (BARE,)
