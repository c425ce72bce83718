"""Shared fixtures: a fresh database per backend, settings, the real bot serving HTTP, and
the fake Telegram Bot API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot

from bot.orgunits import import_file
from bot.settings import Settings, load_settings
from bot.storage.db import Database
from tests.fakes.telegram import FakeTelegram
from tests.support.db import BACKENDS, fresh_postgres, fresh_sqlite
from tests.support.server import RunningBot, free_port, start_bot
from tests.support.telegram_chat import bot_client

ORGUNITS = Path(__file__).resolve().parent.parent / "rules" / "orgunits"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The fake Telegram Bot API; the Zalo tests have a ``fake`` of their own."""
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def tg_bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    """The bot's own Telegram client, pointed at ``fake``; no database involved."""
    client = bot_client(fake)
    yield client
    await client.session.close()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return await fresh_postgres()
    return await asyncio.to_thread(fresh_sqlite, tmp_path)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        web_port=free_port(),
        secret_key="test-secret-key-0123456789",
        # The reminder scheduler reads the real clock: tests that want it turn it on.
        reminders_enabled=False,
        _env_file=None,
    )


async def import_units(url: str, name: str) -> None:
    db = Database(url)
    try:
        await import_file(db, ORGUNITS / name)
    finally:
        await db.close()


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[RunningBot]:
    await import_units(settings.database_url, "lam_dong_2025.csv")
    running = await start_bot(settings)
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on a SQLite file whatever the backends: for what only SQLite does."""
    return load_settings(
        database_url=fresh_sqlite(tmp_path),
        data_dir=tmp_path / "data",
        web_port=free_port(),
        reminders_enabled=False,
        _env_file=None,
    )


@pytest.fixture
def live_server(sqlite_settings: Settings) -> Iterator[str]:
    """The real bot in a thread of its own, for synchronous clients such as a browser."""
    settings = sqlite_settings
    url = settings.database_url
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, RunningBot] = {}

    async def main() -> None:
        await import_units(url, "lam_dong_2025.csv")
        holder["bot"] = await start_bot(settings)
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(main(), loop).result(timeout=60)
    started.wait()
    yield holder["bot"].url
    asyncio.run_coroutine_threadsafe(holder["bot"].stop(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
