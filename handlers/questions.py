"""Questions: free text answered from the knowledge base, "Hỏi cán bộ", /traloi, /tieuchi.

- Free text that is no command, outside a form, lands here (the router's fallback): a
  confident match is answered with its source; otherwise "not sure", up to three close topics
  as buttons and «Hỏi cán bộ».
- «Hỏi cán bộ» stores the question and notifies the officials nearest above the asker's place
  (through the outbox); an official whose area contains that place answers with
  ``/traloi <id> <answer>`` and the asker receives it.
- ``/hoi <question>`` asks explicitly, also in the middle of a form (then the form's question
  is asked again).
- ``/tieuchi`` lets an official check a unit's figures against the plan's criteria.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from bot.core.context import Context
from bot.core.messages import Button, Reply
from bot.core.router import Router
from bot.datasets import get_dataset
from bot.i18n import translator
from bot.roles import OFFICIAL_ROLES
from bot.storage.models import Account, OrgUnit, Question, RoleAssignment
from bot.text import fold, is_meaningful
from bot.village_reports import criteria_figures
from handlers.menu import show_menu
from rules.criteria import HOUSEHOLD_FIELDS, FiguresError, evaluate
from rules.periods import Month
from rules.qa import Entry, KnowledgeBase, Result, default_knowledge_base, looks_like_question

__all__ = ["answer_during_form", "form_interruption", "knowledge_base", "router"]

router = Router()
router.menu("menu.ask", "qa:help", order=800)

MAX_TOPICS = 3
PENDING = "qa_pending"
# Topics offered when someone opens "Hỏi đáp" from the menu.
STARTER_TOPICS = ("household.register_exit", "poverty.thresholds", "deadline.dossier")


def knowledge_base() -> KnowledgeBase:
    return default_knowledge_base()


# Load (and validate) the knowledge base when the handlers are built: a broken file stops
# start-up with a message naming the file and the entry.
knowledge_base()


def _locale(ctx: Context) -> str:
    return ctx.account.locale or ctx.services.settings.default_locale


def _topic_buttons(ctx: Context, entries: Sequence[Entry]) -> list[Button]:
    locale = _locale(ctx)
    return [Button(e.title_in(locale), f"qa:topic:{e.id}") for e in entries]


def _ask_button(ctx: Context) -> Button:
    return Button(ctx.t("qa.ask_official"), "qa:ask")


def _say_entry(ctx: Context, entry: Entry) -> None:
    ctx.say(
        "qa.answer",
        answer=entry.answer_in(_locale(ctx)),
        source=entry.source,
        buttons=(_ask_button(ctx),),
    )


async def answer_question(ctx: Context, text: str) -> Result:
    """Answer ``text``; keeps it so that «Hỏi cán bộ» can forward it."""
    result = knowledge_base().ask(text)
    ctx.state[PENDING] = {"text": text[:1000]}
    best = result.best
    if result.confident and best is not None:
        _say_entry(ctx, best.entry)
        return result
    topics = result.close_topics(MAX_TOPICS)
    buttons = (*_topic_buttons(ctx, topics), _ask_button(ctx))
    if topics:
        ctx.say("qa.not_sure", buttons=buttons)
    else:
        ctx.say("qa.not_sure.no_topics", buttons=buttons)
    return result


def form_interruption(text: str) -> Entry | None:
    """The entry to answer when ``text``, typed while a form waits for an answer, is rather a
    question the knowledge base answers for sure: it ends with "?" or starts or ends with a
    question word, has at least three words, and the match is confident. Otherwise None, and
    the text is the form's answer."""
    if not looks_like_question(text) or len(text.split()) < 3:
        return None
    result = knowledge_base().ask(text)
    return result.best.entry if result.confident and result.best is not None else None


async def answer_during_form(ctx: Context) -> bool:
    """For the dispatcher, before a form reads typed text as its answer: when the text is a
    question answered for sure, answer it and return True (the dispatcher then asks the
    form's question again with ctx.resume()); otherwise say nothing and return False."""
    if ctx.incoming.payload or not ctx.incoming.text:
        return False
    entry = form_interruption(ctx.incoming.text)
    if entry is None:
        return False
    ctx.state[PENDING] = {"text": ctx.incoming.text[:1000]}
    _say_entry(ctx, entry)
    return True


async def fallback(ctx: Context) -> None:
    text = ctx.incoming.text or ""
    if ctx.incoming.attachment is not None and not text:
        ctx.say("fallback.attachment")
        await show_menu(ctx)
    elif not is_meaningful(text):
        ctx.say("fallback.symbols")
        await show_menu(ctx)
    else:
        await answer_question(ctx, text)


router.fallback = fallback
router.form_question = answer_during_form


@router.command("hoi", "ask", "cauhoi")
async def ask_command(ctx: Context) -> None:
    text = ctx.state.get("command_arg") or ""
    if not is_meaningful(text):
        ctx.say("qa.help", buttons=tuple(_starter_buttons(ctx)))
    else:
        await answer_question(ctx, text)
    if ctx.state.get("form") or ctx.state.get("flow"):
        await ctx.resume()


def _starter_buttons(ctx: Context) -> list[Button]:
    kb = knowledge_base()
    return _topic_buttons(ctx, [kb.by_id[i] for i in STARTER_TOPICS if i in kb.by_id])


@router.payload("qa")
async def qa_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":", 2)
    action = parts[1] if len(parts) > 1 else ""
    if action == "help":
        ctx.say("qa.help", buttons=tuple(_starter_buttons(ctx)))
    elif action == "topic" and len(parts) == 3 and parts[2] in knowledge_base().by_id:
        _say_entry(ctx, knowledge_base().by_id[parts[2]])
    elif action == "ask":
        await forward_to_officials(ctx)
    elif action == "open":
        if await ctx.has_role(OFFICIAL_ROLES):
            ctx.say("qa.reply.usage")
            await _list_open(ctx)
        else:
            ctx.say("error.not_allowed")
    else:
        ctx.say("error.stale_button")


# --- «Hỏi cán bộ» ---------------------------------------------------------------------------


def _asker_unit(ctx: Context, roles: Sequence[RoleAssignment]) -> int | None:
    if ctx.account.home_unit_id is not None:
        return ctx.account.home_unit_id
    return roles[0].org_unit_id if roles else None


async def nearest_officials(ctx: Context, unit_id: int | None) -> list[int]:
    """The officials holding a role at the nearest unit, from ``unit_id`` up, that has any.

    Without a place, the accounts holding the admin role."""
    query = (
        select(RoleAssignment.account_id, RoleAssignment.org_unit_id)
        .join(Account, Account.id == RoleAssignment.account_id)
        .where(RoleAssignment.role.in_(OFFICIAL_ROLES), Account.deleted_at.is_(None))
        .where(RoleAssignment.account_id != ctx.account.id)
    )
    if unit_id is None:
        query = query.where(RoleAssignment.role == "admin")
        return sorted({row.account_id for row in await ctx.session.execute(query)})
    unit = await ctx.session.get(OrgUnit, unit_id)
    if unit is None:
        return []
    ancestors = [int(part) for part in unit.path.strip("/").split("/") if part]
    rows = (await ctx.session.execute(query.where(RoleAssignment.org_unit_id.in_(ancestors)))).all()
    for ancestor in reversed(ancestors):  # nearest first
        found = sorted({row.account_id for row in rows if row.org_unit_id == ancestor})
        if found:
            return found
    return []


def _place(ctx: Context, unit_id: int | None) -> str:
    unit = ctx.tree.by_id(unit_id) if unit_id is not None else None
    return ctx.tree.label(unit.code) if unit is not None else ctx.t("qa.no_place")


async def forward_to_officials(ctx: Context) -> None:
    pending: dict[str, Any] | None = ctx.state.pop(PENDING, None)
    if not pending or not pending.get("text"):
        ctx.say("qa.nothing_pending")
        return
    unit_id = _asker_unit(ctx, await ctx.roles())
    question = Question(
        account_id=ctx.account.id,
        org_unit_id=unit_id,
        text=str(pending["text"]),
        status="open",
        created_at=ctx.now,
    )
    ctx.session.add(question)
    await ctx.session.flush()
    officials = await nearest_officials(ctx, unit_id)
    ctx.audit("question.asked", "question", question.id, unit=unit_id, officials=len(officials))
    place = _place(ctx, unit_id)
    for official_id in officials:
        official = await ctx.session.get(Account, official_id)
        t = translator((official.locale if official else None) or "vi")
        ctx.notify(
            official_id,
            Reply(
                t("qa.official.new", id=question.id, place=place, text=question.text),
                (Button(t("qa.official.list"), "qa:open"),),
            ),
            key=f"question:{question.id}:asked",
        )
    if officials:
        ctx.say("qa.forwarded", id=question.id, place=place)
    else:
        ctx.say("qa.forwarded.nobody", id=question.id, place=place)


# --- /traloi ------------------------------------------------------------------------------

_REPLY = re.compile(r"^#?(\d{1,9})\s*[:.\-]?\s*(.*)$", re.DOTALL)


async def _open_questions(ctx: Context, limit: int = 5) -> list[Question]:
    query = (
        select(Question, OrgUnit.path)
        .outerjoin(OrgUnit, OrgUnit.id == Question.org_unit_id)
        .where(Question.status == "open")
        .order_by(Question.id)
    )
    scopes: list[str] = []
    is_admin = False
    for role in await ctx.roles():
        if role.role not in OFFICIAL_ROLES:
            continue
        is_admin = is_admin or role.role == "admin"
        unit = await ctx.session.get(OrgUnit, role.org_unit_id)
        if unit is not None:
            scopes.append(unit.path)
    found = []
    for question, path in (await ctx.session.execute(query)).all():
        inside = path is not None and any(path.startswith(scope) for scope in scopes)
        if inside or (path is None and is_admin):
            found.append(question)
        if len(found) >= limit:
            break
    return found


async def _list_open(ctx: Context) -> None:
    open_questions = await _open_questions(ctx)
    if not open_questions:
        ctx.say("qa.reply.none_open")
        return
    lines = "\n".join(
        ctx.t("qa.reply.item", id=q.id, place=_place(ctx, q.org_unit_id), text=q.text)
        for q in open_questions
    )
    ctx.say("qa.reply.open", items=lines)


async def _may_answer(ctx: Context, question: Question) -> bool:
    if question.org_unit_id is None:
        return await ctx.has_role(frozenset({"admin"}))
    return await ctx.has_role(OFFICIAL_ROLES, question.org_unit_id)


@router.command("traloi", "tl", "reply", roles=tuple(OFFICIAL_ROLES))
async def reply_command(ctx: Context) -> None:
    argument = str(ctx.state.get("command_arg") or "").strip()
    match = _REPLY.match(argument)
    if not argument or match is None:
        ctx.say("qa.reply.usage")
        await _list_open(ctx)
        return
    question_id, answer = int(match.group(1)), match.group(2).strip()
    question = await ctx.session.get(Question, question_id, with_for_update=True)
    # The same words whether the question does not exist or lies outside the official's area.
    if question is None or not await _may_answer(ctx, question):
        ctx.say("qa.reply.not_found", id=question_id)
        return
    if not is_meaningful(answer):
        ctx.say("qa.reply.usage")
        return
    if question.status == "answered":
        ctx.say("qa.reply.already", id=question_id)
        return
    question.status = "answered"
    question.answer = answer
    question.answered_by = ctx.account.id
    question.answered_at = ctx.now
    ctx.audit("question.answered", "question", question.id)
    if question.account_id is not None:
        asker = await ctx.session.get(Account, question.account_id)
        if asker is not None and asker.deleted_at is None:
            t = translator(asker.locale or "vi")
            ctx.notify(
                asker.id,
                Reply(t("qa.answered", id=question.id, question=question.text, answer=answer)),
                key=f"question:{question.id}:answer",
            )
    ctx.say("qa.reply.sent", id=question.id)


# --- /tieuchi: the eligibility calculator in chat -------------------------------------------

CRITERIA_FLOW = "criteria_check"
_GROUPS = ("district", "commune", "village")
_SKIP = {"bo qua", "khong co", "khong", "ko", "skip", "-"}
_YEAR_RATE = re.compile(r"((?:19|20)\d\d)\s*[:=]?\s*(\d{1,3}(?:[.,]\d+)?)")


@router.command("tieuchi", "criteria", roles=tuple(OFFICIAL_ROLES))
async def criteria_command(ctx: Context) -> None:
    buttons = [
        Button(ctx.t("criteria.group.district"), "crit:district"),
        Button(ctx.t("criteria.group.commune"), "crit:commune"),
        Button(ctx.t("criteria.group.village"), "crit:village"),
    ]
    for role in await ctx.roles():
        unit = ctx.tree.by_id(role.org_unit_id)
        if unit is not None and unit.level in _GROUPS:
            label = ctx.t("criteria.from_reports", place=unit.name)
            buttons.insert(0, Button(label, f"crit:reports:{unit.code}"))
    ctx.say("criteria.choose_group", buttons=tuple(buttons[:6]))


async def _criteria_from_reports(ctx: Context, unit_code: str) -> None:
    """The unit's own figures, taken from the village monthly reports."""
    unit_id = ctx.tree.id_of(unit_code)
    if unit_id is None or not await ctx.has_role(OFFICIAL_ROLES, unit_id):
        ctx.say("error.not_allowed")
        return
    upto = Month.of(ctx.today) - 1
    figures = await criteria_figures(
        ctx.session, get_dataset("village_monthly"), ctx.tree, unit_code, upto
    )
    figures = {k: v for k, v in figures.items() if k not in ("unit", "name")}
    try:
        verdict = evaluate(figures)
    except FiguresError as error:
        ctx.say("criteria.error", message=error.message)
        return
    ctx.audit("criteria.checked", "criteria", verdict.group, eligible=verdict.eligible)
    reasons = "\n".join(f"• {reason}" for reason in verdict.reasons)
    ctx.say("criteria.eligible" if verdict.eligible else "criteria.not_eligible", reasons=reasons)


@router.payload("crit", roles=tuple(OFFICIAL_ROLES))
async def criteria_group(ctx: Context) -> None:
    group = (ctx.incoming.payload or "").split(":", 1)[-1]
    if group.startswith("reports:"):
        await _criteria_from_reports(ctx, group.removeprefix("reports:"))
        return
    if group not in _GROUPS:
        ctx.say("error.stale_button")
        return
    step = "rates" if group == "district" else "households"
    ctx.set_flow(CRITERIA_FLOW, group=group, step=step)
    _criteria_prompt(ctx, step)


def _criteria_prompt(ctx: Context, step: str) -> None:
    if step == "rates":
        ctx.say("criteria.ask_rates")
    else:
        ctx.say("criteria.ask_households")


def _numbers(text: str) -> list[int] | None:
    words = re.findall(r"\d[\d.,]*", text)
    out = []
    for word in words:
        digits = re.sub(r"[.,](?=\d{3}\b)", "", word)
        if not digits.isdigit():
            return None
        out.append(int(digits))
    return out


@router.flow(CRITERIA_FLOW)
async def criteria_flow(ctx: Context) -> None:
    data = ctx.flow_data
    step = str(data.get("step", "households"))
    if ctx.resuming:
        _criteria_prompt(ctx, step)
        return
    text = ctx.incoming.text or ""
    if step == "rates":
        if fold(text).strip(" .") not in _SKIP:
            pairs = _YEAR_RATE.findall(text)
            if not pairs:
                ctx.say("criteria.bad_rates")
                _criteria_prompt(ctx, step)
                return
            data["rates"] = {year: rate.replace(",", ".") for year, rate in pairs}
        data["step"] = "households"
        _criteria_prompt(ctx, "households")
        return
    if fold(text).strip(" .") in _SKIP and data.get("group") == "district":
        counts: list[int] | None = []
    else:
        counts = _numbers(text)
        if counts is None or len(counts) != 4:
            ctx.say("criteria.bad_households", count=len(counts or []))
            _criteria_prompt(ctx, step)
            return
    figures: dict[str, Any] = {"group": data.get("group")}
    if data.get("rates"):
        figures["poverty_rate_by_year"] = data["rates"]
    if counts:
        figures.update(zip(HOUSEHOLD_FIELDS, counts, strict=True))
    ctx.set_flow(None)
    try:
        verdict = evaluate(figures)
    except FiguresError as error:
        ctx.say("criteria.error", message=error.message)
        return
    ctx.audit("criteria.checked", "criteria", verdict.group, eligible=verdict.eligible)
    reasons = "\n".join(f"• {reason}" for reason in verdict.reasons)
    if verdict.eligible:
        ctx.say("criteria.eligible", reasons=reasons)
    else:
        ctx.say("criteria.not_eligible", reasons=reasons)
