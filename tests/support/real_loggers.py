"""The real Berlinger exports (tests/data/real-loggers, see its SOURCE.md) by the short
names the tests use."""

from __future__ import annotations

from pathlib import Path

from coldchain.loggers import LoggerFile, parse_logger_file
from tests.support.needs import REAL_LOGGERS, needed_file

FILES = {
    "fridgetag2l": "FridgeTag 2L/130500109088_202206081014.txt",
    "fridgetag2l_truncated": "FridgeTag 2L/test.txt",
    "ultralow": "FridgeTag UL/100800001215_202304201410.txt",
    "fridgetag2_60d": "FridgeTag 2/130400191542_202302140605.txt",
    "fridgetag2_4d": "FridgeTag 2/130400191544_202304201514.txt",
    "qtag_run2": "QTag CLm doc LR/RCPJ00010_02_202211090128.txt",
    "qtag_run3": "QTag CLm doc LR/RCPJ00010_03_202304201359.txt",
}
INTACT = [name for name in FILES if name != "fridgetag2l_truncated"]


def real_path(name: str) -> Path:
    return needed_file(REAL_LOGGERS / FILES[name])


def real_text(name: str) -> str:
    """The file's text with its CRLF line ends kept."""
    return real_path(name).read_bytes().decode("utf-8")


def real_file(name: str) -> LoggerFile:
    return parse_logger_file(real_path(name))
