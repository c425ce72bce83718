"""awards: nominations and their dossier files, and the award history prerequisites read

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nominations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("award", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("nominee_group", sa.String(length=20), nullable=False),
        sa.Column("nominee_key", sa.String(length=200), nullable=False),
        sa.Column("nominee_name", sa.String(length=200), nullable=False),
        sa.Column("nominee_unit_id", sa.Integer(), nullable=False),
        sa.Column("nominee_account_id", sa.Integer(), nullable=True),
        sa.Column("nominator_account_id", sa.Integer(), nullable=True),
        sa.Column("nominator_unit_id", sa.Integer(), nullable=True),
        sa.Column("submitting_unit_id", sa.Integer(), nullable=True),
        sa.Column("report_submission_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decision", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["nominee_unit_id"],
            ["org_units.id"],
            name=op.f("fk_nominations_nominee_unit_id_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["nominee_account_id"],
            ["accounts.id"],
            name=op.f("fk_nominations_nominee_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["nominator_account_id"],
            ["accounts.id"],
            name=op.f("fk_nominations_nominator_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["nominator_unit_id"],
            ["org_units.id"],
            name=op.f("fk_nominations_nominator_unit_id_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["submitting_unit_id"],
            ["org_units.id"],
            name=op.f("fk_nominations_submitting_unit_id_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["report_submission_id"],
            ["submissions.id"],
            name=op.f("fk_nominations_report_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nominations")),
        sa.UniqueConstraint("code", name=op.f("uq_nominations_code")),
    )
    with op.batch_alter_table("nominations", schema=None) as batch_op:
        batch_op.create_index("ix_nominations_round", ["award", "year", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_nominations_nominee_key"), ["nominee_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nominations_nominee_unit_id"), ["nominee_unit_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nominations_nominee_account_id"), ["nominee_account_id"], unique=False
        )
    op.create_table(
        "dossier_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nomination_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("file_ref", sa.String(length=500), nullable=True),
        sa.Column("uploaded_by_account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["nomination_id"],
            ["nominations.id"],
            name=op.f("fk_dossier_parts_nomination_id_nominations"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_account_id"],
            ["accounts.id"],
            name=op.f("fk_dossier_parts_uploaded_by_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_parts")),
    )
    with op.batch_alter_table("dossier_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_parts_nomination_id"), ["nomination_id"], unique=False
        )
    op.create_table(
        "award_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nominee_key", sa.String(length=200), nullable=False),
        sa.Column("nominee_name", sa.String(length=200), nullable=False),
        sa.Column("nominee_group", sa.String(length=20), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("award", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("movement", sa.String(length=60), nullable=False),
        sa.Column("decision", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("nomination_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_award_history_org_unit_id_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["nomination_id"],
            ["nominations.id"],
            name=op.f("fk_award_history_nomination_id_nominations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_award_history")),
        sa.UniqueConstraint(
            "nominee_key", "award", "year", "movement", name=op.f("uq_award_history_nominee_key")
        ),
    )
    with op.batch_alter_table("award_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_award_history_org_unit_id"), ["org_unit_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("award_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_award_history_org_unit_id"))
    op.drop_table("award_history")
    with op.batch_alter_table("dossier_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_parts_nomination_id"))
    op.drop_table("dossier_parts")
    with op.batch_alter_table("nominations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nominations_nominee_account_id"))
        batch_op.drop_index(batch_op.f("ix_nominations_nominee_unit_id"))
        batch_op.drop_index(batch_op.f("ix_nominations_nominee_key"))
        batch_op.drop_index("ix_nominations_round")
    op.drop_table("nominations")
