"""MKT (USP <1079.2>): hand-checked values, the gas constant the chapter states, the
function's own documented examples, and the properties any MKT must have."""

from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldchain.mkt import GAS_CONSTANT_J_PER_MOL_K, MktAccumulator, mean_kinetic_temperature

# Hand check, ΔH = 83.144 kJ/mol, R = 8.3144 J/(mol·K) as USP <1079.2> states it: a = ΔH/R
# = 10000 K exactly. 5 °C = 278.15 K: a/T = 35.9518; 25 °C = 298.15 K: a/T = 33.5402; the
# factors differ by e^2.4116 = 11.15. Equal weights: ln(mean) = -33.5402 + ln((1 + 1/11.15)
# / 2) = -34.1475, T = a / 34.1475 = 292.848 K = 19.698 °C. Weights 3:1: ln(mean) = -33.5402
# + ln((1 + 3/11.15) / 4) = -34.6938, T = 288.282 K = 15.132 °C. (Both re-checked with
# 40-digit decimal arithmetic: 19.697721 °C and 15.132218 °C; with CODATA's R =
# 8.314462618 they would be 19.697694 °C and 15.132194 °C.)


def _by_hand(temps: list[float], weights: list[float], delta_h: float = 83.144) -> float:
    a = delta_h * 1000 / 8.3144
    mean = sum(w * math.exp(-a / (t + 273.15)) for t, w in zip(temps, weights, strict=True))
    return a / -math.log(mean / sum(weights)) - 273.15


def test_the_gas_constant_is_the_one_usp_1079_2_states() -> None:
    assert GAS_CONSTANT_J_PER_MOL_K == 8.3144
    # ΔH/R = 10,000 K: the chapter's figure, to the last digit the CODATA value would move.
    assert mean_kinetic_temperature([5.0, 25.0]) == pytest.approx(19.697721, abs=2e-6)
    assert mean_kinetic_temperature([5.0, 25.0], weights=[3, 1]) == pytest.approx(
        15.132218, abs=2e-6
    )


def test_the_documented_examples_say_what_the_function_computes() -> None:
    doc = inspect.getdoc(mean_kinetic_temperature) or ""
    examples = re.findall(r"^\s*(mean_kinetic_temperature\(.*\))\s+# ([\d.]+) °C", doc, re.M)
    assert len(examples) == 2, doc
    for call, claimed in examples:
        value = eval(call, {"mean_kinetic_temperature": mean_kinetic_temperature})
        assert f"{value:.2f}" == claimed, call


def test_equal_weights_match_the_hand_checked_value() -> None:
    assert mean_kinetic_temperature([5.0, 25.0]) == pytest.approx(19.69772, abs=1e-4)
    assert mean_kinetic_temperature([5.0, 25.0]) == pytest.approx(_by_hand([5, 25], [1, 1]))


def test_unequal_intervals_weight_each_value_by_its_duration() -> None:
    # 5 °C for 45 min then 25 °C for 15 min equals four equally spaced readings 5, 5, 5, 25.
    weighted = mean_kinetic_temperature([5.0, 25.0], weights=[2700, 900])
    assert weighted == pytest.approx(mean_kinetic_temperature([5.0, 5.0, 5.0, 25.0]))
    assert weighted == pytest.approx(15.13222, abs=1e-4)


def test_a_product_specific_activation_energy_is_used() -> None:
    lower = mean_kinetic_temperature([5.0, 25.0], delta_h_kj_per_mol=60.0)
    assert lower == pytest.approx(_by_hand([5, 25], [1, 1], 60.0))
    assert lower < mean_kinetic_temperature([5.0, 25.0])  # lower ΔH: closer to the mean


def test_usp_style_monthly_example() -> None:
    # Twelve monthly means, the shape of the chapter's example; 25.16353 °C by 40-digit
    # decimal arithmetic, against an arithmetic mean of 24.5 °C.
    months = [19.5, 20.1, 22.3, 24.8, 26.9, 28.4, 29.6, 29.1, 27.2, 24.5, 21.7, 19.9]
    assert mean_kinetic_temperature(months) == pytest.approx(_by_hand(months, [1] * 12))
    assert mean_kinetic_temperature(months) == pytest.approx(25.16353, abs=1e-4)


def test_a_single_reading_is_its_own_mkt() -> None:
    assert mean_kinetic_temperature([4.2], weights=[60]) == pytest.approx(4.2)


@pytest.mark.parametrize(
    ("temps", "weights", "problem"),
    [
        ([], None, "non-empty"),
        ([5.0, float("nan")], None, "finite"),
        ([-300.0], None, "-273.15"),
        ([5.0, 6.0], [1.0], "one per temperature"),
        ([5.0], [-1.0], "not negative"),
        ([5.0], [0.0], "sum to zero"),
    ],
)
def test_bad_input_is_refused_naming_the_problem(
    temps: list[float], weights: list[float] | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        mean_kinetic_temperature(temps, weights=weights)


def test_accumulating_in_chunks_equals_all_at_once() -> None:
    rng = np.random.default_rng(7)
    temps = rng.uniform(-80, 40, 1000)
    weights = rng.uniform(0, 600, 1000)
    accumulator = MktAccumulator()
    for part in range(0, 1000, 137):
        accumulator.add(temps[part : part + 137], weights[part : part + 137])
    assert accumulator.value_c() == pytest.approx(mean_kinetic_temperature(temps, weights))


def test_a_part_of_the_sums_is_the_mkt_of_that_part() -> None:
    accumulator = MktAccumulator()
    temps = np.array([5.0, 6.0, 25.0, 7.0])
    weights = np.array([60.0, 60.0, 60.0, 30.0])
    terms = accumulator.add(temps, weights)
    part = accumulator.part(float(weights[2:].sum()), float(terms[2:].sum()))
    assert part.value_c() == pytest.approx(mean_kinetic_temperature(temps[2:], weights[2:]))
    assert accumulator.value_c() == pytest.approx(mean_kinetic_temperature(temps, weights))


def test_merging_with_a_scale_halves_the_other_weights() -> None:
    first, second = MktAccumulator(), MktAccumulator()
    first.add(np.array([5.0]), np.array([2.0]))
    second.add(np.array([25.0]), np.array([2.0]))
    first.merge(second, 0.5)
    assert first.value_c() == pytest.approx(mean_kinetic_temperature([5.0, 25.0], [2.0, 1.0]))


temperatures = st.lists(st.floats(-90, 60), min_size=1, max_size=50)


@given(temperatures, st.data())
def test_mkt_lies_between_min_and_max_and_not_below_the_mean(
    temps: list[float], data: st.DataObject
) -> None:
    weights = data.draw(st.lists(st.floats(0.001, 1e6), min_size=len(temps), max_size=len(temps)))
    mkt = mean_kinetic_temperature(temps, weights)
    mean = float(np.average(temps, weights=weights))
    tolerance = 1e-6 * max(1.0, abs(mkt))
    assert min(temps) - tolerance <= mkt <= max(temps) + tolerance
    assert mkt >= mean - tolerance  # Jensen: the Arrhenius factor is convex in T


@given(st.floats(-90, 60), st.integers(1, 100))
def test_a_constant_series_has_that_constant_as_mkt(value: float, n: int) -> None:
    assert mean_kinetic_temperature([value] * n) == pytest.approx(value, abs=1e-9)
