from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldchain.errors import PayloadError
from coldchain.models import Reading, SourceKind
from coldchain.wire import (
    announces_catalog_change,
    decode_gateway_state,
    decode_readings,
    decode_status,
    encode_readings,
    parse_topic,
    readings_topic,
    ts_ms_from_wire,
)

TOPIC = parse_topic("coldchain/v1/BSL/logger/LOG-001/readings")


def test_design_batch_example_decodes() -> None:
    payload = b'{"device": "LOG-001", "readings": [{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.1, "seq": 17}]}'
    [reading] = decode_readings(TOPIC, payload)
    assert reading == Reading("BSL", SourceKind.LOGGER, "LOG-001", "p1", 1763800000000, 5.1, 17)


def test_design_single_reading_example_decodes_rfc3339_with_offset() -> None:
    payload = b'{"sensor": "p1", "ts": "2026-11-22T10:00:00.000+01:00", "temp_c": 5.1, "seq": 18}'
    [reading] = decode_readings(TOPIC, payload)
    assert reading.ts_ms == ts_ms_from_wire("2026-11-22T09:00:00Z")
    assert reading.seq == 18


def test_optional_rh_and_unknown_keys_are_accepted() -> None:
    payload = (
        b'{"sensor": "p1", "ts": 1763800000000, "temp_c": -70, "seq": 1, "rh": 40.5, "fw": "1.2"}'
    )
    [reading] = decode_readings(TOPIC, payload)
    assert reading.rh == 40.5
    assert reading.temp_c == -70.0
    assert isinstance(reading.temp_c, float)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe{}", "not valid UTF-8 JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"sensor": "p1", "temp_c": 5.0, "seq": 1}', "ts: missing"),
        (b'{"sensor": "p1", "ts": 1763800000000, "seq": 1}', "temp_c: missing"),
        (b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0}', "seq: missing"),
        (b'{"ts": 1763800000000, "temp_c": 5.0, "seq": 1}', "sensor: missing"),
        (
            b'{"sensor": "p1", "ts": 1763800000000, "temp_c": "5.0", "seq": 1}',
            "temp_c: expected a number, got '5.0'",
        ),
        (
            b'{"sensor": "p1", "ts": 1763800000000, "temp_c": true, "seq": 1}',
            "temp_c: expected a number",
        ),
        (
            b'{"sensor": "p1", "ts": 1763800000000, "temp_c": -300, "seq": 1}',
            "temp_c: -300 is outside",
        ),
        (
            b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 1e9, "seq": 1}',
            "temp_c: 1000000000.0 is outside",
        ),
        (
            b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": -1}',
            "seq: expected a whole number",
        ),
        (
            b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": 1.5}',
            "seq: expected a whole number",
        ),
        (
            b'{"sensor": "p1", "ts": 1763800000000.5, "temp_c": 5.0, "seq": 1}',
            "ts: expected epoch milliseconds",
        ),
        (
            b'{"sensor": "p1", "ts": "yesterday", "temp_c": 5.0, "seq": 1}',
            "ts: not an RFC 3339 time",
        ),
        (
            b'{"sensor": "p1", "ts": "2026-11-22T10:00:00", "temp_c": 5.0, "seq": 1}',
            "needs an offset",
        ),
        (b'{"sensor": "p1", "ts": 17638000, "temp_c": 5.0, "seq": 1}', "lies outside 2000-01-01"),
        (
            b'{"sensor": "p 1", "ts": 1763800000000, "temp_c": 5.0, "seq": 1}',
            "sensor: expected an id",
        ),
        (
            b'{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": 1, "rh": 140}',
            "rh: 140 is outside",
        ),
        (
            b'{"device": "LOG-002", "readings": [{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": 1}]}',
            "payload names 'LOG-002' but the topic names 'LOG-001'",
        ),
        (b'{"device": "LOG-001", "readings": []}', "readings: expected a non-empty list"),
        (b'{"device": "LOG-001", "readings": [7]}', "readings[0]: expected an object"),
    ],
)
def test_bad_payload_is_refused_with_a_reason_naming_the_field(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=None) as caught:
        decode_readings(TOPIC, payload)
    assert reason in str(caught.value)


def test_one_bad_reading_refuses_the_whole_batch_and_names_its_index_and_seq() -> None:
    good = {"sensor": "p1", "ts": 1763800000000, "temp_c": 5.0, "seq": 1}
    bad = {"sensor": "p1", "ts": 1763800060000, "temp_c": float("nan"), "seq": 881}
    payload = orjson.dumps({"readings": [good, bad]})
    # orjson writes NaN as null, which is as wrong as NaN for a temperature.
    with pytest.raises(PayloadError) as caught:
        decode_readings(TOPIC, payload)
    assert "readings[1].temp_c: expected a number, got None (device=LOG-001 seq=881)" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("coldchain/v2/BSL/unit/U1/readings", "expected coldchain/v1/"),
        ("coldchain/v1/BSL/fridge/U1/readings", "unknown source 'fridge'"),
        ("coldchain/v1/BSL/unit/U1/temperature", "unknown message kind"),
        ("coldchain/v1/BSL/gateway/GW1/readings", "a gateway publishes only status"),
        ("coldchain/v1/B SL/unit/U1/readings", "topic site"),
        ("coldchain/v1/BSL/unit/U1/readings/extra", "expected coldchain/v1/"),
    ],
)
def test_unknown_topics_are_refused(topic: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_topic(topic)
    assert reason in str(caught.value)


def test_status_and_gateway_state() -> None:
    topic = parse_topic("coldchain/v1/BSL/unit/FRIDGE-01/status")
    status = decode_status(topic, b'{"ts": 1763800000000, "battery_pct": 87, "rssi_dbm": -71}')
    assert (status.battery_pct, status.rssi_dbm) == (87.0, -71.0)
    with pytest.raises(PayloadError, match="battery_pct: missing"):
        decode_status(topic, b'{"ts": 1763800000000}')
    gateway = parse_topic("coldchain/v1/BSL/gateway/GW-1/status")
    assert gateway.source == "gateway"
    assert decode_gateway_state(gateway, b"offline") == "offline"
    with pytest.raises(PayloadError, match="expected 'online' or 'offline'"):
        decode_gateway_state(gateway, b"maybe")


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)
readings = st.builds(
    Reading,
    site=st.just("BSL"),
    source=st.just(SourceKind.LOGGER),
    device=st.just("LOG-001"),
    sensor=ids,
    ts_ms=st.integers(946_684_800_000, 4_102_444_799_999),
    temp_c=st.floats(-273.15, 1000, allow_nan=False),
    seq=st.integers(0, 2**53),
    rh=st.none() | st.floats(0, 100),
)


@given(st.lists(readings, min_size=1, max_size=20))
def test_encode_then_decode_round_trips(batch: list[Reading]) -> None:
    topic = parse_topic(readings_topic("BSL", SourceKind.LOGGER, "LOG-001"))
    assert decode_readings(topic, encode_readings("LOG-001", batch)) == batch


def test_a_batch_can_announce_a_catalog_change_and_ingest_ignores_it() -> None:
    reading = Reading("BSL", SourceKind.LOGGER, "LOG-1", "p1", 1_700_000_000_000, 5.0, seq=1)
    flagged = encode_readings("LOG-1", [reading], catalog_changed=True)
    assert announces_catalog_change(flagged)
    assert not announces_catalog_change(encode_readings("LOG-1", [reading]))
    topic = parse_topic("coldchain/v1/BSL/logger/LOG-1/readings")
    assert decode_readings(topic, flagged) == [reading]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"catalog_changed": false, "readings": []}',
        b'{"catalog_changed": "yes", "readings": []}',
        b'[{"catalog_changed": true}]',
        b'{"catalog_changed": tru',
        b'{"sensor": "catalog_changed", "ts": 1, "temp_c": 5.0}',
    ],
)
def test_only_a_true_catalog_changed_key_announces_a_change(payload: bytes) -> None:
    assert not announces_catalog_change(payload)
