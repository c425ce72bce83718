"""Importing past awards (CSV) into the award history that prerequisites read.

Columns (a header line first; UTF-8, with or without a byte-order mark, comma or semicolon):

    group      one of the groups in rules/awards.yaml (household, village, official...)
    unit       org unit code: the unit itself for district/commune/village, else its place
    name       the household head, person or enterprise (optional for units)
    award      an award id of rules/awards.yaml (chairman_certificate_annual...)
    year       the year of the award
    movement   optional; empty means this movement (rules/awards.yaml `movement`)
    decision   optional: the decision's number and date

Every line is checked first; one bad line stops the import and nothing is written. A line
already in the history (same nominee, award, year and movement) is left as it is, so the
same file can be imported twice.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from bot.awards import award_rules, name_key, unit_key
from bot.storage.db import Database
from bot.storage.models import AwardHistory, OrgUnit, utcnow
from rules.awards import AwardRules

__all__ = ["HistoryFileError", "ImportReport", "import_history"]

REQUIRED = ("group", "unit", "award", "year")
KNOWN = (*REQUIRED, "name", "movement", "decision")
_MAX_ERRORS = 20


class HistoryFileError(ValueError):
    """The file cannot be imported; ``problems`` are "line N: ..." messages."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


@dataclass
class ImportReport:
    added: int = 0
    existing: int = 0
    lines: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.added} awards added, {self.existing} already in the history"


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    key: str
    name: str
    group: str
    unit_id: int
    award: str
    year: int
    movement: str
    decision: str | None


def _read(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise HistoryFileError(path, [f"cannot read the file: {error.strerror}"]) from None
    except UnicodeDecodeError:
        raise HistoryFileError(path, ["not UTF-8 text (save the CSV as UTF-8)"]) from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in KNOWN]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"line 1: missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(
                f"line 1: unknown column(s) {', '.join(unknown)} (known: {', '.join(KNOWN)})"
            )
        raise HistoryFileError(path, problems)
    rows = []
    for number, raw in enumerate(reader, 2):
        cleaned = {
            (key or "").strip().lower(): (value or "").strip()
            for key, value in raw.items()
            if key is not None
        }
        if any(cleaned.values()):
            rows.append((number, cleaned))
    return rows


async def import_history(db: Database, path: Path) -> ImportReport:
    rules = award_rules()
    path = Path(path)
    lines = _read(path)
    async with db.session() as session:
        codes = {row["unit"] for _, row in lines if row.get("unit")}
        units = {
            unit.code: unit
            for unit in (
                await session.execute(select(OrgUnit).where(OrgUnit.code.in_(codes)))
            ).scalars()
        }
        problems: list[str] = []
        parsed: list[_Row] = []
        for line, row in lines:
            problem, value = _parse(rules, units, line, row)
            if problem:
                problems.append(f"line {line}: {problem}")
            elif value is not None:
                parsed.append(value)
            if len(problems) >= _MAX_ERRORS:
                break
        if problems:
            raise HistoryFileError(path, problems)
        report = ImportReport()
        seen: set[tuple[str, str, int, str]] = set()
        now = utcnow()
        for item in parsed:
            identity = (item.key, item.award, item.year, item.movement)
            exists = identity in seen or (
                await session.scalar(
                    select(AwardHistory.id).where(
                        AwardHistory.nominee_key == item.key,
                        AwardHistory.award == item.award,
                        AwardHistory.year == item.year,
                        AwardHistory.movement == item.movement,
                    )
                )
                is not None
            )
            seen.add(identity)
            if exists:
                report.existing += 1
                continue
            session.add(
                AwardHistory(
                    nominee_key=item.key,
                    nominee_name=item.name[:200],
                    nominee_group=item.group,
                    org_unit_id=item.unit_id,
                    award=item.award,
                    year=item.year,
                    movement=item.movement,
                    decision=item.decision,
                    source="import",
                    created_at=now,
                )
            )
            report.added += 1
            report.lines.append(item.line)
        await session.commit()
    return report


def _parse(
    rules: AwardRules, units: dict[str, OrgUnit], line: int, row: dict[str, str]
) -> tuple[str | None, _Row | None]:
    for name in REQUIRED:
        if not row.get(name):
            return f"{name} is empty", None
    group, code, award = row["group"], row["unit"], row["award"]
    if group not in rules.groups:
        return f"unknown group {group!r} (known: {', '.join(rules.groups)})", None
    if award not in rules.awards:
        return f"unknown award {award!r} (known: {', '.join(rules.awards)})", None
    unit = units.get(code)
    if unit is None:
        return f"no org unit with code {code!r} (import the org units first)", None
    try:
        year = int(row["year"])
    except ValueError:
        return f"year {row['year']!r} is not a year", None
    if not 1990 <= year <= 2100:
        return f"year {year} is out of range", None
    level = rules.groups[group].unit_level
    name = " ".join(row.get("name", "").split())
    if level is not None:
        if unit.level != level:
            return f"unit {code!r} is a {unit.level}, not a {level} (group {group})", None
        key, name = unit_key(code), name or unit.name
    elif not name:
        return f"name is empty (needed for group {group})", None
    else:
        key = name_key(code, group, name)
    return None, _Row(
        line=line,
        key=key,
        name=name,
        group=group,
        unit_id=unit.id,
        award=award,
        year=year,
        movement=row.get("movement") or rules.movement,
        decision=(row.get("decision") or None),
    )
