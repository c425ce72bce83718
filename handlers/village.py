"""Village heads: the month's figures by form or in one message, revisions until the lock.

The bot knows the head's village from the invitation, so it never asks for it. The form is
the data set's (rules/datasets/village_monthly.yaml), run by the one engine with last month's
values shown. Who may report for a village is checked here, server-side, at every step.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from bot.core.context import Context
from bot.core.messages import Button, Reply
from bot.core.router import Router
from bot.datasets import DataSet, QuickProblem, check_values, get_dataset
from bot.datasets import parse_quick_entry as read_quick_entry
from bot.forms import engine
from bot.forms.context import UnitInfo
from bot.forms.parsing import ParseError, parse_month
from bot.text import fold
from bot.village_reports import (
    PeriodRules,
    find_report,
    history_bounds,
    latest,
    previous_answers,
    reopened_periods,
    reopened_until,
    save_report,
)
from handlers.menu import show_menu
from rules.periods import Month

__all__ = ["DATASET_ID", "HEAD", "dataset", "router", "with_quick_entry"]

router = Router()

DATASET_ID = "village_monthly"
HEAD = frozenset({"village_head"})
HIDDEN = ("_unit", "_period")
# Plain text that is quick entry: "bc 10/2026 tong 412 ngheo 12".
_QUICK = re.compile(r"^bc(?:\s|$)")

router.menu("menu.village_report", "vr:report", roles=tuple(HEAD), order=12)


def dataset() -> DataSet:
    return get_dataset(DATASET_ID)


def period_rules(ctx: Context) -> PeriodRules:
    return PeriodRules.from_settings(ctx.services.settings)


def units_at_level(ctx: Context, code: str, level: str) -> list[UnitInfo]:
    """The units of ``level`` in the subtree of ``code`` (the unit itself if it is one)."""
    info = ctx.tree.get(code)
    if info is None:
        return []
    if info.level == level:
        return [info]
    found: list[UnitInfo] = []
    for child in ctx.tree.children(code):
        found.extend(units_at_level(ctx, child.code, level))
    return found


async def scope_units(ctx: Context, roles: frozenset[str]) -> list[UnitInfo]:
    """The units where the account holds one of ``roles``, highest first."""
    found: dict[str, UnitInfo] = {}
    for assignment in await ctx.roles():
        if assignment.role in roles:
            unit = ctx.tree.by_id(assignment.org_unit_id)
            if unit is not None:
                found.setdefault(unit.code, unit)
    depth = {code: (ctx.tree.path_of(code) or "").count("/") for code in found}
    return sorted(found.values(), key=lambda u: (depth[u.code], u.code))


async def my_villages(ctx: Context) -> list[UnitInfo]:
    level = dataset().org_unit_level
    found: dict[str, UnitInfo] = {}
    for scope in await scope_units(ctx, HEAD):
        for unit in units_at_level(ctx, scope.code, level):
            found.setdefault(unit.code, unit)
    return list(found.values())


def place(ctx: Context, code: str) -> str:
    unit = ctx.tree.get(code)
    if unit is None:
        return code
    parent = ctx.tree.get(unit.parent_code) if unit.parent_code else None
    return f"{unit.name}, {parent.name}" if parent else unit.name


async def may_report(ctx: Context, code: str) -> bool:
    """Server-side: a village head of this village (or of a unit above it) may report for it."""
    unit_id = ctx.tree.id_of(code)
    unit = ctx.tree.get(code)
    if unit_id is None or unit is None or unit.level != dataset().org_unit_level:
        ctx.say("village.unknown_unit")
        return False
    if not await ctx.has_role(HEAD, unit_id):
        ctx.audit("village_report.denied", "org_unit", code)
        ctx.say("village.not_your_village", place=place(ctx, code))
        return False
    return True


async def period_open(ctx: Context, code: str, period: Month) -> bool:
    """Future periods and locked ones (unless reopened for this village) are refused."""
    rules = period_rules(ctx)
    unit_id = ctx.tree.id_of(code)
    assert unit_id is not None
    reopened = await reopened_until(ctx.session, dataset(), unit_id, period)
    status = rules.status(period, ctx.today, reopened)
    if status == "future":
        ctx.say("village.period.future", period=period.label(), now=Month.of(ctx.today).label())
        return False
    if status == "locked":
        ctx.say(
            "village.period.locked",
            period=period.label(),
            date=ctx.t.date(rules.locks_after(period)),
        )
        return False
    return True


async def editable_until(ctx: Context, code: str, period: Month) -> date:
    """The last day the village may still send or change this period's report."""
    until = period_rules(ctx).locks_after(period)
    unit_id = ctx.tree.id_of(code)
    reopened = await reopened_until(ctx.session, dataset(), unit_id or 0, period)
    return max(until, reopened) if reopened else until


async def other_periods(ctx: Context, code: str, chosen: Month) -> tuple[Button, ...]:
    rules = period_rules(ctx)
    unit_id = ctx.tree.id_of(code)
    assert unit_id is not None
    periods = set(rules.open_periods(ctx.today))
    periods |= set(await reopened_periods(ctx.session, dataset(), unit_id, ctx.today))
    periods.discard(chosen)
    return tuple(
        Button(ctx.t("village.period.button", period=p.label()), f"vr:start:{code}:{p.iso()}")
        for p in sorted(periods, reverse=True)
    )


def start_report_form(
    ctx: Context,
    prefill: dict[str, Any],
    previous: dict[str, Any],
    history: dict[str, dict[str, Any]],
) -> None:
    """The data set's form through the one engine, with last month's values and history."""
    form = ctx.services.forms[DATASET_ID]
    step = engine.start(form, ctx.form_context(), prefill, previous=previous, history=history)
    ctx.set_flow(None)
    ctx.state["form"] = step.state
    ctx.replies.extend(step.replies)


async def _context_values(
    ctx: Context, code: str, period: Month
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    previous = await previous_answers(ctx.session, dataset(), code, period)
    history = await history_bounds(ctx.session, dataset(), code, period)
    return previous, history


async def open_report(ctx: Context, code: str, period: Month | None = None) -> None:
    """The form for a village and a period (last month by default)."""
    if not await may_report(ctx, code):
        return
    period = period or period_rules(ctx).default_period(ctx.today)
    if not await period_open(ctx, code, period):
        return
    prefill: dict[str, Any] = {"_unit": code, "_period": period.iso()}
    existing = await find_report(ctx.session, dataset(), code, period)
    buttons = await other_periods(ctx, code, period)
    if existing is not None:
        revision = await latest(ctx.session, existing.id)
        answers = dict(revision.answers) if revision else {}
        prefill.update({k: v for k, v in answers.items() if k not in HIDDEN})
        ctx.say(
            "village.report.revising",
            period=period.label(),
            place=place(ctx, code),
            when=ctx.t.datetime(existing.updated_at),
            date=ctx.t.date(await editable_until(ctx, code, period)),
            buttons=buttons,
        )
    else:
        text = ctx.t("village.report.start", period=period.label(), place=place(ctx, code))
        if buttons:
            text = f"{text}\n{ctx.t('village.report.other_periods')}"
        ctx.send(Reply(text, buttons))
    previous, history = await _context_values(ctx, code, period)
    start_report_form(ctx, prefill, previous, history)


async def _one_village(ctx: Context) -> UnitInfo | None:
    villages = await my_villages(ctx)
    if not villages:
        ctx.say("village.only_heads")
        return None
    if len(villages) > 1:
        buttons = tuple(Button(v.name, f"vr:unit:{v.code}") for v in villages[:20])
        ctx.say("village.which", buttons=buttons)
        return None
    return villages[0]


def _period_in(ctx: Context, text: str) -> tuple[bool, Month | None]:
    """A period alone after the command ("/baocao 9/2026"): (True, it); nothing: (True, None);
    anything else (False, None), which is quick entry."""
    if not text.strip():
        return True, None
    try:
        return True, Month(*parse_month(text, ctx.today))
    except (ParseError, ValueError):
        return False, None


@router.command("baocao", "bc", "report", roles=tuple(HEAD))
async def report_command(ctx: Context) -> None:
    argument = str(ctx.state.get("command_arg") or "")
    alone, period = _period_in(ctx, argument)
    if not alone:
        await quick_entry(ctx, argument)
        return
    village = await _one_village(ctx)
    if village is not None:
        await open_report(ctx, village.code, period)


# --- quick entry ---------------------------------------------------------------------------------


def _problem_line(ctx: Context, problem: QuickProblem) -> str:
    text = ctx.t(problem.key, **problem.params)
    if problem.field_id is None:
        return f"• {text}"
    label = ctx.t(dataset().form.field(problem.field_id).label_key)
    return f"• {label}: {text}"


async def quick_entry(ctx: Context, text: str) -> None:
    """ "bc 10/2026 tong 412 ngheo 12 can 9 thoat 2": read, checked, then the summary."""
    village = await _one_village(ctx)
    if village is None:
        return
    code = village.code
    if not await may_report(ctx, code):
        return
    ds = dataset()
    fctx = ctx.form_context()
    entry = read_quick_entry(ds, text, fctx)
    if entry.period_text and entry.period is None:
        ctx.say("village.quick.help", typed=entry.period_text[:40], aliases=_alias_list(ctx))
        return
    period = Month(*entry.period) if entry.period else period_rules(ctx).default_period(ctx.today)
    if not await period_open(ctx, code, period):
        return
    previous, history = await _context_values(ctx, code, period)
    existing = await find_report(ctx.session, ds, code, period)
    base: dict[str, Any] = {}
    if existing is not None:
        revision = await latest(ctx.session, existing.id)
        base = {k: v for k, v in (revision.answers if revision else {}).items() if k not in HIDDEN}
    else:
        for fdef in ds.fields:
            if fdef.quick_default == "previous" and previous.get(fdef.id) is not None:
                base[fdef.id] = previous[fdef.id]
            elif fdef.quick_default == "zero":
                base[fdef.id] = 0
            elif not fdef.required:
                base[fdef.id] = None  # an optional question quick entry does not ask
    problems = list(entry.problems)
    values = {**base, **entry.values}
    for field_id in entry.same:
        if previous.get(field_id) is not None:
            values[field_id] = previous[field_id]
        else:
            values.pop(field_id, None)
            problems.append(QuickProblem(field_id, "form.previous.none"))
    comments = values.pop("_comments", None)
    kept, out_of_bounds = check_values(ds, values, fctx)
    problems.extend(out_of_bounds)
    lines = [ctx.t("village.quick.read", period=period.label(), place=place(ctx, code))]
    if problems:
        lines.append(ctx.t("village.quick.problems"))
        lines.extend(_problem_line(ctx, p) for p in problems)
    if existing is None:
        lines.append(ctx.t("village.quick.defaults"))
    else:
        lines.append(ctx.t("village.quick.revising"))
    ctx.send(Reply("\n".join(lines)))
    prefill = {**kept, "_unit": code, "_period": period.iso()}
    if comments:
        prefill["_comments"] = comments
    start_report_form(ctx, prefill, previous, history)


def _alias_list(ctx: Context) -> str:
    return ", ".join(
        f"{f.aliases[0] if f.aliases else f.id} ({ctx.t(dataset().form.field(f.id).label_key)})"
        for f in dataset().fields
    )


def with_quick_entry(
    fallback: Callable[[Context], Awaitable[None]] | None,
) -> Callable[[Context], Awaitable[None]]:
    """Wrap the router's fallback: free text starting with "bc" from a village head is quick
    entry (outside a form, like every free text that reaches the fallback)."""

    async def fallback_or_quick_entry(ctx: Context) -> None:
        text = (ctx.incoming.text or "").strip()
        if _QUICK.match(fold(text)) and not ctx.incoming.payload and await ctx.has_role(HEAD):
            # The original text after the word, so a note keeps its accents.
            rest = text.split(None, 1)[1] if " " in text else ""
            ctx.state["command_arg"] = rest
            try:
                await report_command(ctx)
            finally:
                ctx.state.pop("command_arg", None)
            return
        if fallback is not None:
            await fallback(ctx)

    return fallback_or_quick_entry


# --- submission, revision with a reason ------------------------------------------------------


@router.on_submit(DATASET_ID)
async def submitted(ctx: Context, answers: dict[str, Any]) -> None:
    code = str(answers.get("_unit") or "")
    period = Month.parse(str(answers.get("_period")))
    # Checked again: a role may have been taken away or the period locked while typing.
    if not await may_report(ctx, code) or not await period_open(ctx, code, period):
        return
    if await find_report(ctx.session, dataset(), code, period) is not None:
        ctx.set_flow("village_reason", answers=answers)
        ctx.say("village.reason.ask", period=period.label())
        return
    await _save(ctx, answers, None)


@router.flow("village_reason")
async def reason_flow(ctx: Context) -> None:
    if ctx.resuming:
        ctx.say(
            "village.reason.ask", period=Month.parse(ctx.flow_data["answers"]["_period"]).label()
        )
        return
    text = (ctx.incoming.text or "").strip()
    if fold(text) in {"huy", "cancel", "thoi", "dung lai"}:
        ctx.set_flow(None)
        ctx.say("village.reason.cancelled")
        await show_menu(ctx)
        return
    if len(text) < 3 or not any(ch.isalnum() for ch in text):
        ctx.say("village.reason.short")
        return
    answers = dict(ctx.flow_data["answers"])
    ctx.set_flow(None)
    code, period = str(answers["_unit"]), Month.parse(str(answers["_period"]))
    if not await may_report(ctx, code) or not await period_open(ctx, code, period):
        return
    await _save(ctx, answers, text[:300])


async def _save(ctx: Context, answers: dict[str, Any], reason: str | None) -> None:
    code, period = str(answers["_unit"]), Month.parse(str(answers["_period"]))
    unit_id = ctx.tree.id_of(code)
    assert unit_id is not None
    stored = {k: v for k, v in answers.items() if k not in HIDDEN}
    saved = await save_report(
        ctx.session,
        dataset(),
        unit_id=unit_id,
        unit_code=code,
        period=period,
        answers=stored,
        author_id=ctx.account.id,
        now=ctx.now,
        reason=reason,
        race_reason=ctx.t("village.reason.same_time"),
    )
    action = "village_report.submitted" if saved.created else "village_report.revised"
    ctx.audit(
        action,
        "submission",
        saved.submission.id,
        unit=code,
        period=period.iso(),
        revision=saved.revision,
        reason=reason,
    )
    if not saved.created and reason is None:
        ctx.say("village.received.merged", period=period.label())
    ctx.say(
        "village.received",
        period=period.label(),
        place=place(ctx, code),
        code=saved.submission.receipt_code or "",
        revision=saved.revision,
        date=ctx.t.date(await editable_until(ctx, code, period)),
        buttons=(Button(ctx.t("village.view_button"), f"vo:view:{code}:{period.iso()}"),),
    )


# --- buttons ---------------------------------------------------------------------------------


@router.payload("vr", roles=tuple(HEAD))
async def village_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":")
    action = parts[1] if len(parts) > 1 else ""
    if action == "report" and len(parts) == 2:
        village = await _one_village(ctx)
        if village is not None:
            await open_report(ctx, village.code)
    elif action == "unit" and len(parts) == 3:
        await open_report(ctx, parts[2])
    elif action == "start" and len(parts) == 4:
        try:
            period = Month.parse(parts[3])
        except ValueError:
            ctx.say("error.stale_button")
            return
        await open_report(ctx, parts[2], period)
    else:
        ctx.say("error.stale_button")
