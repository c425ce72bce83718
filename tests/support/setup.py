"""Preparing a transcript's world: the org-unit tree and invitation codes it names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.invitations import create_invitation
from bot.orgunits import import_file
from bot.storage.db import Database
from bot.storage.models import utcnow

__all__ = ["prepare"]

ORGUNITS = Path(__file__).resolve().parents[2] / "rules" / "orgunits"


async def prepare(database_url: str, setup: dict[str, Any]) -> dict[str, str]:
    """Apply the setup; returns names usable as {placeholders} in the steps."""
    names = {"ten_kb": "chữ " * 2600, **month_names()}
    db = Database(database_url)
    try:
        if orgunits := setup.get("orgunits"):
            await import_file(db, ORGUNITS / orgunits)
        for invitation in setup.get("invitations", []):
            async with db.session() as session, session.begin():
                created = await create_invitation(
                    session, invitation["role"], invitation["unit"], utcnow(), 14
                )
            code = created.code
            names[invitation["name"]] = code
            # People copy codes with spaces and in lower case; both must work.
            names[f"{invitation['name']}_spaced"] = f"{code[:4].lower()} {code[4:].lower()}"
    finally:
        await db.close()
    return names


def month_names(timezone: str = "Asia/Ho_Chi_Minh") -> dict[str, str]:
    """Months relative to today as people type them (10/2026): {this_month}, {next_month},
    {month_minus_1} ... {month_minus_3}, so a transcript about periods runs on any day."""
    today = datetime.now(ZoneInfo(timezone)).date()
    index = today.year * 12 + today.month - 1

    def label(offset: int) -> str:
        year, month = divmod(index + offset, 12)
        return f"{month + 1:02d}/{year}"

    names = {"this_month": label(0), "next_month": label(1)}
    names.update({f"month_minus_{k}": label(-k) for k in (1, 2, 3)})
    return names
