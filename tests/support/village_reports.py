"""Monthly village reports written straight to the database, for tests that need them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.datasets import get_dataset
from bot.storage.db import Database
from bot.storage.models import OrgUnit
from bot.village_reports import save_report
from rules.periods import Month

__all__ = ["figures", "save", "unit_id"]


def figures(total: int, poor: int, near_poor: int, **more: Any) -> dict[str, Any]:
    """A month's answers: these counts, every other figure zero."""
    base = {
        "total": total,
        "poor": poor,
        "near_poor": near_poor,
        "ethnic_poor": 0,
        "exited": 0,
        "newly_poor": 0,
        "fallen_back": 0,
        "registrations": 0,
        "loans": 0,
        "support_housing": 0,
        "support_livelihood": 0,
        "support_jobs": 0,
        "support_health": 0,
        "notes": None,
    }
    return {**base, **more}


async def unit_id(db: Database, code: str) -> int:
    async with db.session() as session:
        found = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
    assert found is not None
    return int(found)


async def save(
    db: Database, code: str, period: Month, answers: dict[str, Any], now: datetime, **kw: Any
) -> Any:
    """The village's report for ``period``, as if sent by nobody in particular at ``now``."""
    uid = await unit_id(db, code)
    # A writer in the bot's process, so it takes its turn as the bot's own writers do.
    async with db.write_turn(), db.session() as session, session.begin():
        return await save_report(
            session,
            get_dataset("village_monthly"),
            unit_id=uid,
            unit_code=code,
            period=period,
            answers=answers,
            author_id=None,
            now=now,
            **kw,
        )
