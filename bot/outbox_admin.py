"""What admins see of the outbox: dead letters, without message text or full chat ids."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.models import OutboxMessage

__all__ = ["failed_messages", "mask_chat"]


def mask_chat(chat_id: str) -> str:
    """Enough to tell chats apart in a list, not enough to contact anyone."""
    return chat_id if len(chat_id) <= 4 else f"{'*' * (len(chat_id) - 3)}{chat_id[-3:]}"


async def failed_messages(db: Database, limit: int = 100) -> list[list[str]]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status.in_(("failed", "uncertain", "waiting")))
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).scalars().all()
    return [
        [
            str(row.id),
            row.channel,
            mask_chat(row.chat_id),
            row.status,
            str(row.attempts),
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            row.last_error or "",
        ]
        for row in rows
    ]
