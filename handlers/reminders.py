"""Deadlines for people: /lich, /stop, muting a kind, reminder buttons and announcements."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.announcements import ANNOUNCERS, MAX_TEXT, TARGET_ROLES, deliver, recipients
from bot.core.context import Context
from bot.core.messages import Button
from bot.core.router import Router
from bot.forms.parsing import ParseError, parse_date
from bot.reminders import (
    occurrence_due_for,
    period_label,
    reminder_config,
    snooze,
    stop_pushes,
)
from bot.roles import OFFICIAL_ROLES
from bot.storage.models import Announcement, DeadlineDone, OrgUnit, ReminderMute
from bot.text import fold
from rules.deadlines import occurrence

__all__ = ["router"]

router = Router()

router.menu("menu.calendar", "rem:cal", order=80)
router.menu("menu.announce", "ann:start", roles=tuple(sorted(ANNOUNCERS)), order=85)

_TIME = re.compile(r"\b([01]?\d|2[0-3])\s*(?:[:hg]\s*([0-5]\d)?)(?=\s|$|,)")


# --------------------------------------------------------------------------- /stop


@router.command("stop", onboarded=False)
async def stop_command(ctx: Context) -> None:
    """Every push off at once, above any journey; a direct answer still comes."""
    cancelled = await stop_pushes(ctx.session, ctx.account, ctx.now)
    ctx.audit("push.stopped", "account", ctx.account.id, withdrawn=cancelled)
    ctx.say("stop.done")
    await ctx.resume()


# --------------------------------------------------------------------------- /lich


@router.command("lich", "calendar", "deadlines", resumes=True)
async def calendar_command(ctx: Context) -> None:
    await show_calendar(ctx)


async def show_calendar(ctx: Context) -> None:
    config = reminder_config(ctx.services.settings)
    t = ctx.t
    found = await occurrence_due_for(ctx.session, config, ctx.today, ctx.account.id)
    muted = set(
        (
            await ctx.session.execute(
                select(ReminderMute.kind).where(ReminderMute.account_id == ctx.account.id)
            )
        ).scalars()
    )
    lines: list[str] = []
    seen: set[str] = set()
    kinds: dict[str, str] = {}
    for occ, units, done in found:
        deadline = occ.deadline
        if deadline.id in seen:
            continue  # the next occurrence of each deadline is enough
        seen.add(deadline.id)
        when = (
            t("calendar.window", start=t.date(occ.start), due=t.date(occ.due))
            if occ.start and occ.start > ctx.today
            else t.date(occ.due)
        )
        line = t("calendar.line", when=when, name=t(deadline.name), period=period_label(t, occ))
        if not deadline.remind:
            line = f"{line} {t('calendar.tentative')}"
        if units:
            kinds[deadline.kind] = deadline.name
            states = [
                t("calendar.unit_done", unit=u.name)
                if u.id in done
                else t("calendar.unit_missing", unit=u.name)
                for u in units[:5]
            ]
            line = f"{line}\n   {'; '.join(states)}"
            if deadline.kind in muted:
                line = f"{line}\n   {t('calendar.muted')}"
        lines.append(line)
    if not lines:
        ctx.say("calendar.empty")
        return
    text = "\n".join([t("calendar.title"), *lines])
    if not ctx.account.push_enabled:
        text = f"{text}\n\n{t('calendar.stopped')}"
    buttons: list[Button] = []
    if await ctx.has_role(OFFICIAL_ROLES):
        for kind in kinds:
            if kind in muted:
                buttons.append(
                    Button(
                        t("calendar.unmute", kind=t(f"deadline.kind.{kind}")), f"rem:unmute:{kind}"
                    )
                )
            else:
                buttons.append(
                    Button(t("calendar.mute", kind=t(f"deadline.kind.{kind}")), f"rem:mute:{kind}")
                )
    ctx.say("calendar.text", text=text, buttons=tuple(b for b in buttons if len(b.payload) <= 64))


# --------------------------------------------------------------------------- reminder buttons


@router.payload("rem")
async def reminder_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":")
    action = parts[1] if len(parts) > 1 else ""
    if action == "cal":
        await show_calendar(ctx)
    elif action in ("mute", "unmute") and len(parts) == 3:
        await _mute(ctx, parts[2], action == "mute")
    elif action == "later" and len(parts) == 4:
        await _later(ctx, parts[2], parts[3])
    elif action == "done" and len(parts) == 5:
        await _done(ctx, parts[2], parts[3], parts[4])
    elif action == "open" and len(parts) == 5:
        await _open(ctx, parts[2], parts[3], parts[4])
    else:
        ctx.say("error.stale_button")


def _occurrence(ctx: Context, deadline_id: str, key: str) -> Any:
    config = reminder_config(ctx.services.settings)
    deadline = config.deadlines.get(deadline_id)
    found = occurrence(deadline, key) if deadline else None
    if found is None:
        ctx.say("error.stale_button")
    return found


async def _later(ctx: Context, deadline_id: str, key: str) -> None:
    occ = _occurrence(ctx, deadline_id, key)
    if occ is None:
        return
    config = reminder_config(ctx.services.settings)
    until = await snooze(ctx.session, config, ctx.account.id, occ, ctx.now)
    ctx.say("reminder.snoozed", when=ctx.t.datetime(until))


async def _done(ctx: Context, deadline_id: str, key: str, unit_text: str) -> None:
    occ = _occurrence(ctx, deadline_id, key)
    if occ is None:
        return
    unit = await ctx.session.get(OrgUnit, int(unit_text)) if unit_text.isdigit() else None
    if unit is None or not occ.deadline.self_declared:
        ctx.say("error.stale_button")
        return
    if not await ctx.has_role(occ.deadline.roles, unit.id):
        ctx.audit("deadline.done_denied", "org_unit", unit.id, deadline=deadline_id)
        ctx.say("error.not_allowed")
        return
    exists = await ctx.session.scalar(
        select(DeadlineDone.id).where(
            DeadlineDone.deadline_id == deadline_id,
            DeadlineDone.occurrence == key,
            DeadlineDone.org_unit_id == unit.id,
        )
    )
    if exists is None:
        try:
            async with ctx.session.begin_nested():
                ctx.session.add(
                    DeadlineDone(
                        deadline_id=deadline_id,
                        occurrence=key,
                        org_unit_id=unit.id,
                        account_id=ctx.account.id,
                        created_at=ctx.now,
                    )
                )
                await ctx.session.flush()
        except IntegrityError:
            pass  # someone of the same unit pressed it at the same moment
        ctx.audit("deadline.done", "org_unit", unit.id, deadline=deadline_id, occurrence=key)
    ctx.say(
        "reminder.marked_done",
        unit=unit.name,
        name=ctx.t(occ.deadline.name),
        period=period_label(ctx.t, occ),
    )


async def _open(ctx: Context, deadline_id: str, key: str, unit_text: str) -> None:
    occ = _occurrence(ctx, deadline_id, key)
    if occ is None:
        return
    form = occ.deadline.form
    if not form or form not in ctx.services.forms:
        ctx.say("reminder.no_form")
        return
    ctx.start_form(form)


async def _mute(ctx: Context, kind: str, mute: bool) -> None:
    config = reminder_config(ctx.services.settings)
    if kind not in config.deadlines.kinds:
        ctx.say("error.stale_button")
        return
    if not await ctx.has_role(OFFICIAL_ROLES):
        ctx.say("error.not_allowed")
        return
    label = ctx.t(f"deadline.kind.{kind}")
    if mute:
        exists = await ctx.session.scalar(
            select(ReminderMute.id).where(
                ReminderMute.account_id == ctx.account.id, ReminderMute.kind == kind
            )
        )
        if exists is None:
            ctx.session.add(ReminderMute(account_id=ctx.account.id, kind=kind, created_at=ctx.now))
        ctx.audit("reminders.muted", "account", ctx.account.id, kind=kind)
        ctx.say(
            "reminder.muted",
            kind=label,
            buttons=(Button(ctx.t("calendar.unmute", kind=label), f"rem:unmute:{kind}"),),
        )
    else:
        await ctx.session.execute(
            delete(ReminderMute).where(
                ReminderMute.account_id == ctx.account.id, ReminderMute.kind == kind
            )
        )
        ctx.audit("reminders.unmuted", "account", ctx.account.id, kind=kind)
        ctx.say("reminder.unmuted", kind=label)


# --------------------------------------------------------------------------- announcements


def _ann(ctx: Context) -> dict[str, Any]:
    return ctx.flow_data


async def _scope_units(ctx: Context) -> list[OrgUnit]:
    """The units where this person may announce: where they hold an announcer role."""
    found: list[OrgUnit] = []
    for assignment in await ctx.roles():
        if assignment.role in ANNOUNCERS:
            unit = await ctx.session.get(OrgUnit, assignment.org_unit_id)
            if unit is not None and unit not in found:
                found.append(unit)
    return found


async def _target_roles(ctx: Context) -> tuple[str, ...]:
    """A village head announces to households; officials above to any of the roles."""
    held = {r.role for r in await ctx.roles()}
    if held & (ANNOUNCERS - {"village_head"}):
        return TARGET_ROLES
    return ("household",)


@router.command("thongbao", "announce", roles=tuple(sorted(ANNOUNCERS)))
async def announce_command(ctx: Context) -> None:
    await _ask_unit(ctx)


async def _ask_unit(ctx: Context) -> None:
    scopes = await _scope_units(ctx)
    ctx.set_flow("announce", step="unit")
    buttons = [
        Button(ctx.t("announce.whole", unit=u.name)[:60], f"ann:unit:{u.id}") for u in scopes
    ]
    if len(scopes) == 1:
        for child in ctx.tree.children(scopes[0].code)[:30]:
            child_id = ctx.tree.id_of(child.code)
            buttons.append(Button(child.name[:60], f"ann:unit:{child_id}"))
    buttons.append(Button(ctx.t("announce.cancel"), "ann:cancel"))
    ctx.say("announce.ask_unit", buttons=tuple(buttons))


async def _allowed_unit(ctx: Context, unit_id: int) -> OrgUnit | None:
    unit = await ctx.session.get(OrgUnit, unit_id)
    if unit is None or not await ctx.has_role(ANNOUNCERS, unit.id):
        ctx.audit("announce.denied", "org_unit", unit_id)
        ctx.say("error.not_allowed")
        return None
    return unit


async def _ask_role(ctx: Context) -> None:
    roles = await _target_roles(ctx)
    _ann(ctx)["step"] = "role"
    buttons = [Button(ctx.t(f"announce.role.{role}"), f"ann:role:{role}") for role in roles]
    if len(roles) > 1:
        buttons.append(Button(ctx.t("announce.role.all"), "ann:role:all"))
    buttons.append(Button(ctx.t("announce.cancel"), "ann:cancel"))
    ctx.say("announce.ask_role", buttons=tuple(buttons))


def _ask_text(ctx: Context) -> None:
    _ann(ctx)["step"] = "text"
    ctx.say(
        "announce.ask_text",
        max=ctx.t.number(MAX_TEXT),
        buttons=(Button(ctx.t("announce.cancel"), "ann:cancel"),),
    )


def _ask_when(ctx: Context) -> None:
    _ann(ctx)["step"] = "when"
    ctx.say(
        "announce.ask_when",
        buttons=(
            Button(ctx.t("announce.now"), "ann:when:now"),
            Button(ctx.t("announce.cancel"), "ann:cancel"),
        ),
    )


def parse_when(text: str, now: datetime, tz: Any) -> datetime:
    """ "14:30", "8h 20/11", "20/11/2026 08:00", "mai 8h": a local moment in the future."""
    folded = fold(text)
    match = _TIME.search(folded)
    if not match:
        raise ParseError("announce.bad_when")
    at = time(int(match.group(1)), int(match.group(2) or 0))
    rest = (folded[: match.start()] + " " + folded[match.end() :]).strip(" ,.")
    rest = re.sub(r"^(luc|vao|ngay)\s+", "", rest).strip()
    local_now = now.astimezone(tz)
    day = parse_date(rest, local_now.date()) if rest else local_now.date()
    moment = datetime.combine(day, at, tzinfo=tz)
    if not rest and moment <= now:
        moment += timedelta(days=1)
    if moment <= now:
        raise ParseError("announce.past")
    if moment > now + timedelta(days=180):
        raise ParseError("announce.bad_when")
    return moment


async def _preview(ctx: Context) -> None:
    data = _ann(ctx)
    data["step"] = "confirm"
    config = reminder_config(ctx.services.settings)
    unit = await ctx.session.get(OrgUnit, int(data["unit"]))
    assert unit is not None
    roles = _chosen_roles(data)
    people = await recipients(ctx.session, unit.path, roles, exclude=ctx.account.id)
    send_at = datetime.fromisoformat(data["send_at"]) if data.get("send_at") else ctx.now
    effective = config.quiet.next_open(send_at, config.tz)
    when = ctx.t("announce.when_now") if send_at <= ctx.now else ctx.t.datetime(send_at)
    if effective != send_at:
        when = ctx.t(
            "announce.quiet",
            start=ctx.services.settings.quiet_hours_start,
            end=ctx.services.settings.quiet_hours_end,
            when=ctx.t.datetime(effective),
        )
    who = (
        ctx.t("announce.role.all")
        if data["role"] == "all"
        else ctx.t(f"announce.role.{data['role']}")
    )
    ctx.say(
        "announce.preview",
        text=data["text"],
        who=who,
        place=unit.name,
        count=ctx.t.number(len(people)),
        when=when,
        buttons=(
            Button(ctx.t("announce.confirm"), "ann:confirm"),
            Button(ctx.t("announce.cancel"), "ann:cancel"),
        ),
    )


def _chosen_roles(data: dict[str, Any]) -> list[str]:
    role = str(data.get("role"))
    return list(TARGET_ROLES) if role == "all" else [role]


async def _confirm(ctx: Context) -> None:
    data = _ann(ctx)
    if data.get("step") != "confirm" or not data.get("text"):
        ctx.say("error.stale_button")
        return
    unit = await _allowed_unit(ctx, int(data["unit"]))
    if unit is None:
        ctx.set_flow(None)
        return
    roles = _chosen_roles(data)
    if not set(roles) <= set(await _target_roles(ctx)):
        ctx.say("error.not_allowed")
        ctx.set_flow(None)
        return
    config = reminder_config(ctx.services.settings)
    asked = datetime.fromisoformat(data["send_at"]) if data.get("send_at") else ctx.now
    send_at = config.quiet.next_open(max(asked, ctx.now), config.tz)
    announcement = Announcement(
        author_account_id=ctx.account.id,
        org_unit_id=unit.id,
        roles={"roles": roles},
        text=str(data["text"]),
        send_at=send_at,
        status="scheduled",
        created_at=ctx.now,
    )
    ctx.session.add(announcement)
    await ctx.session.flush()
    ctx.set_flow(None)
    ctx.audit("announce.created", "announcement", announcement.id, unit=unit.code, roles=roles)
    if send_at <= ctx.now:
        settings = ctx.services.settings
        await deliver(
            ctx.session,
            announcement,
            ctx.now,
            default_locale=settings.default_locale,
            timezone=settings.timezone,
        )
        ctx.say("announce.sent", count=ctx.t.number(announcement.recipients))
    else:
        ctx.say(
            "announce.scheduled",
            when=ctx.t.datetime(send_at),
            buttons=(Button(ctx.t("announce.cancel_scheduled"), f"ann:drop:{announcement.id}"),),
        )


async def _drop(ctx: Context, announcement_id: str) -> None:
    announcement = (
        await ctx.session.get(Announcement, int(announcement_id))
        if announcement_id.isdigit()
        else None
    )
    if announcement is None or announcement.author_account_id != ctx.account.id:
        ctx.say("error.stale_button")
        return
    if announcement.status != "scheduled":
        ctx.say("announce.too_late")
        return
    announcement.status = "cancelled"
    ctx.audit("announce.cancelled", "announcement", announcement.id)
    ctx.say("announce.dropped")


@router.payload("ann", roles=tuple(sorted(ANNOUNCERS)))
async def announce_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":")
    action = parts[1] if len(parts) > 1 else ""
    in_flow = ctx.state.get("flow") == "announce"
    if action == "start":
        await _ask_unit(ctx)
    elif action == "cancel":
        ctx.set_flow(None)
        ctx.say("announce.cancelled")
    elif action == "drop" and len(parts) == 3:
        await _drop(ctx, parts[2])
    elif not in_flow:
        ctx.say("error.stale_button")
    elif action == "unit" and len(parts) == 3 and parts[2].isdigit():
        unit = await _allowed_unit(ctx, int(parts[2]))
        if unit is not None:
            _ann(ctx)["unit"] = unit.id
            await _ask_role(ctx)
    elif action == "role" and len(parts) == 3:
        if parts[2] != "all" and parts[2] not in await _target_roles(ctx):
            ctx.say("error.not_allowed")
            return
        _ann(ctx)["role"] = parts[2]
        _ask_text(ctx)
    elif action == "when" and len(parts) == 3 and parts[2] == "now":
        _ann(ctx).pop("send_at", None)
        await _preview(ctx)
    elif action == "confirm":
        await _confirm(ctx)
    else:
        ctx.say("error.stale_button")


@router.flow("announce")
async def announce_flow(ctx: Context) -> None:
    """Typed input inside the announcement: a place name, the text, a time."""
    data = _ann(ctx)
    step = data.get("step")
    if ctx.resuming:
        if step == "role":
            await _ask_role(ctx)
        elif step == "text":
            _ask_text(ctx)
        elif step == "when":
            _ask_when(ctx)
        elif step == "confirm":
            await _preview(ctx)
        else:
            await _ask_unit(ctx)
        return
    typed = (ctx.incoming.text or "").strip()
    if step == "unit":
        await _typed_unit(ctx, typed)
    elif step == "text":
        if len(typed) < 3:
            ctx.say("announce.text_short")
            return
        if len(typed) > MAX_TEXT:
            ctx.say("announce.text_long", max=ctx.t.number(MAX_TEXT))
            return
        data["text"] = typed
        _ask_when(ctx)
    elif step == "when":
        config = reminder_config(ctx.services.settings)
        try:
            moment = parse_when(typed, ctx.now, config.tz)
        except ParseError as error:
            ctx.say(error.key if error.key.startswith("announce.") else "announce.bad_when")
            return
        data["send_at"] = moment.isoformat()
        await _preview(ctx)
    elif step == "confirm":
        ctx.say("announce.press_confirm")
        await _preview(ctx)
    else:
        await _ask_role(ctx)


async def _typed_unit(ctx: Context, typed: str) -> None:
    scopes = await _scope_units(ctx)
    for scope in scopes:
        for found in ctx.tree.search(typed, scope.code):
            unit_id = ctx.tree.id_of(found.code)
            if unit_id is not None and await ctx.has_role(ANNOUNCERS, unit_id):
                _ann(ctx)["unit"] = unit_id
                await _ask_role(ctx)
                return
    ctx.say("announce.unit_unknown")
    await _ask_unit(ctx)
