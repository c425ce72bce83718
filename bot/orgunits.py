"""Org-unit files (CSV or YAML): reading, checking, and importing them into the unit tree."""

from __future__ import annotations

import asyncio
import csv
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import Database
from bot.storage.models import OrgUnit
from bot.text import fold

__all__ = [
    "ImportReport",
    "OrgUnitFileError",
    "UnitRow",
    "import_file",
    "import_units",
    "read_units_file",
]

FIELDS = ("code", "name", "level", "parent")
REQUIRED = ("code", "name", "level")
# The lengths of the org_units columns (bot/storage/models.py); parent is a code.
MAX_LENGTH = {"code": 40, "name": 200, "level": 40, "parent": 40}


@dataclass(frozen=True)
class UnitRow:
    """One unit as a file describes it; ``parent`` is the parent's code, None at the top."""

    code: str
    name: str
    level: str
    parent: str | None


class OrgUnitFileError(ValueError):
    """A unit file that cannot be used; the message names the file, the line and the fault."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class _TreeError(ValueError):
    """Rows that do not make a tree together with the units already in the database."""


@dataclass
class ImportReport:
    """What an import did: codes created, codes updated, and how many rows were unchanged."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return (
            f"created {len(self.created)}, updated {len(self.updated)}, unchanged {self.unchanged}"
        )


# --- reading files ---------------------------------------------------------------------


def read_units_file(path: Path) -> list[UnitRow]:
    """Read and check a ``.csv`` or ``.yaml``/``.yml`` unit file.

    Checks that every row has a code, name and level, that no code appears twice, that
    every parent is in the file (or the row has none), and that parents make no cycle.
    Raises OrgUnitFileError naming the file and line.
    """
    return [row for _, row in _read(Path(path), external_parents=False)]


def _read(path: Path, *, external_parents: bool) -> list[tuple[int, UnitRow]]:
    """Rows with their line numbers; with ``external_parents`` a parent may be elsewhere."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise OrgUnitFileError(path, f"unknown file type {suffix!r}; use .csv, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OrgUnitFileError(path, "the file is not UTF-8 text") from exc
    except OSError as exc:
        raise OrgUnitFileError(path, f"cannot read the file ({exc.strerror})") from exc
    records = _csv_records(path, text) if suffix == ".csv" else _yaml_records(path, text)
    if not records:
        raise OrgUnitFileError(path, "the file lists no units")
    rows = [(line, _to_row(path, line, record)) for line, record in records]
    _check_tree(path, rows, external_parents=external_parents)
    return rows


def _csv_records(path: Path, text: str) -> list[tuple[int, Mapping[str, str]]]:
    # Comment lines become blank lines, so the reader's line numbers stay the file's.
    lines = ["" if line.lstrip().startswith("#") else line for line in text.splitlines()]
    reader = csv.reader(lines)
    header: list[str] | None = None
    records: list[tuple[int, Mapping[str, str]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            line = reader.line_num
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                _check_header(path, line, header)
                continue
            if len(cells) > len(header):
                raise OrgUnitFileError(
                    path, f"{len(cells)} values but the header has {len(header)} columns", line
                )
            records.append((line, dict(zip(header, cells, strict=False))))
    except csv.Error as exc:
        raise OrgUnitFileError(path, f"not valid CSV: {exc}", reader.line_num) from exc
    if header is None:
        raise OrgUnitFileError(path, "the file lists no units")
    return records


def _check_header(path: Path, line: int, header: list[str]) -> None:
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise OrgUnitFileError(
            path, f"unknown column {unknown[0]!r}; the header is code,name,level,parent", line
        )
    repeated = [name for name in FIELDS if header.count(name) > 1]
    if repeated:
        raise OrgUnitFileError(path, f"column {repeated[0]!r} appears twice in the header", line)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise OrgUnitFileError(path, f"the header has no {missing[0]!r} column", line)


def _yaml_records(path: Path, text: str) -> list[tuple[int, Mapping[Any, Any]]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "syntax error"
        raise OrgUnitFileError(path, f"not valid YAML: {problem}", line) from exc
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        raise OrgUnitFileError(
            path, "the file must be a list of units, each with code, name, level, parent", 1
        )
    records: list[tuple[int, Mapping[Any, Any]]] = []
    for item_node, item in zip(node.value, data, strict=True):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            raise OrgUnitFileError(
                path, "each unit must be a mapping with code, name, level, parent", line
            )
        records.append((line, item))
    return records


def _to_row(path: Path, line: int, record: Mapping[Any, Any]) -> UnitRow:
    unknown = [str(key) for key in record if key not in FIELDS]
    if unknown:
        raise OrgUnitFileError(
            path, f"unknown field {unknown[0]!r}; the fields are code, name, level, parent", line
        )
    values: dict[str, str] = {}
    for key in FIELDS:
        value = record.get(key)
        if value is None:
            text = ""
        elif isinstance(value, str):
            text = unicodedata.normalize("NFC", value).strip()
        else:
            # YAML reads 01 as the number 1: codes must be written as text.
            raise OrgUnitFileError(
                path, f"{key} must be text, not {value!r} (in YAML, put it in quotes)", line
            )
        if not text and key in REQUIRED:
            raise OrgUnitFileError(path, f"missing {key}", line)
        if len(text) > MAX_LENGTH[key]:
            raise OrgUnitFileError(path, f"{key} is longer than {MAX_LENGTH[key]} characters", line)
        values[key] = text
    return UnitRow(
        code=values["code"],
        name=values["name"],
        level=values["level"],
        parent=values["parent"] or None,
    )


def _check_tree(path: Path, rows: list[tuple[int, UnitRow]], *, external_parents: bool) -> None:
    line_of: dict[str, int] = {}
    for line, row in rows:
        if row.code in line_of:
            raise OrgUnitFileError(
                path, f"code {row.code!r} is already used on line {line_of[row.code]}", line
            )
        line_of[row.code] = line
    for line, row in rows:
        if row.parent is None:
            continue
        if row.parent == row.code:
            raise OrgUnitFileError(path, f"unit {row.code!r} is its own parent", line)
        if row.parent not in line_of and not external_parents:
            raise OrgUnitFileError(
                path, f"parent {row.parent!r} of unit {row.code!r} is not in the file", line
            )
    parent_of = {row.code: row.parent for _, row in rows}
    cycle = _find_cycle(parent_of)
    if cycle:
        raise OrgUnitFileError(
            path, f"the parents make a cycle: {' -> '.join(cycle)}", line_of[cycle[0]]
        )


def _find_cycle(parent_of: Mapping[str, str | None]) -> list[str]:
    """A cycle among the parent links, as codes from a unit back to itself; [] if none."""
    done: set[str] = set()
    for start in parent_of:
        chain: list[str] = []
        code: str | None = start
        while code is not None and code in parent_of and code not in done:
            if code in chain:
                return [*chain[chain.index(code) :], code]
            chain.append(code)
            code = parent_of[code]
        done.update(chain)
    return []


# --- importing -------------------------------------------------------------------------


async def import_units(session: AsyncSession, rows: list[UnitRow]) -> ImportReport:
    """Create or update units by code so the database matches ``rows``; does not commit.

    Importing the same rows twice changes nothing. A unit whose name, level or parent
    differs is updated, and the paths and depths of it and everything below it are
    recomputed. A parent may be a unit already in the database that is not in ``rows``.
    Units in the database but not in ``rows`` are left as they are.
    """
    wanted: dict[str, UnitRow] = {}
    for row in rows:
        if row.code in wanted:
            raise _TreeError(f"unit {row.code!r} appears twice")
        wanted[row.code] = row

    # The whole tree: a moved unit takes its subtree along, and cycles may pass through
    # units that are not in the rows.
    units = {unit.code: unit for unit in await session.scalars(select(OrgUnit))}
    code_of_id = {unit.id: unit.code for unit in units.values()}
    for row in rows:
        if row.parent is not None and row.parent not in wanted and row.parent not in units:
            raise _TreeError(
                f"parent {row.parent!r} of unit {row.code!r} is neither imported "
                "nor in the database"
            )
    parent_of: dict[str, str | None] = {
        code: code_of_id[unit.parent_id] if unit.parent_id is not None else None
        for code, unit in units.items()
    }
    parent_of.update({row.code: row.parent for row in rows})
    cycle = _find_cycle(parent_of)
    if cycle:
        raise _TreeError(f"the parents would make a cycle: {' -> '.join(cycle)}")

    report = ImportReport()
    for row in rows:
        unit = units.get(row.code)
        if unit is None:
            # Parent, path and depth are set once every unit has an id.
            unit = OrgUnit(
                code=row.code,
                name=row.name,
                name_folded=fold(row.name),
                level=row.level,
                parent_id=None,
                path="/",
                depth=0,
                active=True,
            )
            session.add(unit)
            units[row.code] = unit
            report.created.append(row.code)
            continue
        old_parent = code_of_id[unit.parent_id] if unit.parent_id is not None else None
        if (unit.name, unit.level, old_parent) == (row.name, row.level, row.parent):
            report.unchanged += 1
        else:
            unit.name = row.name
            unit.level = row.level
            report.updated.append(row.code)
        if unit.name_folded != fold(row.name):
            unit.name_folded = fold(row.name)
    if report.created:
        await session.flush()

    for row in rows:
        unit = units[row.code]
        parent_id = units[row.parent].id if row.parent is not None else None
        if unit.parent_id != parent_id:
            unit.parent_id = parent_id
    _place(units.values())
    await session.flush()
    return report


def _place(units: Iterable[OrgUnit]) -> None:
    """Set every unit's materialised path and depth from its parent's."""
    by_id = {unit.id: unit for unit in units}
    placed: dict[int, tuple[str, int]] = {}
    for unit in by_id.values():
        chain: list[OrgUnit] = []
        current: OrgUnit | None = unit
        while current is not None and current.id not in placed:
            chain.append(current)
            current = by_id[current.parent_id] if current.parent_id is not None else None
        for member in reversed(chain):
            if member.parent_id is None:
                path, depth = f"/{member.id}/", 0
            else:
                parent_path, parent_depth = placed[member.parent_id]
                path, depth = f"{parent_path}{member.id}/", parent_depth + 1
            placed[member.id] = (path, depth)
            if member.path != path:
                member.path = path
            if member.depth != depth:
                member.depth = depth


async def import_file(db: Database, path: Path) -> ImportReport:
    """Read a unit file, import it, and commit; parents may be units already in the database."""
    path = Path(path)
    located = await asyncio.to_thread(_read, path, external_parents=True)
    rows = [row for _, row in located]
    codes = {row.code for row in rows}
    outside = {row.parent for row in rows if row.parent is not None and row.parent not in codes}
    async with db.session() as session:
        if outside:
            found = set(
                await session.scalars(select(OrgUnit.code).where(OrgUnit.code.in_(outside)))
            )
            for line, row in located:
                if row.parent in outside and row.parent not in found:
                    raise OrgUnitFileError(
                        path,
                        f"parent {row.parent!r} of unit {row.code!r} is neither in the file "
                        "nor in the database",
                        line,
                    )
        try:
            report = await import_units(session, rows)
        except _TreeError as exc:
            raise OrgUnitFileError(path, str(exc)) from exc
        await session.commit()
    return report
