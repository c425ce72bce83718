"""link codes: a one-time code that joins a second channel (Zalo, Telegram, web) to an account

Also: whom a Zalo file link was made for (zalo_files.channel, chat_id), so that erasing a
person removes the files made for them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_link_codes_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_link_codes_code_hash")),
    )
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_codes_account_id"), ["account_id"], unique=False)
    with op.batch_alter_table("zalo_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("chat_id", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_zalo_files_chat", ["channel", "chat_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("zalo_files", schema=None) as batch_op:
        batch_op.drop_index("ix_zalo_files_chat")
        batch_op.drop_column("chat_id")
        batch_op.drop_column("channel")
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_codes_account_id"))
    op.drop_table("link_codes")
