"""Free text that is no command, no answer and no button: the questions module answers it.

Kept as its own module so that the fallback stays the last thing a router includes; symbols
and lone attachments still get the menu (see handlers.questions.fallback).
"""

from __future__ import annotations

from bot.core.router import Router
from handlers.questions import fallback

__all__ = ["router"]

router = Router()
router.fallback = fallback
