"""Shipment loggers: lanes and shippers drive the payload; gaps end in out-of-order bursts."""

from __future__ import annotations

from tests.unit.simulators.factories import DAY_MS, HOUR_MS, fleet, run, shipment

_GAP_LANE = [
    {"name": "dock", "duration": "1h", "ambient_c": 20},
    {"name": "flight", "duration": "6h", "ambient_c": 12, "connected": False},
    {"name": "road", "duration": "2h", "ambient_c": 22},
]


def test_backfill_after_a_gap_is_out_of_order_and_partly_duplicated() -> None:
    the_fleet = fleet(shipments=[shipment(lane=_GAP_LANE, burst_size=6, duplicate_probability=0.5)])
    result = run(the_fleet, 10 * HOUR_MS, seed=3)
    (gap,) = result.events("connectivity_gap")
    reconnect = gap.end_ms
    assert reconnect is not None
    burst = [m for m in result.batches if m.due_ms == reconnect]
    assert len(burst) > 6
    firsts = [m.readings[0].seq for m in burst]
    assert firsts != sorted(firsts)  # out of order
    assert any(m.duplicate for m in burst)  # some twice
    assert all(r.ts_ms <= reconnect for m in burst for r in m.readings)
    # Nothing lost: every logged seq arrives at least once, with no holes.
    seqs = sorted({r.seq for m in result.batches for r in m.readings})
    assert seqs == list(range(len(seqs)))
    assert len(seqs) == 9 * 12
    assert gap.detail["readings"] == 6 * 12 + 1  # the gap, and the reconnect instant
    assert gap.alarm_expected


def test_passive_shipper_with_enough_pcm_holds_through_a_hot_stop() -> None:
    lane = [
        {"name": "tarmac", "duration": "3h", "ambient_c": 40},
        {"name": "road", "duration": "5h", "ambient_c": 22},
    ]
    result = run(fleet(shipments=[shipment(lane=lane)]), 9 * HOUR_MS)
    values = [v for _, v in result.values("LOG-1", "p1")]
    assert min(values) >= 2.0
    assert max(values) <= 8.0
    assert not result.events("excursion")


def test_passive_shipper_whose_pcm_runs_out_warms_to_an_excursion() -> None:
    lane = [
        {"name": "tarmac", "duration": "10h", "ambient_c": 40},
        {"name": "road", "duration": "2h", "ambient_c": 22},
    ]
    shipper = {"kind": "passive", "pcm_latent_kj": 200}
    result = run(fleet(shipments=[shipment(lane=lane, shipper=shipper)]), DAY_MS)
    (excursion,) = result.events("excursion")
    assert excursion.alarm_expected
    assert excursion.peak_c is not None
    assert excursion.peak_c > 12
    # 140 kJ of PCM at 0.6 W/K x 35 K lasts about 1.9 h before the payload warms.
    assert excursion.start_ms - result.batches[0].readings[0].ts_ms > 90 * 60_000


def test_active_shipper_regulates_until_its_battery_runs_out() -> None:
    lane = [{"name": "hot", "duration": "12h", "ambient_c": 35}]
    shipper = {"kind": "active", "autonomy": "6h"}
    result = run(fleet(shipments=[shipment(lane=lane, shipper=shipper)]), 13 * HOUR_MS)
    values = result.values("LOG-1", "p1")
    start = values[0][0]
    early = [v for t, v in values if t < start + 6 * HOUR_MS]
    assert min(early) >= 3.0
    assert max(early) <= 7.0
    assert result.events("excursion")
