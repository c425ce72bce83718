"""Ids given out before rows are written: never twice, and a clash with another process costs
no update."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiohttp
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.ids import reserve_ids
from bot.storage.models import Account, Identity, ProcessedUpdate
from tests.support.server import start_bot
from tests.support.web_chat import WebChat


async def test_two_sessions_get_different_ids_before_either_writes(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.session() as first, db.session() as second:
            mine = await reserve_ids(first, {Account: 3, Identity: 2})
            theirs = await reserve_ids(second, {Account: 3, ProcessedUpdate: 1})
        assert len(set(mine[Account]) | set(theirs[Account])) == 6
        assert mine[Account] == sorted(mine[Account])
        assert len(mine[Identity]) == 2 and len(theirs[ProcessedUpdate]) == 1
        async with db.session() as session, session.begin():
            session.add_all(Account(id=row_id) for row_id in mine[Account] + theirs[Account])
        async with db.session() as session:
            assert await session.scalar(select(func.count(Account.id))) == 6
    finally:
        await db.close()


async def test_an_id_taken_by_another_process_costs_no_update(sqlite_settings: Settings) -> None:
    """SQLite: a command-line tool creates an account just as the bot writes its own under
    the same id. The bot's transaction is refused; the update is recorded once, answered
    once, and the tool's account is left as it was."""
    url = sqlite_settings.database_url
    running = await start_bot(sqlite_settings)
    taken: list[int] = []

    def other_process_first(
        _conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, many: bool
    ) -> None:
        if taken or not statement.startswith("INSERT INTO accounts"):
            return
        row_id = (params[0] if many else params)[0]
        with sqlite3.connect(str(make_url(url).database)) as other:
            other.execute(
                "INSERT INTO accounts (id, created_at, push_enabled) VALUES (?, ?, 1)",
                (row_id, "2026-11-25 08:00:00.000000"),
            )
        taken.append(row_id)

    engine = running.app.services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", other_process_first)
    try:
        async with aiohttp.ClientSession() as http:
            replies = await WebChat(running.url, "clash", http).send_text("/start")
        assert taken, "the bot never wrote an account"
        assert any("Xin chào" in reply.text for reply in replies)
        db = running.app.services.db
        async with db.session() as session:
            recorded = await session.scalar(
                select(func.count(ProcessedUpdate.id)).where(ProcessedUpdate.channel == "web")
            )
            owner = await session.scalar(
                select(Identity.account_id).where(Identity.external_id == "clash")
            )
        assert recorded == 1
        assert owner is not None and owner != taken[0]
    finally:
        event.remove(engine, "before_cursor_execute", other_process_first)
        await running.stop()
