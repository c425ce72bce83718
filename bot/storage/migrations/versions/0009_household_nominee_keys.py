"""household nominee keys: a household registered in the bot is its account, not its name

Two households of one name in a village shared one nominee key: the second could not be
proposed for an award the first was proposed for, and one's awards counted for the other.
A household's nominations, and the history written when one is awarded, now carry
``#<account id>`` after the name key; history imported from a file keeps the name key.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_HOUSEHOLD_NOMINATIONS = (
    "SELECT id FROM nominations WHERE nominee_group = 'household' "
    "AND nominee_account_id IS NOT NULL"
)


def upgrade() -> None:
    op.execute(
        "UPDATE nominations SET nominee_key = substr(nominee_key, 1, 180) || '#' || "
        "CAST(nominee_account_id AS VARCHAR(20)) "
        "WHERE nominee_group = 'household' AND nominee_account_id IS NOT NULL"
    )
    op.execute(
        "UPDATE award_history SET nominee_key = (SELECT n.nominee_key FROM nominations n "
        "WHERE n.id = award_history.nomination_id) "
        f"WHERE source = 'nomination' AND nomination_id IN ({_HOUSEHOLD_NOMINATIONS})"
    )


def downgrade() -> None:
    # Back to the name alone, row by row: where two households of one name were both
    # awarded the same award in a year, the second keeps its key (the old unique key
    # would refuse it).
    conn = op.get_bind()
    for table in ("nominations", "award_history"):
        rows = conn.execute(
            sa.text(f"SELECT id, nominee_key FROM {table} WHERE nominee_key LIKE :marked"),
            {"marked": "name:%#%"},
        ).all()
        for row_id, key in rows:
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.text(f"UPDATE {table} SET nominee_key = :key WHERE id = :id"),
                        {"key": key.partition("#")[0], "id": row_id},
                    )
            except sa.exc.IntegrityError:
                continue
