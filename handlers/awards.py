"""Award nominations: the awards menu, proposing a nominee (group, nominee, award, checks)
and the list of nominations an official deals with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from bot.award_access import held_over, scope_units
from bot.awards import (
    EDITABLE,
    OPEN,
    award_rules,
    check_nominee,
    create_nomination,
    household_key,
    household_name,
    missing_parts,
    name_key,
    reason_lines,
    registered_households,
    unit_key,
)
from bot.core.context import Context
from bot.core.messages import Button, Reply
from bot.core.router import Router
from bot.forms.context import UnitInfo
from bot.roles import OFFICIAL_ROLES
from bot.storage.models import Account, Nomination, OrgUnit
from bot.text import fold, is_meaningful
from handlers.award_dossier import show_dossier, tell_created

__all__ = ["router"]

router = Router()
router.menu("menu.awards", "aw:home", roles=tuple(OFFICIAL_ROLES), order=40)
# Read once when the handlers load: a broken rules/awards.yaml stops start-up, naming the entry.
award_rules()

FLOW = "award_new"
_PAGE = 10


async def _roles_held(ctx: Context) -> set[str]:
    return {assignment.role for assignment in await ctx.roles()}


@router.command("khenthuong", "awards", roles=tuple(OFFICIAL_ROLES))
async def awards_command(ctx: Context) -> None:
    await _home(ctx)


async def _home(ctx: Context) -> None:
    rules = award_rules()
    held = await _roles_held(ctx)
    buttons: list[Button] = []
    if rules.groups_for(held):
        buttons.append(Button(ctx.t("award.button.new"), "aw:new"))
    buttons.append(Button(ctx.t("award.button.list"), "aw:list"))
    reviewer_roles = set(rules.reviewers)
    if held & reviewer_roles:
        buttons.append(Button(ctx.t("award.button.overview"), "ao:sum"))
        buttons.append(Button(ctx.t("award.button.xlsx"), "ao:xlsx"))
    ctx.say("award.home", buttons=tuple(buttons))


# --- proposing: group → nominee → award → checks → create ---------------------------------


async def _new(ctx: Context) -> None:
    groups = award_rules().groups_for(await _roles_held(ctx))
    if not groups:
        ctx.say("error.not_allowed")
        return
    if len(groups) == 1:
        await _choose_group(ctx, groups[0])
        return
    ctx.set_flow(FLOW, step="group")
    ctx.say(
        "award.new.choose_group",
        buttons=tuple(Button(ctx.t(f"award.group.{g}"), f"aw:g:{g}") for g in groups),
    )


async def _choose_group(ctx: Context, group: str) -> None:
    rules = award_rules()
    if group not in rules.groups_for(await _roles_held(ctx)):
        ctx.audit("award.denied", "group", group)
        ctx.say("error.not_allowed")
        return
    ctx.set_flow(FLOW, step="nominee", group=group)
    await _ask_nominee(ctx, group, None)


async def _ask_nominee(ctx: Context, group: str, query: str | None) -> None:
    rules = award_rules()
    level = rules.groups[group].unit_level
    scopes = await scope_units(ctx, rules.roles_for(group))
    if level is not None:
        found = _units_of_level(ctx, scopes, level, query)
        buttons = [Button(unit.name[:60], f"aw:u:{unit.code}") for unit in found[:_PAGE]]
    elif group == "household":
        households = await _households(ctx, scopes, query)
        buttons = [
            Button(f"{name} – {place}"[:60], f"aw:h:{account_id}")
            for account_id, name, place in households[:_PAGE]
        ]
    else:
        ctx.say("award.new.ask_name", group=ctx.t(f"award.group.{group}"))
        return
    if not buttons:
        ctx.say(
            "award.new.none_found" if query else "award.new.none",
            group=ctx.t(f"award.group.{group}"),
        )
        return
    more = len(buttons) >= _PAGE
    ctx.say(
        "award.new.choose_nominee_more" if more else "award.new.choose_nominee",
        group=ctx.t(f"award.group.{group}"),
        buttons=tuple(buttons),
    )


def _units_of_level(
    ctx: Context, scopes: list[UnitInfo], level: str, query: str | None
) -> list[UnitInfo]:
    wanted = fold(query or "")
    found: dict[str, UnitInfo] = {}
    stack = [unit.code for unit in scopes]
    while stack:
        code = stack.pop()
        unit = ctx.tree.get(code)
        if unit is None:
            continue
        if unit.level == level and (not wanted or wanted in fold(unit.name)):
            found[code] = unit
        stack.extend(child.code for child in ctx.tree.children(code))
    return sorted(found.values(), key=lambda u: ctx.tree.label(u.code))


async def _households(
    ctx: Context, scopes: list[UnitInfo], query: str | None
) -> list[tuple[int, str, str]]:
    """Up to a page of the area's households that registered in the bot (their head's name
    is known) whose name holds what was typed, with the name of their place."""
    paths = [p for p in (ctx.tree.path_of(u.code) for u in scopes) if p]
    wanted = fold(query or "")
    found: list[tuple[int, str, str]] = []
    for account_id, code, name in await registered_households(ctx.session, paths):
        if not wanted or wanted in fold(name):
            unit = ctx.tree.get(code)
            found.append((account_id, name, unit.name if unit else ""))
            if len(found) == _PAGE:
                break
    return found


@router.flow(FLOW)
async def new_flow(ctx: Context) -> None:
    data = ctx.flow_data
    step, group = data.get("step"), str(data.get("group") or "")
    if ctx.resuming:
        await _reask(ctx, step, group)
        return
    text = (ctx.incoming.text or "").strip()
    if step != "nominee" or not text:
        ctx.say("award.new.use_buttons")
        await _reask(ctx, step, group)
        return
    rules = award_rules()
    if rules.groups[group].unit_level is not None or group == "household":
        await _ask_nominee(ctx, group, text)
        return
    if len(text) < 3 or len(text) > 150 or not is_meaningful(text):
        ctx.say("award.new.bad_name")
        return
    scopes = await scope_units(ctx, rules.roles_for(group))
    if not scopes:
        ctx.say("error.not_allowed")
        return
    # A person or an enterprise is placed in the proposer's own unit.
    data.update(name=" ".join(text.split()), unit=scopes[0].code, account=None)
    await _ask_award(ctx)


async def _reask(ctx: Context, step: Any, group: str) -> None:
    if step == "group":
        await _new(ctx)
    elif step == "nominee":
        await _ask_nominee(ctx, group, None)
    elif step == "award":
        await _ask_award(ctx)
    elif step == "confirm":
        ctx.say("award.new.confirm_again", buttons=_confirm_buttons(ctx))


async def _pick_unit(ctx: Context, code: str) -> None:
    data = ctx.flow_data
    group = str(data.get("group") or "")
    rules = award_rules()
    unit = ctx.tree.get(code)
    level = rules.groups[group].unit_level if group in rules.groups else None
    if ctx.state.get("flow") != FLOW or unit is None or level is None or unit.level != level:
        ctx.say("error.stale_button")
        return
    unit_id = ctx.tree.id_of(code)
    if unit_id is None or not await held_over(ctx, unit_id, rules.roles_for(group)):
        ctx.audit("award.denied", "org_unit", unit_id)
        ctx.say("error.not_allowed")
        return
    data.update(name=unit.name, unit=code, account=None)
    await _ask_award(ctx)


async def _pick_household(ctx: Context, raw_id: str) -> None:
    data = ctx.flow_data
    rules = award_rules()
    account = await ctx.session.get(Account, int(raw_id)) if raw_id.isdigit() else None
    if ctx.state.get("flow") != FLOW or data.get("group") != "household" or account is None:
        ctx.say("error.stale_button")
        return
    home = ctx.tree.by_id(account.home_unit_id or 0)
    name, _ = await household_name(ctx.session, account.id)
    if (
        account.kind != "household"
        or account.deleted_at is not None
        or home is None
        or name is None
        or not await held_over(ctx, account.home_unit_id or 0, rules.roles_for("household"))
    ):
        ctx.audit("award.denied", "account", account.id)
        ctx.say("error.not_allowed")
        return
    data.update(name=name, unit=home.code, account=account.id)
    await _ask_award(ctx)


async def _ask_award(ctx: Context) -> None:
    data = ctx.flow_data
    data["step"] = "award"
    rules = award_rules()
    group = str(data["group"])
    buttons = tuple(
        Button(
            ctx.t(
                "award.new.award_button",
                award=ctx.t(f"award.type.{a.id}"),
                year=rules.round_year(a.id, ctx.today),
            )[:60],
            f"aw:a:{a.id}",
        )
        for a in rules.awards_for(group)
    )
    ctx.say("award.new.choose_award", nominee=data["name"], buttons=buttons)


def _confirm_buttons(ctx: Context) -> tuple[Button, ...]:
    return (
        Button(ctx.t("award.button.create"), "aw:create"),
        Button(ctx.t("award.button.other_award"), "aw:back"),
    )


def _nominee_key(data: dict[str, Any]) -> str:
    group = str(data["group"])
    if award_rules().groups[group].unit_level is not None:
        return unit_key(str(data["unit"]))
    if group == "household" and data.get("account"):
        return household_key(str(data["unit"]), str(data["name"]), int(data["account"]))
    return name_key(str(data["unit"]), group, str(data["name"]))


async def _existing(ctx: Context, key: str, award_id: str, year: int) -> Nomination | None:
    query = select(Nomination).where(
        Nomination.nominee_key == key,
        Nomination.award == award_id,
        Nomination.year == year,
        Nomination.status.in_([*OPEN, "awarded"]),
    )
    return (await ctx.session.execute(query.limit(1))).scalar_one_or_none()


async def _pick_award(ctx: Context, award_id: str) -> None:
    data = ctx.flow_data
    rules = award_rules()
    if (
        ctx.state.get("flow") != FLOW
        or data.get("step") not in ("award", "confirm")
        or award_id not in rules.awards
        or str(data.get("group")) not in rules.award(award_id).groups
    ):
        ctx.say("error.stale_button")
        return
    year = rules.round_year(award_id, ctx.today)
    key = _nominee_key(data)
    existing = await _existing(ctx, key, award_id, year)
    if existing is not None:
        ctx.set_flow(None)
        ctx.say(
            "award.new.exists",
            code=existing.code,
            status=ctx.t(f"award.status.{existing.status}"),
            buttons=(Button(ctx.t("award.button.open"), f"ad:open:{existing.id}"),),
        )
        return
    unit_id = ctx.tree.id_of(str(data["unit"]))
    assert unit_id is not None
    check = await check_nominee(
        ctx.session,
        ctx.tree,
        award_id=award_id,
        group=str(data["group"]),
        unit_id=unit_id,
        account_id=data.get("account"),
        key=key,
        year=year,
        today=ctx.today,
    )
    data.update(step="confirm", award=award_id, year=year)
    parts = ", ".join(ctx.t(f"award.part.{p.id}") for p in missing_parts(rules, ()))
    lines = [
        ctx.t(
            "award.new.checks",
            nominee=data["name"],
            award=ctx.t(f"award.type.{award_id}"),
            year=year,
            date=ctx.t.date(rules.last_day(year)),
        ),
        *reason_lines(ctx.t, check.reasons),
        _verdict(ctx, check.eligibility.eligible),
        ctx.t("award.new.dossier_needed", parts=parts),
    ]
    ctx.send(Reply("\n".join(lines), _confirm_buttons(ctx)))


def _verdict(ctx: Context, eligible: bool | None) -> str:
    if eligible is True:
        return ctx.t("award.new.eligible")
    if eligible is False:
        return ctx.t("award.new.not_eligible")
    return ctx.t("award.new.council")


async def _create(ctx: Context) -> None:
    data = dict(ctx.flow_data)
    rules = award_rules()
    if ctx.state.get("flow") != FLOW or data.get("step") != "confirm":
        ctx.say("error.stale_button")
        return
    group, award_id, year = str(data["group"]), str(data["award"]), int(data["year"])
    unit_id = ctx.tree.id_of(str(data["unit"]))
    scope = await held_over(ctx, unit_id or 0, rules.roles_for(group)) if unit_id else []
    if unit_id is None or not scope:
        ctx.say("error.not_allowed")
        return
    key = _nominee_key(data)
    existing = await _existing(ctx, key, award_id, year)
    ctx.set_flow(None)
    if existing is not None:
        await show_dossier(ctx, existing)
        return
    nomination = await create_nomination(
        ctx.session,
        award=award_id,
        year=year,
        nominee_group=group,
        nominee_key=key,
        nominee_name=str(data["name"])[:200],
        nominee_unit_id=unit_id,
        nominee_account_id=data.get("account"),
        nominator_account_id=ctx.account.id,
        nominator_unit_id=ctx.tree.id_of(scope[0].code),
        status="draft",
        late=False,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.audit("award.created", "nomination", nomination.id, award=award_id, group=group, year=year)
    ctx.say("award.created", code=nomination.code)
    await tell_created(ctx, nomination)
    await show_dossier(ctx, nomination)


# --- the list ----------------------------------------------------------------------------


async def _list(ctx: Context) -> None:
    scopes = await scope_units(ctx, OFFICIAL_ROLES)
    paths = [p for p in (ctx.tree.path_of(u.code) for u in scopes) if p]
    if not paths:
        ctx.say("error.not_allowed")
        return
    query = (
        select(Nomination)
        .join(OrgUnit, OrgUnit.id == Nomination.nominee_unit_id)
        .where(Nomination.status.in_(OPEN), or_(*(OrgUnit.path.startswith(p) for p in paths)))
        .order_by(Nomination.updated_at.desc())
        .limit(_PAGE * 2)
    )
    found = list((await ctx.session.execute(query)).scalars())
    if not found:
        ctx.say("award.list.none", buttons=(Button(ctx.t("award.button.new"), "aw:new"),))
        return
    buttons = tuple(
        Button(
            f"{n.code} · {n.nominee_name} · {ctx.t(f'award.status_short.{n.status}')}"[:60],
            f"ad:open:{n.id}",
        )
        for n in found
    )
    waiting = sum(1 for n in found if n.status in EDITABLE)
    ctx.say(
        "award.list",
        count=ctx.t.number(len(found)),
        preparing=ctx.t.number(waiting),
        buttons=buttons,
    )


@router.payload("aw", roles=tuple(OFFICIAL_ROLES))
async def awards_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":", 2)
    action = parts[1] if len(parts) > 1 else ""
    value = parts[2] if len(parts) > 2 else ""
    if action == "home":
        await _home(ctx)
    elif action == "new":
        await _new(ctx)
    elif action == "list":
        await _list(ctx)
    elif action == "g" and value:
        await _choose_group(ctx, value)
    elif action == "u" and value:
        await _pick_unit(ctx, value)
    elif action == "h" and value:
        await _pick_household(ctx, value)
    elif action == "a" and value:
        await _pick_award(ctx, value)
    elif action == "back" and ctx.state.get("flow") == FLOW:
        await _ask_award(ctx)
    elif action == "create":
        await _create(ctx)
    else:
        ctx.say("error.stale_button")
