"""Households: voluntary exit registration, its status and receipt, achievement reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.context import Context
from bot.core.messages import Attachment, Button, Reply
from bot.core.router import Router
from bot.documents import exit_request_docx
from bot.forms.types import field_type
from bot.officials import officials_over
from bot.roles import OFFICIAL_ROLES
from bot.storage.models import AuditEntry, Submission
from bot.submissions import add_revision, create_submission, latest_answers
from handlers.menu import show_menu

__all__ = ["OPEN_STATUSES", "REGISTRATION", "router"]

router = Router()

REGISTRATION = "household_exit_registration"
ACHIEVEMENT = "household_achievement"
OPEN_STATUSES = ("submitted", "returned", "village_confirmed")

router.menu("menu.register", "hh:register", kinds=("household",), order=10)
router.menu("menu.status", "hh:status", kinds=("household",), order=20)
router.menu("menu.achievement", "hh:achievement", kinds=("household",), order=30)
router.menu("menu.place", "role:household", kinds=("household",), order=800)


async def current_registration(ctx: Context) -> Submission | None:
    query = (
        select(Submission)
        .where(Submission.form_id == REGISTRATION, Submission.account_id == ctx.account.id)
        .order_by(Submission.id.desc())
        .limit(1)
    )
    return (await ctx.session.execute(query)).scalar_one_or_none()


async def _require_household(ctx: Context) -> bool:
    if ctx.account.kind == "household" and ctx.account.home_unit_id is not None:
        return True
    ctx.say(
        "household.only", buttons=(Button(ctx.t("onboarding.role.household"), "role:household"),)
    )
    return False


@router.command("dangky", "register")
async def register(ctx: Context) -> None:
    if not await _require_household(ctx):
        return
    existing = await current_registration(ctx)
    if existing is not None and existing.status in OPEN_STATUSES:
        ctx.say("registration.already", code=existing.receipt_code or "")
        await _show_status(ctx, existing)
        return
    ctx.start_form(REGISTRATION)


@router.on_submit(REGISTRATION)
async def registered(ctx: Context, answers: dict[str, Any]) -> None:
    existing = await current_registration(ctx)
    if existing is not None and existing.status == "returned":
        await add_revision(ctx.session, existing, answers, ctx.account.id, ctx.now, "resubmitted")
        existing.status = "submitted"
        submission = existing
        ctx.audit("registration.resubmitted", "submission", existing.id)
    elif existing is not None and existing.status in OPEN_STATUSES:
        # Two tabs or a double tap: the open one stands, nothing is created twice.
        ctx.say("registration.already", code=existing.receipt_code or "")
        return
    else:
        assert ctx.account.home_unit_id is not None
        submission = await create_submission(
            ctx.session,
            form_id=REGISTRATION,
            form_version=ctx.services.forms[REGISTRATION].version,
            account_id=ctx.account.id,
            org_unit_id=ctx.account.home_unit_id,
            answers=answers,
            now=ctx.now,
            receipt_prefix="TN",
        )
        ctx.audit("registration.submitted", "submission", submission.id)
    unit = ctx.tree.by_id(submission.org_unit_id or 0)
    place = ctx.tree.label(unit.code) if unit else ""
    ctx.say(
        "registration.received",
        code=submission.receipt_code or "",
        place=place,
        buttons=(
            Button(ctx.t("menu.status"), "hh:status"),
            Button(ctx.t("registration.receipt_button"), "hh:receipt"),
        ),
    )
    for head in await officials_over(ctx.session, submission.org_unit_id or 0, {"village_head"}):
        ctx.notify(
            head,
            Reply(
                ctx.t("review.new_for_head", code=submission.receipt_code or "", place=place),
                (Button(ctx.t("review.open_button"), f"rv:open:{submission.id}"),),
            ),
            key=f"registration:{submission.id}:{submission.updated_at.isoformat()}:head",
        )


async def _show_status(ctx: Context, submission: Submission) -> None:
    buttons: tuple[Button, ...] = (Button(ctx.t("registration.receipt_button"), "hh:receipt"),)
    if submission.status == "returned":
        buttons = (Button(ctx.t("registration.fix_button"), "hh:fix"), *buttons)
    reason = await _last_reason(ctx, submission)
    ctx.say(
        "registration.status",
        code=submission.receipt_code or "",
        date=ctx.t.date(submission.created_at.astimezone(ctx.t.tz).date()),
        status=ctx.t(f"status.{submission.status}"),
        next=ctx.t(f"next.{submission.status}"),
        buttons=buttons,
    )
    if reason:
        ctx.say("registration.reason", reason=reason)


async def _last_reason(ctx: Context, submission: Submission) -> str | None:
    if submission.status not in ("returned", "rejected"):
        return None
    query = (
        select(AuditEntry.details)
        .where(AuditEntry.object_type == "submission", AuditEntry.object_id == str(submission.id))
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    details = await ctx.session.scalar(query)
    return str(details.get("reason")) if details and details.get("reason") else None


@router.command("status", "tinhtrang", resumes=True)
async def status(ctx: Context) -> None:
    submission = await current_registration(ctx)
    if submission is None:
        ctx.say("registration.none", buttons=(Button(ctx.t("menu.register"), "hh:register"),))
        return
    await _show_status(ctx, submission)


@router.command("receipt", "giaydenghi", resumes=True)
async def receipt(ctx: Context) -> None:
    submission = await current_registration(ctx)
    if submission is None:
        ctx.say("registration.none", buttons=(Button(ctx.t("menu.register"), "hh:register"),))
        return
    answers = await latest_answers(ctx.session, submission.id)
    unit = ctx.tree.by_id(submission.org_unit_id or 0)
    commune = ctx.tree.get(unit.parent_code) if unit and unit.parent_code else None
    content = exit_request_docx(
        answers,
        place=ctx.tree.label(unit.code) if unit else "",
        commune=commune.name if commune else "",
        receipt_code=submission.receipt_code or "",
        today=ctx.today,
        status_label=ctx.t(f"choice.{answers.get('current_status', 'poor')}"),
    )
    ctx.audit("registration.receipt", "submission", submission.id)
    ctx.send(
        Reply(
            ctx.t("registration.receipt_ready"),
            attachment=Attachment(
                f"mau-04-{submission.receipt_code}.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                content=content,
            ),
        )
    )


@router.command("thanhtich", "achievement")
async def achievement(ctx: Context) -> None:
    if await _require_household(ctx):
        ctx.start_form(ACHIEVEMENT)


@router.on_submit(ACHIEVEMENT)
async def achievement_reported(ctx: Context, answers: dict[str, Any]) -> None:
    assert ctx.account.home_unit_id is not None
    submission = await create_submission(
        ctx.session,
        form_id=ACHIEVEMENT,
        form_version=ctx.services.forms[ACHIEVEMENT].version,
        account_id=ctx.account.id,
        org_unit_id=ctx.account.home_unit_id,
        answers=answers,
        now=ctx.now,
        receipt_prefix="TT",
    )
    ctx.audit("achievement.submitted", "submission", submission.id)
    ctx.say("achievement.received", code=submission.receipt_code or "")
    for head in await officials_over(ctx.session, submission.org_unit_id or 0, {"village_head"}):
        ctx.notify(
            head,
            Reply(
                ctx.t("achievement.new_for_head", code=submission.receipt_code or ""),
                (Button(ctx.t("review.open_button"), f"ach:open:{submission.id}"),),
            ),
            key=f"achievement:{submission.id}:head",
        )


@router.payload("ach", roles=tuple(OFFICIAL_ROLES))
async def achievement_open(ctx: Context) -> None:
    """An official of the household's place (or above) reads the report; nobody else."""
    submission_id = (ctx.incoming.payload or "").rpartition(":")[2]
    submission = (
        await ctx.session.get(Submission, int(submission_id)) if submission_id.isdigit() else None
    )
    if submission is None or submission.form_id != ACHIEVEMENT:
        ctx.say("review.not_found")
        return
    if not await ctx.has_role(OFFICIAL_ROLES, submission.org_unit_id):
        ctx.audit("achievement.denied", "submission", submission.id)
        ctx.say("error.not_allowed")
        return
    answers = await latest_answers(ctx.session, submission.id)
    form = ctx.services.forms[ACHIEVEMENT]
    fctx = ctx.form_context()
    unit = ctx.tree.by_id(submission.org_unit_id or 0)
    lines = [
        ctx.t(
            "achievement.header",
            code=submission.receipt_code or "",
            place=ctx.tree.label(unit.code) if unit else "",
        )
    ]
    for field in form.fields:
        if answers.get(field.id) is not None:
            shown = field_type(field).display(field, answers[field.id], fctx)
            lines.append(f"• {ctx.t(field.label_key)}: {shown}")
    ctx.audit("achievement.viewed", "submission", submission.id)
    ctx.send(Reply("\n".join(lines)))


@router.payload("hh")
async def household_button(ctx: Context) -> None:
    action = (ctx.incoming.payload or "").partition(":")[2]
    if action == "register":
        await register(ctx)
    elif action == "status":
        await status(ctx)
    elif action == "receipt":
        await receipt(ctx)
    elif action == "achievement":
        await achievement(ctx)
    elif action == "fix":
        await _fix(ctx)
    elif action == "continue":
        await _continue(ctx)
    else:
        ctx.say("error.stale_button")
        await show_menu(ctx)


async def _fix(ctx: Context) -> None:
    submission = await current_registration(ctx)
    if submission is None or submission.status != "returned":
        ctx.say("registration.not_returned")
        return
    answers = await latest_answers(ctx.session, submission.id)
    # Start at the summary: every earlier answer is kept, only what needs fixing changes.
    ctx.start_form(REGISTRATION, prefill=answers)


async def _continue(ctx: Context) -> None:
    """A reminder's button: go on from wherever the registration stands."""
    if ctx.state.get("form") is not None:
        # The dispatcher asks again where they stopped; a form under way is never dropped.
        return
    submission = await current_registration(ctx)
    if submission is not None and submission.status == "returned":
        await _fix(ctx)
    else:
        await register(ctx)
