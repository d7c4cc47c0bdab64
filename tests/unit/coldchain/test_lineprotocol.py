from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldchain.lineprotocol import FieldValue, encode_point, format_float, reading_line
from coldchain.models import Reading, SourceKind
from tests.support.needs import LINE_PROTOCOL_CORPUS, needed_file


def _corpus_encode_cases() -> list[Any]:
    cases = json.loads(needed_file(LINE_PROTOCOL_CORPUS).read_text())["encode"]
    assert len(cases) == 115, "the corpus subset of tests/data/line-protocol/SOURCE.md"
    return [pytest.param(case, id=key) for key, case in sorted(cases.items())]


def _field_value(value: dict[str, Any]) -> FieldValue:
    ((kind, raw),) = value.items()
    if kind == "float":
        return float(raw)
    if kind == "int":
        return int(raw)
    if kind == "bool":
        return bool(raw)
    return str(raw)


@pytest.mark.parametrize("case", _corpus_encode_cases())
def test_encoder_agrees_with_influxdata_corpus(case: dict[str, Any]) -> None:
    point = case["input"]["point"]
    tags = {t["key"]: t["value"] for t in point["tags"]}
    fields = {f["key"]: _field_value(f["value"]) for f in point["fields"]}
    expected = case["output"]
    if "error" in expected or not fields or not point["name"]:
        with pytest.raises(ValueError):  # noqa: PT011 - every refusal is a ValueError
            encode_point(point["name"], tags, fields, point["time"])
        return
    # Our points always carry their tags sorted, as InfluxDB recommends; so does the corpus.
    assert encode_point(point["name"], tags, fields, point["time"]) == expected["result"]


@pytest.mark.parametrize(
    "name", ["ends in backslash\\", "line\nbreak", ""], ids=["backslash", "newline", "empty"]
)
def test_names_influxdb_1x_cannot_store_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="tag value"):
        encode_point("m", {"k": name}, {"f": 1.0}, 0)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_parses_back_to_the_same_float(value: float) -> None:
    assert float(format_float(value)) == value


def test_infinite_values_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot store"):
        format_float(float("inf"))


def test_reading_line_has_the_design_schema() -> None:
    reading = Reading("BSL", SourceKind.UNIT, "FRIDGE-01", "p1", 1763800000000, 5.0, 17, rh=40.0)
    assert reading_line(reading, 1763800000123) == (
        "reading,device=FRIDGE-01,sensor=p1,site=BSL,source=unit "
        "temp_c=5,seq=17i,rh=40,received_ms=1763800000123i 1763800000000"
    )
