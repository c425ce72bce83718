"""The person's own commands: help, cancel, privacy, see, export and delete their data."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bot.core.context import Context
from bot.core.messages import Attachment, Button, Reply
from bot.core.router import Router
from bot.forms import engine
from bot.privacy import erase_account, export_account
from bot.storage.models import Identity, Submission
from bot.uploads import Uploads
from handlers.menu import show_menu

__all__ = ["router"]

router = Router()

router.menu("menu.mydata", "account:mydata", order=900)
router.menu("menu.lang", "account:lang", order=910)
router.menu("menu.help", "account:help", order=920)


@router.command("help", onboarded=False, resumes=True)
async def help_command(ctx: Context) -> None:
    ctx.say("help.text")
    if ctx.account.onboarded_at is None and not ctx.state.get("form"):
        await ctx.resume()  # the onboarding step; a form's question the dispatcher asks


@router.command("cancel", onboarded=False)
async def cancel_command(ctx: Context) -> None:
    if form_state := ctx.state.get("form"):
        step = engine.cancel(form_state, ctx.form_context())
        ctx.state["form"] = step.state
        ctx.replies.extend(step.replies)
    elif ctx.state.get("flow"):
        ctx.set_flow(None)
        ctx.say("form.cancelled")
        await show_menu(ctx)
    elif ctx.account.onboarded_at is None:
        ctx.say("cancel.nothing")
        await ctx.resume()
    else:
        ctx.say("cancel.nothing")
        await show_menu(ctx)


@router.command("privacy", onboarded=False, resumes=True)
async def privacy_command(ctx: Context) -> None:
    if ctx.account.consent_at is None:
        ctx.say("privacy.notice")
        await ctx.resume()
        return
    ctx.say("privacy.notice")
    ctx.say(
        "privacy.consented",
        date=ctx.t.datetime(ctx.account.consent_at),
        buttons=(
            Button(ctx.t("menu.mydata"), "account:mydata"),
            Button(ctx.t("menu.export"), "account:export"),
            Button(ctx.t("menu.delete"), "account:delete"),
        ),
    )


@router.command("mydata", resumes=True)
async def mydata_command(ctx: Context) -> None:
    account = ctx.account
    identities = list(
        (
            await ctx.session.execute(
                select(Identity.channel).where(Identity.account_id == account.id)
            )
        ).scalars()
    )
    count = await ctx.session.scalar(
        select(func.count(Submission.id)).where(Submission.account_id == account.id)
    )
    unit = ctx.tree.by_id(account.home_unit_id) if account.home_unit_id else None
    roles = [
        ctx.t("mydata.role", role=ctx.t(f"role.{r.role}"), place=ctx.tree.label(u.code))
        for r in await ctx.roles()
        if (u := ctx.tree.by_id(r.org_unit_id)) is not None
    ]
    ctx.say(
        "mydata.text",
        kind=ctx.t(f"kind.{account.kind or 'guest'}"),
        language=ctx.t(f"lang.name.{account.locale or 'vi'}"),
        place=ctx.tree.label(unit.code) if unit else ctx.t("mydata.none"),
        roles="\n".join(roles) or ctx.t("mydata.none"),
        consent=ctx.t.datetime(account.consent_at) if account.consent_at else ctx.t("mydata.none"),
        channels=", ".join(sorted({ctx.t(f"channel.{c}") for c in identities})),
        submissions=ctx.t.number(count or 0),
        buttons=(
            Button(ctx.t("menu.export"), "account:export"),
            Button(ctx.t("menu.delete"), "account:delete"),
            Button(ctx.t("link.new"), "link:new"),
            # Unlinking is offered only when there is a channel to spare.
            *((Button(ctx.t("link.unlink"), "link:unlink"),) if len(identities) > 1 else ()),
        ),
    )


@router.command("export", resumes=True)
async def export_command(ctx: Context) -> None:
    document = await export_account(ctx.session, ctx.account, ctx.now)
    content = json.dumps(document, ensure_ascii=False, indent=2).encode()
    ctx.audit("account.exported", "account", ctx.account.id)
    ctx.send(
        Reply(
            ctx.t("export.ready"),
            attachment=Attachment("du-lieu-cua-toi.json", "application/json", content=content),
        )
    )


@router.command("delete")
async def delete_command(ctx: Context) -> None:
    ctx.say(
        "delete.confirm",
        buttons=(
            Button(ctx.t("delete.yes"), "account:delete_yes"),
            Button(ctx.t("delete.no"), "account:delete_no"),
        ),
    )


@router.payload("account")
async def account_button(ctx: Context) -> None:
    action = (ctx.incoming.payload or "").partition(":")[2]
    handlers = {
        "mydata": mydata_command,
        "export": export_command,
        "delete": delete_command,
        "help": help_command,
        "lang": _lang,
        "delete_yes": _erase,
        "delete_no": _keep,
    }
    handler = handlers.get(action)
    if handler is None:
        ctx.say("error.stale_button")
        return
    await handler(ctx)


async def _lang(ctx: Context) -> None:
    ctx.say("lang.choose", buttons=(Button("Tiếng Việt", "lang:vi"), Button("English", "lang:en")))


async def _keep(ctx: Context) -> None:
    ctx.say("delete.kept")
    await show_menu(ctx)


async def _erase(ctx: Context) -> None:
    goodbye = ctx.t("delete.done")
    ctx.audit("account.deleted", "account", ctx.account.id)
    chats = (
        await ctx.session.execute(
            select(Identity.channel, Identity.external_id).where(
                Identity.account_id == ctx.account.id
            )
        )
    ).all()
    uploads = Uploads.under(ctx.services.settings.data_dir)
    for channel, sender in chats:
        uploads.erase(sender, channel)
    await erase_account(ctx.session, ctx.account, ctx.services.forms, ctx.now)
    ctx.state.clear()
    ctx.replies.clear()
    ctx.send(Reply(goodbye))
