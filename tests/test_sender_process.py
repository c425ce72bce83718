"""OUTBOX_SENDER=external: `python -m bot run` queues, `python -m bot sender` processes send;
OUTBOX_SENDER=process: `run` starts, restarts and stops such a process itself.

The bot runs as `python -m bot run` runs it, the sender is the real command in a child
process, and both talk HTTP to the fake Telegram Bot API of this test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import OutboxMessage
from tests.conftest import import_units
from tests.fakes.telegram import FakeTelegram
from tests.support.sender import ready, sender_process, start_sender
from tests.support.server import RunningBot, free_port, start_bot

ROOT = Path(__file__).resolve().parents[1]

GREETING = "Xin chào"


def external(settings: Settings, fake: FakeTelegram, poll_seconds: float) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": fake.token,
            "telegram_api_base": fake.base_url,
            "outbox_sender": "external",
            "outbox_poll_seconds": poll_seconds,
            "sender_port": free_port(),
        }
    )


@pytest.fixture
async def bot(settings: Settings, fake: FakeTelegram) -> AsyncIterator[RunningBot]:
    # PostgreSQL wakes the sender at commit: a poll of a minute cannot explain a prompt
    # answer there. SQLite has no such signal; its sender looks five times a second.
    poll = 60.0 if settings.database_url.startswith("postgresql") else 0.2
    await import_units(settings.database_url, "lam_dong_2025.csv")
    running = await start_bot(external(settings, fake, poll))
    yield running
    await running.stop()


async def unsent(db_url: str) -> int:
    db = Database(db_url)
    try:
        async with db.session() as session:
            query = select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent")
            return int(await session.scalar(query) or 0)
    finally:
        await db.close()


async def status_of(db_url: str, chat_id: str) -> str | None:
    db = Database(db_url)
    try:
        async with db.session() as session:
            query = select(OutboxMessage.status).where(OutboxMessage.chat_id == chat_id)
            return await session.scalar(query)
    finally:
        await db.close()


async def queued(db_url: str, count: int) -> None:
    """Wait until ``count`` outbox rows were written (the bot recorded the updates)."""
    db = Database(db_url)
    try:
        for _ in range(200):
            async with db.session() as session:
                if int(await session.scalar(select(func.count(OutboxMessage.id))) or 0) >= count:
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"fewer than {count} outbox rows")
    finally:
        await db.close()


async def test_replies_queued_by_run_are_sent_by_the_sender_process(
    bot: RunningBot, fake: FakeTelegram, tmp_path: Path
) -> None:
    settings = bot.app.services.settings
    async with sender_process(settings, tmp_path):
        fake.inject(fake.user_text(501, "/start"), fake.user_text(502, "/start"))
        await fake.wait_until(lambda: len(fake.texts_to(501)) + len(fake.texts_to(502)) >= 2, 20)
        await asyncio.sleep(0.3)  # anything doubled would arrive meanwhile
    assert [GREETING in text for text in fake.texts_to(501)] == [True]
    assert [GREETING in text for text in fake.texts_to(502)] == [True]
    assert bot.app.sender.stats.sent == 0  # `run` itself sent nothing
    assert await unsent(settings.database_url) == 0


async def test_a_killed_sender_loses_nothing_and_its_successor_sends_nothing_twice(
    bot: RunningBot, fake: FakeTelegram, tmp_path: Path
) -> None:
    settings = bot.app.services.settings
    async with sender_process(settings, tmp_path) as first:
        fake.inject(fake.user_text(601, "/start"))
        await fake.wait_until(lambda: len(fake.texts_to(601)) == 1, 20)
        first.send_signal(signal.SIGKILL)
        await first.wait()

    # Written to while no sender runs: recorded and queued, not sent.
    fake.inject(fake.user_text(602, "/start"))
    await queued(settings.database_url, 2)
    assert fake.texts_to(602) == []

    async with sender_process(settings, tmp_path):
        await fake.wait_until(lambda: len(fake.texts_to(602)) == 1, 20)
        await asyncio.sleep(0.3)
    # The first reply may still read "sending" (killed between the request and its mark):
    # such a row is never sent again, only listed as uncertain once its lease lapses.
    assert len(fake.texts_to(601)) == 1
    assert len(fake.texts_to(602)) == 1
    assert await status_of(settings.database_url, "602") == "sent"


async def test_the_sender_process_reports_its_sends_on_its_own_metrics_page(
    bot: RunningBot, fake: FakeTelegram, tmp_path: Path
) -> None:
    settings = bot.app.services.settings
    async with sender_process(settings, tmp_path), aiohttp.ClientSession() as http:
        fake.inject(fake.user_text(701, "/start"))
        await fake.wait_until(lambda: len(fake.texts_to(701)) == 1, 20)
        metrics = f"http://{settings.web_host}:{settings.sender_port}/metrics"
        for _ in range(50):  # "sent" is counted just after the request returns
            async with http.get(metrics) as response:
                page = await response.text()
            if 'giamngheo_outbox_sent_total{channel="telegram"} 1.0' in page:
                break
            await asyncio.sleep(0.1)
    assert 'giamngheo_outbox_sent_total{channel="telegram"} 1.0' in page


async def test_the_sender_without_a_channel_to_send_on_says_so_and_exits_2(
    settings: Settings, tmp_path: Path
) -> None:
    child = await start_sender(
        settings.model_copy(update={"sender_port": free_port()}), tmp_path, capture=True
    )
    _, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 2
    assert "nothing to send on: set TELEGRAM_BOT_TOKEN" in err.decode()


# --------------------------------------------------------------------------- OUTBOX_SENDER=process


def children(parent: int) -> list[int]:
    """Living processes started by ``parent`` as `python -m bot sender` (read off /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z" and command[1:4] == [b"-m", b"bot", b"sender"]:
            found.append(int(entry.name))
    return found


async def one_child(parent: int, other_than: int | None = None) -> int:
    """The sender process ``parent`` runs, once there is exactly one (not ``other_than``)."""
    for _ in range(600):
        found = children(parent)
        if len(found) == 1 and found[0] != other_than:
            return found[0]
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no single new sender process under {parent}: {children(parent)}")


async def test_run_with_outbox_sender_process_starts_restarts_and_stops_its_sender(
    settings: Settings, fake: FakeTelegram
) -> None:
    """The child looks at the outbox once a minute: only `run` telling it through its pipe
    (or NOTIFY, on PostgreSQL) explains a prompt answer, on SQLite as on PostgreSQL."""
    await import_units(settings.database_url, "lam_dong_2025.csv")
    supervised = external(settings, fake, 60.0).model_copy(update={"outbox_sender": "process"})
    bot = await start_bot(supervised)
    try:
        await ready(bot.app.services.settings)
        fake.inject(fake.user_text(801, "/start"))
        await fake.wait_until(lambda: len(fake.texts_to(801)) == 1, 10)
        first = await one_child(os.getpid())
        os.kill(first, signal.SIGKILL)
        # Written to while no sender runs: queued, and sent by the one started next.
        fake.inject(fake.user_text(802, "/start"))
        await one_child(os.getpid(), other_than=first)
        await fake.wait_until(lambda: len(fake.texts_to(802)) == 1, 30)
        fake.inject(fake.user_text(803, "/start"))  # to the new child, through the pipe
        await fake.wait_until(lambda: len(fake.texts_to(803)) == 1, 10)
        await asyncio.sleep(0.3)  # anything doubled would arrive meanwhile
        assert [GREETING in text for text in fake.texts_to(801)] == [True]
        assert [GREETING in text for text in fake.texts_to(802)] == [True]
        assert [GREETING in text for text in fake.texts_to(803)] == [True]
        assert bot.app.sender.stats.sent == 0  # the child sent, not `run`
        async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/metrics") as response:
            page = await response.text()
        assert "giamngheo_sender_process_up 1.0" in page
        assert "giamngheo_sender_process_restarts_total 1.0" in page
    finally:
        await bot.stop()
    assert children(os.getpid()) == []  # stopped with the bot


async def test_the_sender_process_of_a_killed_run_stops_by_itself(
    settings: Settings, fake: FakeTelegram, tmp_path: Path
) -> None:
    """`run` killed outright cannot stop its sender: the sender notices and stops, so the
    next `run` does not find one still running."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(tmp_path),
        "WEB_PORT": str(free_port()),
        "SECRET_KEY": settings.secret_key,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE": fake.base_url,
        "OUTBOX_SENDER": "process",
        "REMINDERS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}
    )
    try:
        sender = await one_child(run.pid)
        run.send_signal(signal.SIGKILL)
        await run.wait()
        deadline = time.monotonic() + 15
        while not _gone(sender):
            assert time.monotonic() < deadline, "the sender outlived its run by 15 s"
            await asyncio.sleep(0.1)
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()


def _gone(pid: int) -> bool:
    """Exited: no longer in /proc, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
