"""A nomination's dossier and its steps: checklist, uploads, drafts, proposing, submitting,
the council's decision and the award. Everyone concerned is told at each step."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from bot.award_access import Access, access
from bot.award_documents import DOCX_MIME, draft_document
from bot.awards import (
    EDITABLE,
    UNIT_REPORT,
    Check,
    ancestors,
    award_rules,
    check_nominee,
    current_parts,
    holders_at,
    missing_parts,
    nearest_holders,
    reason_lines,
    record_award,
    round_counts,
)
from bot.core.context import Context
from bot.core.messages import Attachment, Button, Reply
from bot.core.router import Router
from bot.i18n import Translator, translator
from bot.storage.models import Account, DossierPart, Nomination, OrgUnit, Submission
from bot.submissions import add_revision, create_submission, latest_answers
from bot.text import fold
from bot.uploads import Uploads
from handlers.menu import show_menu
from rules.awards import quota_room

__all__ = ["router", "show_dossier", "tell_created"]

router = Router()

# The form that records a unit's or a person's achievement report, and what it is for.
REPORT_STATE = "award_report"
# Deadlines (rules/deadlines.yaml, award_dossiers) count a submission of this form per
# presenting unit and year: a dossier sent to the standing agency records one.
DOSSIER_FORM = "award_dossier"
_CANCEL = {"huy", "cancel", "thoi", "dung lai"}
_SKIP = {"bo qua", "skip", "khong", "ko", "-"}
# Decisions that need a reason: whoever prepared the dossier reads it.
_NEEDS_REASON = {"return", "more", "reject"}


def _name(t: Translator, nomination: Nomination) -> dict[str, Any]:
    return {
        "code": nomination.code,
        "award": t(f"award.type.{nomination.award}"),
        "year": nomination.year,
        "nominee": nomination.nominee_name,
        "group": t(f"award.group.{nomination.nominee_group}"),
    }


def _place(ctx: Context, nomination: Nomination) -> str:
    unit = ctx.tree.by_id(nomination.nominee_unit_id)
    return ctx.tree.label(unit.code) if unit else ""


async def load(ctx: Context, raw_id: str) -> tuple[Nomination, Access] | None:
    """The nomination if this person may see it; otherwise say why not (and audit it)."""
    # Locked for the update: two officials pressing at once decide one after the other.
    nomination = (
        await ctx.session.get(Nomination, int(raw_id), with_for_update=True)
        if raw_id.isdigit()
        else None
    )
    if nomination is None:
        ctx.say("award.not_found")
        return None
    rights = await access(ctx, nomination)
    if not (rights.view or rights.nominee):
        ctx.audit("award.denied", "nomination", nomination.id)
        ctx.say("error.not_allowed")
        return None
    return nomination, rights


# --- the checklist -----------------------------------------------------------------------


async def show_dossier(ctx: Context, nomination: Nomination, rights: Access | None = None) -> None:
    rights = rights or await access(ctx, nomination)
    t, rules = ctx.t, award_rules()
    place = _place(ctx, nomination)
    lines = [
        t("award.dossier.header", place=place, **_name(t, nomination)),
        t("award.dossier.status", status=t(f"award.status.{nomination.status}")),
    ]
    if nomination.reason and nomination.status in ("returned", "rejected"):
        lines.append(t("award.dossier.reason", reason=nomination.reason))
    if nomination.decision and nomination.status == "awarded":
        lines.append(t("award.dossier.decision", decision=nomination.decision))
    if not rights.view:
        # The household proposed sees where it stands, not the officials' dossier.
        ctx.send(Reply("\n".join(lines)))
        return
    deadline = t.date(rules.last_day(nomination.year))
    lines.append(
        t(
            "award.dossier.deadline_late" if nomination.late else "award.dossier.deadline",
            date=deadline,
        )
    )
    check = await _check(ctx, nomination)
    lines.append(t("award.dossier.checks"))
    lines += reason_lines(t, check.reasons)
    parts = await current_parts(ctx.session, nomination.id)
    lines.append(t("award.dossier.parts"))
    for part in rules.dossier:
        found = parts.get(part.id)
        name = t(f"award.part.{part.id}")
        if found is None:
            lines.append(f"✗ {t('award.dossier.part_missing', part=name)}")
        else:
            when = t.date(found.created_at.astimezone(t.tz).date())
            lines.append(
                f"✓ {t('award.dossier.part_done', part=name, filename=found.filename, date=when)}"
            )
    if nomination.nominee_group != "household":
        done = nomination.report_submission_id is not None
        lines.append(t("award.dossier.report_done" if done else "award.dossier.report_missing"))
    # Each part sent can be looked at, whatever channel it came from (bot/uploads.py).
    files = tuple(
        Button(
            t("award.button.file", part=t(f"award.part.{part.id}"))[:60],
            f"ad:file:{nomination.id}:{part.id}",
        )
        for part in rules.dossier
        if part.id in parts
    )
    ctx.send(Reply("\n".join(lines), (*_buttons(ctx, nomination, rights), *files)))


async def _send_part(ctx: Context, nomination: Nomination, part: str) -> None:
    """The newest file of one part, as an attachment on this person's channel."""
    found = (await current_parts(ctx.session, nomination.id)).get(part)
    name = ctx.t(f"award.part.{part}")
    if found is None:
        ctx.say("award.file.none", part=name)
        return
    uploads = Uploads.under(ctx.services.settings.data_dir)
    content = await asyncio.to_thread(uploads.read, found.file_ref)
    if content is None:
        # Telegram would not give the file, or Zalo's link: it stays on its own channel.
        ctx.say("award.file.elsewhere", part=name, filename=found.filename)
        return
    ctx.audit("award.file_viewed", "nomination", nomination.id, part=part)
    attachment = Attachment(found.filename, found.mime_type, content=content, kind=found.kind)
    ctx.send(Reply(ctx.t("award.file.sent", part=name), attachment=attachment))


def _buttons(ctx: Context, nomination: Nomination, rights: Access) -> tuple[Button, ...]:
    t, rules = ctx.t, award_rules()
    n, status = nomination.id, nomination.status
    buttons: list[Button] = []
    if rights.edit and status in EDITABLE:
        # A village head prepares what a proposal needs; the commune the rest.
        parts = rules.parts_for("submit" if rights.submit_as else "propose")
        for part in parts:
            name = t(f"award.part.{part.id}")
            buttons.append(Button(t("award.button.upload", part=name)[:60], f"ad:up:{n}:{part.id}"))
        for part in parts:
            if part.template:
                name = t(f"award.part.{part.id}")
                buttons.append(
                    Button(t("award.button.draft", part=name)[:60], f"ad:doc:{n}:{part.id}")
                )
        if nomination.nominee_group != "household":
            buttons.append(Button(t("award.button.report"), f"ad:rep:{n}"))
        if rights.propose_from is not None and status in ("draft", "returned"):
            buttons.append(Button(t("award.button.propose"), f"ad:do:{n}:propose"))
        if rights.submit_as is not None:
            buttons.append(Button(t("award.button.submit"), f"ad:do:{n}:submit"))
            if status == "proposed":
                buttons.append(Button(t("award.button.return"), f"ad:do:{n}:return"))
    if _may_withdraw(ctx, nomination, rights):
        buttons.append(Button(t("award.button.withdraw"), f"ad:do:{n}:withdraw"))
    if rights.review:
        for action in _REVIEW_ACTIONS.get(status, ()):
            buttons.append(Button(t(f"award.button.{action}"), f"ad:do:{n}:{action}"))
    return tuple(buttons)


def _may_withdraw(ctx: Context, nomination: Nomination, rights: Access) -> bool:
    """Whoever prepares it, while it is theirs; once proposed, only its own proposer (the
    commune returns a proposal rather than withdraw it)."""
    if not rights.edit:
        return False
    if nomination.status in ("draft", "returned"):
        return True
    return nomination.status == "proposed" and nomination.nominator_account_id == ctx.account.id


async def _check(ctx: Context, nomination: Nomination) -> Check:
    return await check_nominee(
        ctx.session,
        ctx.tree,
        award_id=nomination.award,
        group=nomination.nominee_group,
        unit_id=nomination.nominee_unit_id,
        account_id=nomination.nominee_account_id,
        key=nomination.nominee_key,
        year=nomination.year,
        today=ctx.today,
    )


# --- uploads, drafts and the achievement report -------------------------------------------


async def _editable(ctx: Context, nomination: Nomination, rights: Access) -> bool:
    if not rights.edit:
        ctx.audit("award.denied", "nomination", nomination.id)
        ctx.say("error.not_allowed")
        return False
    if nomination.status not in EDITABLE:
        ctx.say("award.not_editable", status=ctx.t(f"award.status.{nomination.status}"))
        return False
    return True


async def _ask_upload(ctx: Context, nomination_id: int, part: str) -> None:
    ctx.set_flow("award_upload", nomination=nomination_id, part=part)
    ctx.say("award.upload.ask", part=ctx.t(f"award.part.{part}"))


@router.flow("award_upload")
async def upload_flow(ctx: Context) -> None:
    data = dict(ctx.flow_data)
    nomination_id, part = int(data["nomination"]), str(data["part"])
    if ctx.resuming:
        ctx.say("award.upload.ask", part=ctx.t(f"award.part.{part}"))
        return
    file = ctx.incoming.attachment
    if file is None:
        if fold(ctx.incoming.text or "") in _CANCEL:
            ctx.set_flow(None)
            ctx.say("form.cancelled")
            await show_menu(ctx)
        else:
            ctx.say("award.upload.need_file", part=ctx.t(f"award.part.{part}"))
        return
    ctx.set_flow(None)
    found = await load(ctx, str(nomination_id))
    if found is None or not await _editable(ctx, *found):
        return
    nomination, rights = found
    ctx.session.add(
        DossierPart(
            nomination_id=nomination.id,
            part=part,
            filename=(file.filename or "file")[:200],
            mime_type=(file.mime_type or "application/octet-stream")[:100],
            kind=file.kind,
            file_ref=(file.file_ref or "")[:500] or None,
            uploaded_by_account_id=ctx.account.id,
            created_at=ctx.now,
        )
    )
    nomination.updated_at = ctx.now
    await ctx.session.flush()
    ctx.audit("award.part_uploaded", "nomination", nomination.id, part=part, kind=file.kind)
    ctx.say("award.upload.received", part=ctx.t(f"award.part.{part}"))
    await show_dossier(ctx, nomination, rights)


async def _draft(ctx: Context, nomination: Nomination, part: str) -> None:
    try:
        filename, content = await draft_document(ctx.session, ctx.tree, nomination, part, ctx.today)
    except KeyError:
        ctx.say("error.stale_button")
        return
    ctx.audit("award.draft_generated", "nomination", nomination.id, part=part)
    ctx.send(
        Reply(
            ctx.t("award.draft.ready", part=ctx.t(f"award.part.{part}")),
            (
                Button(
                    ctx.t("award.button.upload", part=ctx.t(f"award.part.{part}"))[:60],
                    f"ad:up:{nomination.id}:{part}",
                ),
                Button(ctx.t("award.button.open"), f"ad:open:{nomination.id}"),
            ),
            attachment=Attachment(filename, DOCX_MIME, content=content),
        )
    )


async def _start_report(ctx: Context, nomination: Nomination) -> None:
    if nomination.nominee_group == "household":
        ctx.say("award.report.household")
        return
    prefill = (
        await latest_answers(ctx.session, nomination.report_submission_id)
        if nomination.report_submission_id
        else None
    )
    ctx.start_form(UNIT_REPORT, prefill=prefill)
    # Kept beside the form: its submission links the report to this nomination.
    ctx.state[REPORT_STATE] = nomination.id


@router.on_submit(UNIT_REPORT)
async def report_saved(ctx: Context, answers: dict[str, Any]) -> None:
    raw = ctx.state.pop(REPORT_STATE, None)
    found = await load(ctx, str(raw)) if raw is not None else None
    if found is None or not await _editable(ctx, *found):
        return
    nomination, rights = found
    if nomination.report_submission_id is not None:
        submission = await ctx.session.get(Submission, nomination.report_submission_id)
        assert submission is not None
        await add_revision(ctx.session, submission, answers, ctx.account.id, ctx.now, "edited")
    else:
        submission = await create_submission(
            ctx.session,
            form_id=UNIT_REPORT,
            form_version=ctx.services.forms[UNIT_REPORT].version,
            account_id=ctx.account.id,
            org_unit_id=nomination.nominee_unit_id,
            answers=answers,
            now=ctx.now,
            receipt_prefix="BC",
        )
        nomination.report_submission_id = submission.id
    nomination.updated_at = ctx.now
    ctx.audit("award.report_saved", "nomination", nomination.id, submission=submission.id)
    ctx.say("award.report.saved")
    await show_dossier(ctx, nomination, rights)


# --- steps -------------------------------------------------------------------------------

_REVIEW_ACTIONS = {
    "late": ("accept", "reject"),
    "submitted": ("approve", "more", "reject"),
    "approved": ("award",),
}


async def _step(
    ctx: Context, nomination: Nomination, rights: Access, action: str, text: str | None
) -> None:
    """One decision on a nomination, checked against the person's rights and its status."""
    status = nomination.status
    allowed = {
        "propose": rights.propose_from is not None and status in ("draft", "returned"),
        "submit": rights.submit_as is not None and status in EDITABLE,
        "return": rights.submit_as is not None and status == "proposed",
        "withdraw": _may_withdraw(ctx, nomination, rights),
    }
    for review_action in _REVIEW_ACTIONS.get(status, ()):
        allowed[review_action] = rights.review
    if not allowed.get(action):
        if rights.edit or rights.review:
            # Someone concerned, but not at this step (a double tap, an old message).
            ctx.say("award.not_your_step", status=ctx.t(f"award.status.{status}"))
        else:
            ctx.audit("award.denied", "nomination", nomination.id, step=action)
            ctx.say("error.not_allowed")
        return
    if action in _NEEDS_REASON and not text:
        ctx.set_flow("award_reason", nomination=nomination.id, action=action)
        ctx.say("award.ask_reason")
        return
    if action == "award" and text is None:
        ctx.set_flow("award_decision", nomination=nomination.id)
        ctx.say("award.ask_decision")
        return
    await _ACTIONS[action](ctx, nomination, rights, text)
    if nomination.status != status and ctx.replies:
        # The step is done: what this person can do next comes with its confirmation.
        after = _buttons(ctx, nomination, rights) or (
            Button(ctx.t("award.button.open"), f"ad:open:{nomination.id}"),
        )
        ctx.replies[-1] = dataclasses.replace(ctx.replies[-1], buttons=after)


async def _propose(ctx: Context, nomination: Nomination, rights: Access, _: str | None) -> None:
    if not await _ready(ctx, nomination, "propose"):
        return
    rules = award_rules()
    roles = rules.roles_for(nomination.nominee_group) - {"village_head"}
    unit, officials = await nearest_holders(
        ctx.session, ctx.tree, nomination.nominee_unit_id, roles, rules.submitting_levels
    )
    if unit is None:
        ctx.say("award.propose.nobody")
        return
    nomination.submitting_unit_id = ctx.tree.id_of(unit.code)
    await _change(ctx, nomination, "proposed")
    ctx.say("award.proposed", unit=unit.name, **_name(ctx.t, nomination))
    await _tell(ctx, nomination, new_work=officials)


async def _submit(ctx: Context, nomination: Nomination, rights: Access, _: str | None) -> None:
    if not await _ready(ctx, nomination, "submit"):
        return
    assert rights.submit_as is not None
    rules = award_rules()
    on_time = rules.on_time(nomination.year, ctx.today)
    unit_id = ctx.tree.id_of(rights.submit_as.code)
    nomination.submitting_unit_id = unit_id
    nomination.submitted_at = ctx.now
    nomination.late = not on_time
    # After the deadline only the standing agency can accept a dossier; its own are accepted.
    status = "submitted" if on_time or rights.review else "late"
    await _change(ctx, nomination, status)
    # The deadline "award dossiers" (rules/deadlines.yaml) is done for the presenting unit.
    await create_submission(
        ctx.session,
        form_id=DOSSIER_FORM,
        form_version=1,
        account_id=ctx.account.id,
        org_unit_id=unit_id,
        answers={
            "nomination": nomination.code,
            "award": nomination.award,
            "year": nomination.year,
            "group": nomination.nominee_group,
        },
        now=ctx.now,
    )
    ctx.say(
        "award.submitted" if status == "submitted" else "award.submitted_late",
        date=ctx.t.date(rules.last_day(nomination.year)),
        **_name(ctx.t, nomination),
    )
    _agency, reviewers = await nearest_holders(
        ctx.session, ctx.tree, nomination.nominee_unit_id, rules.reviewers_for(nomination.award)
    )
    if not [r for r in reviewers if r != ctx.account.id]:
        # Saved and counted, but nobody at the standing agency uses the bot to hear of it.
        ctx.say("award.submitted.nobody_told", agency=str(rules.documents["standing_agency"]))
    await _tell(ctx, nomination, new_work=reviewers)


async def _ready(ctx: Context, nomination: Nomination, stage: str) -> bool:
    """Everything the stage needs: the parts, and no prerequisite or criterion failed."""
    rules = award_rules()
    missing = missing_parts(rules, (await current_parts(ctx.session, nomination.id)).keys(), stage)
    problems = [ctx.t(f"award.part.{part.id}") for part in missing]
    if nomination.nominee_group != "household" and nomination.report_submission_id is None:
        problems.append(ctx.t("award.report.title"))
    if problems:
        ctx.say("award.cannot.missing", items="\n".join(f"• {p}" for p in problems))
        return False
    check = await _check(ctx, nomination)
    if check.eligibility.eligible is False:
        failed = [r for r in check.reasons if r.ok is False]
        ctx.say("award.cannot.ineligible", reasons="\n".join(reason_lines(ctx.t, failed)))
        return False
    return True


async def _returned(
    ctx: Context, nomination: Nomination, rights: Access, reason: str | None
) -> None:
    """Back to be completed: the commune to the village head, or the council asks for more."""
    nomination.reason = reason
    await _decide(ctx, nomination, "returned")


async def _rejected(
    ctx: Context, nomination: Nomination, rights: Access, reason: str | None
) -> None:
    nomination.reason = reason
    await _decide(ctx, nomination, "rejected")


async def _withdrawn(ctx: Context, nomination: Nomination, rights: Access, _: str | None) -> None:
    await _decide(ctx, nomination, "withdrawn")


async def _accepted(ctx: Context, nomination: Nomination, rights: Access, _: str | None) -> None:
    await _decide(ctx, nomination, "submitted")


async def _approved(ctx: Context, nomination: Nomination, rights: Access, _: str | None) -> None:
    rules = award_rules()
    award = rules.award(nomination.award)
    province = ancestors(ctx.tree, nomination.nominee_unit_id)[-1]
    # Approvals in one province queue on its row, so two at once cannot both take the last
    # place of a quota.
    await ctx.session.get(OrgUnit, ctx.tree.id_of(province.code), with_for_update=True)
    counts = await round_counts(
        ctx.session,
        nomination.award,
        nomination.year,
        ctx.tree.path_of(province.code) or "/",
        ("approved", "awarded"),
        exclude=nomination.id,
    )
    if not quota_room(award, counts, nomination.nominee_group):
        quota = award.quota_of(nomination.nominee_group)
        ctx.say(
            "award.approve.over_quota",
            quota=ctx.t(f"award.quota.{quota.id}") if quota else "",
            max=quota.max if quota else 0,
            place=province.name,
        )
        return
    await _decide(ctx, nomination, "approved")


async def _awarded(
    ctx: Context, nomination: Nomination, rights: Access, decision: str | None
) -> None:
    nomination.decision = decision or None
    await _change(ctx, nomination, "awarded")
    await record_award(ctx.session, nomination, award_rules(), ctx.now)
    ctx.say("award.awarded", **_name(ctx.t, nomination))
    await _tell(ctx, nomination)


async def _decide(ctx: Context, nomination: Nomination, status: str) -> None:
    """The new status, said to whoever decided and told to the nominee and the proposer."""
    await _change(ctx, nomination, status)
    ctx.say("award.done", status=ctx.t(f"award.status.{status}"), **_name(ctx.t, nomination))
    await _tell(ctx, nomination)


async def _change(ctx: Context, nomination: Nomination, status: str) -> None:
    before = nomination.status
    nomination.status = status
    nomination.updated_at = ctx.now
    if status not in ("returned", "rejected"):
        nomination.reason = None
    await ctx.session.flush()
    ctx.audit(f"award.{status}", "nomination", nomination.id, before=before, late=nomination.late)


_ACTIONS: dict[str, Any] = {
    "propose": _propose,
    "submit": _submit,
    "return": _returned,
    "more": _returned,
    "reject": _rejected,
    "withdraw": _withdrawn,
    "accept": _accepted,
    "approve": _approved,
    "award": _awarded,
}


def _typed_text(
    ctx: Context, *, ask: str, too_short: str, skippable: bool = False
) -> tuple[str, dict[str, Any]] | None:
    """A reason or a decision typed in a flow: the text ("" when skipped) and the flow's data.

    None while the flow goes on (asked again, or too short) or was cancelled.
    """
    if ctx.resuming:
        ctx.say(ask)
        return None
    text = (ctx.incoming.text or "").strip()
    if fold(text) in _CANCEL:
        ctx.set_flow(None)
        ctx.say("form.cancelled")
        return None
    skipped = skippable and fold(text) in _SKIP
    if not skipped and (len(text) < 3 or not any(ch.isalnum() for ch in text)):
        ctx.say(too_short)
        return None
    data = dict(ctx.flow_data)
    ctx.set_flow(None)
    return ("" if skipped else text), data


@router.flow("award_reason")
async def reason_flow(ctx: Context) -> None:
    typed = _typed_text(ctx, ask="award.ask_reason", too_short="award.reason_short")
    if typed is None:
        return
    text, data = typed
    found = await load(ctx, str(data["nomination"]))
    if found is not None:
        await _step(ctx, *found, str(data["action"]), text[:500])


@router.flow("award_decision")
async def decision_flow(ctx: Context) -> None:
    typed = _typed_text(
        ctx, ask="award.ask_decision", too_short="award.decision_short", skippable=True
    )
    if typed is None:
        return
    text, data = typed
    found = await load(ctx, str(data["nomination"]))
    if found is not None:
        await _step(ctx, *found, "award", text[:200])


# --- telling people ----------------------------------------------------------------------


async def _translator_of(ctx: Context, account_id: int) -> Translator:
    account = await ctx.session.get(Account, account_id)
    locale = (account.locale if account else None) or ctx.services.settings.default_locale
    return translator(locale, ctx.services.settings.timezone)


async def _tell(ctx: Context, nomination: Nomination, new_work: list[int] | None = None) -> None:
    """The nominee and the nominator hear of every step; ``new_work`` officials are asked to
    act (the commune on a proposal, the standing agency on a dossier)."""
    rules = award_rules()
    officials: list[int] = []
    if nomination.nominator_account_id is not None:
        officials.append(nomination.nominator_account_id)
    if rules.groups[nomination.nominee_group].unit_level is not None:
        # A unit proposed: its own officials are the nominee.
        officials += await holders_at(
            ctx.session,
            nomination.nominee_unit_id,
            {"village_head", "commune_official", "district_official"},
        )
    stamp = f"award:{nomination.id}:{nomination.status}:{nomination.updated_at.isoformat()}"
    place = _place(ctx, nomination)
    told: set[int] = {ctx.account.id}
    household = nomination.nominee_account_id
    if household is not None and household not in told:
        told.add(household)
        t = await _translator_of(ctx, household)
        awarded = nomination.status == "awarded"
        ctx.notify(
            household,
            Reply(
                t(
                    "award.notify.household_awarded" if awarded else "award.notify.household",
                    status=t(f"award.status.{nomination.status}"),
                    decision=nomination.decision or "",
                    **_name(t, nomination),
                ),
                (Button(t("award.button.open"), f"ad:open:{nomination.id}"),),
            ),
            key=f"{stamp}:nominee",
        )
    for account_id in [*(new_work or []), *officials]:
        if account_id in told:
            continue
        told.add(account_id)
        t = await _translator_of(ctx, account_id)
        asked = account_id in (new_work or [])
        text = t(
            "award.notify.new_work" if asked else "award.notify.status",
            status=t(f"award.status.{nomination.status}"),
            place=place,
            **_name(t, nomination),
        )
        if nomination.reason and nomination.status in ("returned", "rejected"):
            text = f"{text}\n{t('award.dossier.reason', reason=nomination.reason)}"
        ctx.notify(
            account_id,
            Reply(text, (Button(t("award.button.open"), f"ad:open:{nomination.id}"),)),
            key=f"{stamp}:{account_id}",
        )


# --- buttons -----------------------------------------------------------------------------


@router.payload("ad")
async def dossier_button(ctx: Context) -> None:
    parts = (ctx.incoming.payload or "").split(":")
    if len(parts) < 3:
        ctx.say("error.stale_button")
        return
    action, raw_id, rest = parts[1], parts[2], parts[3:]
    found = await load(ctx, raw_id)
    if found is None:
        return
    nomination, rights = found
    if action == "open" and not rest:
        await show_dossier(ctx, nomination, rights)
    elif action == "up" and len(rest) == 1 and rest[0] in {p.id for p in award_rules().dossier}:
        if await _editable(ctx, nomination, rights):
            await _ask_upload(ctx, nomination.id, rest[0])
    elif action in ("file", "doc") and len(rest) == 1:
        # A sent part or a drafted document: for whoever may view the dossier.
        if not rights.view:
            ctx.audit("award.denied", "nomination", nomination.id)
            ctx.say("error.not_allowed")
        elif action == "file":
            await _send_part(ctx, nomination, rest[0])
        else:
            await _draft(ctx, nomination, rest[0])
    elif action == "rep" and not rest:
        if await _editable(ctx, nomination, rights):
            await _start_report(ctx, nomination)
    elif action == "do" and len(rest) == 1 and rest[0] in _ACTIONS:
        await _step(ctx, nomination, rights, rest[0], None)
    else:
        ctx.say("error.stale_button")


async def tell_created(ctx: Context, nomination: Nomination) -> None:
    """A nomination begun: the household (or the unit) proposed hears of it."""
    await _tell(ctx, nomination)
