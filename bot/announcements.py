"""Announcements: an official's message to everyone holding a role in a subtree.

Who it reaches is counted for the preview and decided again when it goes out (people who
said /stop in between are not reached). It goes through the outbox as ``bulk`` (paced per
chat, within the platform limits), one row per reachable chat, keyed by announcement and
chat so it can never go twice. Quiet hours hold: "now" in quiet hours means when they end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import Reply
from bot.i18n import translator
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    Announcement,
    Identity,
    OrgUnit,
    OutboxMessage,
    RoleAssignment,
)
from rules.deadlines import QuietHours

__all__ = [
    "ANNOUNCERS",
    "TARGET_ROLES",
    "Recipient",
    "deliver",
    "recipients",
    "send_due",
]

ANNOUNCERS = frozenset(
    {"village_head", "commune_official", "district_official", "province_official", "admin"}
)
# Whom an announcement can address; "all" is every one of them.
TARGET_ROLES = ("village_head", "commune_official", "household")
MAX_TEXT = 1000


@dataclass(frozen=True, slots=True)
class Recipient:
    account_id: int
    locale: str | None
    chats: tuple[tuple[int, str, str], ...]


async def recipients(
    session: AsyncSession, unit_path: str, roles: Iterable[str], exclude: int | None = None
) -> list[Recipient]:
    """People holding one of ``roles`` in the subtree, with pushes on and a chat that works."""
    query = (
        select(
            Account.id,
            Account.locale,
            Identity.id,
            Identity.channel,
            Identity.external_id,
        )
        .select_from(RoleAssignment)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.org_unit_id)
        .join(Account, Account.id == RoleAssignment.account_id)
        .join(Identity, Identity.account_id == Account.id)
        .where(
            RoleAssignment.role.in_(list(roles)),
            OrgUnit.path.startswith(unit_path, autoescape=True),
            Account.deleted_at.is_(None),
            Account.push_enabled.is_(True),
            Identity.active.is_(True),
        )
        .distinct()
        .order_by(Account.id, Identity.id)
    )
    found: dict[int, tuple[str | None, list[tuple[int, str, str]]]] = {}
    for account_id, locale, identity_id, channel, chat in (await session.execute(query)).all():
        if account_id == exclude:
            continue
        found.setdefault(account_id, (locale, []))[1].append((identity_id, channel, chat))
    return [Recipient(a, loc, tuple(chats)) for a, (loc, chats) in found.items()]


def _roles(announcement: Announcement) -> list[str]:
    return [str(r) for r in announcement.roles.get("roles", [])]


async def deliver(
    session: AsyncSession,
    announcement: Announcement,
    now: datetime,
    *,
    default_locale: str = "vi",
    timezone: str = "Asia/Ho_Chi_Minh",
) -> int:
    """Queue the announcement for everyone it reaches now; returns the rows written."""
    unit = await session.get(OrgUnit, announcement.org_unit_id)
    if unit is None:
        announcement.status = "cancelled"
        return 0
    people = await recipients(
        session, unit.path, _roles(announcement), exclude=announcement.author_account_id
    )
    rows = []
    for person in people:
        t = translator(person.locale or default_locale, timezone)
        reply = Reply(
            f"{t('announce.message', place=unit.name, text=announcement.text)}\n"
            f"{t('announce.footer')}"
        )
        for identity_id, channel, chat in person.chats:
            rows.append(
                OutboxMessage(
                    idempotency_key=f"ann:{announcement.id}:{identity_id}",
                    channel=channel,
                    chat_id=chat,
                    account_id=person.account_id,
                    kind="bulk",
                    payload=reply.to_json(),
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    session.add_all(rows)
    announcement.status = "sent"
    announcement.sent_at = now
    announcement.recipients = len(people)
    return len(rows)


async def send_due(
    db: Database,
    now: datetime,
    quiet: QuietHours,
    tz: str,
    default_locale: str = "vi",
) -> int:
    """Scheduled announcements whose time came (outside quiet hours), each exactly once."""
    from zoneinfo import ZoneInfo

    if quiet.is_quiet(now, ZoneInfo(tz)):
        return 0
    async with db.session() as session:
        due = list(
            (
                await session.execute(
                    select(Announcement.id)
                    .where(Announcement.status == "scheduled", Announcement.send_at <= now)
                    .order_by(Announcement.send_at, Announcement.id)
                )
            ).scalars()
        )
    written = 0
    for announcement_id in due:
        async with db.session() as session, session.begin():
            # Claim it: only one worker turns a scheduled announcement into outbox rows.
            claimed = await session.execute(
                update(Announcement)
                .where(Announcement.id == announcement_id, Announcement.status == "scheduled")
                .values(status="sending")
            )
            if not getattr(claimed, "rowcount", 0):
                continue
            announcement = await session.get(Announcement, announcement_id)
            assert announcement is not None
            await session.refresh(announcement)
            written += await deliver(
                session, announcement, now, default_locale=default_locale, timezone=tz
            )
    return written
