"""One person, several channels: one-time link codes, merging a new channel in, unlinking."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.crypto import SecretVault
from bot.forms.model import FormDef
from bot.privacy import erase_account
from bot.storage.models import (
    Account,
    AuditEntry,
    Identity,
    LinkCode,
    OutboxMessage,
    ProcessedUpdate,
    Question,
    RoleAssignment,
    Submission,
    ZaloChatMenu,
)

__all__ = [
    "CODE_DIGITS",
    "CODE_TTL",
    "FAILED_ACTION",
    "MAX_FAILURES_PER_ACCOUNT",
    "MAX_FAILURES_PER_CODE",
    "MAX_LIVE_CODES",
    "LinkRefused",
    "Redeemed",
    "create_code",
    "holds_data",
    "merge_into",
    "normalise_code",
    "recent_failures",
    "redeem",
    "unlink",
]

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
# Unused codes one account may have at once (each one more a guesser could hit).
MAX_LIVE_CODES = 3
# Six digits are a million codes: a guesser must not get near that many tries. Every wrong
# code typed anywhere counts against every code alive at that moment (a guess could have
# been for any of them), and a code that has seen this many dies. So one code is guessed
# with a chance of at most 10 in a million, however many chats a guesser opens.
MAX_FAILURES_PER_CODE = 10
# And one account (one chat) gets this many wrong codes per FAILURE_WINDOW.
MAX_FAILURES_PER_ACCOUNT = 5
FAILURE_WINDOW = timedelta(hours=1)
FAILED_ACTION = "account.link_failed"
# Roles that come only with an invitation: the account is someone's official account.
_PROFILE_ROLES = frozenset({"household"})
_NOT_DIGITS = re.compile(r"[\s.\-]+")


class LinkRefused(Exception):
    """Why a link or unlink cannot be done; ``key`` is the message for the person."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def normalise_code(text: str) -> str | None:
    """The six digits of a typed code ("123 456", "123-456"), or None if it is not one."""
    digits = _NOT_DIGITS.sub("", text)
    if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit():
        return digits
    return None


def _hash(vault: SecretVault, code: str) -> str:
    # Keyed: a plain hash of a six-digit code is undone by trying the million of them.
    return vault.keyed_hash(f"link-code:{code}")


async def create_code(
    session: AsyncSession, vault: SecretVault, account: Account, now: datetime
) -> tuple[str, LinkCode]:
    """A fresh code for the account; beyond `MAX_LIVE_CODES`, its oldest unused one dies.

    Earlier codes are not all retired at once: on Telegram the "/lienket" of the
    instructions is a link, and a tap on it must not spoil the code the person is typing.
    """
    # Dead codes go (their hashes would block new codes); the audit log keeps the history.
    await session.execute(delete(LinkCode).where(LinkCode.expires_at <= now))
    live = (
        await session.execute(
            select(LinkCode.id)
            .where(LinkCode.account_id == account.id, LinkCode.used_at.is_(None))
            .order_by(LinkCode.id.desc())
        )
    ).scalars()
    older = list(live)[MAX_LIVE_CODES - 1 :]
    if older:
        await session.execute(delete(LinkCode).where(LinkCode.id.in_(older)))
    for _ in range(20):
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = _hash(vault, code)
        taken = await session.scalar(select(LinkCode.id).where(LinkCode.code_hash == digest))
        if taken is None:
            row = LinkCode(
                code_hash=digest,
                account_id=account.id,
                created_at=now,
                expires_at=now + CODE_TTL,
                attempts=0,
            )
            session.add(row)
            await session.flush()
            return code, row
    raise RuntimeError("no free link code")  # only with ~a million codes alive at once


async def recent_failures(session: AsyncSession, account_id: int, now: datetime) -> int:
    count = await session.scalar(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.actor_account_id == account_id,
            AuditEntry.action == FAILED_ACTION,
            AuditEntry.at > now - FAILURE_WINDOW,
        )
    )
    return int(count or 0)


async def holds_data(session: AsyncSession, account_id: int) -> bool:
    """Whether the account has something of its own that merging would mix with another's:
    a submission, a question, or a role beyond the household profile (an official's)."""
    checks = (
        select(Submission.id).where(Submission.account_id == account_id),
        select(Question.id).where(Question.account_id == account_id),
        select(RoleAssignment.id).where(
            RoleAssignment.account_id == account_id,
            RoleAssignment.role.not_in(_PROFILE_ROLES),
        ),
    )
    for query in checks:
        if await session.scalar(query.limit(1)) is not None:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Redeemed:
    code: LinkCode
    target: Account


async def redeem(
    session: AsyncSession, vault: SecretVault, account: Account, code: str, now: datetime
) -> Redeemed:
    """Use a code typed by ``account``'s chat to join the code's account.

    Raises `LinkRefused`: one generic message for a wrong, used, expired or worn-out code,
    so a guesser learns nothing. An account with data of its own is refused before the code
    is judged (no hint either), and its code is not spent: the person can link the other
    way round.
    """
    alive = (
        LinkCode.used_at.is_(None),
        LinkCode.expires_at > now,
        LinkCode.attempts < MAX_FAILURES_PER_CODE,
    )
    found = await session.scalar(
        select(LinkCode).where(LinkCode.code_hash == _hash(vault, code), *alive)
    )
    if found is not None and found.account_id == account.id:
        raise LinkRefused("link.self")  # kept alive: it is still good on the other channel
    if await holds_data(session, account.id):
        raise LinkRefused("link.has_data")
    if found is None:
        await session.execute(update(LinkCode).where(*alive).values(attempts=LinkCode.attempts + 1))
        raise LinkRefused("link.invalid")
    target = await session.get(Account, found.account_id, with_for_update=True)
    if target is None or target.deleted_at is not None:
        raise LinkRefused("link.invalid")
    # Conditional, so two chats typing the same code at once cannot both use it.
    used = await session.execute(
        update(LinkCode)
        .where(LinkCode.id == found.id, LinkCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(used, "rowcount", 0):
        raise LinkRefused("link.invalid")
    return Redeemed(found, target)


async def merge_into(
    session: AsyncSession,
    source: Account,
    target: Account,
    forms: dict[str, FormDef],
    now: datetime,
) -> list[Identity]:
    """Move every channel of ``source`` (an account without data of its own) to ``target``
    and retire ``source``: its unfinished conversation and profile go, as with /delete."""
    identities = list(
        (await session.execute(select(Identity).where(Identity.account_id == source.id))).scalars()
    )
    for identity in identities:
        identity.account_id = target.id
    await session.flush()
    # What was already said to those chats now belongs to the person's account: their
    # /delete erases it with the rest.
    for model in (OutboxMessage, ProcessedUpdate):
        await session.execute(
            update(model)
            .where(model.account_id == source.id)
            .values(account_id=target.id)
            .execution_options(synchronize_session=False)
        )
    await erase_account(session, source, forms, now)
    return identities


async def unlink(
    session: AsyncSession, account: Account, identity_id: int, now: datetime
) -> tuple[Identity, Account]:
    """Give one of the account's channels an account of its own (new, not onboarded).

    Not the last channel: an account nobody can reach is what /delete is for.
    """
    identities = list(
        (await session.execute(select(Identity).where(Identity.account_id == account.id))).scalars()
    )
    identity = next((i for i in identities if i.id == identity_id), None)
    if identity is None:
        raise LinkRefused("link.unlink_gone")
    if len(identities) < 2:
        raise LinkRefused("link.unlink_last")
    # The language stays so that the chat is told in it; everything else starts afresh.
    alone = Account(created_at=now, locale=account.locale)
    session.add(alone)
    await session.flush()
    identity.account_id = alone.id
    # The chat's last menu belongs to the account it leaves, and so do pushes not yet sent.
    await session.execute(
        delete(ZaloChatMenu).where(
            ZaloChatMenu.channel == identity.channel, ZaloChatMenu.chat_id == identity.external_id
        )
    )
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.account_id == account.id,
            OutboxMessage.channel == identity.channel,
            OutboxMessage.chat_id == identity.external_id,
            OutboxMessage.status.in_(("pending", "waiting")),
        )
        .values(status="cancelled", last_error="channel unlinked from the account")
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return identity, alone
