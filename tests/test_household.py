"""After the registration journey: what officials export, what households print, what is kept."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import AuditEntry, Submission, SubmissionRevision
from tests.support.server import start_bot
from tests.support.setup import prepare
from tests.support.transcripts import load_transcripts, run_transcript
from tests.support.web_chat import WebChat

JOURNEY = next(t for t in load_transcripts() if t.path.stem == "household_registration_review")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def registered(settings: Settings, http: aiohttp.ClientSession) -> Settings:
    names = await prepare(settings.database_url, JOURNEY.setup)
    running = await start_bot(settings)
    try:

        def chat_for(person: str) -> WebChat:
            return WebChat(running.url, f"hh-{person}", http)

        await run_transcript(chat_for, JOURNEY, names)
        receipt = await chat_for("user").post({"text": "/receipt"})
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        document = receipt["replies"][0]["attachment"]
        (settings.data_dir / document["filename"]).write_bytes(
            base64.b64decode(document["content_b64"])
        )
    finally:
        await running.stop()
    return settings


async def test_every_change_is_a_revision_and_every_step_is_audited(registered: Settings) -> None:
    db = Database(registered.database_url)
    try:
        async with db.session() as session:
            submission = (await session.execute(select(Submission))).scalar_one()
            revisions = (
                (
                    await session.execute(
                        select(SubmissionRevision).order_by(SubmissionRevision.revision)
                    )
                )
                .scalars()
                .all()
            )
            actions = list(
                (
                    await session.execute(
                        select(AuditEntry.action).where(AuditEntry.object_type == "submission")
                    )
                ).scalars()
            )
    finally:
        await db.close()
    assert submission.status == "approved"
    assert submission.receipt_code is not None and submission.receipt_code.startswith("TN-")
    assert [r.revision for r in revisions] == [1, 2]
    assert revisions[0].answers["plan"].startswith("Nuôi thêm 2 con bò")
    assert revisions[1].answers["plan"].startswith("Đang có 1 con bò")
    # The ID number is kept only encrypted, hashed and masked.
    cccd = revisions[1].answers["cccd"]
    assert set(cccd) == {"masked", "hash", "enc"} and "079203001234" not in str(cccd)
    for action in (
        "registration.submitted",
        "review.return",
        "registration.resubmitted",
        "review.confirm",
        "review.approve",
        "review.denied",
    ):
        assert action in actions


def test_export_has_vietnamese_headers_and_masked_id(registered: Settings, tmp_path: Path) -> None:
    output = tmp_path / "dang-ky.xlsx"
    env = {"DATABASE_URL": registered.database_url, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "export",
            "registrations",
            "--unit",
            "25000",
            "--format",
            "xlsx",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "1 rows written" in result.stdout
    sheet = load_workbook(output).active
    header, row = [list(r) for r in sheet.iter_rows(values_only=True)]
    record = dict(zip(header, row, strict=True))
    assert record["Chủ hộ"] == "Nguyễn Văn An"
    assert record["CCCD"] == "079*******34"
    assert record["Số người"] == "4"
    assert record["Tình trạng"] == "UBND xã đã duyệt"
    assert "Thôn Bình An" in record["Địa bàn"]
    assert "079203001234" not in output.read_bytes().decode("latin-1")
    # Another commune's official export holds none of it.
    other = tmp_path / "other.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "export",
            "registrations",
            "--unit",
            "22945",
            "--format",
            "csv",
            "--output",
            str(other),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    lines = other.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Mã hồ sơ")


async def test_receipt_is_the_mau_04_request_filled_from_the_answers(registered: Settings) -> None:
    path = next(registered.data_dir.glob("mau-04-TN-*.docx"))
    text = "\n".join(p.text for p in Document(io.BytesIO(path.read_bytes())).paragraphs)
    assert "GIẤY ĐỀ NGHỊ" in text and "Công nhận hộ thoát nghèo" in text
    assert "Kính gửi: Chủ tịch Ủy ban nhân dân Xã Di Linh" in text
    assert "Họ và tên chủ hộ: Nguyễn Văn An" in text
    assert "079*******34" in text and "079203001234" not in text
    assert "năm 2027" in text
