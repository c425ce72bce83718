"""Linking channels: /lienket gives a one-time code on one channel and takes it on another;
/mydata lists the linked channels and unlinks one."""

from __future__ import annotations

import copy
import re

from sqlalchemy import select

from bot.core.context import Context
from bot.core.messages import Button, Reply
from bot.core.router import Handler, Router
from bot.linking import (
    CODE_TTL,
    FAILED_ACTION,
    MAX_FAILURES_PER_ACCOUNT,
    LinkRefused,
    Redeemed,
    create_code,
    merge_into,
    normalise_code,
    recent_failures,
    redeem,
    unlink,
)
from bot.storage.models import ConversationState, Identity
from bot.text import fold
from handlers.menu import show_menu

__all__ = ["LINK_FLOW", "link_words", "router", "typed_link", "with_typed_link"]

router = Router()

LINK_FLOW = "link_code"
# "liên kết", "lien ket 123456", "/liênkết 123 456": the command typed as words, or with
# diacritics (which a /command cannot carry).
_WORDS = re.compile(r"^/?(?:lien ?ket|link)(?:\s+(\d[\d .\-]*))?$")
# Wrong codes that keep the person at the code prompt; the others end it.
_RETRY = frozenset({"link.invalid", "link.malformed"})


def link_words(text: str) -> str | None:
    """The typed code ("" when none) if the text asks to link, else None."""
    match = _WORDS.match(fold(text).strip(" .!?"))
    return None if match is None else (match.group(1) or "").strip()


async def typed_link(ctx: Context) -> bool:
    """Free text asking to link is handled here (True); anything else is left alone."""
    if ctx.incoming.payload or not ctx.incoming.text:
        return False
    code = link_words(ctx.incoming.text)
    if code is None:
        return False
    await _link(ctx, code)
    return True


def with_typed_link(fallback: Handler | None) -> Handler:
    """Wrap the router's fallback so that "liên kết 123456" is not taken for a question."""

    async def fallback_or_link(ctx: Context) -> None:
        if not await typed_link(ctx) and fallback is not None:
            await fallback(ctx)

    return fallback_or_link


@router.command("lienket", "link", onboarded=False)
async def link_command(ctx: Context) -> None:
    await _link(ctx, str(ctx.state.get("command_arg") or ""))


async def _link(ctx: Context, code: str) -> None:
    if code:
        await enter_code(ctx, code)
    elif ctx.account.onboarded_at is None:
        # A new chat has no account worth linking to: it came to type a code.
        await _ask_code(ctx)
    else:
        await _give_code(ctx)


async def _give_code(ctx: Context) -> None:
    code, row = await create_code(ctx.session, ctx.services.vault, ctx.account, ctx.now)
    ctx.audit("account.link_code_created", "link_code", row.id)
    ctx.say(
        "link.code",
        code=code,
        minutes=int(CODE_TTL.total_seconds() // 60),
        buttons=(Button(ctx.t("link.have_code"), "link:enter"),),
    )
    if ctx.state.get("form"):
        await ctx.resume()


async def _ask_code(ctx: Context) -> None:
    if ctx.state.get("form"):
        # The form would take the code for its answer: "/lienket 123456" is the way here.
        ctx.say("link.ask")
        await ctx.resume()
        return
    ctx.set_flow(LINK_FLOW)
    ctx.say("link.ask", buttons=(Button(ctx.t("form.back"), "link:back"),))


@router.flow(LINK_FLOW)
async def code_flow(ctx: Context) -> None:
    if ctx.resuming:
        await _ask_code(ctx)
        return
    ctx.set_flow(None)
    await enter_code(ctx, ctx.incoming.text or "")


async def enter_code(ctx: Context, typed: str) -> None:
    """This chat types a code from another channel: it joins that channel's account."""
    try:
        redeemed = await _redeem(ctx, typed)
    except LinkRefused as refused:
        await _refused(ctx, refused.key)
        return
    await _merged(ctx, redeemed)


async def _redeem(ctx: Context, typed: str) -> Redeemed:
    if await recent_failures(ctx.session, ctx.account.id, ctx.now) >= MAX_FAILURES_PER_ACCOUNT:
        raise LinkRefused("link.too_many")
    code = normalise_code(typed)
    if code is None:
        raise LinkRefused("link.malformed")
    try:
        return await redeem(ctx.session, ctx.services.vault, ctx.account, code, ctx.now)
    except LinkRefused as refused:
        if refused.key == "link.invalid":
            ctx.audit(FAILED_ACTION, "account", ctx.account.id)
        raise


async def _refused(ctx: Context, key: str) -> None:
    if key in _RETRY and not ctx.state.get("form"):
        # Still at the code prompt: the next text is another try.
        ctx.set_flow(LINK_FLOW)
        ctx.say(key, buttons=(Button(ctx.t("form.back"), "link:back"),))
        return
    ctx.say(key)
    if ctx.account.onboarded_at is None or ctx.state.get("form"):
        await ctx.resume()


async def _merged(ctx: Context, redeemed: Redeemed) -> None:
    source, target = ctx.account, redeemed.target
    moved = await merge_into(ctx.session, source, target, ctx.services.forms, ctx.now)
    # From here the chat speaks for the account it joined: its language, its roles, its
    # conversation. The temporary account's unfinished conversation is dropped with it.
    ctx.account = target
    ctx._roles = None  # what was cached is the temporary account's (no roles)
    row = await ctx.session.get(ConversationState, target.id)
    ctx.state = copy.deepcopy(row.state) if row else {}
    for identity in moved:
        ctx.audit(
            "account.linked",
            "identity",
            identity.id,
            channel=identity.channel,
            merged_account=source.id,
            link_code=redeemed.code.id,
        )
    channels = await _channel_names(ctx)
    here = ctx.t(f"channel.{ctx.incoming.channel}")
    # Every channel of the account hears of it, this one too: if it was not the person,
    # they see it where they usually are and can unlink it.
    notice = ctx.t("link.notice", channel=here, channels=channels)
    ctx.notify(target.id, Reply(notice), f"link:{redeemed.code.id}")
    ctx.say("link.done", channels=channels)
    if ctx.state.get("form") or ctx.state.get("flow"):
        await ctx.resume()
    else:
        await show_menu(ctx)


async def _channel_names(ctx: Context) -> str:
    query = select(Identity.channel).where(Identity.account_id == ctx.account.id)
    names = {ctx.t(f"channel.{c}") for c in (await ctx.session.execute(query)).scalars()}
    return ", ".join(sorted(names))


# --------------------------------------------------------------------------- buttons


@router.payload("link", onboarded=False)
async def link_button(ctx: Context) -> None:
    action, _, argument = (ctx.incoming.payload or "").partition(":")[2].partition(":")
    if action in ("enter", "back"):
        await (_ask_code(ctx) if action == "enter" else _back(ctx))
        return
    if ctx.account.onboarded_at is None:
        await ctx.resume()  # the rest is for an account that exists
        return
    handlers = {
        "new": _give_code,
        "unlink": _choose_unlink if not argument else _confirm_unlink,
        "unlink_yes": _unlink,
        "unlink_no": _keep,
    }
    handler = handlers.get(action)
    if handler is None:
        ctx.say("error.stale_button")
        return
    await handler(ctx)


async def _back(ctx: Context) -> None:
    ctx.set_flow(None)
    if ctx.account.onboarded_at is None:
        await ctx.resume()
    else:
        await show_menu(ctx)


async def _identities(ctx: Context) -> list[Identity]:
    query = select(Identity).where(Identity.account_id == ctx.account.id).order_by(Identity.id)
    return list((await ctx.session.execute(query)).scalars())


def _label(ctx: Context, identity: Identity, all_of_them: list[Identity]) -> str:
    name = ctx.t(f"channel.{identity.channel}")
    if sum(1 for i in all_of_them if i.channel == identity.channel) > 1:
        # Two chats on one platform: told apart by when each started.
        since = identity.created_at.astimezone(ctx.t.tz).date()
        name = ctx.t("link.channel_since", channel=name, date=ctx.t.date(since))
    if identity.id == ctx.identity.id:
        name = ctx.t("link.this_channel", channel=name)
    return name


def _argument(ctx: Context) -> int | None:
    argument = (ctx.incoming.payload or "").rpartition(":")[2]
    return int(argument) if argument.isdigit() else None


async def _choose_unlink(ctx: Context) -> None:
    identities = await _identities(ctx)
    if len(identities) < 2:
        ctx.say("link.unlink_last")
        return
    buttons = tuple(Button(_label(ctx, i, identities), f"link:unlink:{i.id}") for i in identities)
    ctx.say(
        "link.unlink_choose", buttons=(*buttons, Button(ctx.t("link.unlink_no"), "link:unlink_no"))
    )


async def _confirm_unlink(ctx: Context) -> None:
    identities = await _identities(ctx)
    chosen = next((i for i in identities if i.id == _argument(ctx)), None)
    if chosen is None:
        ctx.say("link.unlink_gone")
        return
    ctx.say(
        "link.unlink_confirm",
        channel=_label(ctx, chosen, identities),
        buttons=(
            Button(ctx.t("link.unlink_yes"), f"link:unlink_yes:{chosen.id}"),
            Button(ctx.t("link.unlink_no"), "link:unlink_no"),
        ),
    )


async def _unlink(ctx: Context) -> None:
    identity_id = _argument(ctx)
    identities = await _identities(ctx)
    chosen = next((i for i in identities if i.id == identity_id), None)
    label = _label(ctx, chosen, identities) if chosen else ""
    try:
        identity, alone = await unlink(ctx.session, ctx.account, identity_id or 0, ctx.now)
    except LinkRefused as refused:
        ctx.say(refused.key)
        return
    ctx.audit(
        "account.unlinked", "identity", identity.id, channel=identity.channel, new_account=alone.id
    )
    channels = await _channel_names(ctx)
    if identity.id == ctx.identity.id:
        # This chat is told by the reply; the channels the account keeps by a notice.
        ctx.say("link.unlinked_this", channels=channels)
        notice = ctx.t("link.unlinked_notice", channel=ctx.t(f"channel.{identity.channel}"))
        ctx.notify(ctx.account.id, Reply(notice), f"unlink:{alone.id}")
        return
    ctx.notify(alone.id, Reply(ctx.t("link.farewell")), f"unlink:{alone.id}")
    ctx.say("link.unlinked", channel=label, channels=channels)


async def _keep(ctx: Context) -> None:
    ctx.say("link.unlink_kept")
    await show_menu(ctx)
