"""The sender: drains the outbox at the platforms' rate limits, never sending a message twice.

A row goes pending -> claimed -> sending -> sent. "claimed" is taken in a batch and can be
released safely after a crash (nothing was sent yet); "sending" is written just before the
platform call and "sent" just after, so the only ambiguous window is one HTTP call: a row
found in "sending" after its lease lapsed is marked "uncertain", listed for admins, and not
sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import Table, and_, bindparam, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter

from bot.core.messages import Reply
from bot.logs import log_failure
from bot.storage.db import Database
from bot.storage.models import Identity, OutboxMessage, utcnow

__all__ = [
    "WAKE_CHANNEL",
    "Blocked",
    "Delivery",
    "DeliveryError",
    "GroupCommit",
    "OutboxSender",
    "Queued",
    "RateLimits",
    "Rejected",
    "RetryAfter",
    "SlidingWindow",
    "Transient",
    "Waiting",
    "announce_queued",
    "cancel_unsent",
    "claim_queued",
    "wake_waiting",
]

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A platform refused or failed a send; the subclass says what to do next."""


class RetryAfter(DeliveryError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Transient(DeliveryError):
    """5xx, timeouts, connection errors: retry with backoff."""


class Blocked(DeliveryError):
    """403: the person blocked the bot; no more sends to this chat."""


class Rejected(DeliveryError):
    """400: the platform will never accept this message."""


class Waiting(DeliveryError):
    """Not now, and no retry will change that: the person must act first (e.g. write to a
    Zalo Official Account to reopen its reply window). The row waits, visible to admins,
    until the channel calls it back (:func:`wake_waiting`) or it is too old to be of use."""


class Delivery(Protocol):
    channel: str

    async def deliver(self, chat_id: str, reply: Reply) -> None: ...


@dataclass(frozen=True)
class RateLimits:
    """Defaults from Telegram's documentation (about 30/s overall, 1/s per chat, 20/min groups)."""

    per_second: float = 30.0
    bulk_per_chat_per_second: float = 1.0
    group_per_minute: float = 20.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    # Requests open at once. The global limit spaces them anyway (30/s keeps a few open);
    # in a burst of replies more open requests mean bigger groups of marks, and more of the
    # platform's time overlapping ours. In benchmarks/telegram_updates.py 100 answered about
    # a sixth more updates per second than 48, and 200 no more than 100; aiogram's
    # connection pool holds 100.
    in_flight: int = 100
    lease_seconds: float = 60.0
    batch: int = 200
    # A message waiting for the person (see Waiting) is given up after this long.
    wait_max_seconds: float = 7 * 24 * 3600.0


class SlidingWindow:
    """At most ``limit`` events in any ``window`` seconds, spread evenly across the window.

    Platforms count requests as they arrive, and arrival times jitter on a busy machine: a
    burst of 30 at the top of each second turns a few ms of jitter into a 429 and a pause of
    a whole second, while requests one ``window / limit`` apart need a jitter of a whole gap.
    """

    def __init__(self, limit: float, window: float = 1.0) -> None:
        self.limit = max(1, int(limit))
        self.window = window
        self._gap = window / self.limit
        self._next = 0.0
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = max(self._paused_until, self._next) - now
                while self._times and self._times[0] <= now - self.window:
                    self._times.popleft()
                if len(self._times) >= self.limit:
                    wait = max(wait, self._times[0] + self.window - now)
                if wait <= 0:
                    self._times.append(now)
                    self._next = now + self._gap
                    return
                await asyncio.sleep(wait)


class GroupCommit:
    """Marks asked for at the same moment share one transaction: group commit for the sender.

    Dozens of sends in flight would otherwise cost a transaction each for "sending" and
    another for "sent"; waiting for a timer would widen the window in which a crash leaves a
    send unaccounted for. Here a mark waits only for the write already under way, and one
    write carries every kind of mark asked for meanwhile.

    A mark nobody waits for (:meth:`later`: "sent", once the request is answered) rides
    along with the next write or :meth:`flush`, so a rush's writes each carry both kinds
    and there are fewer of them.
    """

    def __init__(
        self, write: Callable[[dict[str, list[int]]], Awaitable[dict[str, set[int]]]]
    ) -> None:
        self._write = write
        self._waiting: list[tuple[str, int, asyncio.Future[bool] | None]] = []
        self._awaited = 0  # marks in _waiting that someone waits for
        self._flushing = False
        self._failed: Exception | None = None
        self._task: asyncio.Task[None] | None = None

    async def mark(self, kind: str, row_id: int) -> bool:
        """True when this row was written (the write's condition held for it)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((kind, row_id, future))
        self._awaited += 1
        self._start()
        return await future

    def later(self, kind: str, row_id: int) -> None:
        """Written with the next write; kept for the one after if that write fails."""
        self._waiting.append((kind, row_id, None))

    async def flush(self) -> None:
        """Write every mark asked for so far; raises what the write raised if it failed."""
        self._flushing, self._failed = True, None
        try:
            self._start()
            await self.settled()
        finally:
            self._flushing = False
        if self._failed is not None:
            raise self._failed

    async def settled(self) -> None:
        """Wait until every mark waited for so far is written (or has failed)."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait([task])

    def _due(self) -> bool:
        return self._awaited > 0 or (self._flushing and bool(self._waiting))

    def _start(self) -> None:
        if (self._task is None or self._task.done()) and self._due():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._due():
            group, self._waiting, self._awaited = self._waiting, [], 0
            kinds: dict[str, list[int]] = {}
            for kind, row_id, _ in group:
                kinds.setdefault(kind, []).append(row_id)
            try:
                written = await self._write(kinds)
            except Exception as error:
                self._failed = error
                for kind, row_id, future in group:
                    if future is None:
                        self._waiting.append((kind, row_id, None))
                    elif not future.done():
                        future.set_exception(error)
                if self._awaited == 0:
                    return  # the unwritten wait for the next mark or flush
                continue
            for kind, row_id, future in group:
                if future is not None and not future.done():
                    future.set_result(row_id in written.get(kind, ()))


@dataclass(slots=True)
class Queued:
    """An outbox row as the sender reads it: plain data, handed over or loaded, never an ORM
    object (tracking one cost more than the send's own bookkeeping)."""

    id: int
    channel: str
    chat_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


class _Due(NamedTuple):
    id: int
    channel: str
    chat_id: str


_UNSENT = ("pending", "claimed", "sending")
_outbox = cast(Table, OutboxMessage.__table__)
# Built once: these run for every few messages, and building a statement costs more than
# running it.
_MARK_SENDING = (
    update(_outbox)
    .where(
        _outbox.c.id.in_(bindparam("ids", expanding=True)),
        _outbox.c.status == "claimed",
        _outbox.c.claimed_by == bindparam("worker"),
    )
    .values(status="sending", attempts=_outbox.c.attempts + 1, next_attempt_at=bindparam("lease"))
    .returning(_outbox.c.id)
)
_earlier = _outbox.alias("earlier")
_queued_ids: BindParameter[int] = bindparam("ids", expanding=True)
_CLAIM_QUEUED = (
    update(_outbox)
    .where(
        _outbox.c.id.in_(_queued_ids),
        _outbox.c.status == "pending",
        ~exists().where(
            _earlier.c.channel == _outbox.c.channel,
            _earlier.c.chat_id == _outbox.c.chat_id,
            _earlier.c.id < _outbox.c.id,
            _earlier.c.status.in_(_UNSENT),
            _earlier.c.id.not_in(_queued_ids),
        ),
    )
    .values(status="claimed", claimed_by=bindparam("worker"), next_attempt_at=bindparam("lease"))
    .returning(_outbox.c.id)
)
# A chat's message waits while an earlier one is still on its way: order per chat.
_earlier_row = aliased(OutboxMessage, name="earlier_row")
_now: BindParameter[datetime] = bindparam("now")
_DUE = (
    select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.chat_id)
    .where(
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at <= _now,
        OutboxMessage.channel.in_(bindparam("channels", expanding=True)),
        ~exists().where(
            _earlier_row.channel == OutboxMessage.channel,
            _earlier_row.chat_id == OutboxMessage.chat_id,
            _earlier_row.id < OutboxMessage.id,
            _earlier_row.status.in_(_UNSENT),
            ~and_(_earlier_row.status == "pending", _earlier_row.next_attempt_at <= _now),
        ),
    )
    .order_by(OutboxMessage.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
_UNSENT_OF_CHATS = (
    select(_outbox.c.channel, _outbox.c.chat_id, _outbox.c.id)
    .where(
        _outbox.c.chat_id.in_(bindparam("chats", expanding=True)),
        _outbox.c.status.in_(_UNSENT),
    )
    .order_by(_outbox.c.id)
)
_CLAIM_DUE = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)), _outbox.c.status == "pending")
    .values(status="claimed", claimed_by=bindparam("worker"), next_attempt_at=bindparam("lease"))
)
_CLAIMED_BY = (
    select(*(_outbox.c[field.name] for field in fields(Queued)))
    .where(
        OutboxMessage.id.in_(bindparam("ids", expanding=True)),
        OutboxMessage.status == "claimed",
        OutboxMessage.claimed_by == bindparam("worker"),
    )
    .order_by(OutboxMessage.id)
)
_MARK_SENT = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent", sent_at=bindparam("now"), claimed_by=None, last_error=None)
)


# While handed rows keep coming, how often the sender still reads the table for others.
_CLAIM_EVERY = 0.25

# Senders in other processes (OUTBOX_SENDER=external) LISTEN on this PostgreSQL channel.
WAKE_CHANNEL = "giamngheo_outbox"
_NOTIFY = text(f"NOTIFY {WAKE_CHANNEL}")


async def announce_queued(session: AsyncSession) -> None:
    """Wake the senders of other processes when this transaction commits (PostgreSQL).

    A notification is delivered at commit and dropped on rollback, so a sender never looks
    for rows that are not there yet.
    """
    await session.execute(_NOTIFY)


async def claim_queued(
    session: AsyncSession, rows: list[Queued], worker: str, lease_until: datetime
) -> list[Queued]:
    """Rows just queued (flushed, not committed), claimed for a sender of this process.

    Its sender then takes them from memory (:meth:`OutboxSender.take`) instead of claiming
    them with a query and loading each row again: one UPDATE per batch of updates. A row is
    taken only when nothing older of its chat is still unsent, the order people read in;
    the rest stay pending for the sender's own claim. If the process dies, the claims lapse
    with their lease and :meth:`OutboxSender.recover` frees them.
    """
    if not rows:
        return []
    params = {"ids": [row.id for row in rows], "worker": worker, "lease": lease_until}
    result = await session.execute(_CLAIM_QUEUED, params)
    taken = set(result.scalars())
    return [row for row in rows if row.id in taken]


@dataclass
class SenderStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0


class OutboxSender:
    def __init__(
        self,
        db: Database,
        deliveries: dict[str, Delivery],
        limits: RateLimits | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.deliveries = deliveries
        self.limits = limits or RateLimits()
        self.clock = clock
        self.worker = uuid.uuid4().hex[:12]
        self.stats = SenderStats()
        self._wake = asyncio.Event()
        # A little wider than a second: requests in flight reach the platform a few ms apart
        # from when they were let go, and one that lands inside the platform's window costs a
        # 429 and a pause of a whole second.
        self._global = SlidingWindow(self.limits.per_second, window=1.02)
        self._chat_next: dict[str, float] = {}
        # Rows the dispatcher queued and claimed for us in its own transaction (see
        # claim_queued): sent without being read back from the table.
        self._handed: list[Queued] = []
        self._running = False
        self._next_claim = 0.0
        self._marks = GroupCommit(self._write_marks)
        self.on_sent: list[Callable[[Queued, float], None]] = []
        self.on_failed: list[Callable[[Queued, str], None]] = []
        self.on_retry: list[Callable[[Queued], None]] = []

    def wake(self) -> None:
        self._wake.set()

    def serves(self, channel: str) -> bool:
        """Whether rows for ``channel`` may be handed to this sender (see :meth:`take`)."""
        return self._running and channel in self.deliveries

    def take(self, rows: list[Queued]) -> None:
        """Rows claimed for this sender by :func:`claim_queued`, committed: send them next."""
        self._handed.extend(rows)
        self._wake.set()

    async def run(self, idle_seconds: float = 1.0) -> None:
        self._running = True
        try:
            await self._run(idle_seconds)
        finally:
            self._running = False
            # Claims not started go back at once, so a restart sends them without waiting
            # for their lease to lapse (which still frees them if this write fails).
            try:
                await asyncio.shield(self._marks.flush())
            except Exception as error:
                log_failure(log, "sent messages not marked; they will read as uncertain", error)
            try:
                await asyncio.shield(self._give_back())
            except Exception as error:
                log_failure(log, "unsent claims not given back; their lease will free them", error)

    async def _give_back(self) -> None:
        self._handed = []
        async with self.db.write_turn(), self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "claimed", OutboxMessage.claimed_by == self.worker)
                .values(status="pending", claimed_by=None, next_attempt_at=self.clock())
            )

    async def _run(self, idle_seconds: float) -> None:
        await self.recover()
        # Another worker may die holding rows; their leases lapse and must be looked at while
        # this one runs, or that chat's later messages would wait for our next restart.
        next_recovery = time.monotonic() + self.limits.lease_seconds / 2
        while True:
            if time.monotonic() >= next_recovery:
                await self.recover()
                next_recovery = time.monotonic() + self.limits.lease_seconds / 2
            self._wake.clear()
            try:
                sent = await self.drain_once()
            except Exception as error:
                log_failure(log, "outbox drain failed; retrying", error)
                sent = 0
            if sent == 0:
                # Woken at once for replies; the timeout picks up other workers' rows and retries.
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the event fires, and the app would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle_seconds):
                        await self._wake.wait()

    async def recover(self) -> int:
        """After a crash: release claims never started; mark interrupted sends uncertain."""
        now = self.clock()
        async with self.db.write_turn(), self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "claimed", OutboxMessage.next_attempt_at < now)
                .values(status="pending", claimed_by=None, next_attempt_at=now)
            )
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "sending", OutboxMessage.next_attempt_at < now)
                .values(status="uncertain", last_error="interrupted during send; not resent")
            )
            too_old = now - timedelta(seconds=self.limits.wait_max_seconds)
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "waiting", OutboxMessage.created_at < too_old)
                .values(status="failed", last_error="gave up waiting for the person")
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def drain_once(self) -> int:
        """Claim what is due, send it (in order per chat), record each outcome. Returns sends."""
        claimed, self._handed = self._handed, []
        # During a rush every round has handed rows; the table is still read now and then
        # for retries, pushes and other workers' rows.
        if not claimed or time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + _CLAIM_EVERY
            claimed = sorted(claimed + await self._claim(), key=lambda row: row.id)
        if not claimed:
            return 0
        by_chat: dict[tuple[str, str], list[Queued]] = {}
        for row in claimed:
            by_chat.setdefault((row.channel, row.chat_id), []).append(row)
        gate = asyncio.Semaphore(self.limits.in_flight)
        results = await asyncio.gather(*(self._send_chat(rows, gate) for rows in by_chat.values()))
        await self._marks.flush()
        return sum(results)

    async def _claim(self) -> list[Queued]:
        now = self.clock()
        due = {"now": now, "channels": list(self.deliveries), "batch": self.limits.batch}
        async with self.db.write_turn(), self.db.session() as session, session.begin():
            found = [_Due(*row) for row in (await session.execute(_DUE, due)).all()]
            ids = await self._first_in_line(session, found)
            if not ids:
                return []
            lease = now + timedelta(seconds=self.limits.lease_seconds)
            # Conditional: SQLite has no row locks, so a row another sender claimed meanwhile
            # must not be taken over; only rows still pending become ours.
            await session.execute(_CLAIM_DUE, {"ids": ids, "worker": self.worker, "lease": lease})
        async with self.db.session() as session:
            mine = await session.execute(_CLAIMED_BY, {"ids": ids, "worker": self.worker})
            return [Queued(*row) for row in mine.all()]

    @staticmethod
    async def _first_in_line(session: AsyncSession, rows: list[_Due]) -> list[int]:
        """Per chat, keep only the unbroken run from its oldest unsent message.

        Another sender may hold an earlier message of the same chat (skipped as locked);
        sending past it would break the order the person reads in.
        """
        if not rows:
            return []
        chats = {"chats": list({row.chat_id for row in rows})}
        queued: dict[tuple[str, str], list[int]] = {}
        for channel, chat_id, row_id in (await session.execute(_UNSENT_OF_CHATS, chats)).all():
            queued.setdefault((channel, chat_id), []).append(row_id)
        held: dict[tuple[str, str], list[int]] = {}
        for row in rows:
            held.setdefault((row.channel, row.chat_id), []).append(row.id)
        keep: list[int] = []
        for key, mine in held.items():
            for row_id, expected in zip(mine, queued.get(key, []), strict=False):
                if row_id != expected:
                    break
                keep.append(row_id)
        return sorted(keep)

    async def _send_chat(self, rows: list[Queued], gate: asyncio.Semaphore) -> int:
        sent = 0
        for index, row in enumerate(rows):
            async with gate:
                outcome = await self._send_one(row)
            if outcome == "sent":
                sent += 1
                continue
            # The rest of this chat waits behind the one that did not go out.
            await self._release([r.id for r in rows[index + 1 :]])
            break
        return sent

    async def _pace_chat(self, row: Queued) -> None:
        """Bulk messages: about 1/s per private chat, 20/min per group. Replies go at once."""
        if row.kind == "reply":
            return
        is_group = row.chat_id.startswith("-")
        interval = (
            60.0 / self.limits.group_per_minute
            if is_group
            else 1.0 / self.limits.bulk_per_chat_per_second
        )
        key = f"{row.channel}:{row.chat_id}"
        now = time.monotonic()
        ready = self._chat_next.get(key, 0.0)
        if ready > now:
            await asyncio.sleep(ready - now)
        self._chat_next[key] = max(now, ready) + interval

    async def _send_one(self, row: Queued) -> str:
        await self._pace_chat(row)
        # The slot first, then "sending", then the call: a row is marked only when its request
        # is about to leave, so a crash leaves at most the requests truly in flight uncertain.
        await self._global.acquire()
        try:
            marked = await self._marks.mark("sending", row.id)
        except asyncio.CancelledError:
            await asyncio.shield(self._take_back(row.id))
            raise
        if not marked:
            return "lost-claim"
        row.attempts += 1
        delivery = self.deliveries[row.channel]
        try:
            await delivery.deliver(row.chat_id, Reply.from_json(row.payload))
        except RetryAfter as error:
            self._global.pause(error.seconds)
            await self._retry(row, error.seconds, str(error), count_attempt=False)
            return "retry"
        except Transient as error:
            if row.attempts >= self.limits.max_attempts:
                await self._fail(row, f"gave up after {row.attempts} tries: {error}")
                return "failed"
            await self._retry(
                row, self.limits.backoff_seconds * 2 ** (row.attempts - 1), str(error)
            )
            return "retry"
        except Blocked as error:
            await self._blocked(row, str(error))
            return "failed"
        except Rejected as error:
            await self._fail(row, str(error))
            return "failed"
        except Waiting as error:
            await self._set(
                row,
                status="waiting",
                claimed_by=None,
                attempts=OutboxMessage.attempts - 1,
                last_error=str(error)[:300],
            )
            return "waiting"
        self._mark_sent(row)
        return "sent"

    async def _write_marks(self, kinds: dict[str, list[int]]) -> dict[str, set[int]]:
        """ "sending" only for rows still claimed by us; "sent" for rows we sent."""
        now = self.clock()
        written: dict[str, set[int]] = {}
        async with self.db.write_turn(), self.db.engine.begin() as conn:
            if kinds.get("sending"):
                lease = now + timedelta(seconds=self.limits.lease_seconds)
                params = {"ids": kinds["sending"], "worker": self.worker, "lease": lease}
                written["sending"] = set((await conn.execute(_MARK_SENDING, params)).scalars())
            if kinds.get("sent"):
                await conn.execute(_MARK_SENT, {"ids": kinds["sent"], "now": now})
                written["sent"] = set(kinds["sent"])
        return written

    async def _take_back(self, row_id: int) -> None:
        """Stopped before the request left: the row is pending again, not uncertain."""
        await self._marks.settled()
        async with self.db.write_turn(), self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row_id,
                    OutboxMessage.status == "sending",
                    OutboxMessage.claimed_by == self.worker,
                )
                .values(
                    status="pending",
                    claimed_by=None,
                    attempts=OutboxMessage.attempts - 1,
                    next_attempt_at=self.clock(),
                )
            )

    async def _set(self, row: Queued, **values: object) -> None:
        async with self.db.write_turn(), self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values)
            )

    def _mark_sent(self, row: Queued) -> None:
        # Not waited for: the message is out, and a crash before the write leaves the row
        # "sending", which recovery marks uncertain and never sends again. The window ends
        # at this sender's next mark, or when the drain that sent it flushes.
        self._marks.later("sent", row.id)
        latency = (self.clock() - row.created_at).total_seconds()
        self.stats.sent += 1
        for hook in self.on_sent:
            hook(row, latency)

    async def _retry(
        self, row: Queued, seconds: float, reason: str, *, count_attempt: bool = True
    ) -> None:
        values: dict[str, object] = {
            "status": "pending",
            "claimed_by": None,
            "next_attempt_at": self.clock() + timedelta(seconds=seconds),
            "last_error": reason[:300],
        }
        if not count_attempt:
            # A 429 is the platform pacing us, not a failure of this message.
            values["attempts"] = OutboxMessage.attempts - 1
        await self._set(row, **values)
        self.stats.retried += 1
        for hook in self.on_retry:
            hook(row)

    async def _fail(self, row: Queued, reason: str) -> None:
        await self._set(row, status="failed", claimed_by=None, last_error=reason[:300])
        self.stats.failed += 1
        log.warning("outbox message %s failed on %s: %s", row.id, row.channel, reason[:120])
        for hook in self.on_failed:
            hook(row, reason)

    async def _blocked(self, row: Queued, reason: str) -> None:
        await self._fail(row, f"blocked: {reason}")
        async with self.db.write_turn(), self.db.session() as session, session.begin():
            await session.execute(
                update(Identity)
                .where(Identity.channel == row.channel, Identity.external_id == row.chat_id)
                .values(active=False)
            )
            await cancel_unsent(session, row.channel, row.chat_id, "recipient blocked the bot")

    async def _release(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self.db.write_turn(), self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.status == "claimed",
                    OutboxMessage.claimed_by == self.worker,
                )
                .values(status="pending", claimed_by=None, next_attempt_at=self.clock())
            )

    async def queue_length(self) -> int:
        async with self.db.session() as session:
            count = await session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status.in_(_UNSENT),
                    OutboxMessage.channel.in_(list(self.deliveries)),
                )
            )
        return int(count or 0)


async def cancel_unsent(session: AsyncSession, channel: str, chat_id: str, reason: str) -> int:
    """Nothing more goes to a chat that cannot be reached: its unsent messages are cancelled
    (a claimed one too: a sender marks a row "sending" only while it is still claimed)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status.in_(("pending", "claimed", "waiting")),
        )
        .values(status="cancelled", last_error=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def wake_waiting(session: AsyncSession, channel: str, chat_id: str, now: datetime) -> int:
    """The person acted (wrote again): their waiting messages go out, before the answer."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status == "waiting",
        )
        .values(status="pending", next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
