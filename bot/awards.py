"""Award nominations in the database: nominee checks, dossier parts, history, rounds, quotas.

The rules themselves are pure (rules/awards.py); this module gathers what they need from the
database (the nominee's award history, a household's registration and achievement report,
a unit's figures from the village reports) and renders their reasons through the catalogs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.datasets import get_dataset
from bot.forms.context import UnitInfo
from bot.i18n import Translator
from bot.orgtree import OrgTree
from bot.storage.models import (
    Account,
    AwardHistory,
    DossierPart,
    Nomination,
    OrgUnit,
    RoleAssignment,
    Submission,
    SubmissionRevision,
)
from bot.submissions import latest_answers, new_receipt_code
from bot.text import fold
from bot.village_reports import criteria_figures
from rules.awards import (
    AwardRules,
    Eligibility,
    HistoryItem,
    HouseholdFacts,
    Part,
    Reason,
    area_of,
    check_eligibility,
    default_awards,
    household_criteria,
)
from rules.criteria import FiguresError
from rules.criteria import evaluate as evaluate_criteria
from rules.periods import Month
from rules.poverty import PovertyInputError, default_standards
from rules.poverty import evaluate as evaluate_poverty

__all__ = [
    "EDITABLE",
    "HOUSEHOLD_REPORT",
    "IN_QUOTA",
    "OPEN",
    "REGISTRATION",
    "STATUSES",
    "UNIT_REPORT",
    "Check",
    "ancestors",
    "award_rules",
    "check_nominee",
    "create_nomination",
    "current_parts",
    "history_of",
    "household_key",
    "household_name",
    "latest_submission",
    "missing_parts",
    "name_key",
    "nearest_holders",
    "reason_lines",
    "record_award",
    "registered_households",
    "render_reason",
    "round_counts",
    "unit_key",
]

REGISTRATION = "household_exit_registration"
HOUSEHOLD_REPORT = "household_achievement"
UNIT_REPORT = "award_achievement"
STATUSES = (
    "draft",
    "proposed",
    "returned",
    "late",
    "submitted",
    "approved",
    "awarded",
    "rejected",
    "withdrawn",
)
EDITABLE = ("draft", "proposed", "returned")
OPEN = (*EDITABLE, "late", "submitted", "approved")
# What counts against a quota: what the standing agency has in hand or has decided.
IN_QUOTA = ("submitted", "approved", "awarded")
_MARK = {True: "✓", False: "✗", None: "•"}


def award_rules() -> AwardRules:
    return default_awards()


# --- who the nominee is ------------------------------------------------------------------


def unit_key(code: str) -> str:
    return f"unit:{code}"


def name_key(unit_code: str, group: str, name: str) -> str:
    """Households and people by their place, group and folded name: what an imported award
    history row and a nomination in the bot have in common."""
    return f"name:{unit_code}:{group}:{fold(name)}"[:200]


def household_key(unit_code: str, name: str, account_id: int) -> str:
    """A household registered in the bot: its place and name, as imported history knows it,
    and its account, so that two households of one name in a village are two nominees."""
    return f"{name_key(unit_code, 'household', name)[:180]}#{account_id}"


def _name_part(key: str) -> str | None:
    """The name key inside a household's key; None for a key of another kind."""
    name, sep, _account = key.partition("#")
    return name if sep else None


def ancestors(tree: OrgTree, unit_id: int) -> list[UnitInfo]:
    """The unit and every unit above it, nearest first."""
    found: list[UnitInfo] = []
    unit = tree.by_id(unit_id)
    while unit is not None:
        found.append(unit)
        unit = tree.get(unit.parent_code) if unit.parent_code else None
    return found


async def household_name(
    session: AsyncSession, account_id: int
) -> tuple[str | None, Submission | None]:
    """The head of household's name from the latest exit registration (None without one)."""
    registration = await latest_submission(session, REGISTRATION, account_id)
    if registration is None:
        return None, None
    answers = await latest_answers(session, registration.id)
    name = str(answers.get("head_name") or "").strip()
    return (name or None), registration


async def registered_households(
    session: AsyncSession, paths: Sequence[str]
) -> list[tuple[int, str, str]]:
    """(account, unit code, head's name) of every household living under these tree paths
    that registered its exit, in the tree's order: one query, however many there are.

    The name is the one `household_name` gives: the latest registration's latest revision.
    """
    if not paths:
        return []
    # Aliased, so that each subquery is tied to the outer row instead of to its own table.
    registration, revision = aliased(Submission), aliased(SubmissionRevision)
    latest_registration = (
        select(func.max(registration.id))
        .where(registration.form_id == REGISTRATION, registration.account_id == Account.id)
        .scalar_subquery()
    )
    latest_revision = (
        select(func.max(revision.revision))
        .where(revision.submission_id == Submission.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Account.id, OrgUnit.code, SubmissionRevision.answers["head_name"].as_string())
        .join(OrgUnit, OrgUnit.id == Account.home_unit_id)
        .join(Submission, Submission.id == latest_registration)
        .join(
            SubmissionRevision,
            and_(
                SubmissionRevision.submission_id == Submission.id,
                SubmissionRevision.revision == latest_revision,
            ),
        )
        .where(
            Account.kind == "household",
            Account.deleted_at.is_(None),
            or_(*(OrgUnit.path.startswith(path) for path in paths)),
        )
        .order_by(OrgUnit.path, Account.id)
    )
    found = ((account, code, (name or "").strip()) for account, code, name in rows.all())
    return [row for row in found if row[2]]


async def latest_submission(
    session: AsyncSession, form_id: str, account_id: int
) -> Submission | None:
    query = (
        select(Submission)
        .where(Submission.form_id == form_id, Submission.account_id == account_id)
        .order_by(Submission.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


# --- history -----------------------------------------------------------------------------


async def history_of(session: AsyncSession, key: str) -> list[AwardHistory]:
    """The nominee's awards, oldest first. A household of the bot also has the history
    imported under its name alone; an award found both ways counts once (its own row)."""
    by_name = _name_part(key)
    keys = [key] if by_name is None else [key, by_name]
    query = (
        select(AwardHistory)
        .where(AwardHistory.nominee_key.in_(keys))
        .order_by(AwardHistory.year, AwardHistory.id)
    )
    rows = list((await session.execute(query)).scalars())
    own = {(r.award, r.year, r.movement) for r in rows if r.nominee_key == key}
    return [r for r in rows if r.nominee_key == key or (r.award, r.year, r.movement) not in own]


async def _namesakes(session: AsyncSession, tree: OrgTree, unit_id: int, account_id: int) -> int:
    """Other households of the village registered under the same name as this one."""
    unit = tree.by_id(unit_id)
    path = tree.path_of(unit.code) if unit else None
    if path is None:
        return 0
    names = {
        account: fold(name) for account, _code, name in await registered_households(session, [path])
    }
    mine = names.pop(account_id, None)  # None when not registered there: no namesake
    return sum(1 for name in names.values() if name == mine)


def history_items(rows: Iterable[AwardHistory]) -> list[HistoryItem]:
    return [HistoryItem(row.award, row.year, row.movement) for row in rows]


async def record_award(
    session: AsyncSession, nomination: Nomination, rules: AwardRules, now: Any
) -> AwardHistory:
    """Awarding writes the award into the nominee's history, once."""
    existing = await session.scalar(
        select(AwardHistory).where(
            AwardHistory.nominee_key == nomination.nominee_key,
            AwardHistory.award == nomination.award,
            AwardHistory.year == nomination.year,
            AwardHistory.movement == rules.movement,
        )
    )
    if existing is not None:
        return existing
    row = AwardHistory(
        nominee_key=nomination.nominee_key,
        nominee_name=nomination.nominee_name,
        nominee_group=nomination.nominee_group,
        org_unit_id=nomination.nominee_unit_id,
        award=nomination.award,
        year=nomination.year,
        movement=rules.movement,
        decision=nomination.decision,
        source="nomination",
        nomination_id=nomination.id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


# --- checking a nominee ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """The group's criteria (with their own reasons) and the award's verdict."""

    criteria: tuple[Reason, ...]
    eligibility: Eligibility
    history: tuple[AwardHistory, ...] = field(default=())

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return (*self.criteria, *self.eligibility.reasons)


async def _household_criteria(
    session: AsyncSession,
    rules: AwardRules,
    tree: OrgTree,
    account_id: int | None,
    unit_id: int,
    today: date,
    better_off: bool,
) -> tuple[bool | None, list[Reason]]:
    if account_id is None:
        return None, [Reason("award.reason.council_judges", None, {"group": "household"})]
    _, registration = await household_name(session, account_id)
    report = await latest_submission(session, HOUSEHOLD_REPORT, account_id)
    registered = await latest_answers(session, registration.id) if registration else {}
    answers = await latest_answers(session, report.id) if report else {}
    per_person: int | None = None
    line: int | None = None
    size, income = registered.get("household_size"), answers.get("income_now")
    if better_off and isinstance(size, int) and isinstance(income, int):
        area = area_of(rules, [u.name for u in ancestors(tree, unit_id)[:2]])
        try:
            standard = default_standards().on(today)
            result = evaluate_poverty(standard, area, size, income, [])
        except PovertyInputError:
            pass  # no standard in force today: "khá" is left to the council
        else:
            per_person, line = result.income_per_person, result.average_max
    facts = HouseholdFacts(
        registration_code=registration.receipt_code if registration else None,
        report_code=report.receipt_code if report else None,
        had_loan=answers.get("had_loan"),
        repaid_on_time=answers.get("repaid_on_time"),
        initiatives=bool(answers.get("initiatives")),
        helped_others=bool(answers.get("helped_others")),
        income_per_person=per_person,
        better_off_line=line,
    )
    return household_criteria(facts, better_off)


async def _unit_criteria(
    session: AsyncSession, tree: OrgTree, unit: UnitInfo, today: date
) -> tuple[bool | None, list[Reason]]:
    """The plan's numeric criterion, from the village reports (rules/criteria.py)."""
    try:
        figures = await criteria_figures(
            session, get_dataset("village_monthly"), tree, unit.code, Month.of(today) - 1
        )
        figures = {k: v for k, v in figures.items() if k not in ("unit", "name")}
        verdict = evaluate_criteria(figures)
    except FiguresError as error:
        return None, [Reason("award.reason.figures_missing", None, {"text": error.message})]
    except KeyError:
        return None, [Reason("award.reason.council_judges", None, {"group": unit.level})]
    # The calculator's last line is its conclusion; the award's verdict says it again.
    return verdict.eligible, [
        Reason("award.reason.text", None, {"text": text}) for text in verdict.reasons[:-1]
    ]


async def check_nominee(
    session: AsyncSession,
    tree: OrgTree,
    *,
    award_id: str,
    group: str,
    unit_id: int,
    account_id: int | None,
    key: str,
    year: int,
    today: date,
) -> Check:
    """Criteria of the nominee's group and the award's prerequisites from its history."""
    rules = award_rules()
    award = rules.award(award_id)
    unit = tree.by_id(unit_id)
    if group == "household":
        met, criteria = await _household_criteria(
            session, rules, tree, account_id, unit_id, today, group in award.better_off
        )
    elif rules.groups[group].unit_level is not None and unit is not None:
        met, criteria = await _unit_criteria(session, tree, unit, today)
    else:
        met, criteria = None, [Reason("award.reason.council_judges", None, {"group": group})]
    history = await history_of(session, key)
    by_name = [row for row in history if row.nominee_key != key]
    if by_name and account_id is not None:
        namesakes = await _namesakes(session, tree, unit_id, account_id)
        if namesakes:
            # Imported history knows a name, not a household: it may be the other one's.
            params = {"count": namesakes + 1, "name": by_name[0].nominee_name}
            criteria.append(Reason("award.reason.namesake_history", None, params))
    verdict = check_eligibility(rules, award_id, group, met, history_items(history), year)
    return Check(tuple(criteria), verdict, tuple(history))


def render_reason(t: Translator, reason: Reason) -> str:
    """A reason as a line of text, its values named and formatted for the reader."""
    params: dict[str, Any] = {}
    for name, value in reason.params.items():
        if name == "award":
            params[name] = t(f"award.type.{value}")
        elif name == "group":
            params[name] = t(f"award.group.{value}")
        elif name == "groups":
            params[name] = ", ".join(t(f"award.group.{g}") for g in value)
        elif name == "need":
            params[name] = f" {t('award.or')} ".join(
                t(f"award.requires.{alt}", count=t.number(count)) for alt, count in value
            )
        elif name == "have":
            params[name] = "; ".join(
                t(f"award.requires.{alt}", count=t.number(count))
                + (f" ({', '.join(str(y) for y in years)})" if years else "")
                for alt, count, years in value
            )
        elif name in ("income", "line"):
            params[name] = t.money(int(value))
        elif name == "count":
            params[name] = t.number(int(value))
        else:
            params[name] = value
    return t(reason.key, **params)


def reason_lines(t: Translator, reasons: Iterable[Reason]) -> list[str]:
    return [f"{_MARK[r.ok]} {render_reason(t, r)}" for r in reasons]


# --- creating ----------------------------------------------------------------------------


async def create_nomination(session: AsyncSession, **values: Any) -> Nomination:
    """A new nomination with a short code (KT-XXXX) unique in the database."""
    for _ in range(20):
        nomination = Nomination(code=new_receipt_code("KT"), **values)
        try:
            async with session.begin_nested():
                session.add(nomination)
                await session.flush()
        except IntegrityError:
            continue  # the code was taken: draw another
        return nomination
    raise RuntimeError("could not draw a free nomination code")


# --- the dossier -------------------------------------------------------------------------


async def current_parts(session: AsyncSession, nomination_id: int) -> dict[str, DossierPart]:
    """The newest file of each part (earlier ones stay as history)."""
    query = (
        select(DossierPart)
        .where(DossierPart.nomination_id == nomination_id)
        .order_by(DossierPart.id)
    )
    return {row.part: row for row in (await session.execute(query)).scalars()}


def missing_parts(rules: AwardRules, present: Iterable[str], stage: str = "submit") -> list[Part]:
    have = set(present)
    needed = rules.parts_for("submit" if stage == "submit" else "propose")
    return [part for part in needed if part.id not in have]


# --- people to tell ----------------------------------------------------------------------


async def holders_at(session: AsyncSession, unit_id: int, roles: Iterable[str]) -> list[int]:
    query = (
        select(RoleAssignment.account_id)
        .join(Account, Account.id == RoleAssignment.account_id)
        .where(
            RoleAssignment.org_unit_id == unit_id,
            RoleAssignment.role.in_(list(roles)),
            Account.deleted_at.is_(None),
        )
        .order_by(RoleAssignment.account_id)
    )
    return list(dict.fromkeys((await session.execute(query)).scalars()))


async def nearest_holders(
    session: AsyncSession,
    tree: OrgTree,
    unit_id: int,
    roles: Iterable[str],
    levels: Sequence[str] | None = None,
) -> tuple[UnitInfo | None, list[int]]:
    """The nearest unit at or above ``unit_id`` (of ``levels``, if given) where someone holds
    one of ``roles``, and who: the commune for a village head's proposal, the province for a
    dossier."""
    wanted = list(roles)
    for unit in ancestors(tree, unit_id):
        if levels is not None and unit.level not in levels:
            continue
        unit_db_id = tree.id_of(unit.code)
        if unit_db_id is None:
            continue
        found = await holders_at(session, unit_db_id, wanted)
        if found:
            return unit, found
    return None, []


# --- rounds and quotas -------------------------------------------------------------------


async def round_counts(
    session: AsyncSession,
    award_id: str,
    year: int,
    scope_path: str,
    statuses: Sequence[str] = IN_QUOTA,
    exclude: int | None = None,
) -> dict[str, int]:
    """Nominations per group of one award and year inside a subtree (a province)."""
    query = (
        select(Nomination.nominee_group, func.count(Nomination.id))
        .join(OrgUnit, OrgUnit.id == Nomination.nominee_unit_id)
        .where(
            Nomination.award == award_id,
            Nomination.year == year,
            Nomination.status.in_(list(statuses)),
            OrgUnit.path.startswith(scope_path),
        )
        .group_by(Nomination.nominee_group)
    )
    if exclude is not None:
        query = query.where(Nomination.id != exclude)
    return {group: int(count) for group, count in (await session.execute(query)).all()}
