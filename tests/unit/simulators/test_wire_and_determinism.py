"""What the simulators publish passes the wire codec, and a seed fixes every byte."""

from __future__ import annotations

from coldchain.fleet import Fleet
from coldchain.wire import (
    MAX_TEMP_C,
    MIN_TEMP_C,
    decode_gateway_state,
    decode_readings,
    decode_status,
    parse_topic,
)
from simulators.outbound import GatewayMessage, ReadingsMessage, StatusMessage
from tests.unit.simulators.factories import HOUR_MS, Run, fleet, run, shipment, unit

_FAULTS = [
    {"kind": "probe_disconnected", "at": "10m", "duration": "20m", "sensor": "p1"},
    {"kind": "clock_skew", "at": "40m", "duration": "20m"},
]


def _fleet() -> Fleet:
    return fleet(
        [
            unit(faults=_FAULTS),
            unit("Z1", "freezer", -20.0, sensors=("p1",)),
            unit("U1", "ultra_low", -80.0, sensors=("p1",), log_interval_s=120),
        ],
        [
            shipment(
                loggers=("LOG-1", "LOG-2"),
                lane=[
                    {"name": "dock", "duration": "30m", "ambient_c": 20},
                    {"name": "flight", "duration": "2h", "ambient_c": 10, "connected": False},
                    {"name": "road", "duration": "1h", "ambient_c": 30},
                ],
            )
        ],
        faults=[{"kind": "gateway_offline", "site": "BSL", "at": "2h", "duration": "10m"}],
    )


def test_every_published_message_decodes_with_the_wire_codec() -> None:
    result = run(_fleet(), 5 * HOUR_MS)
    kinds = set()
    for message in result.messages:
        topic = parse_topic(message.topic)
        payload = message.payload()
        if isinstance(message, ReadingsMessage):
            decoded = decode_readings(topic, payload)
            assert decoded == list(message.readings)
            assert all(MIN_TEMP_C <= r.temp_c <= MAX_TEMP_C for r in decoded)
        elif isinstance(message, StatusMessage):
            assert decode_status(topic, payload) == message.status
        else:
            assert isinstance(message, GatewayMessage)
            assert decode_gateway_state(topic, payload) == message.state
        kinds.add((topic.source, topic.kind))
    assert kinds == {
        ("unit", "readings"),
        ("unit", "status"),
        ("logger", "readings"),
        ("logger", "status"),
        ("gateway", "status"),
    }


def test_seq_increases_per_device_in_logging_order() -> None:
    result = run(_fleet(), 5 * HOUR_MS)
    logged: dict[str, list[tuple[int, int]]] = {}
    for message in result.batches:
        for r in message.readings:
            logged.setdefault(r.device, []).append((r.seq, r.ts_ms))
    for device, pairs in logged.items():
        unique = sorted(set(pairs))
        assert len({s for s, _ in unique}) == len(unique), device  # one reading per seq
        if device.startswith("LOG"):
            continue  # uploads arrive out of order; checked in test_loggers
        seqs = [s for s, _ in pairs]
        assert seqs == sorted(seqs), device


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    def payloads(seed: int) -> list[bytes]:
        return [m.payload() for m in run(_fleet(), 3 * HOUR_MS, seed=seed).messages]

    assert payloads(3) == payloads(3)
    assert payloads(3) != payloads(4)


def test_batching_groups_readings_without_changing_them() -> None:
    single = run(_fleet(), 2 * HOUR_MS, seed=2)
    batched = run(_fleet(), 2 * HOUR_MS, seed=2, batch_s=1800)

    def units(r: Run) -> list[tuple[str, int, int, float]]:
        return sorted(
            (x.device, x.seq, x.ts_ms, x.temp_c)
            for m in r.batches
            if m.source.value == "unit"
            for x in m.readings
        )

    assert units(single) == units(batched)
    assert len(batched.batches) < len(single.batches)
