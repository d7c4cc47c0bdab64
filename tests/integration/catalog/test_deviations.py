"""Deviations, electronic signatures and release decisions in the catalog (issue #21), on
SQLite and PostgreSQL: the state machine and every move it refuses, who may sign what (the
password re-entered, the role, the sponsor, two persons), what closing dispositions, and
that a signature cannot be edited or copied without `check_signature` saying so."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from coldchain.catalog import catalog_session, import_fleet, verify_audit_chain
from coldchain.catalog.alerts import NewAlert, get_alert, open_alert
from coldchain.catalog.audit import canonical_json, read_audit
from coldchain.catalog.deviations import (
    CoveredFinding,
    Deviation,
    get_deviation,
    open_deviation,
)
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound, SignatureRefused
from coldchain.catalog.logger_reports import import_device_rules, resolve_target
from coldchain.catalog.releases import FindingState, decide_release, release_of
from coldchain.catalog.schema import AuditEntryRow, SignatureRow
from coldchain.catalog.signatures import (
    check_signature,
    content_sha256,
    record_refused,
    signatures_unlike_their_audit,
)
from coldchain.loggers.model import AlarmRule
from tests.support.signers import PASSWORDS, add_signers, assess, decide, open_on

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 12, 8, tzinfo=UTC)
#: The cumulative device-rule alarm of SHP-100's logger, which the detector never resolves.
CUMULATIVE = "exc-LOG-100-p1-rule"
EXCURSION = CoveredFinding(
    "excursion-0a1b2c3d4e5f",
    "excursion",
    "SHP-100 (LOG-100/p1)",
    T0,
    T0 + timedelta(hours=2),
    CUMULATIVE,
)
GAP = CoveredFinding(
    "gap-5f4e3d2c1b0a", "gap", "BSL/FRIDGE-01 (p2)", T0 - timedelta(days=3), T0 - timedelta(days=2)
)


@pytest.fixture
def catalog(engine: Engine, fleet_file: Path) -> Engine:
    """The fleet file's catalog (LOT-0001 is ACME's, LOT-0002 GLOBEX's), the signers, and an
    open cumulative alarm of the imported Q-tag rule on SHP-100's logger."""
    import_fleet(engine, fleet_file, actor="test")
    add_signers(engine)
    with catalog_session(engine) as session:
        [rule_id] = import_device_rules(
            session,
            target=resolve_target(session, shipment="SHP-100"),
            rules=[AlarmRule(1, "high", 8.0, 60, "cumulative", "Q-tag CLm doc LR alarm 1")],
            actor="qa-maria",
            now=T0,
        )
        open_alert(
            session,
            NewAlert(
                CUMULATIVE,
                "excursion",
                "alarm",
                "BSL",
                "logger",
                "LOG-100",
                "p1",
                T0,
                peak_c=11.5,
                rule_id=rule_id,
            ),
            at=T0 + timedelta(hours=1),
        )
    return engine


def _open(engine: Engine, *findings: CoveredFinding) -> Deviation:
    return open_on(
        engine,
        "LOT-0001",
        findings or (EXCURSION,),
        now=T0 + timedelta(hours=3),
        title="warm truck on SHP-100",
    )


def _assess(engine: Engine, deviation: int, user: str = "qa-maria", **given: Any) -> Deviation:
    return assess(engine, deviation, user, **({"now": T0 + timedelta(hours=4)} | given))


def _decide(engine: Engine, deviation: int, *, agree: bool, **given: Any) -> Deviation:
    return decide(engine, deviation, agree=agree, **({"now": T0 + timedelta(hours=5)} | given))


def _release(engine: Engine, user: str, findings: list[FindingState], **given: Any) -> None:
    fields: dict[str, Any] = {
        "decision": "released",
        "comment": None,
        "password": PASSWORDS[user],
        "verdict": "no open findings",
        "now": T0 + timedelta(hours=6),
    } | given
    with catalog_session(engine) as session:
        decide_release(session, batch_id="LOT-0001", user_id=user, findings=findings, **fields)


def _cleared(deviation: Deviation) -> list[FindingState]:
    return [
        FindingState(f.finding_id, f.kind, "cleared", deviation.number) for f in deviation.findings
    ]


def _closed(engine: Engine) -> Deviation:
    opened = _open(engine)
    _assess(engine, opened.id)
    return _decide(engine, opened.id, agree=True)


def _written(session: Session) -> tuple[int, int]:
    """(audit entries, signatures): what a refused step must leave as it was."""
    audit = session.execute(select(func.count()).select_from(AuditEntryRow)).scalar_one()
    signed = session.execute(select(func.count()).select_from(SignatureRow)).scalar_one()
    return audit, signed


def test_a_deviation_goes_open_assessed_disputed_assessed_agreed_closed(catalog: Engine) -> None:
    opened = _open(catalog)
    assert (opened.number, opened.state, opened.opened_by) == (
        f"DEV-{opened.id}",
        "open",
        "qa-maria",
    )
    assert _assess(catalog, opened.id).state == "assessed"
    disputed = _decide(catalog, opened.id, agree=False)
    assert (disputed.state, disputed.sponsor_comment) == (
        "disputed",
        "which stability study covers this?",
    )
    assert _assess(
        catalog, opened.id, reason="study STAB-2026-014 arm C: 25 °C for 48 h covers it"
    ).state == ("assessed")
    closed = _decide(catalog, opened.id, agree=True)
    assert closed.state == "closed"
    assert [(h.state, h.actor) for h in closed.history] == [
        ("open", "qa-maria"),
        ("assessed", "qa-maria"),
        ("disputed", "alice"),
        ("assessed", "qa-maria"),
        ("agreed", "alice"),
        ("closed", "alice"),
    ]
    assert [(s.subject, s.meaning, s.user_id, s.printed_name) for s in closed.signatures] == [
        ("deviation_assessment", "authored", "qa-maria", "Maria Keller"),
        ("deviation_agreement", "rejected", "alice", "alice"),
        ("deviation_assessment", "authored", "qa-maria", "Maria Keller"),
        ("deviation_agreement", "approved", "alice", "alice"),
    ]
    signed = [h.signature_id for h in closed.history]
    assert signed == [None, *(s.id for s in closed.signatures), None]
    assert closed.signatures[0].local_time == "2026-11-12T13:00:00+01:00"  # Zurich, 12:00Z


Step = Callable[[Engine, int], object]


def _agree(engine: Engine, deviation: int) -> Deviation:
    return _decide(engine, deviation, agree=True)


def _dispute(engine: Engine, deviation: int) -> Deviation:
    return _decide(engine, deviation, agree=False)


def _open_nothing(engine: Engine, deviation: int) -> Deviation:
    with catalog_session(engine) as session:
        return open_deviation(
            session, batch_id="LOT-0001", findings=[], title="nothing", actor="qa-maria"
        )


#: move -> (the steps that take the deviation there, the step that is refused).
REFUSED_MOVES: dict[str, tuple[tuple[Step, ...], Step]] = {
    "assess an assessed deviation": ((_assess,), _assess),
    "assess a closed deviation": ((_assess, _agree), _assess),
    "agree to an open deviation": ((), _agree),
    "agree to a disputed deviation": ((_assess, _dispute), _agree),
    "dispute a closed deviation": ((_assess, _agree), _dispute),
    "dispute without a comment": (
        (_assess,),
        lambda e, d: _decide(e, d, agree=False, comment="  "),
    ),
    "assess without a reason": ((), lambda e, d: _assess(e, d, reason="  ")),
    "assess with an unknown impact": ((), lambda e, d: _assess(e, d, impact="negligible")),
    "cover a finding over the same span twice": ((), lambda e, d: _open(e)),
    "open a deviation on no finding": ((), _open_nothing),
}


@pytest.mark.parametrize("move", list(REFUSED_MOVES))
def test_every_refused_move_is_a_conflict_that_writes_nothing(catalog: Engine, move: str) -> None:
    deviation = _open(catalog).id
    steps, refused = REFUSED_MOVES[move]
    for step in steps:
        step(catalog, deviation)
    with catalog_session(catalog) as session:
        before = (_written(session), get_deviation(session, deviation))
    with pytest.raises(CatalogConflict):
        refused(catalog, deviation)
    with catalog_session(catalog) as session:
        assert (_written(session), get_deviation(session, deviation)) == before


def test_a_wrong_password_signs_nothing_and_the_refusal_is_audited(catalog: Engine) -> None:
    opened = _open(catalog)
    with catalog_session(catalog) as session:
        before = _written(session)
    with pytest.raises(SignatureRefused, match="signature refused: the password"):
        _assess(catalog, opened.id, password="qa-maria-guessing")
    with catalog_session(catalog) as session:
        assert _written(session) == before
        unchanged = get_deviation(session, opened.id)
        assert (unchanged.state, unchanged.reason, unchanged.impact) == ("open", None, None)
        record_refused(
            session,
            user_id="qa-maria",
            subject="deviation_assessment",
            subject_id=opened.number,
            meaning="authored",
            reason="signature refused: the password is not the signer's",
        )
    with catalog_session(catalog) as session:
        [entry] = read_audit(session, entity="deviation_assessment")
        assert _written(session) == (before[0] + 1, before[1])
    assert (entry.action, entry.actor, entry.entity_id) == (
        "signature_refused",
        "qa-maria",
        opened.number,
    )
    assert json.loads(entry.new_value or "{}")["meaning"] == "authored"


def test_a_sponsor_cannot_decide_on_another_sponsors_deviation(catalog: Engine) -> None:
    opened = _open(catalog)
    _assess(catalog, opened.id)
    with pytest.raises(CatalogNotFound, match=f"deviation {opened.number} not found"):
        _decide(catalog, opened.id, agree=True, user="gus")
    with catalog_session(catalog) as session:
        assert get_deviation(session, opened.id).state == "assessed"


def test_an_admin_signs_neither_an_assessment_nor_an_agreement_nor_a_release(
    catalog: Engine,
) -> None:
    opened = _open(catalog)
    with pytest.raises(SignatureRefused, match="a admin may not sign deviation assessment"):
        _assess(catalog, opened.id, user="root")
    _assess(catalog, opened.id)
    with pytest.raises(SignatureRefused, match="may not sign deviation agreement"):
        _decide(catalog, opened.id, agree=True, user="root")
    closed = _decide(catalog, opened.id, agree=True)
    with pytest.raises(SignatureRefused, match="may not sign release"):
        _release(catalog, "root", _cleared(closed))
    with catalog_session(catalog) as session:
        assert release_of(session, "LOT-0001") is None


def test_whoever_assessed_a_deviation_of_the_batch_may_not_sign_its_release(
    catalog: Engine,
) -> None:
    closed = _closed(catalog)
    with pytest.raises(SignatureRefused, match=f"qa-maria assessed {closed.number}"):
        _release(catalog, "qa-maria", _cleared(closed))
    _release(catalog, "qa-quinn", _cleared(closed))
    with catalog_session(catalog) as session:
        release = release_of(session, "LOT-0001")
    assert release is not None
    assert (release.decision, release.decided_by) == ("released", "qa-quinn")
    assert (release.signature.meaning, release.signature.subject) == ("approved", "release")
    assert check_signature(release.signature) == []


def test_a_batch_has_one_release_decision(catalog: Engine) -> None:
    closed = _closed(catalog)
    _release(catalog, "qa-quinn", _cleared(closed), decision="rejected", comment="too warm")
    with pytest.raises(CatalogConflict, match="LOT-0001 was already rejected by qa-quinn"):
        _release(catalog, "qa-quinn", _cleared(closed))
    with catalog_session(catalog) as session:
        release = release_of(session, "LOT-0001")
    assert release is not None
    assert (release.decision, release.comment, release.signature.meaning) == (
        "rejected",
        "too warm",
        "rejected",
    )


def test_no_release_while_the_verdict_has_open_findings(catalog: Engine) -> None:
    opened = _open(catalog)
    _assess(catalog, opened.id)  # assessed, not yet agreed: its finding is still open
    still_open = [FindingState(EXCURSION.finding_id, "excursion", "open", opened.number)]
    with pytest.raises(CatalogConflict, match=f"open findings {EXCURSION.finding_id}"):
        _release(catalog, "qa-quinn", still_open, verdict="open findings")
    with pytest.raises(CatalogConflict, match="verdict is 'incomplete'"):
        _release(catalog, "qa-quinn", [], verdict="incomplete")
    with catalog_session(catalog) as session:
        assert release_of(session, "LOT-0001") is None


def test_closing_a_deviation_closes_the_cumulative_alarm_of_its_finding_with_an_end(
    catalog: Engine,
) -> None:
    with catalog_session(catalog) as session:
        alarm = get_alert(session, CUMULATIVE)
        assert (alarm.state, alarm.end_at) == ("open", None)
    closed = _closed(catalog)
    with catalog_session(catalog) as session:
        alarm = get_alert(session, CUMULATIVE)
        assert alarm.state == "closed"
        assert alarm.end_at is not None
        assert alarm.end_at.replace(tzinfo=UTC) == EXCURSION.end_at
        [entry] = [e for e in read_audit(session, entity="alert") if e.action == "disposition"]
    assert entry.actor == "qa-maria"  # the assessor's disposition, agreed by the sponsor
    assert f"dispositioned through deviation {closed.number}" in (entry.new_value or "")


def test_the_audit_chain_holds_after_deviations_signatures_and_a_release(catalog: Engine) -> None:
    closed = _closed(catalog)
    other = _open(catalog, GAP)
    _assess(catalog, other.id, user="qa-quinn")
    _decide(catalog, other.id, agree=False)
    with pytest.raises(SignatureRefused):
        _assess(catalog, other.id, password="not-quinns")
    with catalog_session(catalog) as session:
        record_refused(
            session,
            user_id="qa-quinn",
            subject="deviation_assessment",
            subject_id=other.number,
            meaning="authored",
            reason="signature refused: the password is not the signer's",
        )
    with catalog_session(catalog) as session:
        assert release_of(session, "LOT-0001") is None
        result = verify_audit_chain(session, batch_size=5)
        actions = [e.action for e in read_audit(session)]
    assert result.ok, result.reason
    for action in (
        "open_deviation",
        "assess_deviation",
        "sign",
        "agree_deviation",
        "close_deviation",
        "dispute_deviation",
        "signature_refused",
        "disposition",
    ):
        assert action in actions
    assert closed.state == "closed"


def test_check_signature_finds_an_edited_content_an_edited_field_and_a_copy(
    catalog: Engine,
) -> None:
    first = _assess(catalog, _open(catalog).id)
    second = _assess(catalog, _open(catalog, GAP).id)
    [signature] = first.signatures
    assert check_signature(signature, expected=first.assessment_content()) == []
    content = signature.manifest() | {
        "content": signature.content.replace('"impact":"none"', '"impact":"major"')
    }
    assert '"impact":"major"' in content["content"]
    assert check_signature(content) == [
        "the signed content does not hash to the signature's SHA-256"
    ]
    field = signature.manifest() | {"printed_name": "Quinn Novak"}
    assert check_signature(field) == [
        "the signature's fields were changed after signing (seal mismatch)"
    ]
    copied = check_signature(signature, expected=second.assessment_content())
    assert copied == [
        f"signed for another record: the signature binds deviation_assessment "
        f"{first.number} as it was, not this one"
    ]


def test_a_signature_edited_and_sealed_again_in_the_table_differs_from_its_audit_entry(
    catalog: Engine,
) -> None:
    """Whoever can write the table can edit a signature and recompute its plain SHA-256
    seal; the audit entry written at signing still says what was signed."""
    [signature] = _assess(catalog, _open(catalog).id).signatures
    with catalog_session(catalog) as session:
        assert signatures_unlike_their_audit(session) == []
        row = session.get(SignatureRow, signature.id)
        assert row is not None
        row.content, row.content_sha256 = content_sha256(
            json.loads(signature.content) | {"assessment": {"impact": "major"}}
        )
        forged = replace(signature, content=row.content, content_sha256=row.content_sha256)
        row.seal = hashlib.sha256(
            canonical_json(forged.sealed_fields()).encode("utf-8")
        ).hexdigest()
        assert check_signature(replace(forged, seal=row.seal)) == []  # self-consistent
    with catalog_session(catalog) as session:
        assert signatures_unlike_their_audit(session) == [
            f"signature {signature.id} (deviation_assessment {signature.subject_id}): "
            "differs from what the audit trail recorded at signing"
        ]
