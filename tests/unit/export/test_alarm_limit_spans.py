"""The alarm limits a placement was judged by, version by version (#22): cut to the
placement, and a profile change that leaves the limits as they were is no new entry."""

from __future__ import annotations

from api.export.inforce import LimitsInForce
from coldchain.judgement.limits import Limits
from coldchain.judgement.profiles import AlarmProfile, ProfileTimeline

OWN = Limits(2.0, 8.0, 1_800_000, "product VAX-1")
CRITICAL = AlarmProfile(critical_high_c=12.0, latching=True)
# The product's profile from 100; the unit's from 200 sets what the product's already does.
PRODUCT = ProfileTimeline((100, 300), (CRITICAL, AlarmProfile()))
UNIT = ProfileTimeline((200,), (AlarmProfile(latching=True),))


def test_each_version_in_force_is_cut_to_the_span_and_an_unchanged_one_continues() -> None:
    alarms = LimitsInForce.constant(OWN).with_profiles(PRODUCT, UNIT)
    strict = Limits(
        2.0,
        8.0,
        1_800_000,
        "product VAX-1",
        high_delay_ms=1_800_000,
        low_delay_ms=1_800_000,
        critical_high_c=12.0,
        latching=True,
    )
    latching = Limits(
        2.0,
        8.0,
        1_800_000,
        "product VAX-1",
        high_delay_ms=1_800_000,
        low_delay_ms=1_800_000,
        latching=True,
    )
    assert alarms.spans(50, 400) == [(50, 100, OWN), (100, 300, strict), (300, 400, latching)]
    assert alarms.spans(150, 250) == [(150, 250, strict)]


def test_one_version_throughout_is_one_span() -> None:
    assert LimitsInForce.constant(OWN).spans(0, 10) == [(0, 10, OWN)]
