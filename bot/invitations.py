"""Invitations: single-use, expiring codes that grant a role over an org unit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.crypto import hash_code
from bot.storage.models import Account, Invitation, OrgUnit, RoleAssignment

__all__ = ["CODE_ALPHABET", "InvitationError", "accept_invitation", "create_invitation", "new_code"]

# No 0/O, 1/I/L: codes are read aloud over the phone and typed on small keyboards.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class InvitationError(Exception):
    """Why a code cannot be used; ``key`` is the message for the user."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def new_code(length: int = 8) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class CreatedInvitation:
    code: str
    invitation: Invitation
    unit: OrgUnit


async def create_invitation(
    session: AsyncSession, role: str, unit_code: str, now: datetime, ttl_days: int
) -> CreatedInvitation:
    unit = (
        await session.execute(select(OrgUnit).where(OrgUnit.code == unit_code))
    ).scalar_one_or_none()
    if unit is None:
        raise InvitationError("invite.unknown_unit")
    code = new_code()
    invitation = Invitation(
        code_hash=hash_code(code),
        role=role,
        org_unit_id=unit.id,
        created_at=now,
        expires_at=now + timedelta(days=ttl_days),
    )
    session.add(invitation)
    await session.flush()
    return CreatedInvitation(code, invitation, unit)


async def accept_invitation(
    session: AsyncSession, account: Account, code: str, now: datetime
) -> Invitation:
    query = (
        select(Invitation)
        .where(Invitation.code_hash == hash_code(normalise_code(code)))
        .with_for_update()
    )
    invitation = (await session.execute(query)).scalar_one_or_none()
    if invitation is None:
        raise InvitationError("invite.invalid")
    if invitation.used_at is not None:
        raise InvitationError("invite.used")
    if invitation.expires_at <= now:
        raise InvitationError("invite.expired")
    invitation.used_at = now
    invitation.used_by_account_id = account.id
    existing = await session.execute(
        select(RoleAssignment).where(
            RoleAssignment.account_id == account.id,
            RoleAssignment.role == invitation.role,
            RoleAssignment.org_unit_id == invitation.org_unit_id,
        )
    )
    if existing.scalar_one_or_none() is None:
        session.add(
            RoleAssignment(
                account_id=account.id,
                role=invitation.role,
                org_unit_id=invitation.org_unit_id,
                invitation_id=invitation.id,
                created_at=now,
            )
        )
    account.kind = "official"
    if account.home_unit_id is None:
        account.home_unit_id = invitation.org_unit_id
    return invitation
