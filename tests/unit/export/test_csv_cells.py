"""CSV injection (issue #20): text a spreadsheet would run as a formula is written as text,
with a leading single quote (OWASP); numbers, negative ones included, stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from api.export.csv_format import _row


def _cells(*values: object) -> list[str]:
    return next(csv.reader(io.StringIO(_row(values))))


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
        "=1+1\nsecond line",
    ],
)
def test_a_text_cell_that_would_be_a_formula_begins_with_a_quote(text: str) -> None:
    [cell] = _cells(text)
    assert cell.startswith("'")
    assert cell[1] in "=+-@"


def test_numbers_and_plain_text_are_left_as_they_are() -> None:
    assert _cells(-18.5, 5, "-18.5", 0.0, "BSL/FRIDGE-01", "moved - later", None, True) == [
        "-18.5",
        "5",
        "-18.5",
        "0.0",
        "BSL/FRIDGE-01",
        "moved - later",
        "",
        "yes",
    ]


def test_a_comment_line_neutralises_its_cells_too() -> None:
    line = _row(["finding", "=1+1"], comment=True)
    assert line == "# finding,'=1+1\n"
