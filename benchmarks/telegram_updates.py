"""Telegram updates through our full path vs a bare aiogram bot doing one durable insert each.

Both run against the fake Bot API server, in a process of its own, with polling. Ours: every
update recorded exactly once with its effects, the account and state loaded and saved, the
reply queued in the outbox and sent by the rate-limited sender. Baseline: aiogram's own polling, a
handler that inserts one row (SQLite, committed) and answers. Prints updates/s for both and
the ratio; last line JSON {"ours_per_s", "baseline_per_s", "ratio"}.

Both run on the event loop `python -m bot run` runs on (uvloop where installed; ``--loop
asyncio`` for asyncio's own). The fake times each rush: from the updates being there to
the last reply's arrival.

The two take turns for a few rounds, each round with the other going first, and the medians
are compared: on a shared machine the speed drifts by half from one minute to the next, and
a single pair measured that drift. The rounds are even in number so that each side goes
first as often: with five, the baseline went first three times.
Each measured part starts from memory settled as ``python -m bot run`` settles it.
With ``--sender external`` ours runs as OUTBOX_SENDER=external: the bot records and queues,
and a ``python -m bot sender`` child process sends (see README, "Sending from processes of
their own"); with ``--database-url`` it is woken by NOTIFY, on SQLite it polls every 50 ms.
``--sender process`` is the same split with the bot starting that process itself.
    python benchmarks/telegram_updates.py [--updates 400] [--rounds 6] [--fast]
        [--database-url postgresql+asyncpg://...] [--sender inline|external|process]
        [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import multiprocessing
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import aiosqlite
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
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


class FakeProcess:
    """The fake Bot API in a process of its own, as Telegram is elsewhere.

    On a thread of the measuring process its work shared the interpreter lock with the bot
    measured: a quarter of the CPU time counted against each side was the fake's, and the
    baseline's figure moved between 995 and 1,398 updates/s from one round to the next.
    The fake also times each rush itself, from the moment the updates are there to the
    arrival of the last reply.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(target=_serve_fake, args=(theirs,), daemon=True)
        self._process.start()

    async def fresh(self) -> tuple[str, str]:
        """A new fake server for one side's turn: its token and base URL."""
        return cast(tuple[str, str], await self._ask("fresh"))

    async def rush(self, count: int) -> float:
        """Seconds from ``count`` first messages becoming available to their last reply."""
        return cast(float, await self._ask("rush", count))

    async def _ask(self, *command: object) -> object:
        self._conn.send(command)
        answer = await asyncio.to_thread(self._conn.recv)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def stop(self) -> None:
        self._conn.send(("stop",))
        self._process.join(30)


def _serve_fake(conn: Connection) -> None:
    asyncio.run(_fake_commands(conn))


async def _fake_commands(conn: Connection) -> None:
    fake: FakeTelegram | None = None
    people = itertools.count(10_000)
    while True:
        command, *args = await asyncio.to_thread(conn.recv)
        if command == "stop":
            break
        try:
            if command == "fresh":
                if fake is not None:
                    await fake.stop()
                fake = await FakeTelegram().start()
                # The last turn's leftovers collected now, not in the middle of this one:
                # a full collection here made every second turn a third slower.
                gc.collect()
                gc.freeze()
                conn.send((fake.token, fake.base_url))
            else:
                assert fake is not None
                conn.send(await _rush(fake, args[0], people))
        except Exception as error:  # reported to the measuring process, which raises it
            conn.send(error)
    if fake is not None:
        await fake.stop()


async def _rush(fake: FakeTelegram, count: int, people: Iterator[int]) -> float:
    # One update per person, as the morning rush looks: many people, one message each.
    updates = [fake.user_text(next(people), "/start") for _ in range(count)]
    seen = len(fake.sent)
    replies = 0
    started = time.monotonic()
    fake.inject(*updates)
    deadline = started + 600
    while replies < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {replies} of {count} replies")
        # Counted as they come, from where the last look ended; a millisecond's sleep is
        # the whole timing error, and it costs the bot's process nothing.
        await asyncio.sleep(0.001)
        fresh = fake.sent[seen:]
        seen += len(fresh)
        replies += sum(1 for m in fresh if m.method == "sendMessage")
    return time.monotonic() - started


async def ours(
    fake: FakeProcess,
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
    token, base_url = await fake.fresh()
    settings = load_settings(
        database_url=url,
        data_dir=tmp / "data",
        web_port=free_port(),
        telegram_bot_token=token,
        telegram_api_base=base_url,
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
            rate = count / await fake.rush(count)
            if sender != "inline":
                wait = await mean_wait(settings)
                print(f"replies queued to sent (sender process): mean {wait:.3f} s")
            return rate
    finally:
        await running.stop()


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


async def baseline(fake: FakeProcess, count: int, tmp: Path) -> float:
    path = tmp / "baseline.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE updates (update_id INTEGER PRIMARY KEY, chat_id INTEGER)")
    token, base_url = await fake.fresh()
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
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
            return count / await fake.rush(count)
        finally:
            await dispatcher.stop_polling()
            await polling
            await bot.session.close()


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


async def measure(
    fake: FakeProcess,
    count: int,
    rounds: int,
    database_url: str | None,
    sender: str,
    waits: list[float],
) -> tuple[list[float], list[float]]:
    """Each side's updates/s in each round: (baseline, ours)."""
    bases: list[float] = []
    mines: list[float] = []
    for number in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            # Who goes first alternates, so a drift of the machine's speed over the run
            # favours neither.
            if number % 2 == 0:
                bases.append(await baseline(fake, count, Path(tmp)))
            if database_url:
                async with fresh_database(database_url, number) as url:
                    mines.append(await ours(fake, count, Path(tmp), url, waits, sender))
            else:
                mines.append(await ours(fake, count, Path(tmp), waits=waits, sender=sender))
            if number % 2 == 1:
                bases.append(await baseline(fake, count, Path(tmp)))
        print(f"round {number + 1}: ours {mines[-1]:.1f}/s, baseline {bases[-1]:.1f}/s")
    return bases, mines


async def main(
    count: int, rounds: int, database_url: str | None, sender: str = "inline"
) -> dict[str, float]:
    waits: list[float] = []
    fake = FakeProcess()
    try:
        bases, mines = await measure(fake, count, rounds, database_url, sender, waits)
    finally:
        fake.stop()
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
    parser.add_argument(
        "--rounds", type=int, help="turns each side takes (default 6, so each goes first as often)"
    )
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
    rounds = args.rounds or (1 if args.fast else 6)
    work = main(count, rounds, args.database_url, args.sender)
    result = uvloop.run(work) if args.loop == "uvloop" and uvloop else asyncio.run(work)
    print(
        f"{count} updates, median of {rounds}, on {args.loop}: ours {result['ours_per_s']}/s, "
        f"bare aiogram + insert {result['baseline_per_s']}/s, ratio {result['ratio']}"
    )
    print(json.dumps(result))
