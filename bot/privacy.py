"""What the bot holds about a person, as a portable document, and erasing it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.forms.model import FormDef
from bot.storage.models import (
    Account,
    ConversationState,
    DossierPart,
    Identity,
    LinkCode,
    Nomination,
    OutboxMessage,
    ProcessedUpdate,
    Question,
    RoleAssignment,
    Submission,
    SubmissionRevision,
    ZaloChatMenu,
    ZaloFile,
    ZaloOAInboxEvent,
    ZaloOAUser,
)

__all__ = ["ZALO_OA_CHANNEL", "erase_account", "export_account", "public_answers"]

# A nomination in these states is an authority's published decision: it stays as it is.
_DECIDED_NOMINATIONS = ("approved", "awarded")
# Types that identify a person whatever the form says.
_PERSONAL_TYPES = {"cccd", "phone", "attachment"}
# bot.channels.zalo_oa.CHANNEL, named here so that privacy needs no channel code loaded.
ZALO_OA_CHANNEL = "zalo_oa"


def public_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """Answers as a person may see them: ID numbers masked, ciphertext and hashes left out."""
    shown: dict[str, Any] = {}
    for key, value in answers.items():
        if isinstance(value, dict) and "masked" in value:
            shown[key] = value["masked"]
        else:
            shown[key] = value
    return shown


async def export_account(session: AsyncSession, account: Account, now: datetime) -> dict[str, Any]:
    identities = (
        await session.execute(select(Identity).where(Identity.account_id == account.id))
    ).scalars()
    roles = (
        await session.execute(select(RoleAssignment).where(RoleAssignment.account_id == account.id))
    ).scalars()
    submissions = (
        (await session.execute(select(Submission).where(Submission.account_id == account.id)))
        .scalars()
        .all()
    )
    exported_submissions = []
    for submission in submissions:
        revisions = (
            await session.execute(
                select(SubmissionRevision)
                .where(SubmissionRevision.submission_id == submission.id)
                .order_by(SubmissionRevision.revision)
            )
        ).scalars()
        exported_submissions.append(
            {
                "form": submission.form_id,
                "form_version": submission.form_version,
                "status": submission.status,
                "receipt_code": submission.receipt_code,
                "created_at": submission.created_at.isoformat(),
                "revisions": [
                    {
                        "revision": r.revision,
                        "created_at": r.created_at.isoformat(),
                        "answers": public_answers(r.answers),
                    }
                    for r in revisions
                ],
            }
        )
    questions = (
        (await session.execute(select(Question).where(Question.account_id == account.id)))
        .scalars()
        .all()
    )
    link_codes = (
        await session.execute(
            select(LinkCode).where(LinkCode.account_id == account.id).order_by(LinkCode.id)
        )
    ).scalars()
    nominations = (
        await session.execute(
            select(Nomination)
            .where(
                or_(
                    Nomination.nominee_account_id == account.id,
                    Nomination.nominator_account_id == account.id,
                )
            )
            .order_by(Nomination.id)
        )
    ).scalars()
    return {
        "exported_at": now.isoformat(),
        "account": {
            "id": account.id,
            "created_at": account.created_at.isoformat(),
            "language": account.locale,
            "kind": account.kind,
            "home_unit_id": account.home_unit_id,
            "consent_at": account.consent_at.isoformat() if account.consent_at else None,
            "notifications_enabled": account.push_enabled,
        },
        # Every channel linked to the account, the one used to ask included.
        "channels": [
            {
                "channel": i.channel,
                "id": i.external_id,
                "since": i.created_at.isoformat(),
                "reachable": i.active,
            }
            for i in identities
        ],
        "link_codes": [
            {
                "created_at": c.created_at.isoformat(),
                "expires_at": c.expires_at.isoformat(),
                "used_at": c.used_at.isoformat() if c.used_at else None,
            }
            for c in link_codes
        ],
        "roles": [{"role": r.role, "org_unit_id": r.org_unit_id} for r in roles],
        # Award nominations of the person (as nominee) or made by them (as an official).
        "nominations": [
            {
                "code": n.code,
                "award": n.award,
                "year": n.year,
                "nominee": n.nominee_name,
                "as": "nominee" if n.nominee_account_id == account.id else "nominator",
                "status": n.status,
                "created_at": n.created_at.isoformat(),
            }
            for n in nominations
        ],
        "submissions": exported_submissions,
        "questions": [
            {
                "id": q.id,
                "asked_at": q.created_at.isoformat(),
                "question": q.text,
                "status": q.status,
                "answer": q.answer,
                "answered_at": q.answered_at.isoformat() if q.answered_at else None,
            }
            for q in questions
        ],
    }


async def erase_account(
    session: AsyncSession, account: Account, forms: dict[str, FormDef], now: datetime
) -> None:
    """Erase a person; submissions officials must keep stay, anonymised, pointing to no one."""
    submissions = (
        (await session.execute(select(Submission).where(Submission.account_id == account.id)))
        .scalars()
        .all()
    )
    for submission in submissions:
        form = forms.get(submission.form_id)
        personal = {
            f.id for f in (form.fields if form else ()) if f.personal or f.type in _PERSONAL_TYPES
        }
        revisions = (
            await session.execute(
                select(SubmissionRevision).where(SubmissionRevision.submission_id == submission.id)
            )
        ).scalars()
        for revision in revisions:
            # Without its form we cannot tell what is personal, so nothing is kept.
            kept = {k: (None if k in personal else v) for k, v in revision.answers.items()}
            revision.answers = {**kept, "_erased": True} if form else {"_erased": True}
            if revision.author_account_id == account.id:
                revision.author_account_id = None
        submission.account_id = None
    await _erase_nominations(session, account, now)
    # A question is the person's own words: nothing in it is kept for officials.
    await session.execute(
        update(Question)
        .where(Question.account_id == account.id)
        .values(account_id=None, text="", answer=None)
    )
    identities = list(
        (await session.execute(select(Identity).where(Identity.account_id == account.id))).scalars()
    )
    await _erase_zalo_traces(session, [(i.channel, i.external_id) for i in identities], now)
    await session.execute(delete(LinkCode).where(LinkCode.account_id == account.id))
    roles = (
        await session.execute(select(RoleAssignment).where(RoleAssignment.account_id == account.id))
    ).scalars()
    for row in [*identities, *roles]:
        await session.delete(row)
    state = await session.get(ConversationState, account.id)
    if state is not None:
        await session.delete(state)
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.account_id == account.id,
            OutboxMessage.status.in_(("pending", "waiting")),
        )
        .values(status="cancelled", account_id=None)
    )
    # Messages already sent may quote the person (their /mydata, their export): keep the
    # delivery record, drop the content.
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.account_id == account.id)
        .values(account_id=None, payload={"erased": True})
    )
    await session.execute(
        update(ProcessedUpdate)
        .where(ProcessedUpdate.account_id == account.id)
        .values(account_id=None)
    )
    account.locale = None
    account.kind = None
    account.home_unit_id = None
    account.consent_at = None
    account.onboarded_at = None
    account.push_enabled = False
    account.deleted_at = now


async def _erase_nominations(session: AsyncSession, account: Account, now: datetime) -> None:
    """A nomination still under way is withdrawn and loses the person's name; a decided one
    (approved, awarded) is the authority's published act and keeps it, pointing to no one."""
    await session.execute(
        update(Nomination)
        .where(
            Nomination.nominee_account_id == account.id,
            Nomination.status.not_in(_DECIDED_NOMINATIONS),
        )
        .values(
            status="withdrawn",
            nominee_name="",
            reason="erased at the person's request",
            updated_at=now,
        )
    )
    await session.execute(
        update(Nomination)
        .where(Nomination.nominee_account_id == account.id)
        .values(nominee_account_id=None)
    )
    await session.execute(
        update(Nomination)
        .where(Nomination.nominator_account_id == account.id)
        .values(nominator_account_id=None)
    )
    await session.execute(
        update(DossierPart)
        .where(DossierPart.uploaded_by_account_id == account.id)
        .values(uploaded_by_account_id=None)
    )


async def _erase_zalo_traces(
    session: AsyncSession, chats: list[tuple[str, str]], now: datetime
) -> None:
    """What the Zalo channels keep per chat: the last menu, files offered as links, the OA's
    reply window and events not processed yet (their content: the key stays, so that a
    re-delivery is still recognised and ignored)."""
    if not chats:
        return
    for model in (ZaloChatMenu, ZaloFile):
        await session.execute(
            delete(model).where(
                or_(*((model.channel == ch) & (model.chat_id == chat) for ch, chat in chats))
            )
        )
    oa_users = [chat for channel, chat in chats if channel == ZALO_OA_CHANNEL]
    if not oa_users:
        return
    await session.execute(delete(ZaloOAUser).where(ZaloOAUser.user_id.in_(oa_users)))
    await session.execute(
        update(ZaloOAInboxEvent)
        .where(ZaloOAInboxEvent.user_id.in_(oa_users), ZaloOAInboxEvent.processed_at.is_(None))
        .values(payload={}, processed_at=now, claimed_by=None, last_error="erased with the account")
    )
