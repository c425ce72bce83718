"""The main menu: what this person can do, as buttons, or as the buttons' words typed."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from bot.core.context import Context
from bot.core.messages import Button
from bot.core.router import MenuItem, Router
from bot.text import fold

__all__ = ["menu_items", "router", "show_menu", "typed_menu_payload"]

router = Router()

# Typed words are taken for a button's when this close: "dang ki thoat ngheo" (ki and ky
# are both correct spellings) or one letter missed, not a question that shares a word.
_CLOSE = 90.0
_NOT_WORDS = re.compile(r"[^0-9a-z]+")


async def menu_items(ctx: Context) -> list[MenuItem]:
    """The menu items this person may use, in the menu's order."""
    roles = {r.role for r in await ctx.roles()}
    kind = ctx.account.kind or "guest"
    return sorted(
        (
            item
            for item in ctx.router.menu_items
            if (not item.kinds or kind in item.kinds) and (not item.roles or item.roles & roles)
        ),
        key=lambda item: item.order,
    )


async def show_menu(ctx: Context, intro: str = "menu.title") -> None:
    items = await menu_items(ctx)
    ctx.say(intro, buttons=tuple(Button(ctx.t(item.label), item.payload) for item in items))


async def typed_menu_payload(ctx: Context) -> str | None:
    """The payload of the button of this person's menu whose words were typed ("dang ky
    thoat ngheo"), or None: the dispatcher routes it as a press (Router.typed_payload)."""
    typed = _words(ctx.incoming.text or "")
    if len(typed) < 4:  # "ok", "1", an emoji: nothing a menu item is called
        return None
    best, best_score = None, 0.0
    for item in await menu_items(ctx):
        score = fuzz.ratio(typed, _words(ctx.t(item.label)))
        if score > best_score:
            best, best_score = item, score
    return best.payload if best is not None and best_score >= _CLOSE else None


# "dang ky thoat ngheo" typed does what the menu's «📝 Đăng ký thoát nghèo» does.
router.typed_payload = typed_menu_payload


def _words(text: str) -> str:
    """Letters and digits only, folded: "📝 Đăng ký thoát nghèo" -> "dang ky thoat ngheo"."""
    return _NOT_WORDS.sub(" ", fold(text)).strip()


@router.command("menu", resumes=True)
async def menu_command(ctx: Context) -> None:
    await show_menu(ctx)


@router.payload("menu")
async def menu_button(ctx: Context) -> None:
    await show_menu(ctx)
