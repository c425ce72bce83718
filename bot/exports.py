"""Exports officials open in a spreadsheet: Vietnamese headers, one row per record, CCCD masked."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.forms.context import FormContext
from bot.forms.model import FormDef
from bot.forms.types import field_type
from bot.i18n import Translator
from bot.orgtree import OrgTree
from bot.storage.models import OrgUnit, Submission
from bot.submissions import latest_answers

__all__ = ["registration_rows", "to_csv", "to_xlsx"]


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
