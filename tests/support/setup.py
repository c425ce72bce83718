"""Preparing a transcript's world: the org-unit tree and invitation codes it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.invitations import create_invitation
from bot.orgunits import import_file
from bot.storage.db import Database
from bot.storage.models import utcnow

__all__ = ["prepare"]

ORGUNITS = Path(__file__).resolve().parents[2] / "rules" / "orgunits"


async def prepare(database_url: str, setup: dict[str, Any]) -> dict[str, str]:
    """Apply the setup; returns names usable as {placeholders} in the steps."""
    names = {"ten_kb": "chữ " * 2600}
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
