"""Telegram updates through our full path vs a bare aiogram bot doing one durable insert each.

Both run against the fake Bot API server (on its own thread) with polling. Ours: every update
recorded exactly once with its effects, the account and state loaded and saved, the reply
queued in the outbox and sent by the rate-limited sender. Baseline: aiogram's own polling, a
handler that inserts one row (SQLite, committed) and answers. Prints updates/s for both and
the ratio; last line JSON {"ours_per_s", "baseline_per_s", "ratio"}.

Both run on the event loop `python -m bot run` runs on (uvloop where installed; ``--loop
asyncio`` for asyncio's own); the fake server has a loop of its own on its thread.

The two take turns for a few rounds, each round with the other going first, and the medians
are compared: on a shared machine the speed drifts by half from one minute to the next, and
a single pair measured that drift.
Each measured part starts from memory settled as ``python -m bot run`` settles it.
With ``--sender external`` ours runs as OUTBOX_SENDER=external: the bot records and queues,
and a ``python -m bot sender`` child process sends (see README, "Sending from processes of
their own"); with ``--database-url`` it is woken by NOTIFY, on SQLite it polls every 50 ms.
``--sender process`` is the same split with the bot starting that process itself.
    python benchmarks/telegram_updates.py [--updates 400] [--rounds 3] [--fast]
        [--database-url postgresql+asyncpg://...] [--sender inline|external|process]
        [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import aiosqlite
from aiogram import Dispatcher
from aiogram.types import Message
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import settle_memory, warm_up
from bot.orgunits import import_file
from bot.settings import Settings, load_settings
from bot.storage.db import Database, migrate
from tests.fakes.telegram import FakeTelegram

try:
    import uvloop
except ImportError:  # Windows: asyncio's own loop, as `python -m bot run` uses there
    uvloop = None  # type: ignore[assignment]
from tests.support.sender import ready, sender_process
from tests.support.server import free_port, start_bot

ROOT = Path(__file__).resolve().parents[1]


def fake_in_thread() -> tuple[FakeTelegram, Callable[[], None]]:
    """The fake on its own loop; updates are injected on that loop (see ``inject``)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeTelegram().start(), loop).result()

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    fake.loop = loop  # type: ignore[attr-defined]
    return fake, stop


async def wait_for(fake: FakeTelegram, count: int) -> None:
    # Counted as they come: rescanning every reply each 10 ms made the harness itself cost
    # a share of the CPU it measures that grew with the square of the updates.
    deadline = time.monotonic() + 600
    seen = replies = 0
    while replies < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {replies} of {count} replies")
        await asyncio.sleep(0.01)
        fresh = fake.sent[seen:]
        seen += len(fresh)
        replies += sum(1 for m in fresh if m.method == "sendMessage")


def inject(fake: FakeTelegram, count: int) -> None:
    # One update per person, as the morning rush looks: many people, one message each.
    def build() -> None:
        fake.inject(*(fake.user_text(10_000 + n, "/start") for n in range(count)))

    fake.loop.call_soon_threadsafe(build)  # type: ignore[attr-defined]


async def ours(
    count: int,
    tmp: Path,
    database_url: str | None = None,
    waits: list[float] | None = None,
    sender: str = "inline",
) -> float:
    """Updates/s; ``waits`` gets each reply's seconds from being queued to being sent."""
    url = database_url or f"sqlite+aiosqlite:///{tmp}/ours.db"
    await asyncio.to_thread(migrate, url)
    db = Database(url)
    await import_file(db, ROOT / "rules" / "orgunits" / "lam_dong_2025.csv")
    await db.close()
    fake, stop = fake_in_thread()
    settings = load_settings(
        database_url=url,
        data_dir=tmp / "data",
        web_port=free_port(),
        telegram_bot_token=fake.token,
        telegram_api_base=fake.base_url,
        outbox_per_second=100_000.0,
        outbox_sender=sender,
        # Without NOTIFY (SQLite) the sender looks this often.
        outbox_poll_seconds=0.05,
        sender_port=free_port(),
        log_level="WARNING",  # the sender process logs as the bot does
        _env_file=None,
    )
    running = await start_bot(settings)
    if waits is not None:
        running.app.sender.on_sent.append(lambda _row, seconds: waits.append(seconds))
    try:
        async with contextlib.AsyncExitStack() as stack:
            if sender == "external":
                await stack.enter_async_context(sender_process(settings, tmp))
            elif sender == "process":
                await ready(settings)  # the one the bot started
            await asyncio.sleep(0.5)  # commands registered, polling started
            await warm_up(running.app)  # as `python -m bot run` does before it serves
            started = time.monotonic()
            inject(fake, count)
            await wait_for(fake, count)
            rate = count / (time.monotonic() - started)
            if sender != "inline":
                wait = await mean_wait(settings)
                print(f"replies queued to sent (sender process): mean {wait:.3f} s")
            return rate
    finally:
        await running.stop()
        stop()


async def mean_wait(settings: Settings) -> float:
    """Mean seconds from queued to sent, from the sender process's own /metrics."""
    url = f"http://{settings.web_host}:{settings.sender_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        page = await response.text()
    found = dict(
        re.findall(
            r"^giamngheo_outbox_send_latency_seconds_(sum|count)\{[^}]*\} (\S+)$", page, re.M
        )
    )
    return float(found["sum"]) / max(float(found["count"]), 1.0)


async def baseline(count: int, tmp: Path) -> float:
    path = tmp / "baseline.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE updates (update_id INTEGER PRIMARY KEY, chat_id INTEGER)")
    fake, stop = fake_in_thread()
    bot = fake.make_bot()
    dispatcher = Dispatcher()
    async with aiosqlite.connect(path) as conn:

        @dispatcher.message()
        async def echo(message: Message) -> None:
            await conn.execute(
                "INSERT INTO updates (update_id, chat_id) VALUES (?, ?)",
                (message.message_id * 1_000_000 + message.chat.id, message.chat.id),
            )
            await conn.commit()
            await message.answer(message.text or "")

        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
        try:
            await asyncio.sleep(0.5)
            settle_memory()
            started = time.monotonic()
            inject(fake, count)
            await wait_for(fake, count)
            return count / (time.monotonic() - started)
        finally:
            await dispatcher.stop_polling()
            await polling
            await bot.session.close()
            stop()


@contextlib.asynccontextmanager
async def fresh_database(url: str, number: int) -> AsyncIterator[str]:
    """An empty database beside the one named in ``url`` for each round, dropped after."""
    server = make_url(url)
    name = f"{server.database}_round{number}"
    admin = create_async_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def main(
    count: int, rounds: int, database_url: str | None, sender: str = "inline"
) -> dict[str, float]:
    bases: list[float] = []
    mines: list[float] = []
    waits: list[float] = []
    for number in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            # Who goes first alternates, so a drift of the machine's speed over the run
            # favours neither.
            if number % 2 == 0:
                bases.append(await baseline(count, Path(tmp)))
            if database_url:
                async with fresh_database(database_url, number) as url:
                    mines.append(await ours(count, Path(tmp), url, waits, sender))
            else:
                mines.append(await ours(count, Path(tmp), waits=waits, sender=sender))
            if number % 2 == 1:
                bases.append(await baseline(count, Path(tmp)))
        print(f"round {number + 1}: ours {mines[-1]:.1f}/s, baseline {bases[-1]:.1f}/s")
    if waits:  # an external sender's waits are in its own process
        cuts = statistics.quantiles(waits, n=20)
        print(f"replies queued to sent: median {cuts[9]:.3f} s, 95th percentile {cuts[18]:.3f} s")
    base = statistics.median(bases)
    mine = statistics.median(mines)
    return {
        "ours_per_s": round(mine, 1),
        "baseline_per_s": round(base, 1),
        "ratio": round(mine / base, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int)
    parser.add_argument("--rounds", type=int, help="turns each side takes (default 5)")
    parser.add_argument("--fast", action="store_true", help="100 updates, one round")
    parser.add_argument(
        "--database-url",
        help="ours on PostgreSQL: a fresh database beside this one each round; default SQLite",
    )
    parser.add_argument(
        "--sender",
        choices=("inline", "external", "process"),
        default="inline",
        help="ours with OUTBOX_SENDER=inline (default), external (a `python -m bot sender` "
        "started here) or process (started by the bot)",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop" if uvloop is not None else "asyncio",
        help="the event loop both run on; `python -m bot run` runs on uvloop where installed",
    )
    args = parser.parse_args()
    count = args.updates or (100 if args.fast else 400)
    rounds = args.rounds or (1 if args.fast else 5)
    work = main(count, rounds, args.database_url, args.sender)
    result = uvloop.run(work) if args.loop == "uvloop" and uvloop else asyncio.run(work)
    print(
        f"{count} updates, median of {rounds}, on {args.loop}: ours {result['ours_per_s']}/s, "
        f"bare aiogram + insert {result['baseline_per_s']}/s, ratio {result['ratio']}"
    )
    print(json.dumps(result))
