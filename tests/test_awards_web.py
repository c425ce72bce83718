"""Award nominations through the web chat of the real server: the drafted documents, the
history prerequisites read, a unit and a person proposed by the commune, the deadline, the
quotas and the council's list, returning with a reason, and a restart mid-dossier."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from bot.award_history import import_history
from bot.awards import award_rules, create_nomination, household_key
from bot.reminders import done_units
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    AuditEntry,
    AwardHistory,
    DossierPart,
    Identity,
    Nomination,
    OrgUnit,
    RoleAssignment,
    Submission,
    SubmissionRevision,
)
from rules.deadlines import load_deadlines, occurrence
from rules.periods import Month
from rules.templates.build import TEMPLATES, build
from tests.support.server import RunningBot, start_bot
from tests.support.setup import prepare
from tests.support.transcripts import Reply, find_button
from tests.support.village_reports import figures, save
from tests.support.web_chat import WebChat

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "rules" / "templates"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def said(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


class People:
    """The officials of Xã Di Linh and Tỉnh Lâm Đồng, and households, on the web chat."""

    def __init__(self, running: RunningBot, http: aiohttp.ClientSession, codes: dict[str, str]):
        self.running, self.http, self.codes = running, http, codes
        self.last: dict[str, list[Reply]] = {}

    def chat(self, person: str) -> WebChat:
        return WebChat(self.running.url, f"aw-{person}", self.http)

    async def send(self, person: str, text: str) -> list[Reply]:
        self.last[person] = await self.chat(person).send_text(text)
        return self.last[person]

    async def press(self, person: str, title: str) -> list[Reply]:
        payload = find_button(self.last[person], title)
        self.last[person] = await self.chat(person).send_payload(payload)
        return self.last[person]

    async def payload(self, person: str, payload: str) -> list[Reply]:
        self.last[person] = await self.chat(person).send_payload(payload)
        return self.last[person]

    async def upload(self, person: str, filename: str) -> list[Reply]:
        self.last[person] = await self.chat(person).send_file(filename)
        return self.last[person]

    async def inbox(self, person: str) -> list[Reply]:
        self.last[person] = await self.chat(person).inbox()
        return self.last[person]

    async def join(self, person: str) -> None:
        await self.send(person, f"/start {self.codes[person]}")
        await self.press(person, "Tiếng Việt")
        await self.press(person, "Đồng ý")

    async def household(self, person: str, name: str, income: str = "12tr") -> None:
        """A household of Thôn Bình An that registered and reported its achievements."""
        await self.send(person, "/start")
        await self.press(person, "Tiếng Việt")
        await self.press(person, "Đồng ý")
        await self.press(person, "Hộ gia đình")
        await self.send(person, "thon binh an, di linh")
        await self.send(person, "/dangky")
        for text in (name, "0912345678"):
            await self.send(person, text)
        await self.press(person, "Bỏ qua")
        for text in ("can ngheo", "4", "chan nuoi", "2027", "Nuôi thêm 2 con bò"):
            await self.send(person, text)
        await self.press(person, "Vay vốn")
        await self.press(person, "Xong")
        await self.send(person, "co")
        assert "Đã nhận hồ sơ" in said(await self.press(person, "Gửi"))
        await self.send(person, "/thanhtich")
        for text in ("co", "30tr", "Mua 2 con bò giống", "co", "Ủ phân vi sinh", "-", income):
            await self.send(person, text)
        await self.press(person, "Bỏ qua")
        assert "Đã nhận báo cáo thành tích" in said(await self.press(person, "Gửi"))

    async def propose(self, person: str, nominee: str, award: str) -> list[Reply]:
        await self.send(person, "/khenthuong")
        replies = await self.press(person, "Đề nghị khen thưởng")
        if any(title.startswith("Hộ gia đình") for r in replies for title, _ in r.buttons):
            await self.press(person, "Hộ gia đình")
        await self.press(person, nominee)
        return await self.press(person, award)


INVITATIONS = [
    {"name": "head", "role": "village_head", "unit": "25000-03"},
    {"name": "other_head", "role": "village_head", "unit": "24958-01"},
    {"name": "commune", "role": "commune_official", "unit": "25000"},
    {"name": "other_commune", "role": "commune_official", "unit": "24958"},
    {"name": "province", "role": "province_official", "unit": "68"},
]
ANNUAL = "Bằng khen Chủ tịch UBND tỉnh (hằng năm)"


@pytest.fixture
async def people(settings: Settings, http: aiohttp.ClientSession) -> AsyncIterator[People]:
    codes = await prepare(
        settings.database_url, {"orgunits": "lam_dong_2025.csv", "invitations": INVITATIONS}
    )
    running = await start_bot(settings)
    crowd = People(running, http, codes)
    for person in ("head", "commune", "province"):
        await crowd.join(person)
    yield crowd
    await crowd.running.stop()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    yield database
    await database.close()


def docx_text(reply: Reply) -> str:
    assert reply.attachment is not None
    document = Document(io.BytesIO(base64.b64decode(reply.attachment["content_b64"])))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        lines += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(lines)


async def nominated(people: People, award: str = ANNUAL) -> None:
    await people.household("hh", "Nguyễn Văn An")
    await people.propose("head", "Nguyễn Văn An", award)
    assert "Đã lập hồ sơ" in said(await people.press("head", "Lập hồ sơ"))


# --- documents ---------------------------------------------------------------------------


async def test_the_drafts_carry_the_nominees_data_in_the_official_layout(people: People) -> None:
    await nominated(people)
    replies = await people.press("head", "Bản nháp: Báo cáo thành tích")
    report = docx_text(next(r for r in replies if r.attachment))
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Di Linh, ngày ...... tháng ...... năm",
        "BÁO CÁO THÀNH TÍCH",
        "Đề nghị tặng Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh năm",
        "Của hộ gia đình: Nguyễn Văn An",
        "Nơi cư trú: Thôn Bình An, Xã Di Linh, Tỉnh Lâm Đồng",
        "Số nhân khẩu: 4",
        "hộ cận nghèo",
        "30.000.000 đồng (mục đích: Mua 2 con bò giống); trả lãi, trả gốc đúng hạn",
        "Sáng kiến, cách làm hay: Ủ phân vi sinh",
        "12.000.000 đồng/tháng (bình quân 3.000.000 đồng/người/tháng)",
        "XÁC NHẬN CỦA ỦY BAN NHÂN DÂN XÃ DI LINH",
        "CHỦ HỘ",
        "XÃ DI LINH",
        "THÔN BÌNH AN",
    ):
        assert expected in report, expected
    assert "{{" not in report and "{%" not in report
    await people.payload("head", "ad:open:1")
    await people.send("commune", "/khenthuong")
    await people.press("commune", "Hồ sơ khen thưởng")
    await people.press("commune", "Nguyễn Văn An")
    replies = await people.press("commune", "Bản nháp: Tờ trình")
    letter = docx_text(next(r for r in replies if r.attachment))
    for expected in (
        "ỦY BAN NHÂN DÂN",
        "XÃ DI LINH",
        "Số: ......../TTr-UBND",
        "TỜ TRÌNH",
        "V/v đề nghị tặng Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh năm",
        "Kính gửi: Cơ quan thường trực Ban Chỉ đạo các Chương trình mục tiêu quốc gia tỉnh",
        "Căn cứ Kế hoạch số 3994/KH-UBND ngày 22/11/2022",
        "Ủy ban nhân dân xã Di Linh kính đề nghị",
        "trình Chủ tịch Ủy ban nhân dân tỉnh tặng",
        "cho hộ gia đình: Nguyễn Văn An (Thôn Bình An, Xã Di Linh, Tỉnh Lâm Đồng)",
        "Nơi nhận:",
        "- Như trên;",
        "TM. ỦY BAN NHÂN DÂN",
        "CHỦ TỊCH",
    ):
        assert expected in letter, expected
    assert "Mã hồ sơ trên trợ lý giảm nghèo: KT-" in letter


def test_the_committed_templates_are_what_the_script_builds(tmp_path: Path) -> None:
    build(tmp_path)
    for name in TEMPLATES:
        with (
            zipfile.ZipFile(tmp_path / name) as built,
            zipfile.ZipFile(TEMPLATES_DIR / name) as kept,
        ):
            # Everything but the creation time in docProps/core.xml.
            names = [n for n in built.namelist() if n != "docProps/core.xml"]
            assert names == [n for n in kept.namelist() if n != "docProps/core.xml"]
            for part in names:
                assert built.read(part) == kept.read(part), f"{name}: {part} differs: rebuild"


# --- the award history -------------------------------------------------------------------


async def test_prerequisites_read_the_imported_history(
    people: People, settings: Settings, tmp_path: Path
) -> None:
    await people.household("hh", "Nguyễn Văn An")
    file = tmp_path / "lich-su.csv"
    file.write_text(
        "group,unit,name,award,year\n"
        "household,25000-03,Nguyễn Văn An,chairman_certificate_annual,2023\n",
        encoding="utf-8",
    )
    database = Database(settings.database_url)
    try:
        await import_history(database, file)
        replies = await people.propose("head", "Nguyễn Văn An", "Bằng khen Thủ tướng")
        text = said(replies)
        assert "✗ Chưa đủ điều kiện về khen thưởng trước đó" in text
        assert "mới có 1 Bằng khen của Chủ tịch UBND tỉnh (2023)" in text
        # A draft can be started, but it cannot go up while a prerequisite is missing.
        await people.press("head", "Lập hồ sơ")
        await people.press("head", "Gửi: Báo cáo thành tích")
        await people.upload("head", "bao-cao.pdf")
        refused = said(await people.press("head", "Đề xuất lên xã"))
        assert "Chưa gửi được vì chưa đủ điều kiện" in refused
        assert "mới có 1 Bằng khen" in refused
        file.write_text(
            "group,unit,name,award,year\n"
            "household,25000-03,nguyen van an,chairman_certificate_annual,2024\n",
            encoding="utf-8",
        )
        await import_history(database, file)
    finally:
        await database.close()
    replies = await people.payload("head", "ad:open:1")
    text = said(replies)
    assert "✓ Đủ điều kiện về khen thưởng trước đó" in text
    assert "đã có 2 Bằng khen của Chủ tịch UBND tỉnh (2023, 2024)" in text
    assert "✓ Đã vươn lên hộ khá: thu nhập bình quân 3.000.000 đồng/người/tháng" in text
    assert "Đã gửi hồ sơ" in said(await people.press("head", "Đề xuất lên xã"))


async def test_namesakes_in_a_village_are_two_nominees(
    people: People, settings: Settings, db: Database, tmp_path: Path
) -> None:
    """Two households named Nguyễn Văn An in Thôn Bình An: each can be proposed for the
    same award, neither's awards count for the other, and history imported by name alone
    is flagged as possibly the other's."""
    await people.household("hh", "Nguyễn Văn An")
    await people.household("hh2", "Nguyễn Văn An")
    async with db.session() as session:
        first, second = [
            await session.scalar(
                select(Identity.account_id).where(Identity.external_id == f"aw-{who}")
            )
            for who in ("hh", "hh2")
        ]
    assert first is not None and second is not None

    async def checks_of_second(award: str) -> str:
        await people.send("head", "/khenthuong")
        listed = await people.press("head", "Đề nghị khen thưởng")
        titles = [title for reply in listed for title, _ in reply.buttons]
        assert titles.count("Nguyễn Văn An – Thôn Bình An") == 2
        await people.payload("head", f"aw:h:{second}")
        return said(await people.press("head", award))

    await people.propose("head", "Nguyễn Văn An", ANNUAL)  # the first in the list
    assert "Đã lập hồ sơ" in said(await people.press("head", "Lập hồ sơ"))
    checks = await checks_of_second(ANNUAL)
    assert "Đã có hồ sơ" not in checks  # not taken for the first household's
    assert "Có 2 hộ tên" not in checks  # nothing imported by name yet
    assert "Đã lập hồ sơ" in said(await people.press("head", "Lập hồ sơ"))
    async with db.session() as session:
        owners = (await session.execute(select(Nomination.nominee_account_id))).scalars().all()
    assert sorted(owners) == sorted([first, second])
    # The first household's award, written when it was awarded, is its own.
    async with db.session() as session, session.begin():
        session.add(
            AwardHistory(
                nominee_key=household_key("25000-03", "Nguyễn Văn An", first),
                nominee_name="Nguyễn Văn An",
                nominee_group="household",
                award="chairman_certificate_annual",
                year=2023,
                movement=award_rules().movement,
                source="nomination",
            )
        )
    text = await checks_of_second("Bằng khen Thủ tướng")
    assert "✗ Chưa đủ điều kiện về khen thưởng trước đó" in text
    assert "2023" not in text
    file = tmp_path / "lich-su.csv"
    file.write_text(
        "group,unit,name,award,year\n"
        "household,25000-03,Nguyễn Văn An,chairman_certificate_annual,2024\n",
        encoding="utf-8",
    )
    await import_history(db, file)
    text = await checks_of_second("Bằng khen Thủ tướng")
    assert "• Có 2 hộ tên «Nguyễn Văn An» trong thôn" in text
    assert "mới có 1 Bằng khen của Chủ tịch UBND tỉnh (2024)" in text


async def test_awarding_writes_the_history_once(people: People, db: Database) -> None:
    await nominated(people)
    async with db.session() as session, session.begin():
        nomination = await session.get(Nomination, 1)
        assert nomination is not None
        for part in ("submission_letter", "council_minutes", "achievement_report"):
            session.add(
                DossierPart(
                    nomination_id=1,
                    part=part,
                    filename=f"{part}.pdf",
                    mime_type="application/pdf",
                    kind="document",
                    file_ref="web:x",
                    created_at=datetime.now(UTC),
                )
            )
    await people.payload("commune", "ad:do:1:submit")
    await people.payload("province", "ad:do:1:approve")
    await people.payload("province", "ad:do:1:award")
    assert "Đã ghi nhận" in said(await people.send("province", "bỏ qua"))
    # Pressed again (an old button): nothing is awarded twice.
    assert "không do bạn xử lý" in said(await people.payload("province", "ad:do:1:award"))
    async with db.session() as session:
        rows = (await session.execute(select(AwardHistory))).scalars().all()
        household = await session.scalar(select(Nomination.nominee_account_id))
        # The household itself, not every household of its name (see test_namesakes...).
        assert [(r.nominee_key, r.award, r.source, r.decision) for r in rows] == [
            (
                f"name:25000-03:household:nguyen van an#{household}",
                "chairman_certificate_annual",
                "nomination",
                None,
            )
        ]
        actions = set(
            (
                await session.execute(
                    select(AuditEntry.action).where(AuditEntry.object_type == "nomination")
                )
            ).scalars()
        )
    assert {"award.created", "award.submitted", "award.approved", "award.awarded"} <= actions


# --- a unit and a person proposed by the commune ------------------------------------------


async def test_the_commune_proposes_a_village_and_a_person_through_the_same_steps(
    people: People, db: Database
) -> None:
    await people.send("commune", "/khenthuong")
    replies = await people.press("commune", "Đề nghị khen thưởng")
    assert {t for r in replies for t, _ in r.buttons} >= {"Thôn, khu phố", "Hộ gia đình"}
    replies = await people.press("commune", "Thôn, khu phố")
    titles = [t for r in replies for t, _ in r.buttons]
    # Only the commune's own villages.
    assert titles == ["Thôn 1", "Thôn 2", "Thôn Bình An"]
    await people.press("commune", "Thôn Bình An")
    text = said(await people.press("commune", ANNUAL))
    # No village reports yet: the figures criterion is left to the council, nothing fails.
    assert "Tiêu chí số liệu chưa kết luận được" in text
    assert "Hội đồng Thi đua – Khen thưởng đánh giá theo hồ sơ" in text
    replies = await people.press("commune", "Lập hồ sơ")
    assert "✗ Nội dung báo cáo thành tích: chưa nhập" in said(replies)
    assert "Gửi: Tờ trình đề nghị khen thưởng" in [t for r in replies for t, _ in r.buttons]
    assert "Đề xuất lên xã" not in [t for r in replies for t, _ in r.buttons]
    await people.press("commune", "Nhập báo cáo thành tích")
    await people.send("commune", "Vận động 120 triệu đồng xây 5 nhà đại đoàn kết")
    await people.send("commune", "12 hộ thoát nghèo")
    await people.press("commune", "Bỏ qua")
    await people.press("commune", "Bỏ qua")
    replies = await people.press("commune", "Gửi")
    assert "Đã lưu nội dung báo cáo thành tích" in said(replies)
    assert "✓ Nội dung báo cáo thành tích: đã nhập" in said(replies)
    replies = await people.press("commune", "Bản nháp: Báo cáo thành tích")
    report = docx_text(next(r for r in replies if r.attachment))
    assert "Của thôn, khu phố: Thôn Bình An" in report
    assert "Kết quả thực hiện: Vận động 120 triệu đồng xây 5 nhà đại đoàn kết" in report
    assert "TRƯỞNG THÔN, KHU PHỐ" in report
    for part, file in (
        ("Báo cáo thành tích", "bc.pdf"),
        ("Tờ trình", "tt.pdf"),
        ("Biên bản", "bb.jpg"),
    ):
        await people.payload("commune", "ad:open:1")
        await people.press("commune", f"Gửi: {part}")
        await people.upload("commune", file)
    assert "Đã nộp hồ sơ" in said(await people.press("commune", "Nộp hồ sơ"))
    # The village head of the village proposed is told (the unit is the nominee).
    assert "Thôn Bình An" in said(await people.inbox("head"))

    # A person: the name is typed.
    await people.send("commune", "/khenthuong")
    await people.press("commune", "Đề nghị khen thưởng")
    await people.press("commune", "Cán bộ")
    assert "Tên cần từ 3 đến 150 ký tự" in said(await people.send("commune", "A"))
    await people.send("commune", "Trần  Thị   Bình")
    text = said(await people.press("commune", ANNUAL))
    assert "Kiểm tra điều kiện: Trần Thị Bình" in text
    assert "tiêu chí định tính" in text
    await people.press("commune", "Lập hồ sơ")
    async with db.session() as session:
        person = await session.get(Nomination, 2)
        assert person is not None
        unit = await session.get(OrgUnit, person.nominee_unit_id)
        assert unit is not None
        assert (person.nominee_key, unit.code) == ("name:25000:official:tran thi binh", "25000")
        # The deadline "award dossiers" counts the dossier the commune sent.
        deadline = load_deadlines(params={"village_report_due_day": 5}).by_id["award_dossiers"]
        today = datetime.now(TZ).date()
        occ = occurrence(
            deadline, str(award_rules().round_year("chairman_certificate_annual", today))
        )
        assert occ is not None
        commune_id = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == "25000"))
        assert commune_id in await done_units(session, occ, TZ)


async def test_a_household_is_found_by_name_among_hundreds(people: People, db: Database) -> None:
    """A village with more registered households than any list shows: typing the name finds
    the one meant, wherever it comes in the village (the search once looked through only
    the first 300)."""
    async with db.session() as session, session.begin():
        village = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == "25000-03"))
        for number in range(320):
            account = Account(kind="household", home_unit_id=village)
            session.add(account)
            await session.flush()
            registration = Submission(
                form_id="household_exit_registration",
                form_version=1,
                account_id=account.id,
                org_unit_id=village,
            )
            session.add(registration)
            await session.flush()
            answers = {"head_name": f"Lê Văn Số {number}"}
            session.add(
                SubmissionRevision(submission_id=registration.id, revision=1, answers=answers)
            )
    await people.household("hh", "Trần Thị Bích")  # registered last: last in the village
    await people.send("head", "/khenthuong")
    first_page = await people.press("head", "Đề nghị khen thưởng")  # a village head: households
    assert "gõ vài chữ của tên" in said(first_page)
    assert len(first_page[-1].buttons) == 10
    found = await people.send("head", "tran thi bich")
    assert [title for reply in found for title, _ in reply.buttons] == [
        "Trần Thị Bích – Thôn Bình An"
    ]
    assert "Không tìm thấy" in said(await people.send("head", "Pham Van Khong Co"))


async def test_nobody_outside_the_area_sees_or_moves_a_dossier(
    people: People, db: Database
) -> None:
    await nominated(people)
    async with db.session() as session:
        household = await session.scalar(select(Nomination.nominee_account_id))
    await people.join("other_head")
    await people.join("other_commune")
    for person in ("other_head", "other_commune"):
        for payload in (
            "ad:open:1",
            "ad:do:1:submit",
            "ad:doc:1:submission_letter",
            "ad:up:1:council_minutes",
        ):
            assert "không có quyền" in said(await people.payload(person, payload)), (
                person,
                payload,
            )
    # Forged steps of the wizard: a village of another commune, a household of another place.
    await people.send("other_commune", "/khenthuong")
    await people.press("other_commune", "Đề nghị khen thưởng")
    await people.press("other_commune", "Thôn, khu phố")
    assert "không có quyền" in said(await people.payload("other_commune", "aw:u:25000-03"))
    await people.send("other_head", "/khenthuong")
    await people.press("other_head", "Đề nghị khen thưởng")
    assert "không có quyền" in said(await people.payload("other_head", f"aw:h:{household}"))
    # A household is no official at all.
    assert "không có quyền" in said(await people.payload("hh", "aw:new"))
    assert "không có quyền" in said(await people.payload("hh", "ao:sum"))
    # The village head proposes; submitting and the council's steps are not his.
    assert "không do bạn xử lý" in said(await people.payload("head", "ad:do:1:submit"))
    assert "không do bạn xử lý" in said(await people.payload("head", "ad:do:1:approve"))


# --- returned with a reason ----------------------------------------------------------------


async def test_the_commune_returns_a_proposal_with_a_reason(people: People) -> None:
    await nominated(people)
    await people.press("head", "Gửi: Báo cáo thành tích")
    await people.upload("head", "bao-cao.jpg")
    await people.press("head", "Đề xuất lên xã")
    await people.inbox("commune")
    await people.press("commune", "Mở hồ sơ")
    assert "Gõ lý do" in said(await people.press("commune", "Trả lại để bổ sung"))
    assert "Lý do quá ngắn" in said(await people.send("commune", "x"))
    text = said(await people.send("commune", "Báo cáo cần chữ ký của chủ hộ"))
    assert "Hồ sơ KT-" in text and "được yêu cầu bổ sung" in text
    told = said(await people.inbox("head"))
    assert "được yêu cầu bổ sung" in told and "Lý do: Báo cáo cần chữ ký của chủ hộ" in told
    replies = await people.press("head", "Mở hồ sơ")
    assert "Lý do: Báo cáo cần chữ ký của chủ hộ" in said(replies)
    await people.press("head", "Gửi: Báo cáo thành tích")
    await people.upload("head", "bao-cao-co-chu-ky.jpg")
    assert "Đã gửi hồ sơ" in said(await people.press("head", "Đề xuất lên xã"))


# --- the deadline ------------------------------------------------------------------------


async def test_after_the_deadline_only_the_standing_agency_accepts_a_dossier(
    people: People, db: Database
) -> None:
    await nominated(people)
    async with db.session() as session:
        nomination = await session.get(Nomination, 1)
        assert nomination is not None
        year = nomination.year
    for part in ("Báo cáo thành tích", "Tờ trình", "Biên bản"):
        await people.payload("commune", "ad:open:1")
        await people.press("commune", f"Gửi: {part}")
        await people.upload("commune", "giay.pdf")
    # 30/12 of the nomination's year, 9:00 in Vietnam: one day late.
    people.running.app.services.clock = lambda: datetime(year, 12, 30, 2, 0, tzinfo=UTC)
    text = said(await people.press("commune", "Nộp hồ sơ"))
    assert f"đã quá hạn 29/12/{year}" in text
    told = said(await people.inbox("province"))
    assert "nộp sau hạn, chờ cơ quan thường trực nhận" in told
    await people.send("province", "/tonghopkt")
    assert "Hồ sơ nộp sau hạn chờ nhận: 1" in said(people.last["province"])
    replies = await people.payload("province", "ad:open:1")
    assert "Nộp sau hạn 29/12" in said(replies)
    assert "Hội đồng đồng ý" not in [t for r in replies for t, _ in r.buttons]
    assert "không do bạn xử lý" in said(await people.payload("province", "ad:do:1:approve"))
    await people.payload("province", "ad:open:1")
    replies = await people.press("province", "Nhận hồ sơ nộp muộn")
    assert "đã nộp, chờ Hội đồng" in said(replies)
    assert "Hội đồng đồng ý" in [t for r in replies for t, _ in r.buttons]


# --- quotas and the council's list ----------------------------------------------------------


async def test_over_quota_is_flagged_and_the_council_cannot_approve_past_it(
    people: People, db: Database
) -> None:
    await nominated(people)
    async with db.session() as session, session.begin():
        year = (await session.get(Nomination, 1)).year  # type: ignore[union-attr]
        village = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == "25000-01"))
        assert village is not None
        for number in range(10):
            await create_nomination(
                session,
                award="chairman_certificate_annual",
                year=year,
                nominee_group="official",
                nominee_key=f"name:25000-01:official:can bo {number}",
                nominee_name=f"Cán bộ {number}",
                nominee_unit_id=village,
                status="approved" if number < 9 else "submitted",
                late=False,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
    text = said(await people.send("province", "/tonghopkt"))
    assert "Cá nhân (kể cả hộ gia đình): 10/10" in text
    assert "vượt" not in text
    # The 10th approval fills the quota; then the household (11th) cannot be approved.
    assert "Hội đồng đã thống nhất" in said(await people.payload("province", "ad:do:11:approve"))
    async with db.session() as session, session.begin():
        nomination = await session.get(Nomination, 1)
        assert nomination is not None
        nomination.status = "submitted"
    refused = said(await people.payload("province", "ad:do:1:approve"))
    assert "Tỉnh Lâm Đồng đã đủ chỉ tiêu «Cá nhân (kể cả hộ gia đình)» (tối đa 10)" in refused
    text = said(await people.send("province", "/tonghopkt"))
    assert "Cá nhân (kể cả hộ gia đình): 11/10 ⚠ vượt chỉ tiêu 1" in text
    replies = await people.press("province", "Danh sách cho Hội đồng")
    reply = next(r for r in replies if r.attachment)
    assert "11 hồ sơ" in reply.text
    book = load_workbook(io.BytesIO(base64.b64decode(reply.attachment["content_b64"])))  # type: ignore[index]
    rows = list(book["Danh sách đề nghị"].iter_rows(values_only=True))
    header = rows[0]
    assert header[:6] == (
        "STT",
        "Mã hồ sơ",
        "Hình thức khen thưởng",
        "Năm",
        "Đối tượng",
        "Tên tập thể, cá nhân, hộ gia đình",
    )
    household = next(row for row in rows if row[5] == "Nguyễn Văn An")
    assert household[4] == "Hộ gia đình"
    assert household[6] == "Thôn Bình An, Xã Di Linh, Tỉnh Lâm Đồng"
    assert household[8] == "chờ Hội đồng"
    assert household[9] == "Đủ điều kiện"
    assert household[13] == "Vượt chỉ tiêu"
    quotas = list(book["Chỉ tiêu"].iter_rows(values_only=True))
    assert (ANNUAL, year, "Cá nhân (kể cả hộ gia đình)", 11, 0, 10, "Vượt chỉ tiêu") in quotas


async def test_incomplete_dossiers_are_listed_for_the_standing_agency(people: People) -> None:
    await nominated(people)
    text = said(await people.send("province", "/tonghopkt"))
    assert "Hồ sơ còn thiếu thành phần (1):" in text
    assert (
        "KT-" in text
        and "Nguyễn Văn An: Báo cáo thành tích có xác nhận, Tờ trình đề nghị khen thưởng, "
        "Biên bản họp Hội đồng Thi đua – Khen thưởng"
        in text
    )
    assert "không có quyền" in said(await people.send("commune", "/tonghopkt"))


# --- a restart in the middle ---------------------------------------------------------------


async def test_a_restart_in_the_middle_of_a_dossier_loses_nothing(
    people: People, settings: Settings, db: Database
) -> None:
    await people.household("hh", "Nguyễn Văn An")
    await people.send("head", "/khenthuong")
    await people.press("head", "Đề nghị khen thưởng")
    award_buttons = await people.press("head", "Nguyễn Văn An")
    await people.running.stop()

    # The award buttons shown before the restart still work after it.
    people.running = await start_bot(settings)
    people.last["head"] = award_buttons
    await people.press("head", ANNUAL)
    await people.press("head", "Lập hồ sơ")
    await people.press("head", "Gửi: Báo cáo thành tích")
    await people.running.stop()

    # Stopped while the bot waits for the file: the file sent afterwards lands in the dossier.
    people.running = await start_bot(settings)
    replies = await people.upload("head", "bao-cao-da-ky.pdf")
    assert "Đã nhận Báo cáo thành tích có xác nhận" in said(replies)
    assert "✓ Báo cáo thành tích có xác nhận: bao-cao-da-ky.pdf" in said(replies)
    await people.press("head", "Đề xuất lên xã")
    await people.running.stop()

    people.running = await start_bot(settings)
    replies = await people.inbox("commune")
    assert "Có hồ sơ khen thưởng cần bạn xử lý" in said(replies)
    replies = await people.press("commune", "Mở hồ sơ")
    assert "✓ Báo cáo thành tích có xác nhận: bao-cao-da-ky.pdf" in said(replies)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Nomination)) == 1
        assert await session.scalar(select(func.count()).select_from(DossierPart)) == 1
        status = await session.scalar(select(Nomination.status))
    assert status == "proposed"


async def test_the_household_sees_where_it_stands_and_nothing_else(people: People) -> None:
    await nominated(people)
    replies = await people.inbox("hh")
    assert "Hộ của bạn được đề nghị" in said(replies)
    replies = await people.press("hh", "Mở hồ sơ")
    text = said(replies)
    assert "Tình trạng: đang lập hồ sơ" in text
    assert "Thành phần hồ sơ" not in text and not [b for r in replies for b in r.buttons]
    assert "không có quyền" in said(await people.payload("hh", "ad:doc:1:achievement_report"))


# --- a village judged on its monthly reports ------------------------------------------------


async def report(db: Database, code: str, period: Month, poor: int, near_poor: int) -> None:
    await save(db, code, period, figures(100, poor, near_poor), datetime.now(UTC))


async def test_a_village_is_judged_on_its_monthly_reports(people: People, db: Database) -> None:
    last_month = Month.of(datetime.now(TZ).date()) - 1
    # Thôn 1: 42 poor and near-poor households at the start, 10 now (-76 %): met.
    await report(db, "25000-01", Month(2021, 3), 30, 12)
    await report(db, "25000-01", last_month, 5, 5)
    # Thôn 2: 42 → 21 is exactly half, and "more than 50 %" is strict: not met.
    await report(db, "25000-02", Month(2021, 3), 30, 12)
    await report(db, "25000-02", last_month, 11, 10)
    await people.send("commune", "/khenthuong")
    await people.press("commune", "Đề nghị khen thưởng")
    await people.press("commune", "Thôn, khu phố")
    await people.press("commune", "Thôn 1")
    text = said(await people.press("commune", ANNUAL))
    assert "Hộ nghèo và cận nghèo: đầu kỳ 42 hộ" in text
    assert "✓ Đạt tiêu chí thi đua của nhóm «Thôn, khu phố»" in text
    assert "Đủ điều kiện để đề nghị" in text
    await people.press("commune", "Lập hồ sơ")
    replies = await people.press("commune", "Bản nháp: Báo cáo thành tích")
    document = docx_text(next(r for r in replies if r.attachment))
    assert "đầu kỳ 42 hộ (30 hộ nghèo), hiện nay 10 hộ (5 hộ nghèo), giảm 76,19%" in document

    await people.send("commune", "/khenthuong")
    await people.press("commune", "Đề nghị khen thưởng")
    await people.press("commune", "Thôn, khu phố")
    await people.press("commune", "Thôn 2")
    text = said(await people.press("commune", ANNUAL))
    assert "đúng bằng, chưa phải «trên»" in text
    assert "✗ Chưa đạt tiêu chí thi đua của nhóm «Thôn, khu phố»" in text
    assert "Chưa đủ điều kiện" in text


async def test_a_household_sees_exports_and_erases_its_nomination(
    people: People, db: Database
) -> None:
    """/export lists the nomination; /delete withdraws one still under way and drops the name."""
    await nominated(people)
    await people.send("hh", "/export")
    exported = said(people.last["hh"])
    attachment = next(r.attachment for r in people.last["hh"] if r.attachment)
    assert attachment is not None, exported
    data = base64.b64decode(attachment["content_b64"]).decode()
    assert '"nominations"' in data and "Nguyễn Văn An" in data and '"as": "nominee"' in data
    await people.send("hh", "/delete")
    await people.press("hh", "Xoá")
    async with db.session() as session:
        nomination = (await session.execute(select(Nomination))).scalar_one()
    assert nomination.status == "withdrawn"
    assert nomination.nominee_name == "" and nomination.nominee_account_id is None


async def test_a_dossier_nobody_at_the_agency_can_hear_of_says_so(
    people: People, db: Database
) -> None:
    """No standing-agency official uses the bot yet: the commune is told to send the paper."""
    await nominated(people)
    async with db.session() as session, session.begin():
        await session.execute(
            delete(RoleAssignment).where(RoleAssignment.role == "province_official")
        )
    for part in ("Báo cáo thành tích", "Tờ trình", "Biên bản"):
        await people.payload("commune", "ad:open:1")
        await people.press("commune", f"Gửi: {part}")
        await people.upload("commune", "giay.pdf")
    text = said(await people.press("commune", "Nộp hồ sơ"))
    assert "chưa ai được báo" in text and "Hãy gửi hồ sơ giấy" in text


async def test_the_reviewers_see_the_signed_parts_and_others_do_not(people: People) -> None:
    """The standing agency opens each file sent for the dossier; another commune cannot."""
    await nominated(people)
    await people.payload("commune", "ad:open:1")
    await people.press("commune", "Gửi: Tờ trình")
    await people.upload("commune", "to-trinh-da-ky.pdf")
    replies = await people.payload("province", "ad:open:1")
    titles = [title for r in replies for title, _ in r.buttons]
    assert "📎 Xem: Tờ trình đề nghị khen thưởng" in titles
    assert not [t for t in titles if t.startswith("📎 Xem: Biên bản")]  # nothing sent yet
    sent = await people.press("province", "📎 Xem: Tờ trình")
    attachment = next(r.attachment for r in sent if r.attachment)
    assert attachment is not None and attachment["filename"] == "to-trinh-da-ky.pdf"
    assert base64.b64decode(attachment["content_b64"]) == b"%PDF-1.4 to-trinh-da-ky.pdf\n%%EOF\n"
    await people.join("other_commune")
    forged = await people.payload("other_commune", "ad:file:1:submission_letter")
    assert "không có quyền" in said(forged)
    assert not [r for r in forged if r.attachment]
