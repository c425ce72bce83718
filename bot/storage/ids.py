"""Ids for new rows known before they are written, so that inserts go in batches.

When the database picks a row's id, SQLAlchemy must read it back, and on SQLite that means
one INSERT ... RETURNING per row: a morning rush of first messages cost four statements per
update (account, identity, processed update, reply), each a round trip to the driver's
thread. With the ids known beforehand, every table's new rows go in one executemany, and a
row can point at another (an identity at its account) before either is flushed.

On SQLite an id is the larger of the table's highest id plus one and the next id this
process has not given out yet, so two sessions of the process never get the same id even
before either has written. Another process writing the same table at the same instant can
still take an id first; the primary key then refuses our insert (IntegrityError) and the
caller retries, as it would for any write conflict. On PostgreSQL the tables' sequences
give the ids.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Integer, Select, Table, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, UOWTransaction

__all__ = ["IdBlocks", "reserve_ids", "reserve_ids_now"]


_NUMBERED: dict[type, Table | None] = {}


def _numbered_table(model: type) -> Table | None:
    """The model's table when its key is one integer ``id`` (the tables numbered here)."""
    if model not in _NUMBERED:
        mapper: Mapper[Any] = inspect(model)
        keys = mapper.primary_key
        table = mapper.local_table
        numbered = len(keys) == 1 and keys[0].name == "id" and isinstance(keys[0].type, Integer)
        _NUMBERED[model] = table if numbered and isinstance(table, Table) else None
    return _NUMBERED[model]


@functools.lru_cache(maxsize=64)
def _highest_ids(tables: tuple[Table, ...]) -> Select[Any]:
    """One statement for every table's highest id, built once per set of tables."""
    return select(*(select(func.max(t.c.id)).scalar_subquery() for t in tables))


class IdBlocks:
    """SQLite's ids for one database: :meth:`reserve`, and a ``before_flush`` listener that
    numbers every new row still without one."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def reserve(
        self, connection: Connection, counts: Mapping[Table, int]
    ) -> dict[Table, list[int]]:
        tables = [table for table, count in counts.items() if count > 0]
        if not tables:
            return {}
        tops = connection.execute(_highest_ids(tuple(tables))).one()
        ids: dict[Table, list[int]] = {}
        for table, top in zip(tables, tops, strict=True):
            start = max((top or 0) + 1, self._next.get(table.name, 0))
            ids[table] = list(range(start, start + counts[table]))
            self._next[table.name] = start + counts[table]
        return ids

    def before_flush(self, session: Session, _context: UOWTransaction, _instances: Any) -> None:
        wanted: dict[Table, list[Any]] = {}
        for row in session.new:
            table = _numbered_table(type(row))
            if table is not None and row.id is None:
                wanted.setdefault(table, []).append(row)
        if not wanted:
            return
        ids = self.reserve(session.connection(), {t: len(rows) for t, rows in wanted.items()})
        for table, rows in wanted.items():
            # In the order they were added: an outbox row's id is its place in its chat's queue.
            rows.sort(key=lambda row: inspect(row).insert_order or 0)
            for row, row_id in zip(rows, ids[table], strict=True):
                row.id = row_id


async def reserve_ids(
    session: AsyncSession, counts: Mapping[type[Any], int]
) -> dict[Any, list[int]]:
    """Ids for new rows of these mapped classes, ascending, in one round trip."""
    return await session.run_sync(reserve_ids_now, counts)


def reserve_ids_now(session: Session, counts: Mapping[type[Any], int]) -> dict[Any, list[int]]:
    """:func:`reserve_ids` for code already running inside the session (an event hook)."""
    tables = {model: inspect(model).local_table for model in counts}
    by_table = {tables[model]: count for model, count in counts.items()}
    blocks: IdBlocks | None = getattr(session, "id_blocks", None)
    if blocks is not None:
        ids = blocks.reserve(session.connection(), by_table)
    else:
        ids = _from_sequences(session, by_table)
    return {model: ids.get(table, []) for model, table in tables.items()}


def _from_sequences(session: Session, counts: Mapping[Table, int]) -> dict[Table, list[int]]:
    tables = [table for table, count in counts.items() if count > 0]
    if not tables:
        return {}
    # Table names come from our own models, never from input.
    parts = [
        f"SELECT {index} AS t, nextval(pg_get_serial_sequence('{table.name}', 'id')) AS id "
        f"FROM generate_series(1, :n{index})"
        for index, table in enumerate(tables)
    ]
    params = {f"n{index}": counts[table] for index, table in enumerate(tables)}
    rows = session.execute(text(" UNION ALL ".join(parts)), params).all()
    ids: dict[Table, list[int]] = {table: [] for table in tables}
    for index, row_id in rows:
        ids[tables[index]].append(row_id)
    return {table: sorted(found) for table, found in ids.items()}
