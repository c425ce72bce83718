"""Data migrations: what was written before them reads the same way after, and back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select

from bot.storage.db import Database, alembic_config, migrate
from bot.storage.models import Account, AwardHistory, Nomination, OrgUnit

NAME_KEY = "name:25000-03:household:nguyen van an"


async def _write_before_0009(db: Database) -> int:
    """A household's awarded nomination and its history, and a row imported by name."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    async with db.session() as session, session.begin():
        village = OrgUnit(
            code="25000-03", name="Thôn Bình An", name_folded="thon binh an", level="village"
        )
        village.path = "/1/"
        account = Account(kind="household")
        session.add_all([village, account])
        await session.flush()
        nomination = Nomination(
            code="KT-0001",
            award="chairman_certificate_annual",
            year=2025,
            nominee_group="household",
            nominee_key=NAME_KEY,
            nominee_name="Nguyễn Văn An",
            nominee_unit_id=village.id,
            nominee_account_id=account.id,
            status="awarded",
            late=False,
            created_at=now,
            updated_at=now,
        )
        session.add(nomination)
        await session.flush()
        for source, year, nomination_id in (
            ("nomination", 2025, nomination.id),
            ("import", 2023, None),
        ):
            session.add(
                AwardHistory(
                    nominee_key=NAME_KEY,
                    nominee_name="Nguyễn Văn An",
                    nominee_group="household",
                    org_unit_id=village.id,
                    award="chairman_certificate_annual",
                    year=year,
                    movement="vi_nguoi_ngheo",
                    source=source,
                    nomination_id=nomination_id,
                )
            )
        return account.id


async def _keys(db: Database) -> tuple[list[str], dict[str, str]]:
    async with db.session() as session:
        nominations = list((await session.execute(select(Nomination.nominee_key))).scalars())
        history = dict(
            (await session.execute(select(AwardHistory.source, AwardHistory.nominee_key))).all()
        )
    return nominations, history


async def test_0009_gives_a_households_nominations_its_account(database_url: str) -> None:
    """Written with the name alone, a household's nomination and the history its award
    wrote become its own (``#<account>``); history imported by name stays by name."""
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0008")
    db = Database(database_url)
    try:
        account = await _write_before_0009(db)
        await asyncio.to_thread(migrate, database_url)
        assert await _keys(db) == (
            [f"{NAME_KEY}#{account}"],
            {"nomination": f"{NAME_KEY}#{account}", "import": NAME_KEY},
        )
        await asyncio.to_thread(command.downgrade, config, "0008")
        assert await _keys(db) == ([NAME_KEY], {"nomination": NAME_KEY, "import": NAME_KEY})
    finally:
        await db.close()
        await asyncio.to_thread(migrate, database_url)  # the next test's database is at head
