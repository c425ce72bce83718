"""A person blocking or unblocking the bot (Telegram), or unfollowing and following (Zalo OA)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.outbox import cancel_unsent
from bot.storage.db import Database
from bot.storage.models import Identity, ProcessedUpdate

__all__ = ["UNREACHABLE", "record_reachability"]

UNREACHABLE = "recipient blocked or unfollowed the bot"


async def record_reachability(
    db: Database, channel: str, key: str, external_id: str, active: bool, now: datetime
) -> bool:
    """Set Identity.active, once per update; returns False for a duplicate. Going
    inactive cancels what was still to be sent to that chat.

    The update is recorded in the same transaction, so a re-delivered (older) event cannot
    undo a newer one.
    """
    try:
        async with db.session() as session, session.begin():
            found = await session.scalar(
                select(ProcessedUpdate.id).where(
                    ProcessedUpdate.channel == channel, ProcessedUpdate.update_key == key
                )
            )
            if found is not None:
                return False
            identity = await session.scalar(
                select(Identity).where(
                    Identity.channel == channel, Identity.external_id == external_id
                )
            )
            session.add(
                ProcessedUpdate(
                    channel=channel,
                    update_key=key,
                    account_id=identity.account_id if identity else None,
                    processed_at=now,
                )
            )
            if identity is not None:
                identity.active = active
            if not active:
                # Reminders waiting for them would be tried, refused and kept as failures,
                # or wait a week on Zalo; cancelled now, each says why.
                await cancel_unsent(session, channel, external_id, UNREACHABLE)
    except IntegrityError:
        return False  # another worker recorded it first
    return True
