"""Reminder fan-out: N village heads missing their monthly report, one scheduler tick, then
the real outbox sender and aiogram client against the fake Telegram server enforcing a global
rate limit with 429 + retry_after.

Two runs: the sender runs to the end; then (new reminders, new fake server) the sender process
is killed with SIGKILL half-way and a new one started. Prints achieved ÷ limit, 429s,
duplicates and lost for each; the last line is JSON.

    python benchmarks/reminder_fanout.py            # 10,000 recipients at 30/s (~12 minutes)
    python benchmarks/reminder_fanout.py --fast     # 300 recipients at 50/s (seconds)

The sender runs in a child process (``--worker``), as ``python -m bot run`` would, so the kill
is a real one: nothing gets to clean up. A message cut mid-HTTP-call by the kill is marked
"uncertain" and never sent again (the outbox prefers never twice): if Telegram had not got
it, it counts as lost, and the admins' list (python -m bot outbox failed) shows it. The
claim lease is short (``--lease``, default 3 s) so the restarted sender takes over the dead
one's claims quickly; the restart pause counts in the "with restart" ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from bot.storage.db import Database, migrate  # noqa: E402
from bot.storage.models import (  # noqa: E402
    Account,
    Base,
    Identity,
    OrgUnit,
    OutboxMessage,
    RoleAssignment,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CHAT_BASE = 500_000
COMMUNES = 100


async def start_fake_in_thread() -> tuple[object, Callable[[], None]]:
    from tests.fakes.telegram import FakeTelegram

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeTelegram().start(), loop).result()

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    return fake, stop


async def build_world(db: Database, recipients: int) -> None:
    """A province, communes, one village per recipient, and its head on Telegram."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    units: list[dict[str, object]] = [
        {
            "id": 1,
            "code": "P",
            "name": "Tỉnh",
            "name_folded": "tinh",
            "level": "province",
            "parent_id": None,
            "path": "/1/",
            "depth": 0,
            "active": True,
        }
    ]
    for c in range(COMMUNES):
        cid = 2 + c
        units.append(
            {
                "id": cid,
                "code": f"C{c}",
                "name": f"Xã {c}",
                "name_folded": f"xa {c}",
                "level": "commune",
                "parent_id": 1,
                "path": f"/1/{cid}/",
                "depth": 1,
                "active": True,
            }
        )
    first_village = 2 + COMMUNES
    accounts, identities, roles = [], [], []
    for n in range(recipients):
        vid = first_village + n
        cid = 2 + n % COMMUNES
        units.append(
            {
                "id": vid,
                "code": f"V{n}",
                "name": f"Thôn {n}",
                "name_folded": f"thon {n}",
                "level": "village",
                "parent_id": cid,
                "path": f"/1/{cid}/{vid}/",
                "depth": 2,
                "active": True,
            }
        )
        accounts.append(
            {
                "id": n + 1,
                "locale": "vi",
                "kind": "official",
                "created_at": now,
                "consent_at": now,
                "onboarded_at": now,
                "push_enabled": True,
                "home_unit_id": vid,
            }
        )
        identities.append(
            {
                "id": n + 1,
                "account_id": n + 1,
                "channel": "telegram",
                "external_id": str(CHAT_BASE + n),
                "active": True,
                "created_at": now,
            }
        )
        roles.append(
            {
                "id": n + 1,
                "account_id": n + 1,
                "role": "village_head",
                "org_unit_id": vid,
                "created_at": now,
            }
        )
    async with db.session() as session, session.begin():
        for model, rows in (
            (OrgUnit, units),
            (Account, accounts),
            (Identity, identities),
            (RoleAssignment, roles),
        ):
            for start in range(0, len(rows), 2000):
                await session.execute(insert(model), rows[start : start + 2000])


async def tick(db: Database, url: str, when: datetime) -> tuple[int, float]:
    from bot.reminders import Reminders, reminder_config
    from bot.settings import load_settings

    settings = load_settings(database_url=url, _env_file=None)
    started = time.monotonic()
    queued = await Reminders(db, reminder_config(settings)).tick(when)
    return queued, time.monotonic() - started


def spawn_worker(url: str, base: str, limit: float, lease: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            "--database-url",
            url,
            "--api-base",
            base,
            "--limit",
            str(limit),
            "--lease",
            str(lease),
        ],
        cwd=ROOT,
    )


async def worker(url: str, base: str, limit: float, lease: float) -> None:
    """The sender as a process: drains the Telegram outbox, then exits."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.channels.telegram import TelegramDelivery
    from bot.outbox import OutboxSender, RateLimits
    from tests.fakes.telegram import DEFAULT_TOKEN

    db = Database(url)
    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base)))
    sender = OutboxSender(
        db, {"telegram": TelegramDelivery(bot)}, RateLimits(per_second=limit, lease_seconds=lease)
    )
    # The sender's run() recovers once at start; a worker that takes over a dead one must
    # also release the dead one's claims once their lease lapses, so recover every second.
    last = 0.0
    while await sender.queue_length() > 0:
        if time.monotonic() - last > 1.0:
            await sender.recover()
            last = time.monotonic()
        if await sender.drain_once() == 0:
            await asyncio.sleep(0.02)
    await bot.session.close()
    await db.close()


async def wait_for(condition: Callable[[], bool], step: float = 0.01) -> None:
    """Poll a condition another process or thread makes true."""
    while not condition():  # noqa: ASYNC110 - nothing in this loop can set an Event
        await asyncio.sleep(step)


async def outbox_states(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return {status: int(n) for status, n in rows.all()}


async def run_scenario(
    db: Database, url: str, when: datetime, limit: float, lease: float, kill: bool
) -> dict[str, float | int]:
    queued, tick_seconds = await tick(db, url, when)
    fake, stop_fake = await start_fake_in_thread()
    restart_pause = 0.0
    try:
        fake.rate_limit(per_second=int(limit))  # type: ignore[attr-defined]
        base = fake.base_url  # type: ignore[attr-defined]
        process = spawn_worker(url, base, limit, lease)
        # The clock starts at the first message: a process starting up is not the sender.
        await wait_for(lambda: len(fake.sent) > 0 or process.poll() is not None)  # type: ignore[attr-defined]
        started = time.monotonic()
        if kill:
            await wait_for(lambda: len(fake.sent) >= queued // 2 or process.poll() is not None)  # type: ignore[attr-defined]
            assert process.poll() is None, "the sender ended before half-way"
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            killed_at = time.monotonic()
            sent_at_kill = len(fake.sent)  # type: ignore[attr-defined]
            process = spawn_worker(url, base, limit, lease)
            await wait_for(lambda: len(fake.sent) > sent_at_kill or process.poll() is not None)  # type: ignore[attr-defined]
            restart_pause = time.monotonic() - killed_at
        await wait_for(lambda: process.poll() is not None)
        elapsed = time.monotonic() - started
        chats = Counter(m.chat_id for m in fake.sent if m.method == "sendMessage")  # type: ignore[attr-defined]
        n429 = int(fake.n429)  # type: ignore[attr-defined]
    finally:
        stop_fake()
    delivered = len(chats)
    states = await outbox_states(db)
    achieved = sum(chats.values()) / elapsed
    sending = elapsed - restart_pause
    return {
        "recipients": queued,
        "tick_seconds": round(tick_seconds, 2),
        "seconds": round(elapsed, 2),
        "restart_pause_seconds": round(restart_pause, 2),
        "achieved_per_s": round(achieved, 2),
        "ratio": round(achieved / limit, 3),
        "ratio_while_sending": round(sum(chats.values()) / sending / limit, 3) if kill else None,
        "n429": n429,
        "duplicates": sum(n - 1 for n in chats.values()),
        "lost": queued - delivered,
        "uncertain": states.get("uncertain", 0),
    }  # type: ignore[return-value]


async def fresh_database(url: str | None, tmp: str) -> str:
    url = url or f"sqlite+aiosqlite:///{tmp}/bench.db"
    await asyncio.to_thread(migrate, url)
    if not url.startswith("sqlite"):
        db = Database(url)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await db.close()
    return url


async def main(recipients: int, limit: float, url: str | None, lease: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh_database(url, tmp)
        db = Database(url)
        try:
            await build_world(db, recipients)
            # 2/11 08:00: the village report's "-3d" step; 4/11 08:00: its "-1d" step.
            steady = await run_scenario(
                db, url, datetime(2026, 11, 2, 8, 0, tzinfo=TZ), limit, lease, kill=False
            )
            killed = await run_scenario(
                db, url, datetime(2026, 11, 4, 8, 0, tzinfo=TZ), limit, lease, kill=True
            )
        finally:
            await db.close()
    return {"limit": limit, "steady": steady, "restart": killed}


def report(name: str, limit: float, result: dict[str, float | int]) -> None:
    print(f"== {name}")
    print(f"scheduler tick queued {result['recipients']} reminders in {result['tick_seconds']} s")
    print(
        f"sent in {result['seconds']} s: {result['achieved_per_s']}/s of a {limit:g}/s limit, "
        f"ratio {result['ratio']}"
    )
    if result.get("ratio_while_sending") is not None:
        print(
            f"killed half-way, new sender sending again after {result['restart_pause_seconds']} s;"
            f" ratio while sending {result['ratio_while_sending']}"
        )
    print(
        f"429 answers: {result['n429']}, duplicates: {result['duplicates']}, "
        f"lost: {result['lost']}, uncertain: {result['uncertain']}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", action="store_true", help="300 recipients at 50/s")
    parser.add_argument("--recipients", type=int)
    parser.add_argument("--limit", type=float)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite)")
    parser.add_argument("--lease", type=float, default=3.0, help="claim lease of the sender (s)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.database_url, args.api_base, args.limit, args.lease))
        sys.exit(0)
    count = args.recipients or (300 if args.fast else 10_000)
    limit = args.limit or (50.0 if args.fast else 30.0)
    outcome = asyncio.run(main(count, limit, args.database_url, args.lease))
    steady, restart = outcome["steady"], outcome["restart"]
    assert isinstance(steady, dict) and isinstance(restart, dict)
    report("sender runs to the end", limit, steady)
    report("sender killed (SIGKILL) half-way and restarted", limit, restart)
    print(
        json.dumps(
            {
                "ratio": steady["ratio"],
                "ratio_with_restart": restart["ratio"],
                "ratio_while_sending_with_restart": restart["ratio_while_sending"],
                "n429": steady["n429"] + restart["n429"],
                "duplicates": steady["duplicates"] + restart["duplicates"],
                "lost": steady["lost"] + restart["lost"],
                "recipients": count,
                "limit": limit,
            }
        )
    )
