"""Onboarding: language, privacy consent, who you are, your place or your invitation code."""

from __future__ import annotations

from typing import Any

from bot.core.context import Context
from bot.core.messages import Button
from bot.core.router import Router
from bot.forms.parsing import ParseError, parse_yes_no
from bot.invitations import InvitationError, accept_invitation
from bot.storage.models import RoleAssignment
from bot.text import fold
from handlers.linking import typed_link
from handlers.menu import show_menu

__all__ = ["router"]

router = Router()

PROFILE_FORM = "household_profile"
MAX_CODE_TRIES = 5
_LANG_WORDS = {
    "1": "vi",
    "vi": "vi",
    "tieng viet": "vi",
    "viet": "vi",
    "2": "en",
    "en": "en",
    "english": "en",
    "tieng anh": "en",
    "anh": "en",
}
_ROLE_WORDS = {
    "1": "household",
    "ho gia dinh": "household",
    "ho": "household",
    "2": "official",
    "can bo": "official",
    "truong thon": "official",
    "3": "guest",
    "tim hieu": "guest",
    "hoi dap": "guest",
}


def _language_buttons() -> tuple[Button, ...]:
    return (Button("Tiếng Việt", "lang:vi"), Button("English", "lang:en"))


def _step(ctx: Context) -> dict[str, Any]:
    onboarding: dict[str, Any] = ctx.state.setdefault("onboarding", {})
    return onboarding


def _ask(ctx: Context, step: str) -> None:
    _step(ctx)["step"] = step
    if step == "lang":
        ctx.say("onboarding.welcome", buttons=_language_buttons())
    elif step == "privacy":
        ctx.say(
            "privacy.notice",
            buttons=(
                Button(ctx.t("privacy.agree"), "consent:yes"),
                Button(ctx.t("privacy.decline"), "consent:no"),
            ),
        )
    elif step == "role":
        ctx.say(
            "onboarding.role",
            buttons=(
                Button(ctx.t("onboarding.role.household"), "role:household"),
                Button(ctx.t("onboarding.role.official"), "role:official"),
                Button(ctx.t("onboarding.role.guest"), "role:guest"),
            ),
        )
    elif step == "code":
        ctx.say("onboarding.code", buttons=(Button(ctx.t("form.back"), "role:back"),))


async def onboarding(ctx: Context) -> None:
    """Every input of a person who has not finished onboarding lands here."""
    if not ctx.resuming and await _not_onboarding(ctx):
        return
    step = _step(ctx).get("step")
    if step is None or ctx.resuming:
        _ask(ctx, _resume_step(ctx, step))
        return
    handler = {
        "lang": _on_lang,
        "privacy": _on_privacy,
        "role": _on_role,
        "code": _on_code,
        "place": _on_place_cancelled,
    }[step]
    await handler(ctx)


async def _not_onboarding(ctx: Context) -> bool:
    """Text for something else begun before onboarding ends: a flow (typing a link code) or
    "liên kết 123456" typed as words. True when it was handled."""
    flow = ctx.router.flows.get(str(ctx.state.get("flow") or ""))
    text = ctx.incoming.text or ""
    if flow is not None:
        if text and not text.startswith("/") and not ctx.incoming.payload:
            await flow(ctx)
            return True
        # An onboarding button or a command that needs onboarding: back to onboarding.
        ctx.set_flow(None)
    return await typed_link(ctx)


def _resume_step(ctx: Context, step: str | None) -> str:
    if step is None:
        return "lang"
    if step == "place":
        return "role"  # the place form was cancelled: choose again
    return str(step)


def _choice(ctx: Context, prefix: str, words: dict[str, str]) -> str | None:
    payload = ctx.incoming.payload or ""
    if payload.startswith(f"{prefix}:"):
        return payload.split(":", 1)[1]
    return words.get(fold(ctx.incoming.text or "").strip(" ."))


async def _on_lang(ctx: Context) -> None:
    chosen = _choice(ctx, "lang", _LANG_WORDS)
    if chosen not in ("vi", "en"):
        ctx.say("onboarding.lang.unclear")
        _ask(ctx, "lang")
        return
    ctx.account.locale = chosen
    _ask(ctx, "privacy")


async def _on_privacy(ctx: Context) -> None:
    chosen = _choice(ctx, "consent", {})
    if chosen is None and ctx.incoming.text:
        try:
            chosen = "yes" if parse_yes_no(ctx.incoming.text) else "no"
        except ParseError:
            chosen = None
    if chosen == "yes":
        ctx.account.consent_at = ctx.now
        ctx.audit("consent.given", "account", ctx.account.id)
        if code := _step(ctx).pop("invite", None):
            await _use_code(ctx, code)
            return
        _ask(ctx, "role")
    elif chosen == "no":
        ctx.say("privacy.declined", buttons=(Button(ctx.t("privacy.agree"), "consent:yes"),))
    else:
        ctx.say("privacy.unclear")
        _ask(ctx, "privacy")


async def _on_role(ctx: Context) -> None:
    chosen = _choice(ctx, "role", _ROLE_WORDS)
    if chosen == "household":
        _step(ctx)["step"] = "place"
        ctx.start_form(PROFILE_FORM)
    elif chosen == "official":
        _ask(ctx, "code")
    elif chosen == "guest":
        ctx.account.kind = "guest"
        await _finish(ctx)
    else:
        ctx.say("onboarding.role.unclear")
        _ask(ctx, "role")


async def _on_code(ctx: Context) -> None:
    if ctx.incoming.payload == "role:back":
        _ask(ctx, "role")
        return
    if not ctx.incoming.text:
        _ask(ctx, "code")
        return
    await _use_code(ctx, ctx.incoming.text)


async def _on_place_cancelled(ctx: Context) -> None:
    _ask(ctx, "role")


async def _use_code(ctx: Context, code: str) -> None:
    tries = int(_step(ctx).get("tries", 0))
    if tries >= MAX_CODE_TRIES:
        ctx.say("invite.too_many")
        return
    try:
        invitation = await accept_invitation(ctx.session, ctx.account, code, ctx.now)
    except InvitationError as error:
        _step(ctx)["tries"] = tries + 1
        ctx.say(error.key)
        _ask(ctx, "code")
        return
    ctx.audit("invitation.accepted", "invitation", invitation.id, role=invitation.role)
    unit = ctx.tree.by_id(invitation.org_unit_id)
    ctx.say(
        "invite.accepted",
        role=ctx.t(f"role.{invitation.role}"),
        place=ctx.tree.label(unit.code) if unit else "",
    )
    if ctx.account.onboarded_at is None:
        await _finish(ctx)
    else:
        await show_menu(ctx)


async def _finish(ctx: Context) -> None:
    ctx.state.pop("onboarding", None)
    ctx.account.onboarded_at = ctx.now
    ctx.audit("onboarding.finished", "account", ctx.account.id, kind=ctx.account.kind)
    await show_menu(ctx, "onboarding.done")


@router.on_submit(PROFILE_FORM)
async def profile_submitted(ctx: Context, answers: dict[str, Any]) -> None:
    unit_id = ctx.tree.id_of(answers["home_unit"]["code"])
    if unit_id is None:
        ctx.say("error.unit.unknown")
        _ask(ctx, "role")
        return
    ctx.account.kind = "household"
    ctx.account.home_unit_id = unit_id
    for old in await ctx.roles():
        if old.role == "household":
            await ctx.session.delete(old)
    ctx.session.add(
        RoleAssignment(
            account_id=ctx.account.id, role="household", org_unit_id=unit_id, created_at=ctx.now
        )
    )
    ctx.audit("household.place_set", "org_unit", unit_id)
    if ctx.account.onboarded_at is None:
        ctx.say("onboarding.place_saved", place=answers["home_unit"]["name"])
        await _finish(ctx)
    else:
        ctx.say("onboarding.place_saved", place=answers["home_unit"]["name"])
        await show_menu(ctx)


@router.command("start", onboarded=False)
async def start_command(ctx: Context) -> None:
    code = ctx.state.get("command_arg") or ctx.incoming.start_arg
    if not ctx.account.push_enabled:
        # Only when off: even the same value set makes the flush look the account over.
        ctx.account.push_enabled = True
    if ctx.state.get("form") and not code:
        ctx.say(
            "start.mid_form",
            buttons=(
                Button(ctx.t("start.continue"), "start:continue"),
                Button(ctx.t("start.over"), "start:over"),
            ),
        )
    elif ctx.account.onboarded_at is None:
        await _restart_onboarding(ctx, code)
    elif code:
        await _use_code(ctx, code)
    else:
        ctx.set_flow(None)
        await show_menu(ctx, "start.welcome_back")


async def _restart_onboarding(ctx: Context, code: str | None) -> None:
    if code and ctx.account.consent_at is not None:
        await _use_code(ctx, code)
        return
    if code:
        _step(ctx)["invite"] = code
    step = _step(ctx).get("step")
    _ask(ctx, "lang" if step in (None, "lang") else _resume_step(ctx, step))


@router.payload("start", onboarded=False)
async def start_choice(ctx: Context) -> None:
    if ctx.incoming.payload != "start:over":
        return  # "continue": the dispatcher asks the form's question again
    ctx.state.pop("form", None)
    ctx.say("form.cancelled")
    if ctx.account.onboarded_at is None:
        await ctx.resume()
    else:
        await show_menu(ctx)


@router.command("lang", onboarded=False)
async def lang_command(ctx: Context) -> None:
    if ctx.account.onboarded_at is None:
        _ask(ctx, "lang")
        return
    ctx.say("lang.choose", buttons=_language_buttons())


@router.payload("lang")
async def lang_chosen(ctx: Context) -> None:
    chosen = (ctx.incoming.payload or "").split(":", 1)[1]
    if chosen not in ("vi", "en"):
        ctx.say("error.stale_button")
        return
    ctx.account.locale = chosen
    ctx.say("lang.changed")


@router.command("code", "invite")
async def code_command(ctx: Context) -> None:
    code = ctx.state.get("command_arg")
    if code:
        await _use_code(ctx, code)
    else:
        ctx.set_flow("invite_code")
        ctx.say("onboarding.code")


@router.flow("invite_code")
async def code_flow(ctx: Context) -> None:
    if ctx.resuming:
        ctx.say("onboarding.code")
        return
    ctx.set_flow(None)
    await _use_code(ctx, ctx.incoming.text or "")


@router.payload("role")
async def place_change(ctx: Context) -> None:
    if ctx.incoming.payload == "role:household" and ctx.account.kind in (
        None,
        "guest",
        "household",
    ):
        ctx.start_form(PROFILE_FORM)
    else:
        await show_menu(ctx)


router.onboarding = onboarding
