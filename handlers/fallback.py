"""Free text that is no command, no answer and no button: point to the menu."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.router import Router
from bot.text import is_meaningful
from handlers.menu import show_menu

__all__ = ["router"]

router = Router()


async def fallback(ctx: Context) -> None:
    text = ctx.incoming.text or ""
    if ctx.incoming.attachment is not None and not text:
        ctx.say("fallback.attachment")
    elif not is_meaningful(text):
        ctx.say("fallback.symbols")
    else:
        ctx.say("fallback.unknown")
    await show_menu(ctx)


router.fallback = fallback
