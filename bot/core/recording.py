"""Recording updates in one transaction: who sent them, their state, what they cause.

Everything a chunk of updates needs is read in a handful of queries (which updates were
seen, the senders, their conversation states) and everything it causes is written in one
flush at the end, so that the statements per update stay near one however large the chunk:
on SQLite each statement is a round trip to the driver's thread, and statements, not
Python, were what a morning rush cost.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Context
from bot.core.messages import Incoming
from bot.outbox import RateLimits, claim_queued
from bot.storage.ids import reserve_ids
from bot.storage.models import Account, ConversationState, Identity, OutboxMessage, ProcessedUpdate

__all__ = ["Handoff", "Recording"]


class Handoff(Protocol):
    """A sender in this process that takes the rows it can send from memory (bot/outbox.py)."""

    worker: str
    limits: RateLimits

    def serves(self, channel: str) -> bool: ...

    def take(self, rows: list[OutboxMessage]) -> None: ...


Sender = tuple[str, str]  # (channel, external id)
UpdateKey = tuple[str, str]  # (channel, update key)


class Recording:
    """One transaction's updates: call :meth:`prepare`, then per update :meth:`state`,
    :meth:`save_state` and :meth:`queue`, then :meth:`finish`."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.seen: dict[UpdateKey, int] = {}  # recorded before: their ids
        self.processed: dict[UpdateKey, int] = {}  # recorded now: their ids
        self._people: dict[Sender, tuple[Account, Identity]] = {}
        self._states: dict[int, ConversationState | None] = {}
        self._outbox: dict[UpdateKey, list[OutboxMessage]] = {}

    async def prepare(self, incomings: Sequence[Incoming]) -> list[Incoming]:
        """Read what the updates need; returns those not recorded before, in order.

        Nothing is written yet: new accounts, identities and processed-update rows get their
        ids beforehand (bot/storage/ids.py) and go in with the first flush, one statement
        per table.
        """
        self.seen = await self._recorded(incomings)
        fresh = [i for i in incomings if (i.channel, i.update_key) not in self.seen]
        if not fresh:
            return []
        new = await self._senders(fresh)
        await self._load_states([account.id for account, _ in self._people.values()])
        counts = {Account: len(new), Identity: len(new), ProcessedUpdate: len(fresh)}
        ids = await reserve_ids(self.session, counts)
        for (channel, sender), account_id, identity_id in zip(
            new, ids[Account], ids[Identity], strict=True
        ):
            # Defaults spelled out: handlers read them before the flush would fill them in.
            account = Account(id=account_id, created_at=self.now, push_enabled=True)
            identity = Identity(
                id=identity_id,
                account_id=account_id,
                channel=channel,
                external_id=sender,
                active=True,
                created_at=self.now,
            )
            self.session.add_all((account, identity))
            self._people[(channel, sender)] = (account, identity)
            self._states[account_id] = None
        self.processed = {
            (i.channel, i.update_key): row_id
            for i, row_id in zip(fresh, ids[ProcessedUpdate], strict=True)
        }
        rows = [
            {
                "id": self.processed[(i.channel, i.update_key)],
                "channel": i.channel,
                "update_key": i.update_key,
                "account_id": self.person(i)[0].id,
                "processed_at": self.now,
            }
            for i in fresh
        ]
        # Written now, in one statement and without the unit of work (the new accounts go
        # first, autoflushed): nothing reads these rows as objects, and writing them through
        # the ORM cost a fifth of a batch's flush.
        await self.session.execute(_PROCESSED, rows)
        return fresh

    def person(self, incoming: Incoming) -> tuple[Account, Identity]:
        return self._people[(incoming.channel, incoming.sender_id)]

    def state(self, account: Account) -> dict[str, Any]:
        row = self._states.get(account.id)
        # A deep copy: handlers mutate nested dicts, and the row must see a new value.
        return copy.deepcopy(row.state) if row else {}

    def save_state(self, account: Account, state: dict[str, Any]) -> None:
        if account.deleted_at is not None:
            return  # erasing the account removed its state too
        row = self._states.get(account.id)
        if row is None:
            row = ConversationState(account_id=account.id, state=state)
            self.session.add(row)
            self._states[account.id] = row  # the same person again later in the chunk
        elif row.state != state:
            row.state = state

    async def queue(self, ctx: Context) -> None:
        """The replies to the sender and the pushes to other accounts, as outbox rows."""
        incoming = ctx.incoming
        processed_id = self.processed[(incoming.channel, incoming.update_key)]
        base = f"{incoming.channel}:{incoming.update_key}"
        rows = [
            OutboxMessage(
                idempotency_key=f"{base}:{number}",
                channel=incoming.channel,
                chat_id=incoming.sender_id,
                account_id=None if ctx.account.deleted_at else ctx.account.id,
                update_id=processed_id,
                kind="reply",
                payload=reply.to_json(),
                created_at=ctx.now,
                next_attempt_at=ctx.now,
            )
            for number, reply in enumerate(ctx.replies)
        ]
        for note in ctx.notifications:
            query = select(Identity).where(
                Identity.account_id == note.account_id, Identity.active.is_(True)
            )
            for identity in (await self.session.execute(query)).scalars():
                if identity.id == ctx.identity.id:
                    continue  # the chat being written from has the replies already
                rows.append(
                    OutboxMessage(
                        idempotency_key=f"{note.key}:{identity.id}",
                        channel=identity.channel,
                        chat_id=identity.external_id,
                        account_id=note.account_id,
                        kind="push",
                        payload=note.reply.to_json(),
                        created_at=ctx.now,
                        next_attempt_at=ctx.now,
                    )
                )
        self.session.add_all(rows)
        self._outbox[(incoming.channel, incoming.update_key)] = rows

    async def finish(self, handoff: Handoff | None = None) -> list[OutboxMessage]:
        """Write what is pending; returns the rows claimed for ``handoff``'s sender."""
        await self.session.flush()
        if handoff is None:
            return []
        queued = [row for rows in self._outbox.values() for row in rows]
        rows = [row for row in queued if handoff.serves(row.channel)]
        lease = self.now + timedelta(seconds=handoff.limits.lease_seconds)
        return await claim_queued(self.session, rows, handoff.worker, lease)

    @property
    def queued(self) -> bool:
        """Whether any update of the chunk queued an outbox row."""
        return any(self._outbox.values())

    def outbox_ids(self, incoming: Incoming) -> list[int]:
        """After :meth:`finish`: the outbox rows the update caused."""
        return [row.id for row in self._outbox.get((incoming.channel, incoming.update_key), [])]

    # --- reading ---------------------------------------------------------------------------

    async def _recorded(self, incomings: Sequence[Incoming]) -> dict[UpdateKey, int]:
        params = {
            "channels": list({i.channel for i in incomings}),
            "keys": list({i.update_key for i in incomings}),
        }
        rows = (await self.session.execute(_RECORDED, params)).all()
        return {(channel, key): row_id for channel, key, row_id in rows}

    async def _senders(self, incomings: Sequence[Incoming]) -> list[Sender]:
        """Load (locked) the senders known already; returns those to create, sorted."""
        wanted = {(i.channel, i.sender_id) for i in incomings}
        params = {
            "channels": list({channel for channel, _ in wanted}),
            "senders": list({sender for _, sender in wanted}),
        }
        for identity, account in (await self.session.execute(_SENDERS, params)).all():
            if (identity.channel, identity.external_id) in wanted:
                if not identity.active:
                    identity.active = True  # they wrote to us, so we can write back
                self._people[(identity.channel, identity.external_id)] = (account, identity)
        return sorted(wanted - set(self._people))

    async def _load_states(self, account_ids: list[int]) -> None:
        if not account_ids:
            return
        rows = await self.session.execute(_STATES, {"ids": account_ids})
        found = {row.account_id: row for row in rows.scalars()}
        for account_id in account_ids:
            self._states[account_id] = found.get(account_id)


# Built once with bound values: a chunk runs each of them, and building one costs more than
# running it.
_RECORDED = select(ProcessedUpdate.channel, ProcessedUpdate.update_key, ProcessedUpdate.id).where(
    ProcessedUpdate.channel.in_(bindparam("channels", expanding=True)),
    ProcessedUpdate.update_key.in_(bindparam("keys", expanding=True)),
)
_PROCESSED = insert(ProcessedUpdate)
_SENDERS = (
    select(Identity, Account)
    .join(Account, Account.id == Identity.account_id)
    .where(
        Identity.channel.in_(bindparam("channels", expanding=True)),
        Identity.external_id.in_(bindparam("senders", expanding=True)),
    )
    .with_for_update()
)
_STATES = select(ConversationState).where(
    ConversationState.account_id.in_(bindparam("ids", expanding=True))
)
