"""Org-unit files: reading and checking them, and importing them into SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.orgunits import (
    ImportReport,
    OrgUnitFileError,
    UnitRow,
    import_file,
    import_units,
    read_units_file,
)
from bot.storage.db import Database, migrate
from bot.storage.models import OrgUnit
from bot.text import fold

DATA = Path(__file__).resolve().parent.parent / "rules" / "orgunits"
BINH_THUAN_2022 = DATA / "binh_thuan_2022.yaml"
LAM_DONG_2025 = DATA / "lam_dong_2025.csv"
SHIPPED = [BINH_THUAN_2022, LAM_DONG_2025]
HEADER = "code,name,level,parent\n"
YAML_OK = '- {code: "1", name: "Tỉnh A", level: province, parent: null}\n'

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set"),
    ),
]


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    else:
        assert PG_URL is not None
        url = PG_URL
        await _reset_postgres(url)
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.close()


async def _units(db: Database) -> dict[str, OrgUnit]:
    async with db.session() as session:
        return {unit.code: unit for unit in await session.scalars(select(OrgUnit))}


def _assert_paths_consistent(units: dict[str, OrgUnit]) -> None:
    by_id = {unit.id: unit for unit in units.values()}
    for unit in units.values():
        if unit.parent_id is None:
            assert (unit.path, unit.depth) == (f"/{unit.id}/", 0), unit.code
        else:
            parent = by_id[unit.parent_id]
            assert unit.path == f"{parent.path}{unit.id}/", unit.code
            assert unit.depth == parent.depth + 1, unit.code


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


# --- the shipped files -------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
async def test_shipped_file_imports_and_reimport_changes_nothing(db: Database, path: Path) -> None:
    rows = read_units_file(path)

    first = await import_file(db, path)

    assert first.created == [row.code for row in rows]
    assert (first.updated, first.unchanged) == ([], 0)
    units = await _units(db)
    assert len(units) == len(rows)
    _assert_paths_consistent(units)
    for row in rows:
        unit = units[row.code]
        assert (unit.name, unit.level, unit.active) == (row.name, row.level, True)
        assert unit.name_folded == fold(row.name)
        assert unit.parent_id == (units[row.parent].id if row.parent else None)

    second = await import_file(db, path)

    assert (second.created, second.updated, second.unchanged) == ([], [], len(rows))
    assert second.summary() == f"created 0, updated 0, unchanged {len(rows)}"
    assert {code: (u.path, u.depth) for code, u in (await _units(db)).items()} == {
        code: (u.path, u.depth) for code, u in units.items()
    }


async def test_2022_tree_has_districts_and_2025_tree_has_none(db: Database) -> None:
    old = read_units_file(BINH_THUAN_2022)
    new = read_units_file(LAM_DONG_2025)
    old_levels = Counter(row.level for row in old)
    new_levels = Counter(row.level for row in new)

    assert set(old_levels) == {"province", "district", "commune", "village"}
    assert old_levels["district"] >= 3
    assert set(new_levels) == {"province", "commune", "village"}
    assert new_levels["commune"] >= 12
    # Bình Thuận's communes are in Lâm Đồng since 1 July 2025 (codes 22xxx-23xxx).
    assert any(row.code == "22918" and "Mũi Né" in row.name for row in new)

    await import_file(db, BINH_THUAN_2022)
    units = await _units(db)
    depth_of = {unit.level: unit.depth for unit in units.values()}
    assert depth_of == {"province": 0, "district": 1, "commune": 2, "village": 3}
    assert units["22915"].name == "Phường Mũi Né"
    assert units["22915"].path.startswith(units["593"].path)
    assert units["22915"].name_folded == "phuong mui ne"


async def test_2025_tree_puts_communes_right_under_the_province(db: Database) -> None:
    await import_file(db, LAM_DONG_2025)
    units = await _units(db)
    depth_of = {unit.level: unit.depth for unit in units.values()}
    assert depth_of == {"province": 0, "commune": 1, "village": 2}
    province = units["68"]
    assert all(unit.path.startswith(province.path) for unit in units.values())


# --- renames and moves --------------------------------------------------------------------


async def test_rename_and_move_updates_the_unit_and_its_descendants(db: Database) -> None:
    await import_file(db, BINH_THUAN_2022)
    before = await _units(db)
    la_gi = before["594"]
    villages = [code for code in before if code.startswith("22966-")]
    assert villages

    # Xã Tiến Thành moves from Phan Thiết to La Gi and is renamed; its villages follow.
    rows = [
        row
        if row.code != "22966"
        else UnitRow(code="22966", name="Xã Tiến Thành Mới", level="commune", parent="594")
        for row in read_units_file(BINH_THUAN_2022)
    ]
    async with db.session() as session:
        report = await import_units(session, rows)
        await session.commit()

    assert report.created == []
    assert report.updated == ["22966"]
    assert report.unchanged == len(rows) - 1
    after = await _units(db)
    _assert_paths_consistent(after)
    commune = after["22966"]
    assert commune.name == "Xã Tiến Thành Mới"
    assert commune.name_folded == "xa tien thanh moi"
    assert commune.parent_id == la_gi.id
    assert commune.path == f"{la_gi.path}{commune.id}/"
    for code in villages:
        assert after[code].path == f"{commune.path}{after[code].id}/"
        assert after[code].depth == 3
        assert not after[code].path.startswith(before["593"].path)
    # Units that did not move keep their paths.
    assert after["22915-01"].path == before["22915-01"].path


async def test_new_level_in_between_deepens_the_subtree(db: Database) -> None:
    await import_file(db, BINH_THUAN_2022)
    # Only two rows: the parent "60" is in the database, not in the rows.
    rows = [
        UnitRow(code="60-C1", name="Cụm thi đua số 1", level="cluster", parent="60"),
        UnitRow(code="593", name="Thành phố Phan Thiết", level="district", parent="60-C1"),
    ]
    async with db.session() as session:
        report = await import_units(session, rows)
        await session.commit()

    assert (report.created, report.updated, report.unchanged) == (["60-C1"], ["593"], 0)
    assert report.summary() == "created 1, updated 1, unchanged 0"
    units = await _units(db)
    _assert_paths_consistent(units)
    cluster = units["60-C1"]
    assert cluster.path == f"/{units['60'].id}/{cluster.id}/"
    assert units["593"].depth == 2
    assert units["22915"].depth == 3
    assert units["22915-01"].depth == 4
    assert units["22915-01"].path.startswith(cluster.path)
    assert units["23231-01"].depth == 3  # La Gi did not move


async def test_import_units_does_not_commit(db: Database) -> None:
    rows = read_units_file(LAM_DONG_2025)
    async with db.session() as session:
        report = await import_units(session, rows)
        assert len(report.created) == len(rows)
        await session.rollback()
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OrgUnit)) == 0


async def test_import_file_accepts_a_parent_already_in_the_database(
    db: Database, tmp_path: Path
) -> None:
    await import_file(db, LAM_DONG_2025)
    extra = _write(
        tmp_path,
        "extra.csv",
        "code,name,level,parent\n22918-04,Khu phố 4,village,22918\n",
    )

    report = await import_file(db, extra)

    assert report == ImportReport(created=["22918-04"], updated=[], unchanged=0)
    units = await _units(db)
    assert units["22918-04"].path == f"{units['22918'].path}{units['22918-04'].id}/"
    # read_units_file on its own wants the parent in the file.
    with pytest.raises(OrgUnitFileError, match=r"extra\.csv, line 2: parent '22918'"):
        read_units_file(extra)


async def test_import_file_rejects_a_parent_nowhere(db: Database, tmp_path: Path) -> None:
    await import_file(db, LAM_DONG_2025)
    bad = _write(
        tmp_path,
        "bad.csv",
        "code,name,level,parent\n# a comment\n99999-01,Thôn 1,village,99999\n",
    )
    with pytest.raises(OrgUnitFileError, match=r"bad\.csv, line 3: parent '99999'") as caught:
        await import_file(db, bad)
    assert caught.value.line == 3
    assert "99999-01" not in await _units(db)


async def test_import_file_rejects_a_cycle_through_the_database(
    db: Database, tmp_path: Path
) -> None:
    await import_file(db, LAM_DONG_2025)
    # The province would go below one of its own villages.
    bad = _write(tmp_path, "cycle.csv", HEADER + "68,Tỉnh Lâm Đồng,province,24781-01\n")
    with pytest.raises(OrgUnitFileError, match=r"cycle\.csv: .*cycle"):
        await import_file(db, bad)
    units = await _units(db)
    assert units["68"].parent_id is None
    _assert_paths_consistent(units)


# --- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "line", "problem"),
    [
        ("missing.csv", HEADER + "1,Tỉnh A,province,\n2,,commune,1\n", 3, "missing name"),
        ("short.csv", HEADER + "1,Tỉnh A,province,\n2,Xã B\n", 3, "missing level"),
        (
            "missing.yaml",
            YAML_OK + '- {code: "2", name: "Xã B", parent: "1"}\n',
            2,
            "missing level",
        ),
        ("nocode.yml", YAML_OK + "- name: Xã B\n  level: commune\n", 2, "missing code"),
        (
            "dup.csv",
            HEADER + "1,Tỉnh A,province,\n2,Xã B,commune,1\n2,Xã C,commune,1\n",
            4,
            "code '2' is already used on line 3",
        ),
        (
            "dup.yaml",
            YAML_OK + '- {code: "1", name: "Tỉnh B", level: province, parent: null}\n',
            2,
            "code '1' is already used on line 1",
        ),
        (
            "orphan.csv",
            HEADER + "1,Tỉnh A,province,\n2,Xã B,commune,9\n",
            3,
            "parent '9' of unit '2' is not in the file",
        ),
        (
            "orphan.yaml",
            YAML_OK + '- {code: "2", name: "Xã B", level: commune, parent: "9"}\n',
            2,
            "parent '9' of unit '2' is not in the file",
        ),
        (
            "cycle.csv",
            HEADER + "1,Tỉnh A,province,\n2,Xã B,commune,3\n3,Thôn C,village,2\n",
            3,
            "cycle: 2 -> 3 -> 2",
        ),
        ("self.csv", HEADER + "1,Tỉnh A,province,1\n", 2, "its own parent"),
        (
            "number.yaml",
            "- {code: 01, name: Hà Nội, level: province, parent: null}\n",
            1,
            "code must be text",
        ),
        ("extra.csv", HEADER + "1,Tỉnh A,province,,oops\n", 2, "5 values"),
        ("header.csv", "code,name,levle,parent\n1,Tỉnh A,province,\n", 1, "unknown column"),
        ("field.yaml", YAML_OK + '- {code: "2", name: B, level: x, parrent: "1"}\n', 2, "parrent"),
        ("list.yaml", "code: '1'\nname: Tỉnh A\n", 1, "must be a list"),
        ("syntax.yaml", YAML_OK + "- {code: '2', name: [\n", 3, "not valid YAML"),
        ("long.csv", HEADER + f"{'9' * 41},Tỉnh A,province,\n", 2, "longer than 40"),
    ],
)
def test_bad_file_names_file_line_and_fault(
    tmp_path: Path, name: str, content: str, line: int, problem: str
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(OrgUnitFileError) as caught:
        read_units_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert problem in message
    assert caught.value.line == line
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", "# only a comment\n", "no units"),
        ("header_only.csv", HEADER, "no units"),
        ("empty.yaml", "# nothing\n", "no units"),
        ("units.json", "[]", "unknown file type"),
    ],
)
def test_file_without_units_is_rejected(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(OrgUnitFileError, match=problem) as caught:
        read_units_file(path)
    assert str(caught.value).startswith(str(path))


def test_reading_does_not_rely_on_order_and_cleans_values(tmp_path: Path) -> None:
    # Children before parents, spaces around values, decomposed (NFD) Vietnamese.
    nfd_name = "Xa\u0303 Bi\u0300nh An"
    path = _write(
        tmp_path,
        "order.csv",
        "Code, Name ,LEVEL,parent\n"
        f"2-01 , Thôn 1 ,village, 2\n2,{nfd_name},commune,1\n\n1,Tỉnh A,province,\n",
    )
    rows = read_units_file(path)
    assert rows == [
        UnitRow(code="2-01", name="Thôn 1", level="village", parent="2"),
        UnitRow(code="2", name="Xã Bình An", level="commune", parent="1"),
        UnitRow(code="1", name="Tỉnh A", level="province", parent=None),
    ]


async def test_children_before_parents_import(db: Database, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "order.yaml",
        '- {code: "2-01", name: Thôn 1, level: village, parent: "2"}\n'
        '- {code: "2", name: Xã B, level: commune, parent: "1"}\n'
        '- {code: "1", name: Tỉnh A, level: province}\n',
    )
    report = await import_file(db, path)
    assert report.summary() == "created 3, updated 0, unchanged 0"
    units = await _units(db)
    _assert_paths_consistent(units)
    assert units["2-01"].depth == 2
