"""Journeys: each module says who may enter and what a submission causes."""

from __future__ import annotations

from bot.core.router import Router
from handlers import account, fallback, household, menu, review, selfcheck, start

__all__ = ["build_router"]


def build_router() -> Router:
    router = Router()
    for module in (start, account, menu, household, review, selfcheck, fallback):
        router.include(module.router)
    return router
