"""Deviations, electronic signatures, release decisions and sponsor contacts (#21).

- `deviations`, `deviation_findings`, `deviation_history`: a batch's deviations, the findings
  each covers (by finding id and the exact span covered) and every state change.
- `signatures`: electronic signatures (21 CFR 11.50/11.70), each bound to the SHA-256 of the
  canonical JSON it signed, which is kept beside it.
- `release_decisions`: QA's signed `released`/`rejected` for a batch's temperature record.
- `sponsor_contacts`: where a sponsor hears about deviations on its products.
- `audit_log.at` indexed: QA reviews the trail by span.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_table(
        "sponsor_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sponsor_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=400), nullable=False),
        sa.CheckConstraint(
            "channel IN ('webhook', 'email')", name=op.f("ck_sponsor_contacts_channel")
        ),
        sa.ForeignKeyConstraint(
            ["sponsor_id"], ["sponsors.id"], name=op.f("fk_sponsor_contacts_sponsor_id_sponsors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsor_contacts")),
        sa.UniqueConstraint(
            "sponsor_id", "channel", "destination", name=op.f("uq_sponsor_contacts_sponsor_id")
        ),
    )
    op.create_index(
        op.f("ix_sponsor_contacts_sponsor_id"), "sponsor_contacts", ["sponsor_id"], unique=False
    )
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("meaning", sa.String(length=16), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_time", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "meaning IN ('authored', 'reviewed', 'approved', 'rejected')",
            name=op.f("ck_signatures_meaning"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_signatures_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatures")),
    )
    op.create_index(op.f("ix_signatures_batch_id"), "signatures", ["batch_id"], unique=False)
    op.create_index("ix_signatures_subject", "signatures", ["subject", "subject_id"], unique=False)
    op.create_table(
        "deviations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=400), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("stability_reference", sa.Text(), nullable=True),
        sa.Column("impact", sa.String(length=16), nullable=True),
        sa.Column("sponsor_comment", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "impact IS NULL OR impact IN ('none', 'minor', 'major')",
            name=op.f("ck_deviations_impact"),
        ),
        sa.CheckConstraint(
            "state IN ('open', 'assessed', 'agreed', 'disputed', 'closed')",
            name=op.f("ck_deviations_state"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_deviations_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviations")),
    )
    op.create_index(op.f("ix_deviations_batch_id"), "deviations", ["batch_id"], unique=False)
    op.create_index(op.f("ix_deviations_state"), "deviations", ["state"], unique=False)
    op.create_table(
        "release_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "decision IN ('released', 'rejected')", name=op.f("ck_release_decisions_decision")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_release_decisions_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signatures.id"],
            name=op.f("fk_release_decisions_signature_id_signatures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_decisions")),
    )
    op.create_index(
        op.f("ix_release_decisions_batch_id"), "release_decisions", ["batch_id"], unique=False
    )
    op.create_table(
        "deviation_findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deviation_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("place", sa.String(length=400), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["deviation_id"],
            ["deviations.id"],
            name=op.f("fk_deviation_findings_deviation_id_deviations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviation_findings")),
        sa.UniqueConstraint(
            "deviation_id", "finding_id", name=op.f("uq_deviation_findings_deviation_id")
        ),
    )
    op.create_index(
        op.f("ix_deviation_findings_deviation_id"),
        "deviation_findings",
        ["deviation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deviation_findings_finding_id"), "deviation_findings", ["finding_id"], unique=False
    )
    op.create_table(
        "deviation_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deviation_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'assessed', 'agreed', 'disputed', 'closed')",
            name=op.f("ck_deviation_history_state"),
        ),
        sa.ForeignKeyConstraint(
            ["deviation_id"],
            ["deviations.id"],
            name=op.f("fk_deviation_history_deviation_id_deviations"),
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signatures.id"],
            name=op.f("fk_deviation_history_signature_id_signatures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviation_history")),
    )
    op.create_index(
        op.f("ix_deviation_history_deviation_id"),
        "deviation_history",
        ["deviation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_index(op.f("ix_deviation_history_deviation_id"), table_name="deviation_history")
    op.drop_table("deviation_history")
    op.drop_index(op.f("ix_deviation_findings_finding_id"), table_name="deviation_findings")
    op.drop_index(op.f("ix_deviation_findings_deviation_id"), table_name="deviation_findings")
    op.drop_table("deviation_findings")
    op.drop_index(op.f("ix_release_decisions_batch_id"), table_name="release_decisions")
    op.drop_table("release_decisions")
    op.drop_index(op.f("ix_deviations_state"), table_name="deviations")
    op.drop_index(op.f("ix_deviations_batch_id"), table_name="deviations")
    op.drop_table("deviations")
    op.drop_index("ix_signatures_subject", table_name="signatures")
    op.drop_index(op.f("ix_signatures_batch_id"), table_name="signatures")
    op.drop_table("signatures")
    op.drop_index(op.f("ix_sponsor_contacts_sponsor_id"), table_name="sponsor_contacts")
    op.drop_table("sponsor_contacts")
