"""How a backup or restore tells its caller where it is: `progress(what, done, total)`.

`what` names the step ("catalog", "influx autogen.reading", "data dir"), `done` counts its
units so far (points for InfluxDB), `total` is None where it is not known beforehand (a
backup cannot count a series' points without reading them). `coldchain backup` and
`restore` draw it as a progress bar; a restore of millions of points takes minutes.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "no_progress"]

Progress = Callable[[str, int, int | None], None]


def no_progress(what: str, done: int, total: int | None) -> None:
    """The default: nobody is watching."""
