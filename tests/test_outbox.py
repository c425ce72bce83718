"""The sender against a recording platform: order, retries, dead letters, crashes, two workers."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.core.messages import Reply
from bot.outbox import (
    Blocked,
    GroupCommit,
    OutboxSender,
    Queued,
    RateLimits,
    Rejected,
    RetryAfter,
    SlidingWindow,
    Transient,
    claim_queued,
)
from bot.outbox_admin import failed_messages
from bot.storage.db import Database
from bot.storage.models import Account, Identity, OutboxMessage, utcnow

FAST = RateLimits(per_second=10_000, bulk_per_chat_per_second=10_000, backoff_seconds=0.0)


class RecordingPlatform:
    """Stands in for Telegram at the Delivery seam; faults are scripted per chat."""

    channel = "telegram"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []
        self.faults: dict[str, list[Exception]] = {}

    async def deliver(self, chat_id: str, reply: Reply) -> None:
        await asyncio.sleep(0)
        queue = self.faults.get(chat_id)
        if queue:
            raise queue.pop(0)
        self.delivered.append((chat_id, reply.text))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.close()


async def queue(db: Database, chat: str, texts: list[str], kind: str = "reply") -> None:
    async with db.session() as session, session.begin():
        for text in texts:
            session.add(
                OutboxMessage(
                    idempotency_key=f"{chat}:{text}",
                    channel="telegram",
                    chat_id=chat,
                    kind=kind,
                    payload=Reply(text).to_json(),
                )
            )


async def statuses(db: Database) -> dict[str, str]:
    async with db.session() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars()
        return {row.idempotency_key: row.status for row in rows}


async def drain(sender: OutboxSender, rounds: int = 50) -> None:
    for _ in range(rounds):
        if await sender.drain_once() == 0 and await sender.queue_length() == 0:
            return


async def test_sends_each_message_once_in_order_per_chat(db: Database) -> None:
    platform = RecordingPlatform()
    await queue(db, "1", ["a1", "a2", "a3"])
    await queue(db, "2", ["b1", "b2"])
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    await drain(sender)
    assert [t for c, t in platform.delivered if c == "1"] == ["a1", "a2", "a3"]
    assert [t for c, t in platform.delivered if c == "2"] == ["b1", "b2"]
    assert set((await statuses(db)).values()) == {"sent"}


async def test_retry_after_waits_and_then_sends_once(db: Database) -> None:
    platform = RecordingPlatform()
    platform.faults["1"] = [RetryAfter(0.2)]
    await queue(db, "1", ["first", "second"])
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    await sender.drain_once()
    assert platform.delivered == []
    assert (await statuses(db))["1:first"] == "pending"
    await asyncio.sleep(0.25)
    await drain(sender)
    # The second message never overtook the first one that had to wait.
    assert platform.delivered == [("1", "first"), ("1", "second")]
    async with db.session() as session:
        row = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.idempotency_key == "1:first")
            )
        ).scalar_one()
    assert row.attempts == 1  # a 429 is pacing, not a failed try


async def test_server_errors_retry_with_backoff_then_dead_letter(db: Database) -> None:
    platform = RecordingPlatform()
    platform.faults["1"] = [Transient("500")] * 10
    platform.faults["2"] = [Transient("timeout")]
    await queue(db, "1", ["doomed"])
    await queue(db, "2", ["recovers"])
    limits = RateLimits(per_second=10_000, max_attempts=3, backoff_seconds=0.0)
    sender = OutboxSender(db, {"telegram": platform}, limits)
    await drain(sender)
    states = await statuses(db)
    assert states == {"1:doomed": "failed", "2:recovers": "sent"}
    listed = await failed_messages(db)
    assert len(listed) == 1 and listed[0][3] == "failed" and listed[0][4] == "3"
    assert "1" not in listed[0][2][:-3]  # chat ids are masked in the admin list


async def test_blocked_chat_stops_all_sends_and_deactivates_identity(db: Database) -> None:
    async with db.session() as session, session.begin():
        account = Account()
        session.add(account)
        await session.flush()
        session.add(Identity(account_id=account.id, channel="telegram", external_id="7"))
    platform = RecordingPlatform()
    platform.faults["7"] = [Blocked("bot was blocked by the user")]
    await queue(db, "7", ["one", "two", "three"])
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    await drain(sender)
    assert platform.delivered == []
    assert await statuses(db) == {"7:one": "failed", "7:two": "cancelled", "7:three": "cancelled"}
    async with db.session() as session:
        identity = (await session.execute(select(Identity))).scalar_one()
    assert identity.active is False


async def test_bad_request_fails_at_once_with_the_reason(db: Database) -> None:
    platform = RecordingPlatform()
    platform.faults["1"] = [Rejected("Bad Request: message text is empty")]
    await queue(db, "1", ["x"])
    await drain(OutboxSender(db, {"telegram": platform}, FAST))
    assert (await statuses(db))["1:x"] == "failed"
    assert "message text is empty" in (await failed_messages(db))[0][6]


async def test_after_a_crash_claims_are_released_and_interrupted_sends_not_repeated(
    db: Database,
) -> None:
    await queue(db, "1", ["claimed-never-sent"])
    await queue(db, "2", ["was-being-sent"])
    past = utcnow() - timedelta(minutes=5)
    async with db.session() as session, session.begin():
        for row in (await session.execute(select(OutboxMessage))).scalars():
            row.status = "claimed" if row.chat_id == "1" else "sending"
            row.claimed_by = "dead-worker"
            row.next_attempt_at = past
    platform = RecordingPlatform()
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    assert await sender.recover() == 1
    await drain(sender)
    assert platform.delivered == [("1", "claimed-never-sent")]
    assert (await statuses(db))["2:was-being-sent"] == "uncertain"
    assert (await failed_messages(db))[0][3] == "uncertain"


async def test_two_senders_never_send_the_same_message_twice(db: Database) -> None:
    platform = RecordingPlatform()
    chats = [str(n) for n in range(12)]
    for chat in chats:
        await queue(db, chat, [f"m{i}" for i in range(8)])
    first = OutboxSender(db, {"telegram": platform}, FAST)
    second = OutboxSender(db, {"telegram": platform}, FAST)
    await asyncio.gather(drain(first), drain(second))
    await drain(first)
    assert len(platform.delivered) == len(set(platform.delivered)) == 12 * 8
    for chat in chats:
        assert [t for c, t in platform.delivered if c == chat] == [f"m{i}" for i in range(8)]


async def test_sliding_window_never_exceeds_the_limit() -> None:
    window = SlidingWindow(limit=20, window=0.2)
    stamps: list[float] = []
    for _ in range(50):
        await window.acquire()
        stamps.append(time.monotonic())
    for i, start in enumerate(stamps):
        inside = [s for s in stamps[i:] if s < start + 0.2]
        assert len(inside) <= 20


async def test_sliding_window_spreads_sends_across_the_window() -> None:
    # A burst at the top of each second turns a few ms of jitter into a 429 at the platform.
    window = SlidingWindow(limit=20, window=0.2)
    stamps: list[float] = []
    for _ in range(10):
        await window.acquire()
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.2 / 20 * 0.9


async def test_a_stop_before_the_request_leaves_gives_the_message_back(db: Database) -> None:
    """Stopped while "sending" was being written: nothing went out, so it is not uncertain."""
    await queue(db, "c1", ["a"])
    platform = RecordingPlatform()
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    sender._global.pause(0.3)  # the slot comes only once the test holds the row
    task = asyncio.create_task(sender.drain_once())
    for _ in range(500):
        if (await statuses(db))["c1:a"] == "claimed":
            break
        await asyncio.sleep(0.01)
    async with db.session() as blocker, blocker.begin():
        # Another transaction holds the row, so the sender's "sending" write waits.
        await blocker.execute(update(OutboxMessage).values(last_error=None))
        await asyncio.sleep(0.6)
        task.cancel()
        await asyncio.sleep(0.1)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await statuses(db) == {"c1:a": "pending"}
    assert platform.delivered == []
    await drain(OutboxSender(db, {"telegram": platform}, FAST))
    assert platform.delivered == [("c1", "a")]


class MarkWrites:
    """The write GroupCommit is given: records each write's marks; fails while told to."""

    def __init__(self) -> None:
        self.writes: list[dict[str, list[int]]] = []
        self.failing = False

    async def __call__(self, kinds: dict[str, list[int]]) -> dict[str, set[int]]:
        await asyncio.sleep(0)
        if self.failing:
            raise OSError("disk I/O error")
        self.writes.append({kind: sorted(ids) for kind, ids in kinds.items()})
        return {kind: set(ids) for kind, ids in kinds.items()}


async def test_a_mark_nobody_waits_for_rides_with_the_next_write() -> None:
    write = MarkWrites()
    marks = GroupCommit(write)
    marks.later("sent", 1)
    await asyncio.sleep(0.01)
    assert write.writes == []  # no transaction of its own
    assert await marks.mark("sending", 2)
    assert write.writes == [{"sent": [1], "sending": [2]}]
    marks.later("sent", 2)
    await marks.flush()
    assert write.writes[-1] == {"sent": [2]}
    await marks.flush()  # nothing left: no empty write
    assert len(write.writes) == 2


async def test_marks_of_a_failed_write_are_kept_for_the_next() -> None:
    write = MarkWrites()
    marks = GroupCommit(write)
    marks.later("sent", 1)
    write.failing = True
    with pytest.raises(OSError):
        await marks.mark("sending", 2)  # whoever waits learns of it
    with pytest.raises(OSError):
        await marks.flush()
    write.failing = False
    await marks.flush()
    assert write.writes == [{"sent": [1]}]


async def test_a_stopping_sender_marks_what_it_sent(db: Database) -> None:
    """Stopped mid-drain: what went out reads "sent", not uncertain, after the restart."""
    await queue(db, "quick", ["a"])
    await queue(db, "stuck", ["b"])
    answer = asyncio.Event()
    in_flight = asyncio.Event()

    class Platform(RecordingPlatform):
        async def deliver(self, chat_id: str, reply: Reply) -> None:
            if chat_id == "stuck":
                in_flight.set()
                await answer.wait()  # never answered: stopped in flight
            await super().deliver(chat_id, reply)

    platform = Platform()
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    task = asyncio.create_task(sender.run(idle_seconds=0.05))
    for _ in range(500):
        if platform.delivered and in_flight.is_set():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert platform.delivered == [("quick", "a")]
    # "sending" until recovery, which never sends it again: it may have gone out.
    assert await statuses(db) == {"quick:a": "sent", "stuck:b": "sending"}


async def queued_now(db: Database, chat: str, text: str, worker: str) -> list[Queued]:
    """As the dispatcher does: a row written and, in the same transaction, claimed for the
    sender of this process when nothing older of its chat is unsent."""
    async with db.session() as session, session.begin():
        row = OutboxMessage(
            idempotency_key=f"{chat}:{text}",
            channel="telegram",
            chat_id=chat,
            payload=Reply(text).to_json(),
        )
        session.add(row)
        await session.flush()
        lease = utcnow() + timedelta(seconds=60)
        queued = Queued(row.id, "telegram", chat, "reply", row.payload, 0, row.created_at)
        return await claim_queued(session, [queued], worker, lease)


async def test_a_reply_is_handed_to_the_sender_only_behind_nothing_older(db: Database) -> None:
    """A reply skips the table only when its chat has nothing older still to go: the
    person reads in the order things were said, a retry waiting for its turn included."""
    platform = RecordingPlatform()
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    await queue(db, "busy", ["reminder"])
    async with db.session() as session, session.begin():
        # The reminder got a 429 and waits for its retry.
        later = utcnow() + timedelta(seconds=0.5)
        await session.execute(update(OutboxMessage).values(next_attempt_at=later))
    for chat in ("busy", "quiet"):
        sender.take(await queued_now(db, chat, "answer", sender.worker))
    assert await statuses(db) == {
        "busy:reminder": "pending",
        "busy:answer": "pending",  # behind the reminder: left for the sender's claim
        "quiet:answer": "claimed",
    }
    await sender.drain_once()
    assert platform.delivered == [("quiet", "answer")]
    await asyncio.sleep(0.6)
    await drain(sender)
    assert platform.delivered[1:] == [("busy", "reminder"), ("busy", "answer")]
    assert set((await statuses(db)).values()) == {"sent"}


async def test_a_stopping_sender_gives_back_what_it_was_handed(db: Database) -> None:
    """Handed rows not yet sent go back to the table when the sender stops, so the next
    process sends them at once instead of after their lease."""
    platform = RecordingPlatform()
    sender = OutboxSender(db, {"telegram": platform}, FAST)
    running = asyncio.create_task(sender.run(idle_seconds=0.05))
    for _ in range(200):
        if sender.serves("telegram"):
            break
        await asyncio.sleep(0.01)
    sender._global.pause(5)  # nothing leaves before the stop
    sender.take(await queued_now(db, "c1", "hello", sender.worker))
    await asyncio.sleep(0.1)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert not sender.serves("telegram")
    assert await statuses(db) == {"c1:hello": "pending"}
    assert platform.delivered == []
    await drain(OutboxSender(db, {"telegram": platform}, FAST))
    assert platform.delivered == [("c1", "hello")]
