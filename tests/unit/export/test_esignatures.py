"""The signature manifest of an export without servers: signatures made through the catalog
(SQLite) as QA, the sponsor and a second QA person sign, the manifest as the record loads
it, written as each format's line and read back from the body in pieces of any size, and
each way a signature can fail to belong to the record."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from api.export import ExportSigner, VerifyError
from api.export.document import manifest_dict
from api.export.esignatures import ManifestReader, check_manifest, manifest_line, verify_export
from api.export.record import load_batch_record
from api.export.signing import trailer
from coldchain.catalog import catalog_session, create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.catalog.credentials import set_password
from coldchain.catalog.deviations import (
    CoveredFinding,
    assess_deviation,
    decide_deviation,
    open_deviation,
)
from coldchain.catalog.releases import FindingState, decide_release
from coldchain.catalog.signatures import sign

FLEET = """\
sponsors: [{id: ACME, name: Acme}]
users:
  - {id: qa-maria, role: qa, name: Maria Keller}
  - {id: qa-quinn, role: qa, name: Quinn Park}
  - {id: alice, role: sponsor_viewer, sponsor: ACME, name: Alice Moreau}
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 600, sensors: [{id: p1}]}
products:
  - {id: VAX, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
batches: [{id: LOT-1, product: VAX}, {id: LOT-2, product: VAX}]
placements:
  - {batch: LOT-1, unit: BSL/FR-1, from: "2026-10-20T00:00:00Z", to: "2026-10-21T00:00:00Z"}
  - {batch: LOT-2, unit: BSL/FR-1, from: "2026-10-21T00:00:00Z", to: "2026-10-22T00:00:00Z"}
"""
PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 10, 22, 8, tzinfo=UTC)
FINDING = CoveredFinding(
    "excursion-0123456789ab",
    "excursion",
    "BSL/FR-1 (p1)",
    datetime(2026, 10, 20, 4, tzinfo=UTC),
    datetime(2026, 10, 20, 5, 30, tzinfo=UTC),
)


def _catalog(folder: Path) -> Engine:
    engine = create_catalog_engine(f"sqlite:///{folder / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    fleet = folder / "fleet.yaml"
    fleet.write_text(FLEET)
    import_fleet(engine, fleet, actor="test")
    with catalog_session(engine) as session:
        for user in ("qa-maria", "qa-quinn", "alice"):
            set_password(session, user_id=user, password=PASSWORD, actor="test")
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = _catalog(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def signed_once(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """LOT-1's manifest, signed once for the tests that only read or change a copy."""
    engine = _catalog(tmp_path_factory.mktemp("signed"))
    try:
        return _signed(engine)
    finally:
        engine.dispose()


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _assess(engine: Engine, reason: str, minutes: int) -> None:
    with catalog_session(engine) as session:
        assess_deviation(
            session,
            1,
            user_id="qa-maria",
            password=PASSWORD,
            reason=reason,
            stability_reference="STAB-2026-07 §4",
            impact="none",
            timezone="Europe/Zurich",
            now=_at(minutes),
        )


def _decide(engine: Engine, agree: bool, comment: str, minutes: int) -> None:
    with catalog_session(engine) as session:
        decide_deviation(
            session,
            1,
            user_id="alice",
            password=PASSWORD,
            agree=agree,
            comment=comment,
            timezone="Europe/Paris",
            now=_at(minutes),
        )


def _signed(engine: Engine, *, disputed_first: bool = False) -> dict[str, Any]:
    """LOT-1's manifest after QA assessed its deviation, the sponsor agreed (after one
    dispute and a second assessment, if `disputed_first`) and a second QA released it."""
    with catalog_session(engine) as session:
        open_deviation(
            session,
            batch_id="LOT-1",
            findings=[FINDING],
            title="Fridge door left open – 12 °C for 90 min",
            actor="qa-maria",
            now=T0,
        )
    _assess(engine, "stable at 12 °C for 90 min per the stability study", 10)
    if disputed_first:
        _decide(engine, False, "cite the study's section", 20)
        _assess(engine, "stable at 12 °C for 90 min per STAB-2026-07 §4 (25 °C, 72 h)", 30)
    _decide(engine, True, "agreed, no impact", 40)
    with catalog_session(engine) as session:
        decide_release(
            session,
            batch_id="LOT-1",
            decision="released",
            comment="temperature record reviewed",
            user_id="qa-quinn",
            password=PASSWORD,
            verdict="no open findings",
            findings=[FindingState(FINDING.finding_id, "excursion", "cleared", "DEV-1")],
            now=_at(50),
        )
    record = load_batch_record(engine, batch="LOT-1", viewer=None, now=_at(60))
    return manifest_dict(record)


def _body(fmt: str, manifest: dict[str, Any]) -> bytes:
    """A body of `fmt` around the manifest's line, as the formats write it."""
    line = manifest_line(fmt, manifest)
    if fmt == "csv":
        rows = b"".join(b"1,BSL/FR-1,BSL,unit,FR-1,p1,t,t,5.0,\n" for _ in range(50))
        return b"# coldchain batch record\n# batch,LOT-1\n" + rows + b"# summary\n" + line
    if fmt == "pdf":
        return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n" + line
    head = b'{"format":"coldchain-batch-record","header":{"batch":"LOT-1","product":"VAX"}'
    return head + b',"placements":[],"summary":{"verdict":"no open findings"}' + line


@pytest.fixture
def manifest(signed_once: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(signed_once)


def _read(body: bytes, cuts: list[int]) -> dict[str, Any] | None:
    reader = ManifestReader()
    edges = [0, *sorted(set(cuts)), len(body)]
    for low, high in itertools.pairwise(edges):
        reader.feed(body[low:high])
    return reader.manifest()


@pytest.mark.parametrize("fmt", ["csv", "json", "pdf"])
def test_the_manifest_reads_back_from_the_body_however_it_is_cut(
    manifest: dict[str, Any], fmt: str
) -> None:
    body = _body(fmt, manifest)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=len(body) - 1), max_size=12))
    def round_trip(cuts: list[int]) -> None:
        assert _read(body, cuts) == manifest

    round_trip()
    assert _read(body, list(range(1, len(body)))) == manifest  # byte by byte


def test_the_json_manifest_is_the_records_members(manifest: dict[str, Any]) -> None:
    document = json.loads(_body("json", manifest) + b"}")
    assert document["deviations"] == manifest["deviations"]
    assert document["release"] == manifest["release"]
    assert document["signatures"] == manifest["signatures"]
    assert [s["meaning"] for s in document["signatures"]] == ["authored", "approved", "approved"]


def test_a_body_without_a_manifest_has_none() -> None:
    assert _read(b"# coldchain batch record\n# batch,LOT-1\n1,2,3\n", [5, 20]) is None


def test_two_manifests_in_one_body_are_refused(manifest: dict[str, Any]) -> None:
    body = _body("csv", manifest) + manifest_line("csv", manifest)
    with pytest.raises(VerifyError, match="2 signature manifests in one record"):
        _read(body, [])


def test_a_damaged_manifest_line_does_not_decode() -> None:
    with pytest.raises(VerifyError, match="the signature manifest does not decode"):
        _read(b"# coldchain\n#coldchain-esignature,v1,not*base64\n", [])


def test_a_manifest_without_signatures_is_refused() -> None:
    line = manifest_line("pdf", {"batch": "LOT-1", "deviations": [], "release": None})
    with pytest.raises(VerifyError, match="the signature manifest lacks signatures"):
        _read(b"%PDF-1.4\n%%EOF\n" + line, [])


def test_every_signature_of_a_disputed_then_agreed_deviation_holds(engine: Engine) -> None:
    manifest = _signed(engine, disputed_first=True)
    checks = check_manifest(manifest)
    assert [(c.signature.meaning, c.signature.subject) for c in checks] == [
        ("authored", "deviation_assessment"),
        ("rejected", "deviation_agreement"),
        ("authored", "deviation_assessment"),
        ("approved", "deviation_agreement"),
        ("approved", "release"),
    ]
    assert [c.problems for c in checks] == [()] * 5
    assert checks[0].line() == (
        "signature 1: authored by Maria Keller (qa-maria, qa) at 2026-10-22T08:10:00Z "
        "(2026-10-22T10:10:00+02:00 Europe/Zurich) — deviation_assessment DEV-1: ok"
    )


def _problems(manifest: dict[str, Any]) -> dict[int, tuple[str, ...]]:
    return {c.number: c.problems for c in check_manifest(manifest) if c.problems}


def test_a_changed_assessment_in_the_record_fails_its_signature(
    manifest: dict[str, Any],
) -> None:
    manifest["deviations"][0]["impact"] = "major"
    [(number, problems)] = _problems(manifest).items()
    assert number == 1
    assert problems == (
        "signed for another record: the signature binds deviation_assessment DEV-1 as it "
        "was, not this one",
    )


def test_a_changed_sponsor_comment_in_the_record_fails_the_agreement(
    manifest: dict[str, Any],
) -> None:
    manifest["deviations"][0]["sponsor_comment"] = "agreed without reading it"
    assert list(_problems(manifest)) == [2]


def test_signatures_of_another_batch_fail(manifest: dict[str, Any]) -> None:
    manifest["batch"] = "LOT-2"
    problems = _problems(manifest)
    assert list(problems) == [1, 2, 3]
    assert all("signed for batch LOT-1, not this record's batch LOT-2" in p for p in problems[1])


def test_a_deviation_signature_needs_its_deviation_in_the_record(
    manifest: dict[str, Any],
) -> None:
    manifest["deviations"] = []
    assert _problems(manifest)[1] == ("DEV-1 is not a deviation of this record",)


def test_a_decision_on_an_assessment_the_record_does_not_hold_fails(
    manifest: dict[str, Any],
) -> None:
    del manifest["signatures"][0]
    problems = _problems(manifest)
    assert problems[1] == ("it decides on an assessment of DEV-1 this record does not hold",)
    assert problems[2] == ("it was signed on signatures of DEV-1 this record does not hold",)


def test_a_release_signature_carries_the_records_decision(manifest: dict[str, Any]) -> None:
    manifest["release"]["decision"] = "rejected"
    assert _problems(manifest) == {
        3: ("it signs the decision 'released', the record says 'rejected'",)
    }
    manifest["release"] = None
    assert _problems(manifest) == {
        3: ("this record's release decision does not carry this signature",)
    }


def test_an_edited_signature_field_fails_its_seal(manifest: dict[str, Any]) -> None:
    manifest["signatures"][1]["printed_name"] = "Someone Else"
    assert _problems(manifest) == {
        2: ("the signature's fields were changed after signing (seal mismatch)",)
    }


def test_content_that_is_not_a_json_object_fails(manifest: dict[str, Any]) -> None:
    manifest["signatures"][0]["content"] = "not json"
    assert _problems(manifest)[1] == (
        "the signed content does not hash to the signature's SHA-256",
        "the signed content is not a JSON object",
    )


def _sign_as_assessment(engine: Engine, content: dict[str, Any]) -> dict[str, Any]:
    """A genuine signature (valid hash and seal) of `content`, filed as LOT-1's DEV-1
    assessment: the manifest as the record then loads it."""
    with catalog_session(engine) as session:
        sign(
            session,
            user_id="qa-maria",
            password=PASSWORD,
            meaning="authored",
            subject="deviation_assessment",
            subject_id="DEV-1",
            batch_id="LOT-1",
            content=content,
            roles=("qa",),
            now=_at(70),
        )
    return manifest_dict(load_batch_record(engine, batch="LOT-1", viewer=None, now=_at(80)))


def test_a_signature_whose_content_is_another_subject_fails(engine: Engine) -> None:
    manifest = _signed(engine)
    agreement = json.loads(manifest["signatures"][1]["content"])
    problems = _problems(_sign_as_assessment(engine, agreement))
    assert "the signed content is a deviation_agreement, not a deviation_assessment" in problems[4]


def test_a_signature_whose_content_is_about_another_deviation_fails(engine: Engine) -> None:
    manifest = _signed(engine)
    assessment = json.loads(manifest["signatures"][0]["content"])
    problems = _problems(_sign_as_assessment(engine, {**assessment, "deviation": "DEV-7"}))
    assert problems[4] == ("the signed content is about DEV-7, not DEV-1",)


def test_a_damaged_manifest_entry_is_refused(manifest: dict[str, Any]) -> None:
    del manifest["signatures"][0]["seal"]
    with pytest.raises(VerifyError, match="the signature manifest is damaged"):
        check_manifest(manifest)


def test_a_record_exported_before_manifests_verifies_without_signatures(tmp_path: Path) -> None:
    signer = ExportSigner.load_or_create(tmp_path)
    body = b"# coldchain batch record\n# batch,LOT-1\n# summary\n"
    digest = hashlib.sha256(body).hexdigest()
    path = tmp_path / "old.csv"
    path.write_bytes(body + trailer("csv", digest, signer.sign("csv", digest), signer.key_id))
    verification, signatures = verify_export(path, signer.public_key)
    assert (verification.sha256, signatures) == (digest, None)
