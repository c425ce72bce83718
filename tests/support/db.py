"""Fresh test databases: a SQLite file per test, and PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.db import migrate
from bot.storage.models import Base

__all__ = ["BACKENDS", "fresh_postgres", "fresh_sqlite"]

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]

_template: Path | None = None


def fresh_sqlite(directory: Path) -> str:
    """Copy a migrated template: migrating each test's database would dominate the run."""
    global _template
    if _template is None or not _template.exists():
        template_dir = (
            Path(os.environ.get("PYTEST_TMP_TEMPLATE", "/tmp")) / f"gn-template-{os.getpid()}"
        )
        template_dir.mkdir(parents=True, exist_ok=True)
        _template = template_dir / "template.db"
        if _template.exists():
            _template.unlink()
        migrate(f"sqlite+aiosqlite:///{_template}")
    target = directory / "bot.db"
    shutil.copy(_template, target)
    return f"sqlite+aiosqlite:///{target}"


_pg_migrated = False


async def fresh_postgres() -> str:
    """Migrate once per run, then empty every table before each test."""
    global _pg_migrated
    assert PG_URL is not None
    engine = create_async_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            has_schema = await conn.scalar(text("SELECT to_regclass('public.alembic_version')"))
            if not _pg_migrated or has_schema is None:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        if not _pg_migrated or has_schema is None:
            await asyncio.to_thread(migrate, PG_URL)
            _pg_migrated = True
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    return PG_URL
