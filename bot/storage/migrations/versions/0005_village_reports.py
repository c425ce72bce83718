"""village reports: baselines ("đầu kỳ") per unit, and periods reopened for one unit

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.String(length=60), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("set_by_account_id", sa.Integer(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_report_baselines_org_unit_id_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["set_by_account_id"],
            ["accounts.id"],
            name=op.f("fk_report_baselines_set_by_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_baselines")),
    )
    with op.batch_alter_table("report_baselines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_baselines_unit", ["dataset_id", "org_unit_id"], unique=False
        )
    op.create_table(
        "period_reopenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.String(length=60), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reopened_by_account_id", sa.Integer(), nullable=True),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_period_reopenings_org_unit_id_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["reopened_by_account_id"],
            ["accounts.id"],
            name=op.f("fk_period_reopenings_reopened_by_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_period_reopenings")),
    )
    with op.batch_alter_table("period_reopenings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_period_reopenings_unit", ["dataset_id", "org_unit_id", "period"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("period_reopenings", schema=None) as batch_op:
        batch_op.drop_index("ix_period_reopenings_unit")
    op.drop_table("period_reopenings")
    with op.batch_alter_table("report_baselines", schema=None) as batch_op:
        batch_op.drop_index("ix_report_baselines_unit")
    op.drop_table("report_baselines")
