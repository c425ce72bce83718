"""The database engine, sessions, and applying migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from bot.storage.ids import IdBlocks

__all__ = ["Database", "migrate", "run_with_database"]

MIGRATIONS = Path(__file__).parent / "migrations"
# At DEBUG the SQLite driver logs every statement with its parameters: what people typed.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def _prepare_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


class Database:
    """One engine and session factory per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            _prepare_sqlite_dir(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        session_class: type[Session] = Session
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # A class of its own, so that the listener numbers this database's rows only.
            blocks = IdBlocks()
            session_class = type("SQLiteSession", (Session,), {"id_blocks": blocks})
            event.listen(session_class, "before_flush", blocks.before_flush)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        self._turn = asyncio.Lock() if self.is_sqlite else None

    def session(self) -> AsyncSession:
        return self.sessions()

    @contextlib.asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """On SQLite, this process's busiest writers take turns, first come first served.

        SQLite has one writer at a time. A writer that finds the file locked naps in the
        driver's busy handler, longer each time, and keeps missing the short gaps between
        another writer's transactions: replies waited until a whole rush of updates was
        recorded. Queueing here instead is fair. PostgreSQL locks rows: no turn needed.
        """
        if self._turn is None:
            yield
            return
        async with self._turn:
            yield

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; call from outside the event loop)."""
    if url.startswith("sqlite"):
        _prepare_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


async def migrate_async(url: str) -> None:
    await asyncio.to_thread(migrate, url)


T = TypeVar("T")


def run_with_database(
    url: str, work: Callable[[Database], Awaitable[T]], *, migrate_first: bool = True
) -> T:
    """Command-line work: the schema brought up to date, one engine, closed whatever happens."""
    if migrate_first:
        migrate(url)

    async def go() -> T:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(go())
