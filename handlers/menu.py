"""The main menu: what this person can do, as buttons."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.messages import Button
from bot.core.router import Router

__all__ = ["router", "show_menu"]

router = Router()


async def show_menu(ctx: Context, intro: str = "menu.title") -> None:
    roles = {r.role for r in await ctx.roles()}
    kind = ctx.account.kind or "guest"
    items = sorted(
        (
            item
            for item in ctx.router.menu_items
            if (not item.kinds or kind in item.kinds) and (not item.roles or item.roles & roles)
        ),
        key=lambda item: item.order,
    )
    ctx.say(intro, buttons=tuple(Button(ctx.t(item.label), item.payload) for item in items))


@router.command("menu")
async def menu_command(ctx: Context) -> None:
    await show_menu(ctx)


@router.payload("menu")
async def menu_button(ctx: Context) -> None:
    await show_menu(ctx)
