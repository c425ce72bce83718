"""Waiting, in tests, until an update is recorded and a channel's outbox has drained."""

from __future__ import annotations

import asyncio
import contextlib
import time

from sqlalchemy import select

from bot.app import BotApp
from bot.storage.models import OutboxMessage, ProcessedUpdate

__all__ = ["ChannelWatch"]

_UNSETTLED = ("pending", "claimed", "sending")


class ChannelWatch:
    """Knows when an update was recorded and a channel's outbox has drained."""

    def __init__(self, app: BotApp, channel: str) -> None:
        self.app = app
        self.channel = channel
        self._changed = asyncio.Event()
        app.dispatcher.on_queued.append(self._changed.set)
        app.sender.on_sent.append(lambda *_: self._changed.set())
        app.sender.on_failed.append(lambda *_: self._changed.set())
        app.sender.on_retry.append(lambda *_: self._changed.set())

    async def _state(self, key: str | None) -> tuple[bool, bool]:
        async with self.app.services.db.session() as session:
            recorded = key is None or (
                await session.scalar(
                    select(ProcessedUpdate.id).where(
                        ProcessedUpdate.channel == self.channel, ProcessedUpdate.update_key == key
                    )
                )
                is not None
            )
            waiting = await session.scalar(
                select(OutboxMessage.id)
                .where(OutboxMessage.channel == self.channel, OutboxMessage.status.in_(_UNSETTLED))
                .limit(1)
            )
        return recorded, waiting is not None

    async def settled(self, key: str | None, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            recorded, waiting = await self._state(key)
            if recorded and not waiting:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = "not recorded" if not recorded else "messages still queued"
                raise TimeoutError(f"update {key}: {state} after {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
