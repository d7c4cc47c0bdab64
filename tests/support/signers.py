"""People who sign in the deviation tests, and the steps of a deviation as they sign them.

Two QA persons (the two-person rule needs two), an admin, a viewer of each sponsor, each
with a password of their own to re-enter at signing; `open_on`, `assess` and `decide`
call the catalog as the API's routes do, with arguments a test overrides where it matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from coldchain.catalog import catalog_session, set_password, upsert_user
from coldchain.catalog.deviations import (
    CoveredFinding,
    Deviation,
    assess_deviation,
    decide_deviation,
    open_deviation,
)
from coldchain.catalog.schema import UserRow
from tests.support.secrets_registry import register

__all__ = ["PASSWORDS", "SIGNERS", "add_signers", "assess", "decide", "open_on"]

#: user id -> (role, sponsor, printed name).
SIGNERS: dict[str, tuple[str, str | None, str]] = {
    "qa-maria": ("qa", None, "Maria Keller"),
    "qa-quinn": ("qa", None, "Quinn Novak"),
    "root": ("admin", None, "Ada Admin"),
    "alice": ("sponsor_viewer", "ACME", "Alice Meyer"),
    "gus": ("sponsor_viewer", "GLOBEX", "Gus Grant"),
}
PASSWORDS = {user: f"{user}-signs-at-the-bench" for user in SIGNERS}


def add_signers(engine: Engine) -> None:
    """Create the `SIGNERS` the fleet file does not have (one it has keeps its role, sponsor
    and name) and give each its password from `PASSWORDS`."""
    register(*PASSWORDS.values())
    with catalog_session(engine) as session:
        for user, (role, sponsor, name) in SIGNERS.items():
            if session.get(UserRow, user) is None:
                upsert_user(
                    session, user_id=user, role=role, sponsor=sponsor, name=name, actor="test"
                )
            set_password(session, user_id=user, password=PASSWORDS[user], actor="test")


def open_on(
    engine: Engine,
    batch: str,
    findings: Sequence[CoveredFinding],
    *,
    now: datetime,
    title: str = "temperature record findings",
) -> Deviation:
    """QA (qa-maria) opens a deviation of `batch` on `findings`."""
    with catalog_session(engine) as session:
        return open_deviation(
            session, batch_id=batch, findings=findings, title=title, actor="qa-maria", now=now
        )


def assess(engine: Engine, deviation: int, user: str = "qa-maria", **given: Any) -> Deviation:
    """`user` assesses the deviation with their password: no impact, by the stability
    study (`given` overrides any argument of `assess_deviation`)."""
    fields: dict[str, Any] = {
        "password": PASSWORDS[user],
        "reason": "inside the product's stability data",
        "stability_reference": "STAB-2026-014",
        "impact": "none",
        "timezone": "Europe/Zurich",
    } | given
    with catalog_session(engine) as session:
        return assess_deviation(session, deviation, user_id=user, **fields)


def decide(
    engine: Engine, deviation: int, *, agree: bool, user: str = "alice", **given: Any
) -> Deviation:
    """The sponsor's `user` agrees, or disputes with a question, with their password
    (`given` overrides any argument of `decide_deviation`)."""
    fields: dict[str, Any] = {
        "password": PASSWORDS[user],
        "comment": None if agree else "which stability study covers this?",
    } | given
    with catalog_session(engine) as session:
        return decide_deviation(session, deviation, user_id=user, agree=agree, **fields)
