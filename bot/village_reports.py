"""Village reports in the database: one submission per (data set, village, period), revisions,
periods that lock and reopen, baselines, and the figures officials read.

The natural key "village_monthly/2026-10/25000-03" is UNIQUE on submissions: a second report
for the same village and month becomes a revision of the first, also when two heads send at
the same moment on PostgreSQL (the loser of the race gets an IntegrityError inside a
savepoint, finds the winner's row and adds its answers as the next revision).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.datasets import DataSet
from bot.orgtree import OrgTree
from bot.settings import Settings
from bot.storage.models import (
    OrgUnit,
    PeriodReopening,
    ReportBaseline,
    Submission,
    SubmissionRevision,
)
from bot.submissions import add_revision, new_receipt_code
from rules.aggregate import (
    Baseline,
    Change,
    Completeness,
    Indicator,
    Totals,
    Tree,
    Unit,
    baselines,
    change,
    completeness,
    indicator_values,
    sum_up,
    year_end,
)
from rules.periods import Month, month_range

__all__ = [
    "PeriodRules",
    "ReportRow",
    "Saved",
    "Summary",
    "criteria_figures",
    "find_report",
    "history_bounds",
    "period_reports",
    "previous_answers",
    "reopen_period",
    "reopened_until",
    "report_batches",
    "save_report",
    "set_baseline",
    "subtree",
    "summarise",
]


# --- periods: open, locked, reopened -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodRules:
    due_days: int = 5
    lock_days: int = 15
    reopen_days: int = 7
    timezone: str = "Asia/Ho_Chi_Minh"

    @classmethod
    def from_settings(cls, settings: Settings) -> PeriodRules:
        return cls(
            settings.village_report_due_day,
            settings.village_report_lock_days,
            settings.village_report_reopen_days,
            settings.timezone,
        )

    def due(self, period: Month) -> datetime:
        """The last moment a first report counts as on time (end of the due day, local time)."""
        day = period.after_end(self.due_days) + timedelta(days=1)
        return datetime.combine(day, time.min, ZoneInfo(self.timezone)) - timedelta(microseconds=1)

    def locks_after(self, period: Month) -> date:
        """The last day reports and revisions are accepted without a reopening."""
        return period.after_end(self.lock_days)

    def status(self, period: Month, today: date, reopened: date | None = None) -> str:
        """future | open | reopened | locked."""
        if period.start > today:
            return "future"
        if today <= self.locks_after(period):
            return "open"
        if reopened is not None and today <= reopened:
            return "reopened"
        return "locked"

    def open_periods(self, today: date) -> list[Month]:
        """Periods a head may report on today without a reopening, newest first."""
        current = Month.of(today)
        back = self.lock_days // 28 + 2
        return [current - k for k in range(back + 1) if self.status(current - k, today) == "open"]

    def default_period(self, today: date) -> Month:
        """Last month while it is open; once it locked, the current month."""
        last = Month.of(today) - 1
        return last if self.status(last, today) == "open" else Month.of(today)


async def reopened_until(
    session: AsyncSession, dataset: DataSet, unit_id: int, period: Month
) -> date | None:
    query = select(func.max(PeriodReopening.until)).where(
        PeriodReopening.dataset_id == dataset.id,
        PeriodReopening.org_unit_id == unit_id,
        PeriodReopening.period == period.iso(),
    )
    until: date | None = await session.scalar(query)
    return until


async def reopened_periods(
    session: AsyncSession, dataset: DataSet, unit_id: int, today: date
) -> list[Month]:
    query = select(PeriodReopening.period).where(
        PeriodReopening.dataset_id == dataset.id,
        PeriodReopening.org_unit_id == unit_id,
        PeriodReopening.until >= today,
    )
    return sorted({Month.parse(p) for p in (await session.execute(query)).scalars()}, reverse=True)


async def reopen_period(
    session: AsyncSession,
    dataset: DataSet,
    *,
    unit_id: int,
    period: Month,
    until: date,
    by: int | None,
    now: datetime,
    reason: str | None,
) -> PeriodReopening:
    row = PeriodReopening(
        dataset_id=dataset.id,
        org_unit_id=unit_id,
        period=period.iso(),
        until=until,
        reopened_by_account_id=by,
        reopened_at=now,
        reason=reason,
    )
    session.add(row)
    await session.flush()
    return row


# --- saving: the natural key, revisions, the race ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Saved:
    submission: Submission
    revision: int
    created: bool


async def find_report(
    session: AsyncSession, dataset: DataSet, unit_code: str, period: Month, *, lock: bool = False
) -> Submission | None:
    query = select(Submission).where(
        Submission.natural_key == dataset.natural_key(unit_code, period)
    )
    if lock:
        # Revisions of one report are numbered one after the other (PostgreSQL row lock).
        query = query.with_for_update()
    found: Submission | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def save_report(
    session: AsyncSession,
    dataset: DataSet,
    *,
    unit_id: int,
    unit_code: str,
    period: Month,
    answers: dict[str, Any],
    author_id: int | None,
    now: datetime,
    reason: str | None = None,
    race_reason: str | None = None,
) -> Saved:
    """The first report of the village and period, or a new revision of it.

    ``race_reason`` is the reason written when this turned into a revision only because
    someone else's first report for the same key was stored a moment earlier.
    """
    existing = await find_report(session, dataset, unit_code, period, lock=True)
    if existing is None:
        key = dataset.natural_key(unit_code, period)
        for _ in range(20):
            submission = Submission(
                form_id=dataset.id,
                form_version=dataset.version,
                account_id=author_id,
                org_unit_id=unit_id,
                status="submitted",
                receipt_code=new_receipt_code(dataset.receipt_prefix),
                natural_key=key,
                created_at=now,
                updated_at=now,
            )
            try:
                async with session.begin_nested():
                    session.add(submission)
                    await session.flush()
            except IntegrityError:
                existing = await find_report(session, dataset, unit_code, period, lock=True)
                if existing is not None:
                    reason = reason or race_reason
                    break  # another head's report for this key won: ours is its revision
                continue  # only the receipt code was taken: draw another
            session.add(
                SubmissionRevision(
                    submission_id=submission.id,
                    revision=1,
                    answers=answers,
                    author_account_id=author_id,
                    reason=reason,
                    created_at=now,
                )
            )
            await session.flush()
            return Saved(submission, 1, True)
        else:
            raise RuntimeError("could not draw a free receipt code")
    assert existing is not None
    revision = await add_revision(session, existing, answers, author_id, now, reason)
    return Saved(existing, revision.revision, False)


async def latest(session: AsyncSession, submission_id: int) -> SubmissionRevision | None:
    query = (
        select(SubmissionRevision)
        .where(SubmissionRevision.submission_id == submission_id)
        .order_by(SubmissionRevision.revision.desc())
        .limit(1)
    )
    found: SubmissionRevision | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def revisions(session: AsyncSession, submission_id: int) -> list[SubmissionRevision]:
    query = (
        select(SubmissionRevision)
        .where(SubmissionRevision.submission_id == submission_id)
        .order_by(SubmissionRevision.revision)
    )
    return list((await session.execute(query)).scalars())


async def previous_answers(
    session: AsyncSession, dataset: DataSet, unit_code: str, period: Month
) -> dict[str, Any]:
    """Last month's figures of the village (its latest revision), or nothing."""
    found = await find_report(session, dataset, unit_code, period - 1)
    if found is None:
        return {}
    revision = await latest(session, found.id)
    answers = dict(revision.answers) if revision else {}
    return {k: v for k, v in answers.items() if not k.startswith("_")}


async def history_bounds(
    session: AsyncSession, dataset: DataSet, unit_code: str, period: Month
) -> dict[str, dict[str, Any]]:
    """The smallest and largest value of each number field in the village's last reports."""
    first = period - dataset.history_months
    low, high = dataset.key_range(first, period - 1)
    latest_rev = (
        select(SubmissionRevision.submission_id, func.max(SubmissionRevision.revision).label("rev"))
        .join(Submission, Submission.id == SubmissionRevision.submission_id)
        .where(Submission.natural_key >= low, Submission.natural_key < high)
        .group_by(SubmissionRevision.submission_id)
        .subquery()
    )
    query = (
        select(Submission.natural_key, SubmissionRevision.answers)
        .join(latest_rev, latest_rev.c.submission_id == Submission.id)
        .join(
            SubmissionRevision,
            (SubmissionRevision.submission_id == Submission.id)
            & (SubmissionRevision.revision == latest_rev.c.rev),
        )
    )
    lows: dict[str, Any] = {}
    highs: dict[str, Any] = {}
    for key, answers in (await session.execute(query)).all():
        if DataSet.split_key(key)[1] != unit_code:
            continue
        for name in dataset.numeric_fields:
            value = answers.get(name)
            if value is None or isinstance(value, str):
                continue
            lows[name] = min(lows.get(name, value), value)
            highs[name] = max(highs.get(name, value), value)
    return {"min": lows, "max": highs} if lows else {}


# --- reading many reports ------------------------------------------------------------------------


class ReportRow(NamedTuple):
    """One report's latest answers (a tuple: a 100,000-row export makes 100,000 of them)."""

    unit_code: str
    period: Month
    answers: dict[str, Any]
    first_sent: datetime
    updated_at: datetime
    revisions: int
    receipt_code: str | None
    period_key: str = ""  # "2026-10"


async def report_batches(
    session: AsyncSession,
    dataset: DataSet,
    scope_path: str,
    first: Month,
    last: Month,
    *,
    stream: bool = False,
    size: int = 2000,
) -> AsyncIterator[list[ReportRow]]:
    """The latest answers of every report in the subtree for the periods first..last,
    ordered by period then unit code, a list at a time; with ``stream`` the lists come from
    a server-side cursor, so memory stays flat however many reports there are."""
    low, high = dataset.key_range(first, last)
    newer = aliased(SubmissionRevision)
    # The latest revision of each report, found per row through the (submission, revision)
    # index; rows come in natural-key order straight from its index, with no sort.
    latest_revision = (
        select(func.max(newer.revision))
        .where(newer.submission_id == Submission.id)
        .correlate(Submission)
        .scalar_subquery()
    )
    # Dates and answers read raw and converted here: SQLAlchemy's per-row processing of
    # SQLite date strings was most of the time of a 100,000-report export.
    query = (
        select(
            Submission.natural_key,
            type_coerce(Submission.created_at, String),
            type_coerce(Submission.updated_at, String),
            Submission.receipt_code,
            type_coerce(SubmissionRevision.answers, String),
            SubmissionRevision.revision,
        )
        .join(OrgUnit, OrgUnit.id == Submission.org_unit_id)
        .join(
            SubmissionRevision,
            (SubmissionRevision.submission_id == Submission.id)
            & (SubmissionRevision.revision == latest_revision),
        )
        .where(
            Submission.natural_key >= low,
            Submission.natural_key < high,
            OrgUnit.path.startswith(scope_path),
        )
        .order_by(Submission.natural_key)
    )
    months: dict[str, Month] = {}

    def to_row(row: Any) -> ReportRow:
        key, created, updated, receipt, answers, revision = row
        _, period_text, code = key.split("/", 2)
        period = months.get(period_text)
        if period is None:
            period = months[period_text] = Month.parse(period_text)
        if isinstance(answers, str):
            answers = _read_json(answers)[0]
        return ReportRow(
            code,
            period,
            answers,
            _moment(created),
            _moment(updated),
            revision,
            receipt,
            period_text,
        )

    if stream:
        # Core rows from the connection: no ORM bookkeeping per row.
        connection = await session.connection()
        result = await connection.stream(query.execution_options(yield_per=size))
        async for partition in result.partitions(size):
            yield [to_row(row) for row in partition]
        return
    rows = (await session.execute(query)).all()
    for start in range(0, len(rows), size):
        yield [to_row(row) for row in rows[start : start + size]]


async def period_reports(
    session: AsyncSession,
    dataset: DataSet,
    scope_path: str,
    first: Month,
    last: Month,
    *,
    stream: bool = False,
) -> AsyncIterator[ReportRow]:
    """The same reports one by one."""
    async for batch in report_batches(session, dataset, scope_path, first, last, stream=stream):
        for row in batch:
            yield row


_read_json = json.JSONDecoder().raw_decode  # stored JSON has no surrounding spaces


def _moment(value: Any) -> datetime:
    """A stored moment: SQLite hands back UTC text, PostgreSQL an aware datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(f"{value}+00:00")
    moment: datetime = value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- baselines -----------------------------------------------------------------------------------


async def set_baseline(
    session: AsyncSession,
    dataset: DataSet,
    *,
    unit_id: int,
    values: dict[str, Any],
    by: int | None,
    now: datetime,
    note: str | None = None,
) -> ReportBaseline:
    row = ReportBaseline(
        dataset_id=dataset.id,
        org_unit_id=unit_id,
        values=values,
        set_by_account_id=by,
        set_at=now,
        note=note,
    )
    session.add(row)
    await session.flush()
    return row


async def explicit_baselines(
    session: AsyncSession, dataset: DataSet, scope_path: str
) -> dict[str, dict[str, Any]]:
    """The newest baseline an official set for each unit of the subtree."""
    query = (
        select(OrgUnit.code, ReportBaseline.values)
        .join(OrgUnit, OrgUnit.id == ReportBaseline.org_unit_id)
        .where(ReportBaseline.dataset_id == dataset.id, OrgUnit.path.startswith(scope_path))
        .order_by(ReportBaseline.set_at, ReportBaseline.id)
    )
    return {code: dict(values) for code, values in (await session.execute(query)).all()}


async def first_reports(
    session: AsyncSession, dataset: DataSet, scope_path: str
) -> dict[str, dict[str, Any]]:
    """Each unit's first report of the data set's baseline window (its latest revision)."""
    first, last = dataset.baseline.months
    found: dict[str, dict[str, Any]] = {}
    async for row in period_reports(session, dataset, scope_path, first, last):
        found.setdefault(row.unit_code, row.answers)  # ordered by period: the first stays
    return found


# --- what officials read -------------------------------------------------------------------------


def subtree(tree: OrgTree, code: str) -> Tree:
    """The org tree below (and including) ``code`` as plain units for rules.aggregate."""
    units: list[Unit] = []
    stack = [code]
    while stack:
        current = stack.pop()
        info = tree.get(current)
        if info is None:
            continue
        units.append(
            Unit(info.code, info.parent_code if current != code else None, info.level, info.name)
        )
        stack.extend(reversed([child.code for child in tree.children(current)]))
    return Tree(units)


@dataclass
class Summary:
    scope: str
    period: Month
    tree: Tree
    completeness: dict[str, Completeness]
    totals: dict[str, Totals]
    indicators: dict[str, dict[str, float | None]]
    baselines: dict[str, Baseline | None]
    indicator_defs: list[Indicator]
    # The chart's field over the last months, at the scope: (month, sum or None).
    series: list[tuple[Month, Any]] = field(default_factory=list)
    first_sent: dict[str, datetime] = field(default_factory=dict)

    def change(self, code: str, indicator: str) -> Change:
        """An indicator of the unit now against the same indicator over its baseline."""
        now = self.indicators.get(code, {}).get(indicator)
        base = self.baselines.get(code)
        if base is None:
            return change(now, None)
        wanted = [i for i in self.indicator_defs if i.id == indicator]
        return change(now, indicator_values(wanted, base.values).get(indicator))


async def summarise(
    session: AsyncSession,
    dataset: DataSet,
    org_tree: OrgTree,
    scope_code: str,
    period: Month,
    rules: PeriodRules,
    *,
    months: int = 12,
) -> Summary:
    """Completeness, sums, indicators and baselines of every unit under ``scope_code``."""
    scope_path = org_tree.path_of(scope_code)
    assert scope_path is not None
    tree = subtree(org_tree, scope_code)
    first = period - (months - 1)
    reported: dict[str, dict[str, Any]] = {}
    first_sent: dict[str, datetime] = {}
    by_month: dict[Month, dict[str, dict[str, Any]]] = {}
    async for row in period_reports(session, dataset, scope_path, first, period):
        by_month.setdefault(row.period, {})[row.unit_code] = row.answers
        if row.period == period:
            reported[row.unit_code] = row.answers
            first_sent[row.unit_code] = row.first_sent
    fields = dataset.numeric_fields
    totals = sum_up(tree, reported, fields)
    defs = dataset.indicator_defs()
    indicators = {code: indicator_values(defs, t.values) for code, t in totals.items()}
    done = completeness(tree, dataset.org_unit_level, first_sent, rules.due(period))
    bases = baselines(
        tree,
        dataset.org_unit_level,
        fields,
        await explicit_baselines(session, dataset, scope_path),
        await first_reports(session, dataset, scope_path),
    )
    series: list[tuple[Month, Any]] = []
    if dataset.chart_field:
        for month in month_range(first, period):
            month_totals = sum_up(tree, by_month.get(month, {}), [dataset.chart_field])
            series.append((month, month_totals[scope_code].values.get(dataset.chart_field)))
    return Summary(
        scope_code, period, tree, done, totals, indicators, bases, defs, series, first_sent
    )


async def criteria_figures(
    session: AsyncSession,
    dataset: DataSet,
    org_tree: OrgTree,
    unit_code: str,
    upto: Month,
) -> dict[str, Any]:
    """The figures the plan's criteria are judged on (rules/criteria.py, the Q&A calculator),
    from the reports: poor and near-poor households at the start of the period (the
    baseline) and now (the latest month up to ``upto`` with reports), and the poverty rate
    at the end of each year. A figure the data cannot give is left out, never guessed."""
    scope_path = org_tree.path_of(unit_code)
    unit = org_tree.get(unit_code)
    if scope_path is None or unit is None:
        raise KeyError(unit_code)
    tree = subtree(org_tree, unit_code)
    first, _ = dataset.baseline.months
    fields = dataset.numeric_fields
    by_month: dict[Month, dict[str, dict[str, Any]]] = {}
    async for row in period_reports(session, dataset, scope_path, first, upto):
        by_month.setdefault(row.period, {})[row.unit_code] = row.answers
    totals = {m: sum_up(tree, r, fields)[unit_code].values for m, r in by_month.items()}
    base = baselines(
        tree,
        dataset.org_unit_level,
        fields,
        await explicit_baselines(session, dataset, scope_path),
        await first_reports(session, dataset, scope_path),
    )[unit_code]
    figures: dict[str, Any] = {"group": unit.level, "unit": unit_code, "name": unit.name}
    for name in ("poor", "near_poor"):
        if base is not None and name in base.values:
            figures[f"{name}_start"] = base.values[name]
        if totals and name in totals[max(totals)]:
            figures[f"{name}_now"] = totals[max(totals)][name]
    drop = dataset.criteria.rate_drop
    if drop is not None:
        wanted = [i for i in dataset.indicator_defs() if i.id == drop.indicator]
        rates = year_end(
            {m: indicator_values(wanted, v)[drop.indicator] for m, v in totals.items()}
        )
        figures["poverty_rate_by_year"] = {str(y): round(r, 2) for y, r in rates.items()}
    return {k: int(v) if isinstance(v, Decimal) and v == int(v) else v for k, v in figures.items()}
