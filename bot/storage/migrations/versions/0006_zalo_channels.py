"""zalo channels: numbered menus per chat, the OA token pair, reply windows, inbox, file links

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zalo_chat_menus",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=100), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("numbers", sa.Boolean(), nullable=False),
        sa.Column("fresh", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id", name=op.f("pk_zalo_chat_menus")),
    )
    op.create_table(
        "zalo_oa_tokens",
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=False),
        sa.Column("refresh_token_enc", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seed_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("lease_owner", sa.String(length=40), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_zalo_oa_tokens")),
    )
    op.create_table(
        "zalo_oa_users",
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replies_since", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_zalo_oa_users")),
    )
    op.create_table(
        "zalo_oa_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("event_name", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_oa_inbox")),
        sa.UniqueConstraint("event_key", name=op.f("uq_zalo_oa_inbox_event_key")),
    )
    with op.batch_alter_table("zalo_oa_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zalo_oa_inbox_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "ix_zalo_oa_inbox_due", ["processed_at", "next_attempt_at"], unique=False
        )
    op.create_table(
        "zalo_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("content_b64", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_files")),
        sa.UniqueConstraint("token", name=op.f("uq_zalo_files_token")),
    )
    with op.batch_alter_table("zalo_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zalo_files_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("zalo_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zalo_files_expires_at"))
    op.drop_table("zalo_files")
    with op.batch_alter_table("zalo_oa_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_zalo_oa_inbox_due")
        batch_op.drop_index(batch_op.f("ix_zalo_oa_inbox_user_id"))
    op.drop_table("zalo_oa_inbox")
    op.drop_table("zalo_oa_users")
    op.drop_table("zalo_oa_tokens")
    op.drop_table("zalo_chat_menus")
