"""Ids for new rows on SQLite, given out just before a flush so that inserts go in batches.

When the database picks a row's id, SQLAlchemy must read it back, and on SQLite that means
one INSERT ... RETURNING per row: a morning rush of first messages cost four statements per
update (account, identity, processed update, reply), each a round trip to the driver's
thread. With the ids known beforehand, every table's new rows go in one executemany.

An id is the larger of the table's highest id plus one and the next id this process has not
given out yet, so two sessions of the process never get the same id even before either has
written. Another process writing the same table at the same instant can still take an id
first; the primary key then refuses our insert (IntegrityError) and the caller retries, as
it would for any write conflict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, func, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

__all__ = ["IdBlocks"]


class IdBlocks:
    """A ``before_flush`` listener that numbers every new row with an integer ``id`` key."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def before_flush(self, session: Session, _context: UOWTransaction, _instances: Any) -> None:
        wanted: dict[str, list[Any]] = {}
        for obj in session.new:
            mapper = inspect(obj).mapper
            keys = mapper.primary_key
            if len(keys) != 1 or keys[0].name != "id" or not isinstance(keys[0].type, Integer):
                continue
            if obj.id is None:
                wanted.setdefault(mapper.local_table.name, []).append(obj)
        if not wanted:
            return
        connection = session.connection()
        for name, rows in wanted.items():
            table = inspect(rows[0]).mapper.local_table
            top = connection.execute(select(func.max(table.c.id))).scalar() or 0
            start = max(top + 1, self._next.get(name, 0))
            # In the order they were added: an outbox row's id is its place in its chat's queue.
            rows.sort(key=lambda row: inspect(row).insert_order or 0)
            for offset, row in enumerate(rows):
                row.id = start + offset
            self._next[name] = start + len(rows)
