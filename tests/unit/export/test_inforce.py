"""Limits by time: each moment gets the version then in force, a reading at the change
already the new one; one version costs no lookup."""

from __future__ import annotations

import numpy as np

from api.export.inforce import LimitsInForce
from coldchain.judgement.limits import Limits

OLD = Limits(2.0, 8.0, 1_800_000, "product VAX-3")
NEW = Limits(2.0, 7.0, 1_800_000, "product VAX-3")


def test_each_moment_is_judged_by_the_version_then_in_force() -> None:
    in_force = LimitsInForce([0, 1_000], [OLD, NEW])
    assert (in_force.at(-5), in_force.at(999), in_force.at(1_000), in_force.at(5_000)) == (
        OLD,
        OLD,
        NEW,
        NEW,
    )
    low, high = in_force.bounds(np.array([0, 999, 1_000, 2_000], dtype=np.int64))
    assert np.asarray(high).tolist() == [8.0, 8.0, 7.0, 7.0]
    assert np.asarray(low).tolist() == [2.0] * 4
    assert in_force.single is None


def test_one_version_gives_scalars() -> None:
    in_force = LimitsInForce.constant(OLD)
    assert in_force.single == OLD
    assert in_force.bounds(np.array([1, 2], dtype=np.int64)) == (2.0, 8.0)
