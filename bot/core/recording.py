"""Recording updates in one transaction: who sent them, their state, what they cause.

Everything a chunk of updates needs is read in a handful of queries (which updates were
seen, the senders, their conversation states), and what it causes is written a statement per
table, not per row, so that the statements per update stay near one however large the chunk:
on SQLite each statement is a round trip to the driver's thread. Processed-update rows go in
at once; states and outbox rows just before the transaction's next statement or at the end
(see Recording._write).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from bot.core.context import Context
from bot.core.messages import Incoming
from bot.outbox import Queued, RateLimits, claim_queued
from bot.storage.ids import reserve_ids, reserve_ids_now
from bot.storage.models import Account, ConversationState, Identity, OutboxMessage, ProcessedUpdate

__all__ = ["Handoff", "Recording"]


class Handoff(Protocol):
    """A sender in this process that takes the rows it can send from memory (bot/outbox.py)."""

    worker: str
    limits: RateLimits

    def serves(self, channel: str) -> bool: ...

    def take(self, rows: list[Queued]) -> None: ...


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
        # By account, as stored or saved; an account missing here has no state row yet.
        self._states: dict[int, dict[str, Any]] = {}
        self._outbox: dict[UpdateKey, list[dict[str, Any]]] = {}
        # Written just before the transaction's next statement, or at finish (see _write).
        self._new_states: dict[int, dict[str, Any]] = {}
        self._changed_states: dict[int, dict[str, Any]] = {}
        self._new_outbox: list[dict[str, Any]] = []
        event.listen(session.sync_session, "do_orm_execute", self._before_statement)

    async def prepare(self, incomings: Sequence[Incoming]) -> list[Incoming]:
        """Read what the updates need, and record them; returns those not recorded before.

        New accounts, identities and processed-update rows get their ids beforehand
        (bot/storage/ids.py), so each table's rows go in one statement (see _add_people).
        """
        self.seen = await self._recorded(incomings)
        fresh = [i for i in incomings if (i.channel, i.update_key) not in self.seen]
        if not fresh:
            return []
        new = await self._senders(fresh)
        await self._load_states([account.id for account, _ in self._people.values()])
        counts = {Account: len(new), Identity: len(new), ProcessedUpdate: len(fresh)}
        ids = await reserve_ids(self.session, counts)
        await self._add_people(new, ids[Account], ids[Identity])
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
        await self.session.execute(_PROCESSED, rows)
        return fresh

    def person(self, incoming: Incoming) -> tuple[Account, Identity]:
        return self._people[(incoming.channel, incoming.sender_id)]

    def state(self, account: Account) -> dict[str, Any]:
        stored = self._states.get(account.id)
        # A deep copy: handlers mutate nested dicts, and what is stored must not change.
        return copy.deepcopy(stored) if stored else {}

    def save_state(self, account: Account, state: dict[str, Any]) -> None:
        if account.deleted_at is not None:
            return  # erasing the account removed its state too
        account_id = account.id
        if account_id not in self._states or account_id in self._new_states:
            self._new_states[account_id] = state  # its row is still to be inserted
        elif self._states[account_id] != state:
            self._changed_states[account_id] = state
        self._states[account_id] = state  # the same person again later in the chunk

    async def queue(self, ctx: Context) -> None:
        """The replies to the sender and the pushes to other accounts, as outbox rows."""
        incoming = ctx.incoming
        processed_id = self.processed[(incoming.channel, incoming.update_key)]
        base = f"{incoming.channel}:{incoming.update_key}"
        account_id = None if ctx.account.deleted_at else ctx.account.id
        rows = [
            _outbox_row(
                f"{base}:{number}",
                incoming.channel,
                incoming.sender_id,
                account_id,
                "reply",
                reply.to_json(),
                ctx.now,
                update_id=processed_id,
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
                    _outbox_row(
                        f"{note.key}:{identity.id}",
                        identity.channel,
                        identity.external_id,
                        note.account_id,
                        "push",
                        note.reply.to_json(),
                        ctx.now,
                    )
                )
        self._new_outbox.extend(rows)
        self._outbox[(incoming.channel, incoming.update_key)] = rows

    async def finish(self, handoff: Handoff | None = None) -> list[Queued]:
        """Write what is pending; returns the rows claimed for ``handoff``'s sender."""
        await self.session.run_sync(self._write)
        await self.session.flush()
        event.remove(self.session.sync_session, "do_orm_execute", self._before_statement)
        if handoff is None:
            return []
        queued = [row for rows in self._outbox.values() for row in rows]
        rows = [_handed(row) for row in queued if handoff.serves(row["channel"])]
        lease = self.now + timedelta(seconds=handoff.limits.lease_seconds)
        return await claim_queued(self.session, rows, handoff.worker, lease)

    @property
    def queued(self) -> bool:
        """Whether any update of the chunk queued an outbox row."""
        return any(self._outbox.values())

    def outbox_ids(self, incoming: Incoming) -> list[int]:
        """After :meth:`finish`: the outbox rows the update caused."""
        return [row["id"] for row in self._outbox.get((incoming.channel, incoming.update_key), [])]

    # --- writing ---------------------------------------------------------------------------

    def _before_statement(self, _state: ORMExecuteState) -> None:
        # What the chunk queued so far goes in before any statement a handler runs, as the
        # ORM's autoflush would: an erasure or a merge later in the chunk sees and changes it.
        self._write(self.session.sync_session)

    def _write(self, session: Session) -> None:
        """States and outbox rows not yet written, one statement a kind, not one per row.

        Through the unit of work they cost most of a chunk's flush; nothing reads them back
        as objects. The ORM still writes first what it holds (new accounts come before the
        rows that refer to them).
        """
        new, self._new_states = self._new_states, {}
        changed, self._changed_states = self._changed_states, {}
        outbox, self._new_outbox = self._new_outbox, []
        if new:
            values = [
                {"account_id": key, "state": state, "updated_at": self.now}
                for key, state in new.items()
            ]
            session.execute(_INSERT_STATES, values)
        if changed:
            values = [
                {"row_id": key, "new_state": state, "now": self.now}
                for key, state in changed.items()
            ]
            session.execute(_UPDATE_STATES, values)
        if outbox:
            # Ids first (RETURNING in order would cost SQLite a statement per row); in the
            # order queued: an outbox row's id is its place in its chat's queue.
            ids = reserve_ids_now(session, {OutboxMessage: len(outbox)})[OutboxMessage]
            for row, row_id in zip(outbox, ids, strict=True):
                row["id"] = row_id
            session.execute(_INSERT_OUTBOX, outbox)

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
        await self._load_people(wanted)
        return sorted(wanted - set(self._people))

    async def _load_people(self, wanted: set[Sender]) -> None:
        params = {
            "channels": list({channel for channel, _ in wanted}),
            "senders": list({sender for _, sender in wanted}),
        }
        for identity, account in (await self.session.execute(_SENDERS, params)).all():
            if (identity.channel, identity.external_id) in wanted:
                if not identity.active:
                    identity.active = True  # they wrote to us, so we can write back
                self._people[(identity.channel, identity.external_id)] = (account, identity)

    async def _add_people(
        self, senders: list[Sender], account_ids: list[int], identity_ids: list[int]
    ) -> None:
        """New accounts and identities, a statement per table, then loaded as the known ones
        are: the ORM's loading makes objects for a fraction of what building them costs."""
        if not senders:
            return
        now = self.now
        # Written without the columns left empty (NULL either way).
        accounts = [
            {"id": account_id, "created_at": now, "push_enabled": True}
            for account_id in account_ids
        ]
        identities = [
            {
                "id": identity_id,
                "account_id": account_id,
                "channel": channel,
                "external_id": sender,
                "active": True,
                "created_at": now,
            }
            for (channel, sender), account_id, identity_id in zip(
                senders, account_ids, identity_ids, strict=True
            )
        ]
        await self.session.execute(_INSERT_ACCOUNTS, accounts)
        await self.session.execute(_INSERT_IDENTITIES, identities)
        await self._load_people(set(senders))

    async def _load_states(self, account_ids: list[int]) -> None:
        if not account_ids:
            return
        for account_id, state in await self.session.execute(_STATES, {"ids": account_ids}):
            self._states[account_id] = state


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


# Built once with bound values: a chunk runs each of them, and building one costs more than
# running it.
_RECORDED = select(ProcessedUpdate.channel, ProcessedUpdate.update_key, ProcessedUpdate.id).where(
    ProcessedUpdate.channel.in_(bindparam("channels", expanding=True)),
    ProcessedUpdate.update_key.in_(bindparam("keys", expanding=True)),
)
# Table statements, not the ORM's bulk forms of them: nothing reads these rows back as
# objects, and the ORM's handling of each row cost more than the row's write.
_PROCESSED = insert(_table(ProcessedUpdate))
_SENDERS = (
    select(Identity, Account)
    .join(Account, Account.id == Identity.account_id)
    .where(
        Identity.channel.in_(bindparam("channels", expanding=True)),
        Identity.external_id.in_(bindparam("senders", expanding=True)),
    )
    .with_for_update()
)
_STATES = select(ConversationState.account_id, ConversationState.state).where(
    ConversationState.account_id.in_(bindparam("ids", expanding=True))
)
_states_table = _table(ConversationState)
_INSERT_STATES = insert(_states_table)
_UPDATE_STATES = (
    update(_states_table)
    .where(_states_table.c.account_id == bindparam("row_id"))
    .values(state=bindparam("new_state"), updated_at=bindparam("now"))
)
_INSERT_OUTBOX = insert(_table(OutboxMessage))
_INSERT_ACCOUNTS = insert(_table(Account))
_INSERT_IDENTITIES = insert(_table(Identity))


def _outbox_row(
    key: str,
    channel: str,
    chat_id: str,
    account_id: int | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    update_id: int | None = None,
) -> dict[str, Any]:
    """A new outbox row's values, every column given (one statement inserts them all); its
    id comes when it is written (see _write)."""
    return {
        "id": None,
        "idempotency_key": key,
        "channel": channel,
        "chat_id": chat_id,
        "account_id": account_id,
        "update_id": update_id,
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_by": None,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }


def _handed(row: dict[str, Any]) -> Queued:
    return Queued(
        row["id"],
        row["channel"],
        row["chat_id"],
        row["kind"],
        row["payload"],
        row["attempts"],
        row["created_at"],
    )
