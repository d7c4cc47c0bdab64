"""What a test needs from outside its own code: a system program or a reference data file.

A missing one fails the test and says how to get it. `make test` on a machine without it
must not go green: a skip there would hide that nothing was checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = [
    "LINE_PROTOCOL_CORPUS",
    "REAL_LOGGERS",
    "missing",
    "needed_file",
    "needed_program",
]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
#: Real Berlinger Fridge-tag and Q-tag exports (MIT OR Apache-2.0, see its SOURCE.md).
REAL_LOGGERS = DATA_DIR / "real-loggers" / "msupply-berlinger-fridgetag-qtag" / "data"
#: InfluxData's line-protocol test corpus, a subset (MIT, see its SOURCE.md).
LINE_PROTOCOL_CORPUS = DATA_DIR / "line-protocol" / "corpus-subset.json"


def missing(what: str, how: str) -> NoReturn:
    """Fail the test because `what` is not on this machine; `how` says how to get it."""
    pytest.fail(f"{what} is missing: {how}", pytrace=False)


def needed_file(path: Path) -> Path:
    """`path`, a reference data file of the repository's."""
    if not path.exists():
        missing(
            str(path),
            "it is part of the repository (tests/data/, see its SOURCE.md files); "
            "`git checkout -- tests/data` restores it",
        )
    return path


def needed_program(name: str, debian_package: str) -> str:
    """The path of the program `name` on PATH."""
    found = shutil.which(name)
    if found is None:
        missing(f"the program {name}", f"`make deps` installs it (Debian package {debian_package})")
    return found
