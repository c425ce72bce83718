"""Journeys: each module says who may enter and what a submission causes."""

from __future__ import annotations

from bot.core.router import Router
from handlers import (
    account,
    award_dossier,
    award_overview,
    awards,
    fallback,
    household,
    linking,
    menu,
    questions,
    reminders,
    review,
    selfcheck,
    start,
    village,
    village_officials,
)

__all__ = ["build_router"]


def build_router() -> Router:
    router = Router()
    for module in (
        start,
        account,
        linking,
        menu,
        household,
        review,
        selfcheck,
        questions,
        reminders,
        village,
        village_officials,
        awards,
        award_dossier,
        award_overview,
        fallback,
    ):
        router.include(module.router)
    # Free text that reaches the fallback and starts with "bc" is a village head's quick entry.
    router.fallback = village.with_quick_entry(router.fallback)
    # "liên kết 123456" typed as words links channels rather than asking a question.
    router.fallback = linking.with_typed_link(router.fallback)
    return router
