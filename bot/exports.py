"""Exports officials open in a spreadsheet: Vietnamese headers, one row per record, CCCD masked."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.datasets import DataSet
from bot.forms.context import FormContext
from bot.forms.model import FormDef
from bot.forms.types import field_type
from bot.i18n import Translator
from bot.orgtree import OrgTree
from bot.storage.models import OrgUnit, Submission
from bot.submissions import latest_answers
from bot.village_reports import PeriodRules, report_batches, subtree
from bot.xlsx import LocalDates, XlsxWriter
from rules.aggregate import Tree, indicator_values
from rules.periods import Month, month_range

__all__ = [
    "VillageExport",
    "registration_rows",
    "to_csv",
    "to_xlsx",
    "village_report_export",
    "xlsx_sheets",
]


async def registration_rows(
    session: AsyncSession,
    form: FormDef,
    tree: OrgTree,
    unit_code: str,
    t: Translator,
    today: Any,
) -> tuple[list[str], list[list[str]]]:
    """Header and rows for every submission of ``form`` inside the unit's subtree."""
    scope = (await session.execute(select(OrgUnit).where(OrgUnit.code == unit_code))).scalar_one()
    query = (
        select(Submission, OrgUnit.code)
        .join(OrgUnit, OrgUnit.id == Submission.org_unit_id)
        .where(Submission.form_id == form.id, OrgUnit.path.startswith(scope.path))
        .order_by(Submission.created_at)
    )
    ctx = FormContext(t=t, today=today, units=tree)
    header = [
        t("export.receipt"),
        t("export.sent_at"),
        t("export.place"),
        *[t(field.label_key) for field in form.fields],
        t("export.status"),
        t("export.updated_at"),
    ]
    rows: list[list[str]] = []
    for submission, code in (await session.execute(query)).all():
        answers = await latest_answers(session, submission.id)
        values = [
            field_type(field).display(field, answers[field.id], ctx)
            if answers.get(field.id) is not None
            else ""
            for field in form.fields
        ]
        rows.append(
            [
                submission.receipt_code or "",
                _when(submission.created_at, t),
                tree.label(code),
                *values,
                t(f"status.{submission.status}"),
                _when(submission.updated_at, t),
            ]
        )
    return header, rows


def _when(value: datetime, t: Translator) -> str:
    return t.datetime(value)


def to_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    # The byte-order mark makes Excel read the Vietnamese text as UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[str]], title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- village reports: one row per village and period, totals per level in a second sheet ---


def xlsx_sheets(sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """Several sheets in one workbook, written row by row (openpyxl write-only mode)."""
    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title[:31])
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass
class VillageExport:
    header: list[str]
    rows: int
    content: bytes
    # CSV has no second sheet: the totals come as a file of their own.
    totals: bytes | None = None


async def village_report_export(
    session: AsyncSession,
    dataset: DataSet,
    tree: OrgTree,
    scope_code: str,
    first: Month,
    last: Month,
    t: Translator,
    rules: PeriodRules,
    fmt: str = "xlsx",
) -> VillageExport:
    """Every report of the subtree for first..last, streamed from the database to the file in
    constant memory; the totals per level and period are summed on the way."""
    scope_path = tree.path_of(scope_code)
    assert scope_path is not None
    plain = subtree(tree, scope_code)
    form = dataset.form
    header = [
        t("export.village.code"),
        t("export.place"),
        t("export.village.period"),
        *[t(f.label_key) for f in form.fields],
        t("export.village.comments"),
        t("export.village.first_sent"),
        t("export.village.last_changed"),
        t("export.village.sends"),
        t("export.village.on_time"),
        t("export.village.receipt"),
    ]
    numeric = dataset.numeric_fields
    field_ids = [f.id for f in form.fields]
    # The number fields' places in a row, and those kept as text (decimals) to convert.
    places = [field_ids.index(name) for name in numeric]
    yes_no = [i for i, f in enumerate(form.fields) if f.type == "yes_no"]
    pick = itemgetter(*places) if places else (lambda row: ())
    numbers: Callable[[list[Any]], tuple[Any, ...]] = (
        (lambda row: (pick(row),)) if len(places) == 1 else pick
    )
    as_text = [i for i, name in enumerate(numeric) if form.field(name).type == "decimal"]
    yes, no = t("answer.yes"), t("answer.no")
    zone = ZoneInfo(rules.timezone)
    excel_date = LocalDates(zone)
    dues = {m: rules.due(m) for m in month_range(first, last)}
    labels: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    periods: dict[str, tuple[str, datetime]] = {}
    # (period, the unit a village belongs to) -> [reports, on time, *sums of the numbers];
    # rolled up to the levels above once the rows are written. A batch's numbers are added
    # column by column (sum() runs in C).
    sums: dict[tuple[str, str], list[Any]] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    waiting: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    written = 0
    xlsx_file = io.BytesIO()
    book = XlsxWriter(xlsx_file) if fmt == "xlsx" else None
    sheet = book.sheet_writer(t("export.village.sheet"), header) if book else None
    text = io.StringIO()
    writer = csv.writer(text)
    if sheet is None:
        writer.writerow(header)

    def fold(key: tuple[str, str]) -> None:
        rows = waiting.pop(key)
        tally = sums.setdefault(key, [0, 0, *([0] * len(numeric))])
        tally[0], tally[1] = counts[key]
        for index, column in enumerate(zip(*rows, strict=True), 2):
            if index - 2 in as_text:
                column = tuple(Decimal(str(v)) for v in column if v is not None)
            tally[index] += sum(filter(None, column))

    batches = report_batches(session, dataset, scope_path, first, last, stream=True)
    async for batch in batches:
        for report in batch:
            code = report.unit_code
            period_key = report.period_key
            if period_key not in periods:
                periods[period_key] = (report.period.label(), dues[report.period])
            period_label, due = periods[period_key]
            on_time = report.first_sent <= due
            if code not in labels:
                labels[code] = tree.label(code)
                chain = plain.ancestors(code)
                parents[code] = chain[1] if len(chain) > 1 else None
            answers = report.answers
            comments = (
                "; ".join(str(c) for c in answers["_comments"].values())
                if "_comments" in answers
                else ""
            )
            values = list(map(answers.get, field_ids))
            if yes_no:
                for i in yes_no:
                    if values[i] is not None:
                        values[i] = yes if values[i] else no
            if sheet is not None:
                sheet.append(
                    [
                        code,
                        labels[code],
                        period_label,
                        *values,
                        comments,
                        excel_date(report.first_sent),
                        excel_date(report.updated_at),
                        report.revisions,
                        yes if on_time else no,
                        report.receipt_code,
                    ]
                )
            else:
                writer.writerow(
                    [
                        code,
                        labels[code],
                        period_label,
                        *["" if v is None else v for v in values],
                        comments,
                        report.first_sent.astimezone(zone).strftime("%H:%M %d/%m/%Y"),
                        report.updated_at.astimezone(zone).strftime("%H:%M %d/%m/%Y"),
                        report.revisions,
                        yes if on_time else no,
                        report.receipt_code or "",
                    ]
                )
            written += 1
            parent = parents[code]
            if parent is not None:
                key = (period_key, parent)
                counted = counts.get(key)
                if counted is None:
                    counted = counts[key] = [0, 0]
                counted[0] += 1
                counted[1] += on_time
                waiting.setdefault(key, []).append(numbers(values))
        for key in list(waiting):
            fold(key)  # a batch's numbers are summed before the next batch is read
    for key in list(waiting):
        fold(key)
    totals_header, totals_rows = _totals(dataset, plain, tree, first, last, t, sums)
    if book is not None and sheet is not None:
        sheet.close()
        book.sheet(t("export.village.totals_sheet"), totals_header, totals_rows)
        book.close()
        return VillageExport(header, written, xlsx_file.getvalue())
    return VillageExport(
        header,
        written,
        text.getvalue().encode("utf-8-sig"),
        to_csv(totals_header, [["" if v is None else v for v in r] for r in totals_rows]),
    )


def _totals(
    dataset: DataSet,
    plain: Tree,
    tree: OrgTree,
    first: Month,
    last: Month,
    t: Translator,
    sums: dict[tuple[str, str], list[Any]],
) -> tuple[list[str], list[list[Any]]]:
    """One row per unit above the villages and period, top of the tree first."""
    level = dataset.org_unit_level
    numeric = dataset.numeric_fields
    defs = dataset.indicator_defs()
    header = [
        t("export.village.level"),
        t("export.village.code"),
        t("export.place"),
        t("export.village.period"),
        t("export.village.expected"),
        t("export.village.reported"),
        t("export.village.reporting_rate"),
        t("export.village.on_time_count"),
        t("export.village.on_time_rate"),
        *[t(dataset.form.field(name).label_key) for name in numeric],
        *[t(i.label) for i in dataset.indicators],
    ]
    top = plain.children[None][0]
    above = [code for code in plain.subtree(top) if plain.units[code].level != level]
    expected = {code: len(plain.at_level(code, level)) for code in above}
    # What the villages' own parents gathered, added to every unit further up.
    rolled: dict[tuple[str, str], list[Any]] = {}
    for (period_key, parent), tally in sums.items():
        for unit in plain.ancestors(parent):
            target = rolled.setdefault((period_key, unit), [0] * len(tally))
            for index, value in enumerate(tally):
                target[index] += value
    rows: list[list[Any]] = []
    for month in month_range(first, last):
        for code in above:
            found = rolled.get((month.iso(), code))
            reported, on_time = (found[0], found[1]) if found else (0, 0)
            values = dict(zip(numeric, found[2:], strict=True)) if found else {}
            rates = indicator_values(defs, values)
            wanted = expected[code]
            level_name = plain.units[code].level
            rows.append(
                [
                    t(f"level.{level_name}") if t.has(f"level.{level_name}") else level_name,
                    code,
                    tree.label(code),
                    month.label(),
                    wanted,
                    reported,
                    _rounded(reported / wanted * 100 if wanted else None, 1),
                    on_time,
                    _rounded(on_time / wanted * 100 if wanted else None, 1),
                    *[values.get(name) for name in numeric],
                    *[_rounded(rates[i.id], i.decimals) for i in dataset.indicators],
                ]
            )
    return header, rows


def _rounded(value: float | None, decimals: int) -> float | None:
    return None if value is None else round(value, decimals)
