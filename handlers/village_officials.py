"""What officials get from the village reports: /tonghop, /chuanop, /xem, /molai, /dauky and
/xuatbaocao, each scoped server-side to the subtree where the official holds a role."""

from __future__ import annotations

import re
from typing import Any

from bot.core.context import Context
from bot.core.messages import Attachment, Button, Reply
from bot.core.router import Router
from bot.datasets import check_values, parse_quick_entry
from bot.exports import village_report_export
from bot.forms.context import UnitInfo
from bot.forms.parsing import ParseError, parse_month
from bot.forms.types import field_type
from bot.officials import officials_over
from bot.text import fold
from bot.village_reports import (
    Summary,
    find_report,
    latest,
    reopen_period,
    reopened_until,
    revisions,
    set_baseline,
    summarise,
)
from handlers.village import HEAD, dataset, period_rules, place, scope_units
from rules.periods import Month

__all__ = ["OFFICIALS", "router"]

router = Router()

OFFICIALS = frozenset({"commune_official", "district_official", "province_official", "admin"})
VIEWERS = OFFICIALS | HEAD
_PERIOD_TOKEN = re.compile(r"^(?:t|thang)?[0-9]{1,2}[/.-][0-9]{2,4}$|^[0-9]{4}-[0-9]{1,2}$")
MAX_NAMES = 30

router.menu("menu.village_summary", "vo:sum", roles=tuple(OFFICIALS), order=40)
router.menu("menu.village_missing", "vo:miss", roles=tuple(OFFICIALS), order=41)
router.menu("menu.village_export", "vo:xls", roles=tuple(OFFICIALS), order=42)


# --- arguments: periods and a place typed after the command --------------------------------------


def split_arguments(ctx: Context, text: str) -> tuple[list[Month], str, bool]:
    """Periods ("10/2026", "2026-10", "t10/2026") and the rest (a place's name).

    The flag is False when something looked like a period but is not one (13/2026)."""
    periods: list[Month] = []
    rest: list[str] = []
    ok = True
    for token in text.split():
        if _PERIOD_TOKEN.match(fold(token)):
            try:
                periods.append(Month(*parse_month(token, ctx.today)))
            except (ParseError, ValueError):
                ok = False
        else:
            rest.append(token)
    return periods, " ".join(rest), ok


def _inside(ctx: Context, code: str, scopes: list[UnitInfo]) -> bool:
    path = ctx.tree.path_of(code) or ""
    return any(path.startswith(ctx.tree.path_of(s.code) or "\0") for s in scopes)


async def pick_unit(
    ctx: Context, text: str, roles: frozenset[str], action: str, suffix: str, level: str | None
) -> UnitInfo | None:
    """The unit an official means: their own when nothing is typed, else a name searched in
    their subtrees only; several matches become buttons (``vo:ACTION:CODE:SUFFIX``)."""
    scopes = await scope_units(ctx, roles)
    if not scopes:
        ctx.say("error.not_allowed")
        return None
    if not text.strip():
        if level is None or scopes[0].level == level:
            return scopes[0]
        ctx.say("village.which_unit")
        return None
    found: dict[str, UnitInfo] = {}
    for scope in scopes:
        for unit in ctx.tree.search(text, scope.code):
            if _inside(ctx, unit.code, scopes) and (level is None or unit.level == level):
                found.setdefault(unit.code, unit)
    if not found:
        ctx.say("village.unit_not_found", typed=text[:40])
        return None
    if len(found) > 1:
        buttons = tuple(
            Button(ctx.tree.label(u.code)[:60], f"vo:{action}:{u.code}:{suffix}")
            for u in list(found.values())[:8]
        )
        ctx.say("village.unit_many", buttons=buttons)
        return None
    return next(iter(found.values()))


async def allowed_over(ctx: Context, code: str, roles: frozenset[str]) -> bool:
    """Server-side: the official's role covers this unit (a forged button changes nothing)."""
    unit_id = ctx.tree.id_of(code)
    if unit_id is not None and await ctx.has_role(roles, unit_id):
        return True
    ctx.audit("village_report.denied", "org_unit", code)
    ctx.say("error.not_allowed")
    return False


def _percent(ctx: Context, value: float | None) -> str:
    return "–" if value is None else f"{ctx.t.number(round(value, 1))} %"


def _value(ctx: Context, value: Any, decimals: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return ctx.t.number(round(value, decimals))
    return ctx.t.number(value)


async def _month_and_unit(
    ctx: Context, roles: frozenset[str], action: str, level: str | None
) -> tuple[str, Month] | None:
    """The unit and month a command names: the month typed, last month by default; the unit
    typed or picked (None: asked with buttons, or refused with a message already said)."""
    periods, text, ok = split_arguments(ctx, str(ctx.state.get("command_arg") or ""))
    if not ok:
        ctx.say("error.month")
        return None
    period = periods[0] if periods else Month.of(ctx.today) - 1
    unit = await pick_unit(ctx, text, roles, action, period.iso(), level)
    return None if unit is None else (unit.code, period)


# --- /tonghop ------------------------------------------------------------------------------------


@router.command("tonghop", "summary", roles=tuple(OFFICIALS))
async def summary_command(ctx: Context) -> None:
    chosen = await _month_and_unit(ctx, OFFICIALS, "sum", None)
    if chosen is not None:
        await show_summary(ctx, *chosen)


async def show_summary(ctx: Context, code: str, period: Month) -> None:
    if not await allowed_over(ctx, code, OFFICIALS):
        return
    ds = dataset()
    rules = period_rules(ctx)
    summary = await summarise(ctx.session, ds, ctx.tree, code, period, rules)
    done = summary.completeness[code]
    lines = [
        ctx.t("village.sum.title", period=period.label(), place=ctx.tree.label(code)),
        ctx.t(
            "village.sum.completeness",
            expected=done.expected,
            submitted=done.submitted,
            on_time=done.on_time,
            late=done.late,
            missing=len(done.missing),
        ),
        ctx.t(
            "village.sum.rates",
            rate=_percent(ctx, done.reporting_rate),
            on_time_rate=_percent(ctx, done.on_time_rate),
            due=ctx.t.date(rules.due(period).date()),
        ),
    ]
    lines.append(_missing_line(ctx, done.missing))
    children = [c for c in summary.tree.children.get(code, []) if c in summary.completeness]
    below = [c for c in children if summary.tree.units[c].level != ds.org_unit_level]
    if below:
        lines.append(ctx.t("village.sum.by_unit"))
        for child in below:
            part = summary.completeness[child]
            lines.append(
                f"• {summary.tree.units[child].name}: {part.submitted}/{part.expected} "
                f"({_percent(ctx, part.reporting_rate)})"
            )
    totals = summary.totals[code]
    if totals.reports:
        lines.append(ctx.t("village.sum.figures", count=totals.reports))
        for name in ds.numeric_fields:
            label = ctx.t(ds.form.field(name).label_key)
            fdef = ds.form.field(name)
            total = totals.values.get(name)
            shown = field_type(fdef).display(fdef, total, ctx.form_context()) if total else "0"
            lines.append(f"• {label}: {shown}")
        for indicator in ds.indicators:
            value = summary.indicators[code].get(indicator.id)
            shown = _value(ctx, value, indicator.decimals)
            unit_sign = " %" if indicator.factor == 100 and value is not None else ""
            lines.append(f"• {ctx.t(indicator.label)}: {shown}{unit_sign}")
        lines.extend(_baseline_lines(ctx, summary, code))
    else:
        lines.append(ctx.t("village.sum.no_reports"))
    ctx.send(
        Reply(
            "\n".join(lines),
            (
                Button(ctx.t("village.missing_button"), f"vo:miss:{code}:{period.iso()}"),
                Button(ctx.t("village.export_button"), f"vo:xls:{code}:{period.iso()}"),
            ),
        )
    )
    ctx.send(
        Reply(
            ctx.t("village.chart.caption", period=period.label()),
            attachment=Attachment(
                f"tonghop-{code}-{period.iso()}.png",
                "image/png",
                content=_chart(ctx, summary, code),
                kind="photo",
            ),
        )
    )
    ctx.audit("village_report.summary", "org_unit", code, period=period.iso())


def _missing_line(ctx: Context, missing: tuple[str, ...]) -> str:
    if not missing:
        return ctx.t("village.sum.none_missing")
    names = [place(ctx, c) for c in missing[:MAX_NAMES]]
    more = len(missing) - len(names)
    text = "; ".join(names) + (ctx.t("village.sum.more", count=more) if more > 0 else "")
    return ctx.t("village.sum.missing", names=text)


def _baseline_lines(ctx: Context, summary: Summary, code: str) -> list[str]:
    ds = dataset()
    reduction = ds.criteria.reduction
    if reduction is None:
        return []
    base = summary.baselines.get(code)
    if base is None:
        return [ctx.t("village.sum.no_baseline")]
    moved = summary.change(code, reduction.indicator)
    indicator = ds.indicator(reduction.indicator)
    lines = [
        ctx.t(
            "village.sum.baseline",
            label=ctx.t(indicator.label),
            was=_value(ctx, moved.baseline),
            now=_value(ctx, moved.current),
            change=_percent(ctx, moved.percent),
        )
    ]
    if not base.complete:
        lines.append(
            ctx.t("village.sum.baseline_partial", covered=base.covered, expected=base.expected)
        )
    from rules.aggregate import reduced_by_more_than

    met = reduced_by_more_than(moved.current, moved.baseline, reduction.more_than_percent)
    if met is not None:
        key = "village.sum.criterion_met" if met else "village.sum.criterion_not_met"
        lines.append(ctx.t(key, percent=ctx.t.number(reduction.more_than_percent)))
    return lines


def _chart(ctx: Context, summary: Summary, code: str) -> bytes:
    from bot.charts import summary_chart  # matplotlib loads only when a chart is drawn

    ds = dataset()
    children = summary.tree.children.get(code, [])
    if summary.tree.units[code].level == ds.org_unit_level or not children:
        shown = [code]
    else:
        shown = children
    rates = [(summary.tree.units[c].name, summary.completeness[c].reporting_rate) for c in shown]
    field_label = ctx.t(ds.form.field(ds.chart_field).label_key) if ds.chart_field else ""
    series = [(m.label(), None if v is None else float(v)) for m, v in summary.series]
    return summary_chart(
        ctx.t(
            "village.chart.title",
            period=summary.period.label(),
            place=summary.tree.units[code].name,
        ),
        ctx.t("village.chart.rate"),
        rates,
        ctx.t("village.chart.series", label=field_label),
        series,
        ctx.t("village.chart.no_data"),
    )


# --- /chuanop ------------------------------------------------------------------------------------


@router.command("chuanop", "missing", roles=tuple(OFFICIALS))
async def missing_command(ctx: Context) -> None:
    chosen = await _month_and_unit(ctx, OFFICIALS, "miss", None)
    if chosen is not None:
        await show_missing(ctx, *chosen)


async def show_missing(ctx: Context, code: str, period: Month) -> None:
    if not await allowed_over(ctx, code, OFFICIALS):
        return
    summary = await summarise(
        ctx.session, dataset(), ctx.tree, code, period, period_rules(ctx), months=1
    )
    done = summary.completeness[code]
    if not done.missing:
        ctx.say("village.missing.none", period=period.label(), place=ctx.tree.label(code))
        return
    lines = [
        ctx.t(
            "village.missing.title",
            period=period.label(),
            place=ctx.tree.label(code),
            count=len(done.missing),
            expected=done.expected,
        )
    ]
    lines.extend(f"• {place(ctx, c)}" for c in done.missing[: MAX_NAMES * 3])
    if len(done.missing) > MAX_NAMES * 3:
        lines.append(ctx.t("village.sum.more", count=len(done.missing) - MAX_NAMES * 3))
    ctx.send(Reply("\n".join(lines)))


# --- /xem <village> <period> ---------------------------------------------------------------------


@router.command("xem", "view", roles=tuple(VIEWERS))
async def view_command(ctx: Context) -> None:
    chosen = await _month_and_unit(ctx, VIEWERS, "view", dataset().org_unit_level)
    if chosen is not None:
        await show_report(ctx, *chosen)


async def show_report(ctx: Context, code: str, period: Month) -> None:
    if not await allowed_over(ctx, code, VIEWERS):
        return
    ds = dataset()
    rules = period_rules(ctx)
    unit_id = ctx.tree.id_of(code)
    assert unit_id is not None
    status = rules.status(period, ctx.today, await reopened_until(ctx.session, ds, unit_id, period))
    submission = await find_report(ctx.session, ds, code, period)
    buttons: tuple[Button, ...] = ()
    if status == "locked" and await ctx.has_role(OFFICIALS, unit_id):
        buttons = (Button(ctx.t("village.reopen_button"), f"vo:reopen:{code}:{period.iso()}"),)
    if submission is None:
        ctx.say("village.view.none", period=period.label(), place=place(ctx, code), buttons=buttons)
        return
    revision = await latest(ctx.session, submission.id)
    answers = revision.answers if revision else {}
    fctx = ctx.form_context()
    on_time = submission.created_at <= rules.due(period)
    lines = [
        ctx.t(
            "village.view.title",
            period=period.label(),
            place=place(ctx, code),
            code=submission.receipt_code or "",
        ),
        ctx.t(
            "village.view.sent",
            when=ctx.t.datetime(submission.created_at),
            timely=ctx.t("village.view.on_time" if on_time else "village.view.late"),
        ),
    ]
    for fdef in ds.form.fields:
        if answers.get(fdef.id) is not None:
            shown = field_type(fdef).display(fdef, answers[fdef.id], fctx)
            lines.append(f"• {ctx.t(fdef.label_key)}: {shown}")
    for comment in (answers.get("_comments") or {}).values():
        lines.append(ctx.t("form.summary.comment", text=comment))
    lines.append(ctx.t("village.view.history"))
    for item in await revisions(ctx.session, submission.id):
        lines.append(
            ctx.t(
                "village.view.revision",
                number=item.revision,
                when=ctx.t.datetime(item.created_at),
                who=item.author_account_id or "",
                reason=item.reason
                or ctx.t("village.view.first" if item.revision == 1 else "village.view.no_reason"),
            )
        )
    lines.append(ctx.t(f"village.view.status.{status}", date=ctx.t.date(rules.locks_after(period))))
    ctx.send(Reply("\n".join(lines), buttons))


# --- /molai: reopen a locked period for one village ----------------------------------------------


@router.command("molai", "reopen", roles=tuple(OFFICIALS))
async def reopen_command(ctx: Context) -> None:
    periods, text, ok = split_arguments(ctx, str(ctx.state.get("command_arg") or ""))
    if not ok or not periods or not text:
        ctx.say("village.reopen.usage")
        return
    unit = await pick_unit(
        ctx, text, OFFICIALS, "reopen", periods[0].iso(), dataset().org_unit_level
    )
    if unit is not None:
        await ask_reopen(ctx, unit.code, periods[0])


async def ask_reopen(ctx: Context, code: str, period: Month) -> None:
    if not await allowed_over(ctx, code, OFFICIALS):
        return
    unit_id = ctx.tree.id_of(code)
    assert unit_id is not None
    rules = period_rules(ctx)
    reopened = await reopened_until(ctx.session, dataset(), unit_id, period)
    status = rules.status(period, ctx.today, reopened)
    if status != "locked":
        ctx.say(
            f"village.reopen.not_locked.{status}",
            period=period.label(),
            date=ctx.t.date(reopened or rules.locks_after(period)),
        )
        return
    ctx.set_flow("village_reopen", unit=code, period=period.iso())
    ctx.say("village.reopen.ask_reason", period=period.label(), place=place(ctx, code))


@router.flow("village_reopen")
async def reopen_flow(ctx: Context) -> None:
    data = dict(ctx.flow_data)
    code, period = str(data["unit"]), Month.parse(str(data["period"]))
    if ctx.resuming:
        ctx.say("village.reopen.ask_reason", period=period.label(), place=place(ctx, code))
        return
    text = (ctx.incoming.text or "").strip()
    if fold(text) in {"huy", "cancel", "thoi"}:
        ctx.set_flow(None)
        ctx.say("form.cancelled")
        return
    if len(text) < 3 or not any(ch.isalnum() for ch in text):
        ctx.say("review.reason_short")
        return
    ctx.set_flow(None)
    if not await allowed_over(ctx, code, OFFICIALS):
        return
    unit_id = ctx.tree.id_of(code)
    assert unit_id is not None
    from datetime import timedelta

    until = ctx.today + timedelta(days=period_rules(ctx).reopen_days)
    row = await reopen_period(
        ctx.session,
        dataset(),
        unit_id=unit_id,
        period=period,
        until=until,
        by=ctx.account.id,
        now=ctx.now,
        reason=text[:300],
    )
    ctx.audit(
        "village_report.reopened",
        "org_unit",
        code,
        period=period.iso(),
        until=until.isoformat(),
        reason=text[:300],
    )
    ctx.say(
        "village.reopen.done", period=period.label(), place=place(ctx, code), date=ctx.t.date(until)
    )
    for head in await officials_over(ctx.session, unit_id, HEAD):
        ctx.notify(
            head,
            Reply(
                ctx.t(
                    "village.reopen.for_head",
                    period=period.label(),
                    place=place(ctx, code),
                    date=ctx.t.date(until),
                ),
                (Button(ctx.t("village.report_button"), f"vr:start:{code}:{period.iso()}"),),
            ),
            key=f"village-reopen:{row.id}:{head}",
        )


# --- /dauky: a unit's baseline -------------------------------------------------------------------


@router.command("dauky", "baseline", roles=tuple(OFFICIALS))
async def baseline_command(ctx: Context) -> None:
    ds = dataset()
    text = str(ctx.state.get("command_arg") or "")
    tokens = text.split()
    first = next((i for i, tok in enumerate(tokens) if fold(tok) in ds.aliases), None)
    if first is None:
        ctx.say("village.baseline.usage")
        return
    unit = await pick_unit(ctx, " ".join(tokens[:first]), OFFICIALS, "sum", "", None)
    if unit is None:
        return
    if not await allowed_over(ctx, unit.code, OFFICIALS):
        return
    fctx = ctx.form_context()
    entry = parse_quick_entry(ds, " ".join(tokens[first:]), fctx)
    values, problems = check_values(ds, entry.values, fctx)
    problems = [*entry.problems, *problems]
    if problems or not values:
        lines = [ctx.t("village.baseline.problems")]
        for problem in problems:
            label = ctx.t(ds.form.field(problem.field_id).label_key) if problem.field_id else ""
            lines.append(f"• {label}: {ctx.t(problem.key, **problem.params)}")
        ctx.send(Reply("\n".join(lines)))
        return
    unit_id = ctx.tree.id_of(unit.code)
    assert unit_id is not None
    await set_baseline(
        ctx.session, ds, unit_id=unit_id, values=values, by=ctx.account.id, now=ctx.now
    )
    ctx.audit("village_report.baseline", "org_unit", unit.code, fields=sorted(values))
    shown = "; ".join(
        f"{ctx.t(f.label_key)}: {field_type(f).display(f, values[f.id], fctx)}"
        for f in ds.form.fields
        if f.id in values
    )
    ctx.say("village.baseline.saved", place=ctx.tree.label(unit.code), values=shown)


# --- /xuatbaocao: the export as a file -----------------------------------------------------------


@router.command("xuatbaocao", "export_reports", roles=tuple(OFFICIALS))
async def export_command(ctx: Context) -> None:
    periods, text, ok = split_arguments(ctx, str(ctx.state.get("command_arg") or ""))
    if not ok:
        ctx.say("error.month")
        return
    last = max(periods) if periods else Month.of(ctx.today) - 1
    first = min(periods) if len(periods) > 1 else Month(last.year, 1)
    unit = await pick_unit(ctx, text, OFFICIALS, "xls", f"{first.iso()}:{last.iso()}", None)
    if unit is not None:
        await send_export(ctx, unit.code, first, last)


async def send_export(ctx: Context, code: str, first: Month, last: Month) -> None:
    if not await allowed_over(ctx, code, OFFICIALS):
        return
    if first > last or last.index - first.index >= 120:
        ctx.say("village.export.range")
        return
    result = await village_report_export(
        ctx.session, dataset(), ctx.tree, code, first, last, ctx.t, period_rules(ctx), "xlsx"
    )
    ctx.audit(
        "village_report.export",
        "org_unit",
        code,
        first=first.iso(),
        last=last.iso(),
        rows=result.rows,
    )
    ctx.send(
        Reply(
            ctx.t(
                "village.export.ready",
                rows=result.rows,
                first=first.label(),
                last=last.label(),
                place=ctx.tree.label(code),
            ),
            attachment=Attachment(
                f"bao-cao-thon-{code}-{first.iso()}-{last.iso()}.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                content=result.content,
            ),
        )
    )


# --- buttons -------------------------------------------------------------------------------------


@router.payload("vo", roles=tuple(VIEWERS))
async def officials_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":")
    action = parts[1] if len(parts) > 1 else ""
    default_period = Month.of(ctx.today) - 1
    if len(parts) == 2 and action in {"sum", "miss", "xls"}:
        if not await ctx.has_role(OFFICIALS):
            ctx.say("error.not_allowed")
            return
        scopes = await scope_units(ctx, OFFICIALS)
        if action == "sum":
            await show_summary(ctx, scopes[0].code, default_period)
        elif action == "miss":
            await show_missing(ctx, scopes[0].code, default_period)
        else:
            await send_export(ctx, scopes[0].code, Month(default_period.year, 1), default_period)
        return
    try:
        periods = [Month.parse(p) for p in parts[3:] if p]
    except ValueError:
        periods = []
    if len(parts) < 3 or (len(parts) > 3 and not periods):
        ctx.say("error.stale_button")
        return
    code = parts[2]
    period = periods[0] if periods else default_period
    if action == "sum":
        await show_summary(ctx, code, period)
    elif action == "miss":
        await show_missing(ctx, code, period)
    elif action == "view":
        await show_report(ctx, code, period)
    elif action == "reopen":
        await ask_reopen(ctx, code, period)
    elif action == "xls":
        first, last = (
            (periods[0], periods[-1]) if len(periods) > 1 else (Month(period.year, 1), period)
        )
        await send_export(ctx, code, first, last)
    else:
        ctx.say("error.stale_button")
