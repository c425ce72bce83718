"""What every handler may use, built once per process: settings, database, forms, tree, clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.crypto import SecretVault
from bot.datasets import dataset_forms
from bot.forms.model import FormDef, FormFileError, load_forms
from bot.metrics import Metrics
from bot.orgtree import OrgTree, load_tree, tree_version
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import utcnow

__all__ = ["FORMS_DIR", "Services"]

FORMS_DIR = Path(__file__).resolve().parents[2] / "rules" / "forms"
_TREE_TTL_SECONDS = 60.0


@dataclass
class Services:
    settings: Settings
    db: Database
    forms: dict[str, FormDef]
    vault: SecretVault
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = utcnow
    _tree: OrgTree | None = field(default=None, repr=False)
    _tree_loaded_at: float = 0.0

    @classmethod
    def create(cls, settings: Settings, db: Database | None = None) -> Services:
        return cls(
            settings=settings,
            db=db or Database(settings.database_url),
            # Data sets (rules/datasets/) derive their forms: one engine runs them all.
            forms=_all_forms(),
            vault=SecretVault(settings.secret_key),
        )

    async def tree(self, session: AsyncSession) -> OrgTree:
        """The cached tree, reloaded when units were imported or after a minute."""
        fresh = time.monotonic() - self._tree_loaded_at < _TREE_TTL_SECONDS
        if self._tree is not None and fresh and self._tree.version == await tree_version(session):
            return self._tree
        self._tree = await load_tree(session)
        self._tree_loaded_at = time.monotonic()
        return self._tree


def _all_forms() -> dict[str, FormDef]:
    forms = load_forms(FORMS_DIR)
    for form_id, form in dataset_forms().items():
        if form_id in forms:
            raise FormFileError(f"data set '{form_id}' has the id of a form in {FORMS_DIR}")
        forms[form_id] = form
    return forms
