"""Unknown, truncated, edited or re-signed exports are refused whole, naming line and reason;
what the device itself signed is accepted, its irregularities kept as notes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from coldchain.loggers import (
    LoggerFileError,
    berlinger_signature,
    parse_logger_file,
    parse_logger_text,
)
from tests.support.real_loggers import real_path, real_text


def _refusal(text: str) -> LoggerFileError:
    with pytest.raises(LoggerFileError) as caught:
        parse_logger_text(text)
    return caught.value


def _line_of(text: str, fragment: str) -> int:
    return text.split("\r\n").index(fragment) + 1


def test_the_truncated_copy_is_refused_where_the_log_jumps() -> None:
    """test.txt: 53 rows of 10,653 kept, Hist/Cert/Sig intact (SOURCE.md)."""
    path = real_path("fridgetag2l_truncated")
    with pytest.raises(LoggerFileError) as caught:
        parse_logger_file(path)
    error = caught.value
    text = real_text("fridgetag2l_truncated")
    assert error.line == _line_of(text, "\t2022-05-12 13:26\t8.3\tx")
    assert "14505 min after the row before (2022-05-02 11:41)" in error.reason
    assert "rows missing" in error.reason
    assert "signature does not verify either" in error.reason
    assert str(error).startswith(f"{path}:{error.line}: ")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Serial Number,Date,Time,Temperature\r\n1,2022-01-01,00:00,4.5\r\n", "unknown logger"),
        ("", "unknown logger export format"),
        ("LogTag Analyzer export\r\n", "known: berlinger"),
    ],
)
def test_an_unknown_format_is_refused_at_line_1(text: str, reason: str) -> None:
    error = _refusal(text)
    assert error.line == 1
    assert reason in error.reason


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "logger.bin"
    path.write_bytes(b"Device: Q-tag CLm\r\n\xff\xfe\x00")
    with pytest.raises(LoggerFileError, match=r"logger.bin:2: not a text export"):
        parse_logger_file(path)


def test_a_temperature_changed_within_range_is_caught_by_the_signature() -> None:
    text = real_text("qtag_run2")
    edited = text.replace("\t2022-11-08 04:59\t3.2\t", "\t2022-11-08 04:59\t3.3\t")
    error = _refusal(edited)
    assert error.line == _line_of(text, text.split("\r\n")[-2])  # the `Sig:` line
    assert "signature does not match the content" in error.reason


def test_a_temperature_changed_across_a_limit_names_its_row() -> None:
    text = real_text("qtag_run2")
    edited = text.replace("\t2022-11-08 04:59\t3.2\t", "\t2022-11-08 04:59\t9.2\t")
    error = _refusal(edited)
    assert error.line == _line_of(text, "\t2022-11-08 04:59\t3.2\t")
    assert "9.2 °C is outside the alarm limits 2..8 but the row is not flagged 'x'" in error.reason


def test_a_removed_row_names_the_row_after_the_hole() -> None:
    text = real_text("fridgetag2l")
    edited = text.replace("\t2022-05-20 12:01\t25.1\tx\r\n", "")
    assert edited != text
    error = _refusal(edited)
    assert error.line == _line_of(edited, "\t2022-05-20 12:06\t25.1\tx")
    assert "10 min after the row before (2022-05-20 11:56)" in error.reason


def test_rows_cut_from_the_end_of_the_log() -> None:
    text = real_text("qtag_run3")
    lines = text.split("\r\n")
    cert = lines.index("Cert:")
    edited = "\r\n".join(lines[: cert - 30] + lines[cert:])
    error = _refusal(edited)
    assert "rows missing at the end" in error.reason
    assert error.line == cert - 30


def test_a_file_cut_in_half_misses_its_end_markers() -> None:
    text = real_text("fridgetag2l")
    half = text[: len(text) // 2]
    error = _refusal(half)
    assert "missing 'Cert:'" in error.reason
    assert "truncated" in error.reason
    assert error.line == half.count("\n") + 1


def test_anything_after_the_signature_is_refused() -> None:
    error = _refusal(real_text("qtag_run2") + "\tappended\r\n")
    assert "must end with 'Cert:', 'Sig Cert:', 'Sig:'" in error.reason


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("T AL: 8.0, t AL: 30", "T AL: 9.0, t AL: 30"),  # a laxer alarm rule
        ("MKT: 10.5", "MKT: 8.5"),  # the device's own summary
        ("t A: 598", "t A: 59"),  # its alarm record
    ],
)
def test_edits_to_the_device_record_are_refused(old: str, new: str) -> None:
    text = real_text("qtag_run2")
    assert old in text
    assert "signature does not match" in _refusal(text.replace(old, new, 1)).reason


def test_a_malformed_row_is_refused_with_its_line() -> None:
    text = real_text("qtag_run2")
    edited = text.replace("\t2022-11-08 04:59\t3.2\t", "\t2022-11-08 04:59\t3,2\t")
    error = _refusal(edited)
    assert (error.line, error.reason) == (
        _line_of(text, "\t2022-11-08 04:59\t3.2\t"),
        "T: expected a number, got '3,2'",
    )


# Re-signing: the Cert's key and both signatures are replaced by an own key pair.


def _le(r: int, s: int) -> str:
    return (r.to_bytes(32, "little") + s.to_bytes(32, "little")).hex()


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    digest = hashlib.sha256(data).digest()[::-1]
    der = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return _le(*utils.decode_dss_signature(der))


def _resign(text: str, issuer: ec.EllipticCurvePrivateKey) -> str:
    device = ec.generate_private_key(ec.SECP256R1())
    numbers = device.public_key().public_numbers()
    text = re.sub(r"Public Key: [0-9a-f]+", f"Public Key: {_le(numbers.x, numbers.y)}", text)
    head, _, _ = text.partition("Sig Cert: ")
    cert = head[head.index("Cert:\r\n") :]
    content = f"{head}Sig Cert: {_sign(issuer, cert.encode())}\r\n"
    return f"{content}Sig: {_sign(device, content.encode())}\r\n"


def test_an_edited_file_re_signed_with_an_own_key_is_refused() -> None:
    text = real_text("qtag_run2").replace("MKT: 10.5", "MKT: 8.5")
    forged = _resign(text, ec.generate_private_key(ec.SECP256R1()))
    error = _refusal(forged)
    assert "not issued by the Berlinger issuer key" in error.reason
    assert error.line == forged.count("\r\n") - 1  # the `Sig Cert:` line


def test_a_signed_gap_is_the_device_s_own_and_kept_as_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a test issuer trusted, a file the device signed with a hole in its log is taken
    as the device wrote it: the hole becomes a note, not a refusal (no reading is lost)."""
    issuer = ec.generate_private_key(ec.SECP256R1())
    numbers = issuer.public_key().public_numbers()
    monkeypatch.setattr(berlinger_signature, "BERLINGER_ISSUER_KEY", (numbers.x, numbers.y))
    text = real_text("qtag_run2").replace("\t2022-11-08 10:09\t2.2\t\r\n", "")
    parsed = parse_logger_text(_resign(text, issuer))
    assert len(parsed.readings) == 123
    assert len(parsed.notes) == 1
    assert "20 min after the row before (2022-11-08 09:59)" in parsed.notes[0]
