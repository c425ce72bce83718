"""Who may do what with a nomination, decided on the server from the person's roles."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.awards import ancestors, award_rules
from bot.core.context import Context
from bot.forms.context import UnitInfo
from bot.roles import OFFICIAL_ROLES
from bot.storage.models import Nomination

__all__ = ["Access", "access", "held_over", "scope_units"]


@dataclass(frozen=True, slots=True)
class Access:
    view: bool  # an official whose area holds the nominee's place
    nominee: bool  # the household proposed: may read where it stands, nothing more
    edit: bool  # may complete the dossier while it is being prepared
    propose_from: UnitInfo | None  # below the presenting levels: may only propose upwards
    submit_as: UnitInfo | None  # the presenting unit this person may send the dossier as
    review: bool  # the standing agency (council) for this award over the place


async def held_over(ctx: Context, unit_id: int, roles: Iterable[str]) -> list[UnitInfo]:
    """Units at or above ``unit_id`` where the person holds one of ``roles``, nearest first."""
    wanted = set(roles)
    chain = ancestors(ctx.tree, unit_id)
    depth = {unit.code: number for number, unit in enumerate(chain)}
    found: dict[str, UnitInfo] = {}
    for assignment in await ctx.roles():
        unit = ctx.tree.by_id(assignment.org_unit_id)
        if assignment.role in wanted and unit is not None and unit.code in depth:
            found[unit.code] = unit
    return sorted(found.values(), key=lambda unit: depth[unit.code])


async def scope_units(ctx: Context, roles: Iterable[str]) -> list[UnitInfo]:
    """The units (subtrees) where the person holds one of ``roles``."""
    wanted = set(roles)
    units: dict[str, UnitInfo] = {}
    for assignment in await ctx.roles():
        unit = ctx.tree.by_id(assignment.org_unit_id)
        if assignment.role in wanted and unit is not None:
            units[unit.code] = unit
    return list(units.values())


async def access(ctx: Context, nomination: Nomination) -> Access:
    rules = award_rules()
    unit_id = nomination.nominee_unit_id
    editors = await held_over(ctx, unit_id, rules.roles_for(nomination.nominee_group))
    presenting = [unit for unit in editors if unit.level in rules.submitting_levels]
    submit_as = presenting[0] if presenting else None
    return Access(
        view=bool(await held_over(ctx, unit_id, OFFICIAL_ROLES)),
        nominee=nomination.nominee_account_id == ctx.account.id,
        edit=bool(editors),
        propose_from=editors[0] if editors and submit_as is None else None,
        submit_as=submit_as,
        review=bool(await held_over(ctx, unit_id, rules.reviewers_for(nomination.award))),
    )
