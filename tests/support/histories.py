"""Seeded sensor histories for the judgement agreement test (issue #18): what a probe in a
2–8 °C refrigerator could log, every 1 to 60 minutes, over a few hours to two days, with
the things that make excursion judgement hard put in on purpose and listed.

A history is a continuous temperature (a compressor's wobble around 5 °C, and events:
slow drifts out of range shorter and longer than the 30-minute alarm delay, door
openings, values dancing on a limit before or after an alarm, a crossing from one side of
the range straight to the other) sampled every interval, with a few seconds of clock
jitter or none (every third history's clock is exact). Then, on the readings: blips (one
reading out), invalid values (error codes 85 and −127 °C, values outside the probe's
range; inside excursions and outside), gaps (one or two readings missing, hours missing,
readings missing inside an excursion or just before one, so that its last reading inside
is more than 1.5 intervals old), and uneven steps: the last reading inside before an
excursion logged early, 1.25 to 1.75 intervals before the first one beyond (exactly 1.5,
the longest step that is no gap, now and then).

Every history has a focus (`FOCI`), the one thing it is sure to contain; the others come
at random. The same seed gives the same history.

Usage:
    for history in corpus(interval_min=5, count=17):
        history.readings       # ((ts_ms, value_c), ...) in time order
        history.injected       # what was put in, where
        history.describe()     # seed, interval, span and injections, for a failure message
    handovers()                # a product carried from one sensor to another mid-excursion
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALARM_DELAY_MS",
    "FOCI",
    "HIGH_C",
    "INTERVALS_MIN",
    "LOW_C",
    "MAX_SPAN_MS",
    "MINUTE_MS",
    "MIN_SPAN_MS",
    "T0",
    "HandOver",
    "History",
    "Injected",
    "Leg",
    "corpus",
    "generate",
    "handovers",
]

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
#: The product's storage condition: 2–8 °C, 30 minutes of alarm delay.
LOW_C: Final = 2.0
HIGH_C: Final = 8.0
ALARM_DELAY_MS: Final = 30 * MINUTE_MS
#: Every history starts a few seconds after this (2025-11-22T08:26:40Z).
T0: Final = 1_763_800_000_000
#: Logging intervals, in minutes: every one from 1 to 60.
INTERVALS_MIN: Final = tuple(range(1, 61))
#: Shortest and longest history.
MIN_SPAN_MS: Final = 3 * HOUR_MS
MAX_SPAN_MS: Final = 48 * HOUR_MS

#: Values that are not temperatures (coldchain.judgement.validity with the default settings):
#: DS18B20 error codes, and values outside the probe's range −100…70 °C.
ERROR_CODES_C: Final = (85.0, -127.0)
OUTSIDE_PROBE_C: Final = (70.5, 99.9, -100.5)

#: What a history is sure to contain, one per history in turn (`corpus`); these are also the
#: kinds of `Injected` (a long drift below the range is a "drift_long" with direction −1).
FOCI: Final = (
    "drift_long",  # out of range longer than the delay (an alarm)
    "drift_long_below",  # the same, below 2 °C
    "drift_short",  # out shorter than the delay (no alarm)
    "drift_near_delay",  # out for about the delay
    "door",  # a door opening: a few minutes out
    "dance",  # values dancing on a limit
    "dance_after_alarm",  # an alarm, then values dancing on the limit (hysteresis)
    "crossing",  # from one side of the range straight to the other
    "blip",  # single readings out
    "invalid_inside",  # invalid readings inside an excursion
    "invalid_outside",  # invalid readings, alone or a run, outside any excursion
    "gap_inside",  # readings missing inside an excursion
    "gap_before",  # the readings just before an excursion missing
    "gap_long",  # hours without a reading
    "gap_single",  # one or two readings missing
    "step_near_gap",  # the last reading inside 1.25–1.75 intervals before an excursion
)

_EVENT_FOCI: Final = frozenset(
    {"drift_long", "drift_long_below", "drift_short", "drift_near_delay", "door", "dance"}
    | {"dance_after_alarm", "crossing"}
)
#: The events laid out at random after the focus's, a door opening twice as often.
_EVENT_CHOICES: Final = (*sorted(_EVENT_FOCI), "door")
#: Foci that need a long excursion with several readings beyond the limit to work on.
_NEEDS_LONG_EXCURSION: Final = frozenset(
    {"invalid_inside", "gap_inside", "gap_before", "step_near_gap"}
)

Profile = Callable[[int], float]


@dataclass(frozen=True, slots=True)
class Injected:
    """One thing put into a history: `kind` (a `FOCI` name), over event
    times [start_ms, end_ms]; `direction` +1 above the range, −1 below, 0 neither;
    `note` says how (values, lengths)."""

    kind: str
    start_ms: int
    end_ms: int
    direction: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class History:
    """One sensor's readings, in time order, and what was put into them.

    Attributes:
        seed: makes it again: `generate(seed, interval_ms // MINUTE_MS)` (< 0: made by
            hand).
        focus: the `FOCI` entry it is sure to contain.
        interval_ms: how often the sensor logs.
        jitter_ms: how far a reading may be off its interval's beat (0: an exact clock).
        readings: (ts_ms, value_c), strictly increasing in time; invalid values included.
        injected: what was put in, in time order.
    """

    seed: int
    focus: str
    interval_ms: int
    jitter_ms: int
    readings: tuple[tuple[int, float], ...]
    injected: tuple[Injected, ...]

    @property
    def start_ms(self) -> int:
        return self.readings[0][0]

    @property
    def span_ms(self) -> int:
        return self.readings[-1][0] - self.readings[0][0]

    def minute(self, ts_ms: int) -> str:
        """`ts_ms` as minutes after the history's first reading."""
        return f"{(ts_ms - self.start_ms) / MINUTE_MS:+.2f}"

    def describe(self) -> str:
        """Seed, interval, span and what was injected (times in minutes after the start)."""
        again = f" (generate({self.seed}, {self.interval_ms // MINUTE_MS}))"
        head = (
            f"seed {self.seed}{again if self.seed >= 0 else ''}, every {self.interval_ms // MINUTE_MS} min, {len(self.readings)} readings over "
            f"{self.span_ms / HOUR_MS:.1f} h from ts {self.start_ms}, clock ±{self.jitter_ms} ms, "
            f"focus {self.focus}"
        )
        lines = [
            f"  {i.kind} [{self.minute(i.start_ms)}, {self.minute(i.end_ms)}] min"
            + (f" {'above' if i.direction > 0 else 'below'}" if i.direction else "")
            + (f": {i.note}" if i.note else "")
            for i in self.injected
        ]
        return "\n".join([head, *lines])

    def readings_text(self, from_ms: int, to_ms: int) -> str:
        """The readings in [from_ms, to_ms] as "minute value", one a line."""
        return "\n".join(
            f"  {ts} ({self.minute(ts)} min) {value:g}"
            for ts, value in self.readings
            if from_ms <= ts <= to_ms
        )


@dataclass(frozen=True, slots=True)
class Leg:
    """One sensor's part of a hand-over: its logging interval and readings."""

    sensor: str
    interval_ms: int
    readings: tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class HandOver:
    """A product carried from one sensor to the next (a batch timeline's hand-over), and
    the starts of the alarm excursions a tracker carried across the legs must find."""

    name: str
    legs: tuple[Leg, ...]
    alarm_starts_ms: tuple[int, ...]
    note: str


# -- the corpus ------------------------------------------------------------------------------


def corpus(interval_min: int, count: int) -> list[History]:
    """`count` histories logging every `interval_min` minutes; their foci take turns, so
    `count >= len(FOCI)` covers every one."""
    return [generate(interval_min * 1000 + index, interval_min) for index in range(count)]


def generate(seed: int, interval_min: int) -> History:
    """The history of `seed` (its focus: `FOCI[seed % 1000 % len(FOCI)]`)."""
    return _Builder(seed, interval_min).build()


class _Builder:
    """Lays events out in continuous time, samples them, then edits the readings."""

    def __init__(self, seed: int, interval_min: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.interval = interval_min * MINUTE_MS
        self.focus = FOCI[seed % 1000 % len(FOCI)]
        rng = self.rng
        # All histories of an interval start within the same half minute, so a batch of the
        # detector's holds one reading of each (the drive in the agreement test).
        self.start = T0 + rng.randrange(5_000, 35_000, 1_000)
        wanted = rng.randint(100, 300) * self.interval
        self.end = self.start + min(MAX_SPAN_MS, max(MIN_SPAN_MS, wanted))
        # Every third history's clock is exact (then a step is exactly the interval, and an
        # excursion can last exactly the delay); the others log a few seconds early or late.
        self.jitter = 0 if seed % 1000 % 3 == 0 else min(5_000, self.interval // 20)
        self.base_c = rng.uniform(4.6, 5.4)
        self.wobble_c = rng.uniform(0.2, 1.1)
        self.period_ms = rng.uniform(20, 90) * MINUTE_MS
        self.phase = rng.uniform(0, 2 * math.pi)
        # Events: their span [a, b), profile, and whether its values are exact (no noise).
        self.events: list[tuple[int, int, Profile, bool]] = []
        self.injected: list[Injected] = []
        self.times: list[int] = []
        self.values: list[float] = []
        self.event_of: list[int] = []  # index into self.events, -1 for the baseline
        self.removed: set[int] = set()
        self.touched: set[int] = set()  # readings whose value an edit set

    # -- continuous time ---------------------------------------------------------------------

    def base(self, t: int) -> float:
        return self.base_c + self.wobble_c * math.sin(2 * math.pi * t / self.period_ms + self.phase)

    def minutes(self, low: float, high: float) -> int:
        return round(self.rng.uniform(low, high) * MINUTE_MS)

    def quiet(self) -> int:
        """Time between two events: sometimes barely an interval or two, usually longer."""
        if self.rng.random() < 0.3:
            return round(self.rng.uniform(0.3, 3.0) * self.interval)
        return self.minutes(20, 240)

    def build(self) -> History:
        rng = self.rng
        cursor = self.start + max(2 * self.interval, self.minutes(10, 90))
        first = self.focus if self.focus in _EVENT_FOCI else None
        if self.focus in _NEEDS_LONG_EXCURSION:
            first = rng.choice(("drift_long", "drift_long_below", "dance_after_alarm"))
        while cursor < self.end:
            kind = first or rng.choice(_EVENT_CHOICES)
            first = None
            cursor = self.event(kind, cursor, long=self.focus in _NEEDS_LONG_EXCURSION)
            cursor += self.quiet()
        self.sample()
        self.edit()
        kept = [i for i in range(len(self.times)) if i not in self.removed]
        readings = tuple((self.times[i], self.values[i]) for i in kept)
        last = readings[-1][0]
        injected = sorted(
            (
                Injected(i.kind, i.start_ms, min(i.end_ms, last), i.direction, i.note)
                for i in self.injected
                if i.start_ms <= last
            ),
            key=lambda i: (i.start_ms, i.end_ms, i.kind),
        )
        return History(self.seed, self.focus, self.interval, self.jitter, readings, tuple(injected))

    def event(self, kind: str, a: int, *, long: bool) -> int:
        """Lays out the event `kind` from `a`; returns where it ends."""
        rng, delay = self.rng, ALARM_DELAY_MS
        direction = -1 if kind == "drift_long_below" else rng.choice((1, 1, -1))
        if kind in ("drift_long", "drift_long_below", "drift_short", "drift_near_delay"):
            if kind == "drift_short":
                beyond = round(rng.uniform(0.1, 0.95) * delay)
            elif kind == "drift_near_delay":
                beyond = round(rng.uniform(0.9, 1.15) * delay)
            else:
                beyond = round(rng.uniform(1.1, 6.0) * delay)
                if long:  # several readings beyond, whatever the interval
                    beyond = max(beyond, round(rng.uniform(4, 7) * self.interval))
            ramp_in, ramp_out = self.minutes(5, 60), self.minutes(5, 60)
            excess = rng.uniform(0.2, 4.0)
            profile = self.drift(a, ramp_in, beyond, ramp_out, direction, excess)
            name = "drift_long" if kind == "drift_long_below" else kind
            b = a + ramp_in + beyond + ramp_out
            note = f"{beyond / MINUTE_MS:.1f} min beyond, up to {excess + 0.05:.2f} °C past"
            self.add(name, a + ramp_in, a + ramp_in + beyond, direction, note, a, b, profile)
            return b
        if kind == "door":
            out, settle = self.minutes(1, 8), self.minutes(5, 20)
            peak = HIGH_C + rng.uniform(1.0, 6.0)
            b = a + out + settle
            note = f"{out / MINUTE_MS:.1f} min at {peak:.1f} °C"
            self.add("door", a, a + out, 1, note, a, b, self.door(a, out, settle, peak))
            return b
        if kind in ("dance", "dance_after_alarm"):
            lead = 0
            if kind == "dance_after_alarm":
                lead = max(self.minutes(35, 90), round(rng.uniform(2, 5) * self.interval))
                if long:
                    lead = max(lead, round(rng.uniform(4, 7) * self.interval))
            ramp_in, ramp_out = self.minutes(5, 40), self.minutes(5, 40)
            dance = max(self.minutes(20, 180), 4 * self.interval)
            profile = self.dance(a, ramp_in, lead, dance, ramp_out, direction)
            b = a + ramp_in + lead + dance + ramp_out
            note = f"{lead / MINUTE_MS:.0f} min out, then {dance / MINUTE_MS:.0f} min dancing"
            self.add(kind, a + ramp_in, a + ramp_in + lead + dance, direction, note, a, b, profile)
            return b
        assert kind == "crossing", kind
        ramp_in, ramp_out = self.minutes(5, 40), self.minutes(5, 40)
        first, second = self.minutes(5, 120), self.minutes(5, 120)
        if long:
            first = max(first, round(rng.uniform(4, 7) * self.interval))
        far1, far2 = rng.uniform(0.5, 3.0), rng.uniform(0.5, 2.0)
        profile = self.crossing(a, (ramp_in, first, second, ramp_out), direction, far1, far2)
        b = a + ramp_in + first + second + ramp_out
        sides = "above then below" if direction > 0 else "below then above"
        note = f"{sides}: {first / MINUTE_MS:.0f} min, then {second / MINUTE_MS:.0f} min"
        end = a + ramp_in + first + second
        self.add("crossing", a + ramp_in, end, direction, note, a, b, profile)
        return b

    def add(
        self,
        kind: str,
        start: int,
        end: int,
        direction: int,
        note: str,
        a: int,
        b: int,
        profile: Profile,
    ) -> None:
        self.events.append((a, b, profile, kind.startswith("dance")))
        self.injected.append(Injected(kind, start, end, direction, note))

    @staticmethod
    def limit(direction: int) -> float:
        return HIGH_C if direction > 0 else LOW_C

    def ramp(self, t: int, a: int, length: int, frm: float, to: float) -> float:
        return frm + (to - frm) * min(1.0, max(0.0, (t - a) / max(1, length)))

    def drift(
        self, a: int, ramp_in: int, beyond: int, ramp_out: int, direction: int, excess: float
    ) -> Profile:
        """Slowly out through the limit, `beyond` ms past it (a trapezoid up to `excess`),
        then slowly back (the baseline takes over once the event ends)."""
        limit = self.limit(direction)

        def value(t: int) -> float:
            if t < a + ramp_in:
                return self.ramp(t, a, ramp_in, self.base(t), limit)
            u = t - a - ramp_in
            if u < beyond:
                shape = min(1.0, 4 * u / beyond, 4 * (beyond - u) / beyond)
                return limit + direction * (0.05 + excess * shape)
            return self.ramp(t, a + ramp_in + beyond, ramp_out, limit, self.base(t))

        return value

    def door(self, a: int, out: int, settle: int, peak: float) -> Profile:
        def value(t: int) -> float:
            if t < a + out:
                return peak
            return self.base(t) + (peak - self.base(t)) * math.exp(-4 * (t - a - out) / settle)

        return value

    def dance(
        self, a: int, ramp_in: int, lead: int, dance: int, ramp_out: int, direction: int
    ) -> Profile:
        """To the limit, `lead` ms clearly past it, then each reading somewhere on the
        limit: past it, on it, inside within the hysteresis, on the hysteresis, clear;
        then back."""
        rng, limit = self.rng, self.limit(direction)

        def value(t: int) -> float:
            if t < a + ramp_in:
                return self.ramp(t, a, ramp_in, self.base(t), limit)
            u = t - a - ramp_in
            if u < lead:
                return limit + direction * rng.uniform(0.3, 1.0)
            if u < lead + dance:
                past, clear = rng.uniform(0.01, 0.5), rng.uniform(0.31, 0.8)
                within = rng.uniform(0.01, 0.29)  # inside, but not by the hysteresis (0.3)
                offset = rng.choices((past, 0.0, -within, -0.3, -clear), (40, 10, 30, 5, 15))[0]
                return limit + direction * offset
            back = a + ramp_in + lead + dance
            return self.ramp(t, back, ramp_out, limit - direction * 0.3, self.base(t))

        return value

    def crossing(
        self, a: int, lengths: tuple[int, int, int, int], direction: int, far1: float, far2: float
    ) -> Profile:
        """Out past one limit for `first` ms, then at once past the other for `second`, then
        back (`lengths`: ramp in, first, second, ramp out)."""
        ramp_in, first, second, ramp_out = lengths
        near, far = self.limit(direction), self.limit(-direction)

        def value(t: int) -> float:
            if t < a + ramp_in:
                return self.ramp(t, a, ramp_in, self.base(t), near)
            u = t - a - ramp_in
            if u < first:
                return near + direction * far1
            if u < first + second:
                return far - direction * far2
            back = a + ramp_in + first + second
            return self.ramp(t, back, ramp_out, far - direction * far2, self.base(t))

        return value

    # -- sampling --------------------------------------------------------------------------

    def sample(self) -> None:
        """A reading every interval, a few seconds of jitter either way, 0.01 °C resolution;
        a little noise, except where values dance on a limit exactly."""
        rng, events = self.rng, self.events
        jitter = self.jitter
        e, k = 0, 0
        while (nominal := self.start + k * self.interval) < self.end:
            t = nominal + rng.randint(-jitter, jitter)
            while e < len(events) and events[e][1] <= t:
                e += 1
            if e < len(events) and events[e][0] <= t:
                _, _, profile, exact = events[e]
                value, event = profile(t), e
            else:
                value, event, exact = self.base(t), -1, False
            if not exact:
                value += rng.gauss(0.0, 0.03)
            self.times.append(t)
            self.values.append(round(value, 2))
            self.event_of.append(event)
            k += 1

    # -- editing the readings ----------------------------------------------------------------

    def edit(self) -> None:
        """The focus's edit, and now and then others."""
        rng = self.rng
        for kind in (
            "blip",
            "invalid_inside",
            "invalid_outside",
            "gap_inside",
            "gap_before",
            "gap_single",
            "gap_long",
            "step_near_gap",
        ):
            if kind == self.focus or rng.random() < 0.12:
                getattr(self, kind)()

    def beyond(self, i: int) -> int:
        value = self.values[i]
        return 1 if value > HIGH_C else -1 if value < LOW_C else 0

    def free(self, i: int) -> bool:
        """Reading `i` is still there and unedited."""
        return 0 < i < len(self.times) - 1 and i not in self.removed and i not in self.touched

    def runs(self) -> list[tuple[int, int, int]]:
        """Runs (first, last, direction) of consecutive readings of an event beyond the
        same limit, all still free."""
        out: list[tuple[int, int, int]] = []
        i = 0
        while i < len(self.times):
            d = self.beyond(i)
            if d == 0 or self.event_of[i] < 0 or not self.free(i):
                i += 1
                continue
            j = i
            while j + 1 < len(self.times) and self.beyond(j + 1) == d and self.free(j + 1):
                j += 1
            out.append((i, j, d))
            i = j + 1
        return out

    def baseline(self) -> list[int]:
        return [i for i, e in enumerate(self.event_of) if e < 0 and self.free(i)]

    def note(self, kind: str, first: int, last: int, direction: int, note: str) -> None:
        self.injected.append(Injected(kind, self.times[first], self.times[last], direction, note))

    def invalid_value(self) -> float:
        return self.rng.choice(ERROR_CODES_C + ERROR_CODES_C + OUTSIDE_PROBE_C)

    def blip(self) -> None:
        rng, candidates = self.rng, self.baseline()
        for i in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
            direction = rng.choice((1, 1, -1))
            value = (
                HIGH_C + rng.uniform(0.1, 6.0) if direction > 0 else LOW_C - rng.uniform(0.1, 4.0)
            )
            self.values[i] = round(value, 2)
            self.touched.add(i)
            self.note("blip", i, i, direction, f"{self.values[i]:g} °C")

    def invalid_inside(self) -> None:
        rng = self.rng
        for first, last, direction in rng.sample(self.runs(), min(2, len(self.runs()))):
            count = rng.randint(1, min(3, last - first + 1))
            at = rng.randint(first, last - count + 1)
            values = [self.invalid_value() for _ in range(count)]
            for offset, value in enumerate(values):
                self.values[at + offset] = value
                self.touched.add(at + offset)
            self.note("invalid_inside", at, at + count - 1, direction, f"{values}")

    def invalid_outside(self) -> None:
        rng, candidates = self.rng, self.baseline()
        for at in rng.sample(candidates, min(len(candidates), rng.randint(1, 2))):
            count = rng.choice((1, 1, rng.randint(2, 8)))
            span = [i for i in range(at, at + count) if self.free(i) and self.event_of[i] < 0]
            if not span:
                continue
            values = [self.invalid_value() for _ in span]
            for i, value in zip(span, values, strict=True):
                self.values[i] = value
                self.touched.add(i)
            self.note("invalid_outside", span[0], span[-1], 0, f"{values}")

    def remove(self, kind: str, indices: list[int], direction: int = 0) -> None:
        indices = [i for i in indices if self.free(i)]
        if not indices:
            return
        self.removed.update(indices)
        minutes = (self.times[indices[-1]] - self.times[indices[0]]) / MINUTE_MS
        note = f"{len(indices)} readings missing over {minutes:.0f} min"
        self.note(kind, indices[0], indices[-1], direction, note)

    def gap_inside(self) -> None:
        rng = self.rng
        runs = [r for r in self.runs() if r[1] - r[0] >= 2]
        for first, last, direction in rng.sample(runs, min(2, len(runs))):
            count = rng.randint(1, last - first - 1)
            at = rng.randint(first + 1, last - count)
            self.remove("gap_inside", list(range(at, at + count)), direction)

    def gap_before(self) -> None:
        rng = self.rng
        runs = [r for r in self.runs() if not self.beyond(r[0] - 1)]
        for first, _, direction in rng.sample(runs, min(2, len(runs))):
            count = rng.randint(1, 3)
            before = [i for i in range(first - count, first) if self.beyond(i) == 0]
            self.remove("gap_before", before, direction)

    def gap_single(self) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(1, len(self.times) - 2)
            self.remove("gap_single", list(range(at, at + rng.randint(1, 2))))

    def step_near_gap(self) -> None:
        """Before up to three excursions: their last reading inside moved earlier, to 1.25–1.75
        intervals (a third of the time exactly 1.5) before the first reading beyond."""
        rng, times = self.rng, self.times
        runs = [r for r in self.runs() if self.beyond(r[0] - 1) == 0 and self.free(r[0] - 1)]
        for first, _, direction in rng.sample(runs, min(3, len(runs))):
            factor = 1.5 if rng.random() < 1 / 3 else rng.uniform(1.25, 1.75)
            at = times[first] - round(factor * self.interval)
            if not times[first - 2] < at:
                continue
            times[first - 1] = at
            self.touched.add(first - 1)
            note = f"last inside {factor:.3f} intervals before the first beyond"
            self.note("step_near_gap", first - 1, first, direction, note)

    def gap_long(self) -> None:
        rng = self.rng
        length = min(rng.uniform(1, 6) * HOUR_MS, (self.end - self.start) / 3)
        count = max(2, round(length / self.interval))
        at = rng.randrange(1, max(2, len(self.times) - count - 1))
        self.remove("gap_long", list(range(at, at + count)))


# -- hand-overs --------------------------------------------------------------------------------


def _leg(sensor: str, interval_min: int, first_ms: int, last_ms: int, out: dict[int, float]) -> Leg:
    """Readings every `interval_min` from `first_ms` to `last_ms`: `out[ts]` where given,
    else a healthy wobble around 5 °C."""
    interval = interval_min * MINUTE_MS
    readings = tuple(
        (ts, out.get(ts, round(5.0 + 0.3 * math.sin(ts / (7 * MINUTE_MS)), 2)))
        for ts in range(first_ms, last_ms + 1, interval)
    )
    return Leg(sensor, interval, readings)


def handovers() -> list[HandOver]:
    """A batch handed from a refrigerator's probe to a shipment's logger while it is out of
    range: the batch timeline carries the excursion across (one tracker, both legs)."""
    h = T0 + 10 * HOUR_MS  # the hand-over
    m = MINUTE_MS

    def at(first: int, last: int, step: int, value: float) -> dict[int, float]:
        return {h + k * m: value for k in range(first, last + 1, step)}

    return [
        HandOver(
            "47-min-at-12C",
            (
                _leg("fridge/p1", 5, h - 180 * m, h - 5 * m, at(-20, -5, 5, 12.0)),
                _leg("logger/p1", 3, h, h + 180 * m, at(0, 27, 3, 12.0)),
            ),
            (h - 20 * m,),
            "12 °C from 20 min before the hand-over (5-min probe) to 27 min after (3-min "
            "logger): 47 min, one alarm excursion; neither leg alone lasts the delay",
        ),
        HandOver(
            "below-range-15-then-1-min",
            (
                _leg("fridge/p1", 15, h - 300 * m, h - 15 * m, at(-15, -15, 15, 0.5)),
                _leg("logger/p1", 1, h, h + 120 * m, at(0, 27, 1, 0.5)),
            ),
            (h - 15 * m,),
            "0.5 °C from the 15-min probe's last reading to 27 min after the hand-over "
            "(1-min logger): counted from the probe's last reading inside, 57 min",
        ),
        HandOver(
            "two-blips-either-side",
            (
                _leg("fridge/p1", 5, h - 180 * m, h - 5 * m, at(-25, -10, 5, 12.0)),
                _leg("logger/p1", 3, h, h + 180 * m, at(0, 18, 3, 12.0)),
            ),
            (),
            "12 °C for 15 min on the probe, back inside before the hand-over, then 18 min "
            "on the logger: two short excursions, no alarm",
        ),
    ]
