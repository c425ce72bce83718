"""Journey 1: the poverty self-check. Anyone may use it (guests too); nothing is stored.

The questions are the form named by the standard in force today (rules/poverty_standard.yaml);
the answer is worked out by rules/poverty.py. The answers live only in the conversation state
while the form is open: no submission, no audit entry.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.core.context import Context
from bot.core.messages import Button, Reply
from bot.core.router import Router, SubmitHandler
from bot.i18n import Translator
from rules.poverty import NoStandardError, Result, Standard, Standards, default_standards, evaluate

__all__ = ["chat_standard", "form_standard", "result_replies", "router", "submitted"]

router = Router()

# Offered to everyone: households, officials and guests ("Chỉ tìm hiểu").
router.menu("menu.selfcheck", "selfcheck:start", order=40)

STANDARDS = default_standards()  # a broken standard file stops start-up, naming the field


def chat_standard(standards: Standards, today: date) -> Standard | None:
    """The standard in force today, when the chat has a form for it."""
    try:
        standard = standards.on(today)
    except NoStandardError:
        return None
    return standard if standard.form else None


def form_standard(standards: Standards, form_id: str, today: date) -> Standard:
    """The standard whose questions a submitted form asked.

    Normally the one in force today; if its period ended while the form was open (a form
    started on 31 December), the latest standard that uses this form.
    """
    named = [s for s in standards if s.form == form_id]
    for standard in named:
        if standard.in_force(today):
            return standard
    return named[-1]


@router.command("tukiemtra", "selfcheck")
async def selfcheck_command(ctx: Context) -> None:
    await _start(ctx)


@router.payload("selfcheck")
async def selfcheck_button(ctx: Context) -> None:
    await _start(ctx)


async def _start(ctx: Context) -> None:
    standard = chat_standard(STANDARDS, ctx.today)
    if standard is None or standard.form not in ctx.services.forms:
        ctx.say("selfcheck.unavailable", buttons=(Button(ctx.t("selfcheck.menu"), "menu"),))
        return
    ctx.start_form(standard.form)


async def submitted(ctx: Context, answers: dict[str, Any], form_id: str) -> None:
    standard = form_standard(STANDARDS, form_id, ctx.today)
    lacking = [i for i in standard.indicator_ids if answers.get(i) is True]
    result = evaluate(
        standard,
        answers["area"],
        answers["household_size"],
        answers["monthly_income"],
        lacking,
    )
    for reply in result_replies(ctx, standard, result):
        ctx.send(reply)


def result_replies(ctx: Context, standard: Standard, result: Result) -> list[Reply]:
    """Short answers: where the household stands, what it lacks, the support, the caveat."""
    t = ctx.t
    lines = [_status(t, result), _income(t, result)]
    if result.lacking:
        names = ", ".join(t(standard.indicator(i).label) for i in result.lacking)
        lines.append(t("selfcheck.result.lacking", count=len(result.lacking), names=names))
    else:
        lines.append(t("selfcheck.result.lacking_none", total=len(standard.indicators)))
    replies = [Reply("\n".join(lines))]
    if result.lacking:
        support = [t("selfcheck.result.support")]
        for indicator_id in result.lacking:
            indicator = standard.indicator(indicator_id)
            support.append(f"• {t(indicator.label)}: {t(indicator.support)}")
        replies.append(Reply("\n".join(support)))
    buttons = (
        Button(t("selfcheck.again"), "selfcheck:start"),
        Button(t("selfcheck.menu"), "menu"),
    )
    replies.append(Reply(t("selfcheck.result.caveat", citation=result.citation), buttons))
    return replies


def _status(t: Translator, result: Result) -> str:
    # Literal keys, one per status, so that the catalog extractor finds every one.
    if result.status == "poor":
        return t("selfcheck.result.poor")
    if result.status == "near_poor":
        return t("selfcheck.result.near_poor")
    if result.status == "average":
        return t("selfcheck.result.average")
    return t("selfcheck.result.above")


def _income(t: Translator, result: Result) -> str:
    income, line = t.money(result.income_per_person), t.money(result.poverty_line)
    if result.area == "rural":
        return t("selfcheck.result.income.rural", income=income, line=line)
    return t("selfcheck.result.income.urban", income=income, line=line)


def _on_submit(form_id: str) -> SubmitHandler:
    async def handler(ctx: Context, answers: dict[str, Any]) -> None:
        await submitted(ctx, answers, form_id)

    return handler


for _form_id in sorted({s.form for s in STANDARDS if s.form}):
    router.on_submit(_form_id)(_on_submit(_form_id))
