"""The person's rights over their data: see it, take it away as a file, erase it; logs keep none."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    AuditEntry,
    ConversationState,
    Identity,
    OrgUnit,
    OutboxMessage,
    ProcessedUpdate,
    RoleAssignment,
    Submission,
    SubmissionRevision,
    utcnow,
)
from tests.support.server import RunningBot, start_bot
from tests.support.setup import prepare
from tests.support.transcripts import Reply
from tests.support.web_chat import WebChat

PHONE = "0912345678"
CCCD = "079203001234"
SECRET_TEXT = f"SDT {PHONE} CCCD {CCCD}"


def said(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner)


@pytest.fixture
async def db(bot: RunningBot) -> AsyncIterator[Database]:
    database = Database(bot.app.services.settings.database_url)
    yield database
    await database.close()


async def household(chat: WebChat) -> None:
    """Onboard as a household of Thôn Bình An, Xã Di Linh (code 25000-03)."""
    await chat.send_text("/start")
    await chat.send_payload("lang:vi")
    await chat.send_payload("consent:yes")
    await chat.send_payload("role:household")
    replies = await chat.send_text("thôn bình an, di linh")
    assert "Đã lưu nơi ở: Thôn Bình An, Xã Di Linh" in said(replies)


async def account_of(db: Database, sender: str) -> Account:
    async with db.session() as session:
        account = await session.scalar(
            select(Account).join(Identity).where(Identity.external_id == sender)
        )
        assert account is not None
        return account


async def add_registration(db: Database, account: Account) -> None:
    """A stored submission with a protected ID number, as the registration form keeps it."""
    now = utcnow()
    async with db.session() as session, session.begin():
        submission = Submission(
            form_id="household_exit_registration",
            form_version=1,
            account_id=account.id,
            org_unit_id=account.home_unit_id,
            status="submitted",
            receipt_code="TEST-0001",
            created_at=now,
            updated_at=now,
        )
        session.add(submission)
        await session.flush()
        session.add(
            SubmissionRevision(
                submission_id=submission.id,
                revision=1,
                answers={
                    "household_size": 4,
                    "cccd": {
                        "masked": "079*****1234",
                        "hash": "9f" * 32,
                        "enc": "c2VhbGVkLWNpcGhlcnRleHQ=",
                    },
                },
                author_account_id=account.id,
                created_at=now,
            )
        )


async def export(chat: WebChat) -> dict[str, Any]:
    replies = await chat.send_text("/export")
    files = [r.attachment for r in replies if r.attachment]
    assert len(files) == 1, said(replies)
    assert files[0]["mime_type"] == "application/json"
    document: dict[str, Any] = json.loads(base64.b64decode(files[0]["content_b64"]))
    return document


async def test_export_holds_account_channels_and_roles_and_no_secrets(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "export-me", http)
    await household(chat)
    account = await account_of(db, "export-me")
    await add_registration(db, account)

    document = await export(chat)

    async with db.session() as session:
        unit_id = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == "25000-03"))
    assert document["account"]["id"] == account.id
    assert document["account"]["kind"] == "household"
    assert document["account"]["language"] == "vi"
    assert document["account"]["home_unit_id"] == unit_id
    assert document["account"]["consent_at"]
    assert [(c["channel"], c["id"]) for c in document["channels"]] == [("web", "export-me")]
    assert document["roles"] == [{"role": "household", "org_unit_id": unit_id}]
    [submission] = document["submissions"]
    assert submission["receipt_code"] == "TEST-0001"
    assert submission["revisions"][0]["answers"]["cccd"] == "079*****1234"

    for key in keys_of(document):
        assert "hash" not in key.lower() and key.lower() not in {"enc", "encrypted"}, key
    text = json.dumps(document)
    assert "9f" * 32 not in text and "c2VhbGVkLWNpcGhlcnRleHQ=" not in text
    async with db.session() as session:
        exported = await session.scalar(
            select(func.count()).where(
                AuditEntry.action == "account.exported", AuditEntry.object_id == str(account.id)
            )
        )
    assert exported == 1


async def test_an_officials_export_names_their_role_but_not_the_invitation(
    settings: Settings, http: aiohttp.ClientSession
) -> None:
    names = await prepare(
        settings.database_url,
        {
            "orgunits": "lam_dong_2025.csv",
            "invitations": [{"name": "code", "role": "village_head", "unit": "25000-03"}],
        },
    )
    running = await start_bot(settings)
    try:
        chat = WebChat(running.url, "official-export", http)
        await chat.send_text("/start")
        await chat.send_payload("lang:vi")
        await chat.send_payload("consent:yes")
        await chat.send_payload("role:official")
        assert "trưởng thôn" in said(await chat.send_text(names["code"]))
        document = await export(chat)
    finally:
        await running.stop()
    assert [r["role"] for r in document["roles"]] == ["village_head"]
    assert document["account"]["kind"] == "official"
    assert names["code"] not in json.dumps(document)
    for key in keys_of(document):
        assert "hash" not in key.lower(), key


async def test_delete_anonymises_the_account_and_removes_what_points_to_the_person(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "delete-me", http)
    await household(chat)
    account = await account_of(db, "delete-me")
    await add_registration(db, account)

    replies = await chat.send_text("/delete")
    assert "không thể hoàn tác" in said(replies)
    replies = await chat.send_payload("account:delete_yes")
    assert "Đã xoá dữ liệu của bạn" in said(replies)

    async with db.session() as session:
        row = await session.get(Account, account.id)
        assert row is not None
        assert row.deleted_at is not None
        assert (row.locale, row.kind, row.home_unit_id) == (None, None, None)
        assert (row.consent_at, row.onboarded_at) == (None, None)

        async def left(model: Any, column: Any) -> int:
            return int(await session.scalar(select(func.count()).where(column == account.id)))

        assert await left(Identity, Identity.account_id) == 0
        assert await left(RoleAssignment, RoleAssignment.account_id) == 0
        assert await left(ConversationState, ConversationState.account_id) == 0
        assert await left(ProcessedUpdate, ProcessedUpdate.account_id) == 0
        assert await left(OutboxMessage, OutboxMessage.account_id) == 0
        assert await left(Submission, Submission.account_id) == 0

        # The registration officials must keep stays, pointing to no one, without the ID.
        submission = await session.scalar(
            select(Submission).where(Submission.receipt_code == "TEST-0001")
        )
        assert submission is not None and submission.account_id is None
        revision = await session.scalar(
            select(SubmissionRevision).where(SubmissionRevision.submission_id == submission.id)
        )
        assert revision is not None and revision.author_account_id is None
        assert "079*****1234" not in json.dumps(revision.answers)
        assert "9f" * 32 not in json.dumps(revision.answers)

        deleted = await session.scalar(
            select(func.count()).where(
                AuditEntry.action == "account.deleted", AuditEntry.object_id == str(account.id)
            )
        )
        assert deleted == 1

    # Writing again starts afresh, as a new person.
    replies = await chat.send_text("xin chào")
    assert "Xin chào" in said(replies)
    assert (await account_of(db, "delete-me")).id != account.id


async def test_keeping_the_data_changes_nothing(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "keep-me", http)
    await household(chat)
    await chat.send_text("/delete")
    replies = await chat.send_payload("account:delete_no")
    assert "Đã giữ nguyên dữ liệu" in said(replies)
    account = await account_of(db, "keep-me")
    assert account.deleted_at is None and account.kind == "household"


async def test_delete_leaves_no_message_to_the_person_readable(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "erase-messages", http)
    await chat.send_text("/start")
    await chat.send_payload("lang:vi")
    await chat.send_payload("consent:yes")
    await chat.send_payload("role:household")
    # Typed where a place was asked: the answer repeats it («...» not found).
    assert PHONE in said(await chat.send_text(SECRET_TEXT))
    await chat.send_text("thôn bình an, di linh")
    await export(chat)
    await chat.send_text("/delete")
    await chat.send_payload("account:delete_yes")

    async with db.session() as session:
        payloads = (
            await session.scalars(
                select(OutboxMessage.payload).where(OutboxMessage.chat_id == "erase-messages")
            )
        ).all()
    kept = json.dumps(payloads, ensure_ascii=False)
    assert PHONE not in kept and CCCD not in kept
    assert "Thôn Bình An" not in kept
    assert not any(p.get("attachment") for p in payloads)


async def test_delete_leaves_no_file_the_person_sent(
    bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    chat = WebChat(bot.url, "sends-then-deletes", http)
    await household(chat)
    content = b"\xff\xd8\xff\xe0 anh chup CCCD cua toi " + PHONE.encode()
    data = await chat.post(
        {
            "attachment": {
                "content_b64": base64.b64encode(content).decode(),
                "mime_type": "image/jpeg",
                "filename": "cccd.jpg",
            }
        }
    )
    assert "không có câu hỏi nào cần tệp" in said(chat.replies(data))
    await chat.send_text("/delete")
    await chat.send_payload("account:delete_yes")

    uploads = bot.app.services.settings.data_dir / "uploads"
    kept = [p for p in uploads.rglob("*") if p.is_file() and p.read_bytes() == content]
    assert kept == []


async def test_what_people_type_never_reaches_the_logs(
    settings: Settings,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    """Even at LOG_LEVEL=DEBUG, as `python -m bot` sets the root logger from that setting."""
    await prepare(settings.database_url, {"orgunits": "lam_dong_2025.csv"})
    caplog.set_level(logging.DEBUG)
    running = await start_bot(settings)
    try:
        chat = WebChat(running.url, "logs-nothing", http)
        # As a newcomer, mid-form where the answer is echoed, and as a member.
        await chat.send_text(SECRET_TEXT)
        await chat.send_text("/start")
        await chat.send_payload("lang:vi")
        await chat.send_payload("consent:yes")
        await chat.send_payload("role:household")
        await chat.send_text(SECRET_TEXT)
        await chat.send_text("thôn bình an, di linh")
        await chat.send_text(SECRET_TEXT)
        await chat.post({"payload": f"x:{PHONE}"})
    finally:
        await running.stop()
    assert PHONE not in caplog.text
    assert CCCD not in caplog.text
