"""Finding the officials responsible for a place, and checking an official's reach."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Account, OrgUnit, RoleAssignment

__all__ = ["officials_over", "units_in_scope"]


async def officials_over(
    session: AsyncSession, unit_id: int, roles: frozenset[str] | set[str]
) -> list[int]:
    """Accounts holding one of ``roles`` at the unit or above it, nearest first."""
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        return []
    query = (
        select(RoleAssignment.account_id, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.org_unit_id)
        .join(Account, Account.id == RoleAssignment.account_id)
        .where(RoleAssignment.role.in_(roles), Account.deleted_at.is_(None))
    )
    found = [
        (len(path), account_id)
        for account_id, path in (await session.execute(query)).all()
        if unit.path.startswith(path)
    ]
    seen: dict[int, None] = {}
    for _, account_id in sorted(found, reverse=True):
        seen.setdefault(account_id, None)
    return list(seen)


async def units_in_scope(
    session: AsyncSession, account_id: int, roles: frozenset[str] | set[str]
) -> list[str]:
    """Materialised paths of the subtrees where the account holds one of ``roles``."""
    query = (
        select(OrgUnit.path)
        .join(RoleAssignment, RoleAssignment.org_unit_id == OrgUnit.id)
        .where(RoleAssignment.account_id == account_id, RoleAssignment.role.in_(roles))
    )
    return list((await session.execute(query)).scalars())
