"""Reviewing exit registrations: the village head confirms or returns, the commune decides."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.context import Context
from bot.core.messages import Button, Reply
from bot.core.router import Router
from bot.forms.types import field_type
from bot.officials import officials_over, units_in_scope
from bot.storage.models import OrgUnit, Submission
from bot.submissions import latest_answers
from handlers.household import REGISTRATION

__all__ = ["router"]

router = Router()

HEAD = frozenset({"village_head"})
COMMUNE = frozenset({"commune_official", "district_official", "province_official", "admin"})
REVIEWERS = HEAD | COMMUNE
# What each role acts on, and the decisions it can take: (button key, action, needs reason).
STAGES = {
    "submitted": (HEAD, (("review.confirm", "confirm", False), ("review.return", "return", True))),
    "village_confirmed": (
        COMMUNE,
        (("review.approve", "approve", False), ("review.reject", "reject", True)),
    ),
}
OUTCOME = {
    "confirm": "village_confirmed",
    "return": "returned",
    "approve": "approved",
    "reject": "rejected",
}

router.menu("menu.pending", "rv:list", roles=tuple(REVIEWERS), order=15)


async def _reviewable(ctx: Context) -> list[Submission]:
    """Registrations inside the official's subtrees that wait for a decision of their role."""
    found: list[Submission] = []
    for status, (roles, _) in STAGES.items():
        paths = await units_in_scope(ctx.session, ctx.account.id, roles)
        if not paths:
            continue
        query = (
            select(Submission, OrgUnit.path)
            .join(OrgUnit, OrgUnit.id == Submission.org_unit_id)
            .where(Submission.form_id == REGISTRATION, Submission.status == status)
            .order_by(Submission.created_at)
        )
        for submission, path in (await ctx.session.execute(query)).all():
            if any(path.startswith(scope) for scope in paths):
                found.append(submission)
    return found


@router.command("pending", "choduyet", roles=tuple(REVIEWERS))
async def pending(ctx: Context) -> None:
    waiting = await _reviewable(ctx)
    if not waiting:
        ctx.say("review.none")
        return
    buttons = []
    for submission in waiting[:20]:
        answers = await latest_answers(ctx.session, submission.id)
        unit = ctx.tree.by_id(submission.org_unit_id or 0)
        where = unit.name if unit else ""
        title = f"{submission.receipt_code} – {answers.get('head_name', '')} ({where})"
        buttons.append(Button(title[:60], f"rv:open:{submission.id}"))
    ctx.say("review.list", count=ctx.t.number(len(waiting)), buttons=tuple(buttons))


async def _load(ctx: Context, submission_id: str) -> Submission | None:
    """The registration, if this official may act on it now; otherwise say why not."""
    submission = (
        await ctx.session.get(Submission, int(submission_id)) if submission_id.isdigit() else None
    )
    if submission is None or submission.form_id != REGISTRATION:
        ctx.say("review.not_found")
        return None
    if not await ctx.has_role(REVIEWERS, submission.org_unit_id):
        ctx.audit("review.denied", "submission", submission.id)
        ctx.say("error.not_allowed")
        return None
    stage = STAGES.get(submission.status)
    status = ctx.t(f"status.{submission.status}")
    if stage is None:
        ctx.say("review.already_decided", status=status)
        return None
    if not await ctx.has_role(stage[0], submission.org_unit_id):
        # A reviewer of this place, but this step is someone else's.
        ctx.say("review.not_your_step", status=status)
        return None
    return submission


async def _open(ctx: Context, submission_id: str) -> None:
    submission = await _load(ctx, submission_id)
    if submission is None:
        return
    answers = await latest_answers(ctx.session, submission.id)
    form = ctx.services.forms[REGISTRATION]
    fctx = ctx.form_context()
    lines = [
        ctx.t("review.header", code=submission.receipt_code or "", place=_place(ctx, submission))
    ]
    for field in form.fields:
        if answers.get(field.id) is not None:
            shown = field_type(field).display(field, answers[field.id], fctx)
            lines.append(f"• {ctx.t(field.label_key)}: {shown}")
    _, decisions = STAGES[submission.status]
    buttons = tuple(
        Button(ctx.t(key), f"rv:{action}:{submission.id}") for key, action, _ in decisions
    )
    ctx.send(Reply("\n".join(lines), buttons))


def _place(ctx: Context, submission: Submission) -> str:
    unit = ctx.tree.by_id(submission.org_unit_id or 0)
    return ctx.tree.label(unit.code) if unit else ""


async def _decide(ctx: Context, action: str, submission_id: str, reason: str | None) -> None:
    submission = await _load(ctx, submission_id)
    if submission is None:
        return
    _, decisions = STAGES[submission.status]
    if action not in {a for _, a, _ in decisions}:
        ctx.say("error.not_allowed")
        return
    needs_reason = next(r for _, a, r in decisions if a == action)
    if needs_reason and not reason:
        ctx.set_flow("review_reason", action=action, submission=submission.id)
        ctx.say("review.ask_reason")
        return
    submission.status = OUTCOME[action]
    submission.updated_at = ctx.now
    ctx.audit(f"review.{action}", "submission", submission.id, reason=reason)
    ctx.say(
        "review.done",
        code=submission.receipt_code or "",
        status=ctx.t(f"status.{submission.status}"),
    )
    if submission.account_id is not None:
        text = ctx.t(f"review.household.{action}", code=submission.receipt_code or "")
        if reason:
            text = f"{text}\n{ctx.t('registration.reason', reason=reason)}"
        buttons = (
            (Button(ctx.t("registration.fix_button"), "hh:fix"),) if action == "return" else ()
        )
        ctx.notify(
            submission.account_id,
            Reply(text, buttons),
            key=f"registration:{submission.id}:{action}:{ctx.now.isoformat()}",
        )
    if action == "confirm":
        for official in await officials_over(ctx.session, submission.org_unit_id or 0, COMMUNE):
            ctx.notify(
                official,
                Reply(
                    ctx.t(
                        "review.new_for_commune",
                        code=submission.receipt_code or "",
                        place=_place(ctx, submission),
                    ),
                    (Button(ctx.t("review.open_button"), f"rv:open:{submission.id}"),),
                ),
                key=f"registration:{submission.id}:confirmed:commune:{official}",
            )


@router.flow("review_reason")
async def reason_flow(ctx: Context) -> None:
    if ctx.resuming:
        ctx.say("review.ask_reason")
        return
    reason = (ctx.incoming.text or "").strip()
    if len(reason) < 3:
        ctx.say("review.reason_short")
        return
    data = dict(ctx.flow_data)
    ctx.set_flow(None)
    await _decide(ctx, str(data["action"]), str(data["submission"]), reason[:500])


@router.payload("rv")
async def review_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":")
    if len(parts) == 2 and parts[1] == "list":
        await pending(ctx)
        return
    if len(parts) != 3:
        ctx.say("error.stale_button")
        return
    _, action, submission_id = parts
    if action == "open":
        await _open(ctx, submission_id)
    elif action in OUTCOME:
        await _decide(ctx, action, submission_id, None)
    else:
        ctx.say("error.stale_button")
