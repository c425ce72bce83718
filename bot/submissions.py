"""Submissions: a form's answers kept as revisions, with a short receipt code people can read."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Submission, SubmissionRevision

__all__ = ["add_revision", "create_submission", "latest_answers", "new_receipt_code"]

# Letters and digits nobody confuses when reading aloud or on a small screen (no 0/O, 1/I/L).
_RECEIPT_ALPHABET = "23456789ACDEFHJKMNPQRTUVWXY"


def new_receipt_code(prefix: str) -> str:
    return f"{prefix}-{''.join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(4))}"


async def create_submission(
    session: AsyncSession,
    *,
    form_id: str,
    form_version: int,
    account_id: int | None,
    org_unit_id: int | None,
    answers: dict[str, Any],
    now: datetime,
    receipt_prefix: str | None = None,
    status: str = "submitted",
) -> Submission:
    """A new submission and its first revision, with a receipt code unique in the database."""
    for _ in range(20):
        code = new_receipt_code(receipt_prefix) if receipt_prefix else None
        submission = Submission(
            form_id=form_id,
            form_version=form_version,
            account_id=account_id,
            org_unit_id=org_unit_id,
            status=status,
            receipt_code=code,
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(submission)
                await session.flush()
        except IntegrityError:
            continue  # the receipt code was taken: draw another
        session.add(
            SubmissionRevision(
                submission_id=submission.id,
                revision=1,
                answers=answers,
                author_account_id=account_id,
                created_at=now,
            )
        )
        await session.flush()
        return submission
    raise RuntimeError("could not draw a free receipt code")


async def add_revision(
    session: AsyncSession,
    submission: Submission,
    answers: dict[str, Any],
    author_account_id: int | None,
    now: datetime,
    reason: str | None = None,
) -> SubmissionRevision:
    last = await session.scalar(
        select(func.max(SubmissionRevision.revision)).where(
            SubmissionRevision.submission_id == submission.id
        )
    )
    revision = SubmissionRevision(
        submission_id=submission.id,
        revision=int(last or 0) + 1,
        answers=answers,
        author_account_id=author_account_id,
        reason=reason,
        created_at=now,
    )
    session.add(revision)
    submission.updated_at = now
    await session.flush()
    return revision


async def latest_answers(session: AsyncSession, submission_id: int) -> dict[str, Any]:
    query = (
        select(SubmissionRevision.answers)
        .where(SubmissionRevision.submission_id == submission_id)
        .order_by(SubmissionRevision.revision.desc())
        .limit(1)
    )
    answers: dict[str, Any] | None = await session.scalar(query)
    return dict(answers or {})
