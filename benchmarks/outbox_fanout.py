"""Outbox fan-out: N messages to N chats through the real sender and aiogram client against the
fake Telegram server enforcing a global rate limit with 429 + retry_after.

Prints the achieved rate ÷ limit, 429s received, duplicates and lost; last line JSON.
    python benchmarks/outbox_fanout.py            # 5,000 messages at 30/s (about 3 minutes)
    python benchmarks/outbox_fanout.py --fast     # 2,000 messages at 1,000/s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.channels.telegram import TelegramDelivery
from bot.core.messages import Reply
from bot.outbox import OutboxSender, RateLimits
from bot.storage.db import Database, migrate
from bot.storage.models import OutboxMessage
from tests.fakes.telegram import FakeTelegram
from tests.support.telegram_chat import bot_client


async def start_in_thread() -> tuple[FakeTelegram, Callable[[], None]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeTelegram().start(), loop).result()

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    return fake, stop


async def enqueue(db: Database, count: int) -> None:
    async with db.session() as session, session.begin():
        session.add_all(
            OutboxMessage(
                idempotency_key=f"fanout:{n}",
                channel="telegram",
                chat_id=str(100_000 + n),
                kind="bulk",
                payload=Reply(f"Nhắc hạn báo cáo #{n}").to_json(),
            )
            for n in range(count)
        )


async def main(
    count: int, limit: float, database_url: str | None, args_in_flight: int
) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(migrate, url)
        db = Database(url)
        await enqueue(db, count)
        # The fake runs on its own thread and event loop, as Telegram would be elsewhere: in
        # our loop its request handling would queue behind the sender and skew the timing.
        fake, stop_fake = await start_in_thread()
        try:
            fake.rate_limit(per_second=int(limit))
            bot = bot_client(fake)
            sender = OutboxSender(
                db,
                {"telegram": TelegramDelivery(bot)},
                RateLimits(per_second=limit, in_flight=args_in_flight),
            )
            started = time.monotonic()
            while await sender.queue_length() > 0:
                if await sender.drain_once() == 0:
                    await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
            await bot.session.close()
            texts = Counter((m.chat_id, m.text) for m in fake.sent if m.method == "sendMessage")
        finally:
            stop_fake()
        await db.close()
    delivered = len(texts)
    duplicates = sum(n - 1 for n in texts.values())
    achieved = delivered / elapsed
    return {
        "messages": count,
        "limit_per_s": limit,
        "seconds": round(elapsed, 2),
        "achieved_per_s": round(achieved, 2),
        "ratio": round(achieved / limit, 3),
        "n429": fake.n429,
        "duplicates": duplicates,
        "lost": count - delivered,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", action="store_true", help="2,000 messages at 1,000/s")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--limit", type=float)
    parser.add_argument("--database-url")
    parser.add_argument("--in-flight", type=int, default=RateLimits().in_flight)
    args = parser.parse_args()
    count = args.messages or (2_000 if args.fast else 5_000)
    limit = args.limit or (1_000.0 if args.fast else 30.0)
    result = asyncio.run(main(count, limit, args.database_url, args.in_flight))
    print(f"sent {result['messages']} messages in {result['seconds']} s")
    print(f"achieved {result['achieved_per_s']}/s of a {limit:g}/s limit: ratio {result['ratio']}")
    print(
        f"429 answers: {result['n429']}, duplicates: {result['duplicates']}, lost: {result['lost']}"
    )
    print(json.dumps({k: result[k] for k in ("ratio", "n429", "duplicates", "lost")}))
