"""The standing agency's view of a round: nominations against the quotas, dossiers still
incomplete, and the XLSX list the emulation council meets over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.awards import (
    EDITABLE,
    IN_QUOTA,
    OPEN,
    award_rules,
    check_nominee,
    current_parts,
    missing_parts,
    round_counts,
)
from bot.exports import xlsx_sheets
from bot.forms.context import UnitInfo
from bot.i18n import Translator
from bot.orgtree import OrgTree
from bot.storage.models import Nomination, OrgUnit
from rules.awards import AwardType, Part, QuotaLine, quota_lines

__all__ = ["XLSX_COLUMNS", "AwardRound", "Overview", "council_workbook", "overview"]


@dataclass(frozen=True, slots=True)
class AwardRound:
    award: AwardType
    year: int
    counts: dict[str, int]  # per group, what counts against the quota
    lines: tuple[QuotaLine, ...]
    preparing: int  # still being prepared or waiting to be accepted late

    @property
    def over(self) -> frozenset[str]:
        """Groups whose quota is exceeded."""
        return frozenset(g for line in self.lines if line.over for g in line.quota.groups)


@dataclass(frozen=True, slots=True)
class Overview:
    place: UnitInfo
    rounds: tuple[AwardRound, ...]
    incomplete: tuple[tuple[Nomination, tuple[Part, ...]], ...]
    late: tuple[Nomination, ...]


Round = tuple[str, int]  # (award id, year)


async def _nominations(
    session: AsyncSession, path: str, rounds: set[Round], statuses: Sequence[str]
) -> list[Nomination]:
    query = (
        select(Nomination)
        .join(OrgUnit, OrgUnit.id == Nomination.nominee_unit_id)
        .where(OrgUnit.path.startswith(path), Nomination.status.in_(list(statuses)))
        .order_by(Nomination.award, Nomination.year, Nomination.nominee_group, Nomination.id)
    )
    found = (await session.execute(query)).scalars()
    return [n for n in found if (n.award, n.year) in rounds]


async def _rounds(session: AsyncSession, path: str, today: date) -> list[Round]:
    """Each award's round open today, and any earlier one still undecided (after 30/12 the
    council meets over the year just closed while the next year's dossiers begin)."""
    rules = award_rules()
    query = (
        select(Nomination.award, Nomination.year)
        .join(OrgUnit, OrgUnit.id == Nomination.nominee_unit_id)
        .where(OrgUnit.path.startswith(path), Nomination.status.in_(list(OPEN)))
        .distinct()
    )
    found = {(award, year) for award, year in (await session.execute(query)).all()}
    found |= {(award_id, rules.round_year(award_id, today)) for award_id in rules.awards}
    order = list(rules.awards)
    return sorted(
        (r for r in found if r[0] in rules.awards), key=lambda r: (order.index(r[0]), r[1])
    )


async def overview(session: AsyncSession, tree: OrgTree, scope_code: str, today: date) -> Overview:
    """Each award's rounds in the subtree (a province) against its quotas."""
    rules = award_rules()
    place = tree.get(scope_code)
    path = tree.path_of(scope_code)
    if place is None or path is None:
        raise KeyError(scope_code)
    rounds = await _rounds(session, path, today)
    result: list[AwardRound] = []
    for award_id, year in rounds:
        award = rules.award(award_id)
        counts = await round_counts(session, award_id, year, path, IN_QUOTA)
        waiting = await round_counts(session, award_id, year, path, (*EDITABLE, "late"))
        result.append(
            AwardRound(award, year, counts, quota_lines(award, counts), sum(waiting.values()))
        )
    incomplete = []
    for nomination in await _nominations(session, path, set(rounds), EDITABLE):
        parts = await current_parts(session, nomination.id)
        missing = tuple(missing_parts(rules, parts.keys()))
        if missing:
            incomplete.append((nomination, missing))
    late = tuple(await _nominations(session, path, set(rounds), ("late",)))
    return Overview(place, tuple(result), tuple(incomplete), late)


async def council_workbook(
    session: AsyncSession, tree: OrgTree, scope_code: str, t: Translator, today: date
) -> tuple[bytes, int]:
    """Every nomination of the rounds in view (not withdrawn), and the quotas: (XLSX, rows)."""
    rules = award_rules()
    summary = await overview(session, tree, scope_code, today)
    path = tree.path_of(scope_code) or "/"
    rounds = {(r.award.id, r.year) for r in summary.rounds}
    over = {(r.award.id, r.year): r.over for r in summary.rounds}
    statuses = ("late", "submitted", "approved", "awarded", *EDITABLE, "rejected")
    nominations = await _nominations(session, path, rounds, statuses)
    header = [t(f"award.xlsx.{name}") for name in XLSX_COLUMNS]
    rows: list[list[Any]] = []
    for number, n in enumerate(nominations, 1):
        unit = tree.by_id(n.nominee_unit_id)
        presenting = tree.by_id(n.submitting_unit_id) if n.submitting_unit_id else None
        check = await check_nominee(
            session,
            tree,
            award_id=n.award,
            group=n.nominee_group,
            unit_id=n.nominee_unit_id,
            account_id=n.nominee_account_id,
            key=n.nominee_key,
            year=n.year,
            today=today,
        )
        verdict = {True: "yes", False: "no", None: "council"}[check.eligibility.eligible]
        parts = await current_parts(session, n.id)
        missing = ", ".join(t(f"award.part.{p.id}") for p in missing_parts(rules, parts.keys()))
        rows.append(
            [
                number,
                n.code,
                t(f"award.type.{n.award}"),
                n.year,
                t(f"award.group.{n.nominee_group}"),
                n.nominee_name,
                tree.label(unit.code) if unit else "",
                presenting.name if presenting else "",
                t(f"award.status_short.{n.status}"),
                t(f"award.xlsx.verdict.{verdict}"),
                missing,
                t("award.xlsx.yes") if n.late else "",
                t.date(n.submitted_at.astimezone(t.tz).date()) if n.submitted_at else "",
                t("award.xlsx.over") if n.nominee_group in over[(n.award, n.year)] else "",
            ]
        )
    quota_header = [
        t(f"award.xlsx.quota.{name}")
        for name in ("award", "year", "quota", "count", "min", "max", "flag")
    ]
    quota_rows: list[list[Any]] = []
    for award_round in summary.rounds:
        for line in award_round.lines:
            flag = "over" if line.over else "under" if line.under else "ok"
            quota_rows.append(
                [
                    t(f"award.type.{award_round.award.id}"),
                    award_round.year,
                    t(f"award.quota.{line.quota.id}"),
                    line.count,
                    line.quota.min,
                    line.quota.max,
                    t(f"award.xlsx.flag.{flag}"),
                ]
            )
    content = xlsx_sheets(
        [
            (t("award.xlsx.sheet.list"), header, rows),
            (t("award.xlsx.sheet.quotas"), quota_header, quota_rows),
        ]
    )
    return content, len(rows)


# The council's list, left to right; also the keys award.xlsx.<column> (bot/i18n_extract.py).
XLSX_COLUMNS = (
    "number",
    "code",
    "award",
    "year",
    "group",
    "nominee",
    "place",
    "presenting",
    "status",
    "verdict",
    "missing",
    "late",
    "submitted",
    "over",
)
