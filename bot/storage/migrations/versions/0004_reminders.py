"""deadlines and reminders, announcements, webhook endpoints and read-API keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deadline_id", sa.String(length=40), nullable=False),
        sa.Column("occurrence", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("units_missing", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_slots")),
        sa.UniqueConstraint(
            "deadline_id", "occurrence", "step", name=op.f("uq_reminder_slots_deadline_id")
        ),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_api_keys_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret_enc", sa.String(length=400), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_webhook_endpoints_org_unit_id_org_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint("name", name=op.f("uq_webhook_endpoints_name")),
    )
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_account_id", sa.Integer(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_account_id"],
            ["accounts.id"],
            name=op.f("fk_announcements_author_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_announcements_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.create_index("ix_announcements_due", ["status", "send_at"], unique=False)

    op.create_table(
        "deadline_done",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deadline_id", sa.String(length=40), nullable=False),
        sa.Column("occurrence", sa.String(length=20), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_deadline_done_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_deadline_done_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_done")),
        sa.UniqueConstraint(
            "deadline_id", "occurrence", "org_unit_id", name=op.f("uq_deadline_done_deadline_id")
        ),
    )
    with op.batch_alter_table("deadline_done", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deadline_done_org_unit_id"), ["org_unit_id"], unique=False
        )

    op.create_table(
        "reminder_mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_reminder_mutes_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_mutes")),
        sa.UniqueConstraint("account_id", "kind", name=op.f("uq_reminder_mutes_account_id")),
    )
    with op.batch_alter_table("reminder_mutes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminder_mutes_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "reminder_occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deadline_id", sa.String(length=40), nullable=False),
        sa.Column("occurrence", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_reminder_occurrences_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_occurrences")),
        sa.UniqueConstraint(
            "deadline_id",
            "occurrence",
            "step",
            "account_id",
            name=op.f("uq_reminder_occurrences_deadline_id"),
        ),
    )
    with op.batch_alter_table("reminder_occurrences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminder_occurrences_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index("ix_reminder_occurrences_due", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder_occurrences", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_occurrences_due")
        batch_op.drop_index(batch_op.f("ix_reminder_occurrences_account_id"))

    op.drop_table("reminder_occurrences")
    with op.batch_alter_table("reminder_mutes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_mutes_account_id"))

    op.drop_table("reminder_mutes")
    with op.batch_alter_table("deadline_done", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_done_org_unit_id"))

    op.drop_table("deadline_done")
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_index("ix_announcements_due")

    op.drop_table("announcements")
    op.drop_table("webhook_endpoints")
    op.drop_table("api_keys")
    op.drop_table("reminder_slots")
