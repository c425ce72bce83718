"""Village reports in the database: the natural key under a race, revisions with who/when/why,
periods that lock while a head types, what officials read (sums, rates, the chart) and export
(XLSX opened with openpyxl, CSV, the command line)."""

from __future__ import annotations

import asyncio
import base64
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.datasets import get_dataset
from bot.exports import village_report_export
from bot.i18n import compile_catalogs, translator
from bot.orgtree import load_tree
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import AuditEntry, Submission, SubmissionRevision
from bot.village_reports import PeriodRules, save_report, summarise
from rules.periods import Month
from tests.conftest import import_units
from tests.support.db import PG_URL, fresh_postgres
from tests.support.server import RunningBot, start_bot
from tests.support.setup import prepare
from tests.support.village_reports import figures, save, unit_id
from tests.support.web_chat import WebChat

compile_catalogs()  # before any translator: translations are cached per process
ROOT = Path(__file__).resolve().parent.parent
DS = get_dataset("village_monthly")
RULES = PeriodRules()
SEPTEMBER, OCTOBER = Month(2026, 9), Month(2026, 10)
T = translator("vi")


def at(text: str) -> datetime:
    """A moment in Vietnam's time, stored as UTC."""
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


async def stored(db: Database) -> tuple[int, list[tuple[int, str | None, dict[str, Any]]]]:
    async with db.session() as session:
        count = int(await session.scalar(select(func.count(Submission.id))) or 0)
        query = select(
            SubmissionRevision.revision, SubmissionRevision.reason, SubmissionRevision.answers
        ).order_by(SubmissionRevision.revision)
        rows = [(r, why, dict(a)) for r, why, a in (await session.execute(query)).all()]
    return count, rows


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await import_units(database_url, "lam_dong_2025.csv")
    database = Database(database_url)
    yield database
    await database.close()


# --- the natural key ------------------------------------------------------------------------


async def test_a_second_report_for_the_same_village_and_month_is_a_revision(db: Database) -> None:
    first = await save(db, "25000-03", OCTOBER, figures(400, 14, 10), at("2026-11-02T08:00"))
    second = await save(
        db, "25000-03", OCTOBER, figures(401, 14, 10), at("2026-11-03T09:00"), reason="gõ nhầm"
    )
    other_month = await save(db, "25000-03", SEPTEMBER, figures(399, 15, 10), at("2026-11-03"))
    assert first.created and not second.created and other_month.created
    assert second.submission.id == first.submission.id and second.revision == 2
    count, revisions = await stored(db)
    assert count == 2
    october = [r for r in revisions if r[2]["total"] in (400, 401)]
    assert [(r, why, a["total"]) for r, why, a in october] == [(1, None, 400), (2, "gõ nhầm", 401)]
    async with db.session() as session:
        submission = await session.get(Submission, first.submission.id)
    assert submission is not None
    # When it first came in stays; when it last changed moves.
    assert submission.created_at == at("2026-11-02T08:00")
    assert submission.updated_at == at("2026-11-03T09:00")
    assert submission.natural_key == "village_monthly/2026-10/25000-03"
    assert submission.receipt_code is not None and submission.receipt_code.startswith("BC-")


@pytest.mark.skipif(PG_URL is None, reason="the race needs PostgreSQL (TEST_DATABASE_URL)")
async def test_two_heads_at_once_on_postgresql_make_one_report_with_two_revisions() -> None:
    url = await fresh_postgres()
    await import_units(url, "lam_dong_2025.csv")
    db = Database(url)
    uid = await unit_id(db, "25000-03")
    inserted, release = asyncio.Event(), asyncio.Event()

    async def head(answers: dict[str, Any], hold: bool) -> Any:
        if not hold:
            await inserted.wait()  # the other head's row is written, not yet committed
        async with db.session() as session, session.begin():
            saved = await save_report(
                session,
                DS,
                unit_id=uid,
                unit_code="25000-03",
                period=OCTOBER,
                answers=answers,
                author_id=None,
                now=at("2026-11-02T08:00"),
                race_reason="cùng lúc",
            )
            if hold:
                inserted.set()
                await release.wait()
        return saved

    try:
        first = asyncio.create_task(head(figures(400, 14, 10), hold=True))
        second = asyncio.create_task(head(figures(402, 13, 10), hold=False))
        await inserted.wait()
        await asyncio.sleep(0.5)
        # The second head waits on the first one's row in the unique index...
        assert not second.done()
        release.set()
        a, b = await asyncio.gather(first, second)
        # ...and once it is committed, the duplicate key becomes a revision, not an error.
        assert a.created and not b.created and b.revision == 2
        count, revisions = await stored(db)
        assert count == 1
        assert [(r, why, x["total"]) for r, why, x in revisions] == [
            (1, None, 400),
            (2, "cùng lúc", 402),
        ]
    finally:
        await db.close()


# --- through the chat: two heads confirm at the same moment; a period locks mid-form ---------


SETUP = {
    "invitations": [
        {"name": "head_a", "role": "village_head", "unit": "25000-03"},
        {"name": "head_b", "role": "village_head", "unit": "25000-03"},
        {"name": "commune", "role": "commune_official", "unit": "25000"},
        {"name": "other_commune", "role": "commune_official", "unit": "22945"},
    ]
}


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[tuple[RunningBot, dict[str, str]]]:
    await import_units(settings.database_url, "lam_dong_2025.csv")
    names = await prepare(settings.database_url, SETUP)
    bot = await start_bot(settings)
    yield bot, names
    await bot.stop()


async def join(chat: WebChat, code: str) -> None:
    await chat.send_text(f"/start {code}")
    await chat.send_payload("lang:vi")
    replies = await chat.send_payload("consent:yes")
    assert any("Đã xác nhận" in r.text for r in replies), [r.text for r in replies]


def text_of(replies: list[Any]) -> str:
    return "\n".join(r.text for r in replies)


async def test_two_heads_confirming_together_leave_one_report(
    running: tuple[RunningBot, dict[str, str]], http: aiohttp.ClientSession
) -> None:
    bot, names = running
    a = WebChat(bot.url, "race-a", http)
    b = WebChat(bot.url, "race-b", http)
    await join(a, names["head_a"])
    await join(b, names["head_b"])
    for chat, total in ((a, 400), (b, 402)):
        said = text_of(await chat.send_text(f"bc tong {total} ngheo 14 can 10 dtts 3"))
        assert "Kiểm tra lại" in said, said
    replies = await asyncio.gather(a.send_text("ok"), b.send_text("ok"))
    said = [text_of(r) for r in replies]
    assert not any("trục trặc" in s for s in said), said
    # Whoever came second either raced (merged as a revision) or saw the first report and
    # is asked why it changes it; either way no second row.
    for chat, text in zip((a, b), said, strict=True):
        if "Vì sao sửa" in text:
            assert "Lần gửi: 2" in text_of(await chat.send_text("số hộ đã rà soát lại"))
    assert sum("Lần gửi: 1" in s for s in said) == 1
    db = bot.app.services.db
    count, revisions = await stored(db)
    assert count == 1 and [r for r, _, _ in revisions] == [1, 2]
    assert {x["total"] for _, _, x in revisions} == {400, 402}


async def test_a_period_that_locks_while_the_head_types_is_refused(
    running: tuple[RunningBot, dict[str, str]], http: aiohttp.ClientSession
) -> None:
    bot, names = running
    services = bot.app.services
    clock = {"now": at("2026-11-15T22:00")}  # the last day October is open
    services.clock = lambda: clock["now"]
    head = WebChat(bot.url, "lock-head", http)
    await join(head, names["head_a"])
    said = text_of(await head.send_text("bc 10/2026 tong 400 ngheo 14 can 10 dtts 3"))
    assert "Kiểm tra lại" in said
    clock["now"] = at("2026-11-16T07:00")  # a night later, October is locked
    said = text_of(await head.send_text("ok"))
    assert "đã khoá sổ sau ngày 15/11/2026" in said
    assert (await stored(services.db))[0] == 0
    # The commune reopens it for this village; the head is told and can send.
    commune = WebChat(bot.url, "lock-commune", http)
    await join(commune, names["commune"])
    await commune.send_text("/molai Bình An 10/2026")
    said = text_of(await commune.send_text("Trưởng thôn đi họp"))
    assert "đến hết ngày 23/11/2026" in said
    pushed = text_of(await head.inbox())
    assert "Xã đã mở lại kỳ báo cáo tháng 10/2026" in pushed
    said = text_of(await head.send_text("bc 10/2026 tong 400 ngheo 14 can 10 dtts 3"))
    said = text_of(await head.send_text("ok"))
    assert "Lần gửi: 1" in said and "sửa đến hết ngày 23/11/2026" in said
    # A month not yet begun is refused, whatever the command.
    assert "chưa tới" in text_of(await head.send_text("/baocao 12/2026"))
    async with services.db.session() as session:
        actions = list(
            (await session.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars()
        )
    assert "village_report.reopened" in actions and "village_report.submitted" in actions


# --- what officials read -------------------------------------------------------------------------


async def seed_reports(db: Database) -> None:
    """Xã Di Linh (25000): Thôn 1 and Thôn Bình An report October, Thôn 2 does not."""
    await save(db, "25000-01", SEPTEMBER, figures(100, 12, 6), at("2026-10-04T10:00"))
    await save(db, "25000-01", OCTOBER, figures(100, 10, 5), at("2026-11-05T23:00"))  # on time
    await save(
        db,
        "25000-03",
        OCTOBER,
        figures(300, 30, 20, loans=2, loan_amount=80_000_000),
        at("2026-11-06T08:00"),  # late
    )
    await save(
        db,
        "25000-03",
        OCTOBER,
        figures(300, 29, 20, loans=2, loan_amount=80_000_000),
        at("2026-11-07T08:00"),
        reason="sửa số hộ nghèo",
    )


async def test_summary_of_a_commune_from_the_database(db: Database) -> None:
    await seed_reports(db)
    async with db.session() as session:
        tree = await load_tree(session)
        summary = await summarise(session, DS, tree, "25000", OCTOBER, RULES)
    done = summary.completeness["25000"]
    assert (done.expected, done.on_time, done.late, done.missing) == (3, 1, 1, ("25000-02",))
    assert done.reporting_rate == pytest.approx(200 / 3)
    totals = summary.totals["25000"].values
    # The latest revision counts: 29 poor in Thôn Bình An, not 30.
    assert (totals["total"], totals["poor"], totals["near_poor"]) == (400, 39, 25)
    assert totals["loan_amount"] == 80_000_000
    assert summary.indicators["25000"]["poverty_rate"] == pytest.approx(39 / 400 * 100)
    assert summary.series[-2:] == [(SEPTEMBER, 12), (OCTOBER, 39)]
    # The province sees the same figures one level up.
    async with db.session() as session:
        province = await summarise(session, DS, tree, "68", OCTOBER, RULES)
    assert province.totals["68"].values["poor"] == 39
    assert province.completeness["68"].expected == 48


async def test_xlsx_export_opened_with_openpyxl(db: Database) -> None:
    await seed_reports(db)
    async with db.session() as session:
        tree = await load_tree(session)
        result = await village_report_export(
            session, DS, tree, "25000", SEPTEMBER, OCTOBER, T, RULES, "xlsx"
        )
    assert result.rows == 3
    book = load_workbook(io.BytesIO(result.content))
    assert book.sheetnames == ["Báo cáo thôn", "Tổng hợp theo cấp"]
    rows = list(book["Báo cáo thôn"].iter_rows(values_only=True))
    header, body = list(rows[0]), [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert header[:4] == ["Mã đơn vị", "Địa bàn", "Kỳ báo cáo", "Tổng số hộ"]
    assert "Hộ nghèo DTTS" in header and "Số tiền vay" in header and "Đúng hạn" in header
    assert [(r["Mã đơn vị"], r["Kỳ báo cáo"]) for r in body] == [
        ("25000-01", "09/2026"),
        ("25000-01", "10/2026"),
        ("25000-03", "10/2026"),
    ]
    binh_an = body[2]
    assert binh_an["Địa bàn"] == "Thôn Bình An, Xã Di Linh, Tỉnh Lâm Đồng"
    assert (binh_an["Tổng số hộ"], binh_an["Hộ nghèo"], binh_an["Số tiền vay"]) == (
        300,
        29,
        80_000_000,
    )
    assert binh_an["Số lần gửi"] == 2 and binh_an["Đúng hạn"] == "Không"
    assert body[1]["Đúng hạn"] == "Có"
    assert binh_an["Gửi lần đầu"] == datetime(2026, 11, 6, 8, 0)  # local time, for Excel
    totals = list(book["Tổng hợp theo cấp"].iter_rows(values_only=True))
    total_rows = [dict(zip(totals[0], r, strict=True)) for r in totals[1:]]
    assert [(r["Cấp"], r["Mã đơn vị"], r["Kỳ báo cáo"]) for r in total_rows] == [
        ("Xã", "25000", "09/2026"),
        ("Xã", "25000", "10/2026"),
    ]
    october = total_rows[1]
    assert october["Số thôn phải báo cáo"] == 3 and october["Số thôn đã báo cáo"] == 2
    assert october["Tỷ lệ báo cáo (%)"] == pytest.approx(66.7)
    assert october["Số báo cáo đúng hạn"] == 1
    assert (october["Tổng số hộ"], october["Hộ nghèo"]) == (400, 39)
    assert october["Tỷ lệ hộ nghèo"] == pytest.approx(9.8)


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "export", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_export_from_the_command_line(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    await seed_reports(db)
    xlsx = tmp_path / "bc.xlsx"
    done = await asyncio.to_thread(
        run_cli,
        database_url,
        "village-reports",
        "--unit",
        "68",
        "--from",
        "2026-09",
        "--to",
        "10/2026",
        "--format",
        "xlsx",
        "--output",
        str(xlsx),
    )
    assert done.returncode == 0, done.stderr
    assert "3 rows written" in done.stdout
    book = load_workbook(xlsx)
    province = [r for r in book["Tổng hợp theo cấp"].iter_rows(values_only=True) if r[1] == "68"]
    assert [(r[0], r[3], r[4], r[5]) for r in province] == [
        ("Tỉnh", "09/2026", 48, 1),
        ("Tỉnh", "10/2026", 48, 2),
    ]
    csv_file = tmp_path / "bc.csv"
    done = await asyncio.to_thread(
        run_cli,
        database_url,
        "village-reports",
        "--unit",
        "25000",
        "--from",
        "2026-10",
        "--to",
        "2026-10",
        "--format",
        "csv",
        "--output",
        str(csv_file),
    )
    assert done.returncode == 0, done.stderr
    text = csv_file.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Mã đơn vị,Địa bàn,Kỳ báo cáo,Tổng số hộ")
    assert len(text.splitlines()) == 3
    assert (tmp_path / "bc-totals.csv").read_bytes().decode("utf-8-sig").count("10/2026") == 1
    # Wrong months and wrong options say so; registrations export as before.
    bad = await asyncio.to_thread(
        run_cli, database_url, "village-reports", "--unit", "25000", "--from", "2026-13"
    )
    assert bad.returncode == 2 and "error:" in bad.stderr
    mixed = await asyncio.to_thread(
        run_cli, database_url, "registrations", "--unit", "25000", "--from", "2026-01"
    )
    assert mixed.returncode == 2 and "village-reports only" in mixed.stderr
    plain = await asyncio.to_thread(
        run_cli,
        database_url,
        "registrations",
        "--unit",
        "25000",
        "--format",
        "csv",
        "--output",
        str(tmp_path / "dk.csv"),
    )
    assert plain.returncode == 0 and "0 rows written" in plain.stdout


async def test_the_summary_comes_with_a_chart_and_stays_in_the_officials_area(
    running: tuple[RunningBot, dict[str, str]], http: aiohttp.ClientSession
) -> None:
    bot, names = running
    await seed_reports(bot.app.services.db)
    commune = WebChat(bot.url, "sum-commune", http)
    await join(commune, names["commune"])
    data = await commune.post({"text": "/tonghop 10/2026"})
    texts = [r["text"] for r in data["replies"]]
    assert "Phải báo cáo: 3 · Đã gửi: 2 (đúng hạn 1, trễ 1) · Chưa gửi: 1" in texts[0]
    assert "Chưa gửi: Thôn 2, Xã Di Linh" in texts[0]
    assert "Tỷ lệ hộ nghèo: 9,8 %" in texts[0]
    photo = data["replies"][1]["attachment"]
    assert photo["kind"] == "photo" and photo["mime_type"] == "image/png"
    assert base64.b64decode(photo["content_b64"]).startswith(b"\x89PNG\r\n\x1a\n")
    # The export button sends the workbook back in the chat.
    export = await commune.post({"payload": "vo:xls:25000:2026-09:2026-10"})
    document = export["replies"][0]["attachment"]
    assert document["filename"].endswith(".xlsx")
    book = load_workbook(io.BytesIO(base64.b64decode(document["content_b64"])))
    assert book["Báo cáo thôn"].max_row == 4
    # Another commune's official reaches none of it, by name or with a forged button.
    other = WebChat(bot.url, "sum-other", http)
    await join(other, names["other_commune"])
    assert "Không tìm thấy" in text_of(await other.send_text("/tonghop 10/2026 Di Linh"))
    assert "không có quyền" in text_of(await other.send_payload("vo:sum:25000:2026-10"))
    assert "không có quyền" in text_of(await other.send_payload("vo:xls:25000:2026-01:2026-10"))
    assert "không có quyền" in text_of(await other.send_payload("vo:view:25000-03:2026-10"))
    # A village head is no official.
    head = WebChat(bot.url, "sum-head", http)
    await join(head, names["head_a"])
    assert "không có quyền" in text_of(await head.send_text("/tonghop"))
    view = text_of(await head.send_text("/xem 10/2026"))
    assert "Lần 2" in view and "sửa số hộ nghèo" in view


async def test_baseline_and_the_halving_criterion(
    running: tuple[RunningBot, dict[str, str]], http: aiohttp.ClientSession
) -> None:
    bot, names = running
    db = bot.app.services.db
    # The first reports of 2021/2022 are the baseline unless an official sets one.
    await save(db, "25000-01", Month(2021, 3), figures(100, 30, 12), at("2021-04-02T08:00"))
    await save(db, "25000-01", OCTOBER, figures(100, 10, 11), at("2026-11-02T08:00"))
    commune = WebChat(bot.url, "base-commune", http)
    await join(commune, names["commune"])
    said = text_of(await commune.send_text("/tonghop 10/2026 Thôn 1"))
    # 42 -> 21 is exactly half: "more than 50 %" is not met.
    assert "Hộ nghèo + cận nghèo: 42 → 21 (-50 %)" in said and "chưa đạt" in said
    said = text_of(await commune.send_text("/dauky Thôn 1 tong 100 ngheo 30 can 13"))
    assert "Đã lưu số liệu đầu kỳ" in said
    said = text_of(await commune.send_text("/tonghop 10/2026 Thôn 1"))
    assert "43 → 21" in said and "ĐẠT" in said
    bad = text_of(await commune.send_text("/dauky Thôn 1 tong -4"))
    assert "Chưa lưu được" in bad
    assert (await stored(db))[0] == 2


def test_last_day_of_the_due_window_is_on_time() -> None:
    assert at("2026-11-05T23:59") <= RULES.due(OCTOBER) < at("2026-11-06T00:00")
    assert RULES.due(OCTOBER) - RULES.due(SEPTEMBER) == timedelta(days=31)


async def test_the_movements_criteria_from_the_data(db: Database) -> None:
    from bot.village_reports import criteria_figures

    history = {
        Month(2021, 3): (30, 12),  # the first report of the baseline window
        Month(2022, 12): (24, 10),
        Month(2023, 12): (18, 10),
        Month(2024, 12): (12, 11),
        OCTOBER: (10, 11),
    }
    for month, (poor, near_poor) in history.items():
        await save(db, "25000-01", month, figures(100, poor, near_poor), at("2026-11-02T08:00"))
    async with db.session() as session:
        tree = await load_tree(session)
        found = await criteria_figures(session, DS, tree, "25000-01", OCTOBER)
        commune = await criteria_figures(session, DS, tree, "25000", OCTOBER)
    assert found == {
        "group": "village",
        "unit": "25000-01",
        "name": "Thôn 1",
        "poor_start": 30,
        "near_poor_start": 12,
        "poor_now": 10,
        "near_poor_now": 11,
        "poverty_rate_by_year": {
            "2021": 30.0,
            "2022": 24.0,
            "2023": 18.0,
            "2024": 12.0,
            "2026": 10.0,
        },
    }
    # The commune sums its villages; only one reported, so the same households.
    assert (commune["group"], commune["poor_start"], commune["poor_now"]) == ("commune", 30, 10)
    criteria = pytest.importorskip("rules.criteria")
    verdict = criteria.evaluate(found)
    # 42 -> 21 households is exactly half: "more than 50 %" is not met.
    assert verdict.eligible is False
