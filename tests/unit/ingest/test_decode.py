from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from coldchain.errors import PayloadError
from ingest.dead_letters import PREFIX_BYTES, DeadLetter, DeadLetterStore
from ingest.decode import DecodePolicy, PayloadTooLarge, decode_message

POLICY = DecodePolicy(max_payload_bytes=4096, max_future_skew_ms=60_000)
NOW = 1_763_800_000_000
READINGS = "coldchain/v1/BSL/unit/FRIDGE-01/readings"


def test_a_batch_becomes_one_line_per_reading() -> None:
    payload = (
        b'{"readings": [{"sensor": "p1", "ts": 1763800000000, "temp_c": 5.1, "seq": 1},'
        b' {"sensor": "p2", "ts": 1763800000000, "temp_c": 4.9, "seq": 2}]}'
    )
    decoded = decode_message(READINGS, payload, NOW, POLICY)
    assert decoded.readings == 2
    assert [line.split(" ")[0] for line in decoded.lines] == [
        "reading,device=FRIDGE-01,sensor=p1,site=BSL,source=unit",
        "reading,device=FRIDGE-01,sensor=p2,site=BSL,source=unit",
    ]


def test_an_oversized_payload_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge, match=r"^payload too large \(5000 bytes > 4096\)$"):
        decode_message(READINGS, b" " * 5000, NOW, POLICY)
    assert issubclass(PayloadTooLarge, PayloadError)


def test_a_clock_far_in_the_future_is_refused() -> None:
    payload = b'{"sensor": "p1", "ts": 1763803600000, "temp_c": 5.1, "seq": 9}'
    with pytest.raises(PayloadError, match=r"3600 s ahead .* seq=9"):
        decode_message(READINGS, payload, NOW, POLICY)


def test_status_and_gateway_messages_become_their_own_measurements() -> None:
    status = decode_message(
        "coldchain/v1/BSL/logger/LOG-1/status",
        b'{"ts": 1763800000000, "battery_pct": 12}',
        NOW,
        POLICY,
    )
    assert status.lines == [
        "device_status,device=LOG-1,site=BSL,source=logger battery_pct=12 1763800000000"
    ]
    gateway = decode_message("coldchain/v1/BSL/gateway/GW-1/status", b"online", NOW, POLICY)
    assert gateway.lines == [f'gateway_status,gateway=GW-1,site=BSL state="online" {NOW}']


def test_dead_letters_keep_raw_bytes_topic_reason_and_time(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path)
    letter = DeadLetter(NOW, "decode", READINGS, "payload: not valid UTF-8 JSON", b"\xff\x00")
    store.append([letter])
    store.append([])
    assert list(DeadLetterStore(tmp_path).read()) == [letter]
    assert [p.name for p in tmp_path.iterdir()] == ["2025-11-22.jsonl"]


def test_an_oversize_dead_letter_keeps_a_prefix_its_size_and_sha256(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4000  # 1 MB
    letter = DeadLetter.truncated(NOW, "decode", READINGS, "payload too large", payload)
    assert letter.payload == payload[:PREFIX_BYTES]
    assert PREFIX_BYTES == 4096
    assert letter.size == len(payload)
    assert letter.sha256 == hashlib.sha256(payload).hexdigest()
    assert letter.reason == f"payload too large; kept the first 4096 bytes, sha256={letter.sha256}"
    store = DeadLetterStore(tmp_path)
    store.append([letter])
    assert list(DeadLetterStore(tmp_path).read()) == [letter]
    assert (tmp_path / "2025-11-22.jsonl").stat().st_size < 8 * 1024
    short = DeadLetter.truncated(NOW, "decode", READINGS, "too large", b"abc")
    assert short.payload == b"abc"
    assert short.size == 3
