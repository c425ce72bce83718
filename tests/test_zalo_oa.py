"""A Zalo Official Account end to end: signed webhook events in, customer-service messages
out, against the fake OA API and token endpoint (tests/fakes/zalo.py). Nothing of the
project is mocked; a test moves the clock of the reply window by editing its row."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.channels.membership import UNREACHABLE
from bot.channels.zalo_oa import (
    CHANNEL,
    OUTSIDE_WINDOW,
    ReplyWindow,
    ZaloOAClient,
    ZaloOAError,
    ZaloOATokens,
    event_key,
    signature,
    to_incoming,
    verify_signature,
)
from bot.core.messages import Reply
from bot.crypto import SecretVault
from bot.outbox import Blocked, Rejected, RetryAfter, Transient
from bot.outbox_admin import failed_messages
from bot.settings import Settings, SettingsError, load_settings
from bot.storage.db import Database
from bot.storage.models import (
    Identity,
    OutboxMessage,
    ProcessedUpdate,
    SubmissionRevision,
    ZaloOAInboxEvent,
    ZaloOAToken,
    ZaloOAUser,
    utcnow,
)
from tests.conftest import import_units
from tests.fakes.zalo import FakeZaloOA
from tests.support.journeys import achievement_up_to_photo, new_household
from tests.support.server import RunningBot
from tests.support.setup import prepare
from tests.support.transcripts import Transcript, find_button, load_transcripts, run_transcript
from tests.support.zalo_chat import ChannelWatch, ZaloChats, ZaloOAChat, oa_settings, start_zalo

TRANSCRIPTS = load_transcripts()
USER = "6142494823aabbccdd01"


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as server:
        yield server


async def start(settings: Settings, fake: FakeZaloOA) -> RunningBot:
    return await start_zalo(oa_settings(settings, fake))


def chat_of(fake: FakeZaloOA, bot: RunningBot, user: str = USER) -> ZaloOAChat:
    url = f"{bot.url}{bot.app.services.settings.zalo_oa_webhook_path}"
    return ZaloOAChat(fake, ChannelWatch(bot.app, CHANNEL), user, url)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count(model)).where(*where)) or 0)


async def token_row(db: Database) -> ZaloOAToken:
    async with db.session() as session:
        row = (await session.execute(select(ZaloOAToken))).scalar_one()
    return row


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == CHANNEL)
        return list((await session.execute(query.order_by(OutboxMessage.id))).scalars())


async def push(bot: RunningBot, text: str, key: str, user: str = USER) -> OutboxMessage:
    """A push queued the way reminders queue them: an outbox row, then the sender woken."""
    db = bot.app.services.db
    now = utcnow()
    async with db.session() as session, session.begin():
        account_id = await session.scalar(
            select(Identity.account_id).where(
                Identity.channel == CHANNEL, Identity.external_id == user
            )
        )
        row = OutboxMessage(
            idempotency_key=key,
            channel=CHANNEL,
            chat_id=user,
            account_id=account_id,
            kind="push",
            payload=Reply(text).to_json(),
            created_at=now,
            next_attempt_at=now,
        )
        session.add(row)
    bot.app.sender.wake()
    await ChannelWatch(bot.app, CHANNEL).settled(None)
    async with db.session() as session:
        found = await session.get(OutboxMessage, row.id)
    assert found is not None
    return found


# --------------------------------------------------------------------------- transcripts


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[t.path.stem for t in TRANSCRIPTS])
async def test_transcript_over_zalo_oa(
    transcript: Transcript, settings: Settings, fake: FakeZaloOA
) -> None:
    names = {**await prepare(settings.database_url, transcript.setup), "channel": "Zalo OA"}
    running = await start(settings, fake)
    try:
        await run_transcript(ZaloChats(running, fake), transcript, names)
    finally:
        await running.stop()


# --------------------------------------------------------------------------- signatures


def test_the_signature_is_the_documented_sha256() -> None:
    import hashlib

    body = '{"app_id":"1","event_name":"user_send_text","timestamp":"1699003881354"}'
    expected = hashlib.sha256(f"1{body}1699003881354secret".encode()).hexdigest()
    assert signature("1", body, "1699003881354", "secret") == f"mac={expected}"
    data = {"app_id": "1", "event_name": "user_send_text", "timestamp": "1699003881354"}
    raw = body.encode()
    assert verify_signature(f"mac={expected}", raw, data, "1", "secret")
    assert verify_signature(expected.upper(), raw, data, "1", "secret")  # bare, any case
    assert not verify_signature(f"mac={expected}", raw + b" ", data, "1", "secret")
    assert not verify_signature(f"mac={expected}", raw, data, "1", "other")
    assert not verify_signature(f"mac={expected}", raw, {**data, "app_id": "2"}, "1", "secret")
    assert not verify_signature("", raw, data, "1", "secret")


def test_events_become_incoming_values() -> None:
    fake = FakeZaloOA()
    text = fake.user_text(USER, "/start ABCD1234")
    incoming = to_incoming(text, event_key(text))
    assert incoming is not None
    assert (incoming.channel, incoming.sender_id, incoming.text) == (
        CHANNEL,
        USER,
        text["message"]["text"],
    )
    assert incoming.start_arg == "ABCD1234"
    assert event_key(text) == f"{fake.app_id}:{text['message']['msg_id']}"
    image = to_incoming(fake.user_image(USER, "https://zalo.example/a.jpg"), "k")
    assert image is not None and image.attachment is not None and image.text is None
    paper = fake.user_file(USER, "https://zalo.example/f", "bien-ban.pdf", 1024)
    document = to_incoming(paper, "k4")
    assert document is not None and document.attachment is not None
    assert (document.attachment.filename, document.attachment.mime_type) == (
        "bien-ban.pdf",
        "application/pdf",
    )
    assert document.attachment.kind == "document"
    sticker = to_incoming(fake.user_sticker(USER), "k2")
    assert sticker is not None and sticker.text is None and sticker.attachment is None
    assert to_incoming(fake.follow(USER), "k3") is None


async def test_a_file_sent_on_zalo_is_kept_and_erased_with_the_person(
    settings: Settings, fake: FakeZaloOA
) -> None:
    """Zalo's link expires: the file is fetched at once and kept under DATA_DIR/uploads, so
    any channel can show it later; /delete removes it. A link that no longer works is
    kept as the link: the answer is not lost."""
    await import_units(settings.database_url, "lam_dong_2025.csv")
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await new_household(chat)
        await achievement_up_to_photo(chat)
        scan = b"%PDF-1.4 a field of rice %%EOF"
        url = fake.host_file("ruong-lua.pdf", scan)
        last = await chat.send_event(fake.user_file(USER, url, "ruong-lua.pdf", len(scan)))
        await chat.send_payload(find_button(last, "Gửi"))
        assert fake.cdn.fetches == ["ruong-lua.pdf"]
        uploads = settings.data_dir / "uploads"
        assert [p.read_bytes() for p in uploads.iterdir()] == [scan]
        kept = await photo_answers(bot.app.services.db)
        assert [str(ref).split(":", 1)[0] for ref in kept] == ["file"]
        # Sent again with a link gone stale: the answer keeps the link, nothing breaks.
        await achievement_up_to_photo(chat)
        gone = f"{fake.base_url}/cdn/het-han.pdf"
        last = await chat.send_event(fake.user_file(USER, gone, "het-han.pdf", 10))
        assert "Gửi" in " ".join(title for r in last for title, _ in r.buttons)
        await chat.send_payload(find_button(last, "Gửi"))
        assert gone in await photo_answers(bot.app.services.db)
        last = await chat.send_text("/delete")
        await chat.send_payload(find_button(last, "Xoá"))
        assert list(uploads.iterdir()) == []
    finally:
        await bot.stop()


async def photo_answers(db: Database) -> list[str]:
    """The file references of every revision's attachment answers, oldest first."""
    async with db.session() as session:
        rows = (await session.execute(select(SubmissionRevision.answers))).scalars().all()
    return [
        str(value["file_ref"])
        for answers in rows
        for value in answers.values()
        if isinstance(value, dict) and "file_ref" in value
    ]


async def test_a_bad_signature_is_refused_and_nothing_is_kept(
    settings: Settings, fake: FakeZaloOA
) -> None:
    bot = await start(settings, fake)
    try:
        url = f"{bot.url}{bot.app.services.settings.zalo_oa_webhook_path}"
        event = fake.user_text(USER, "/start")
        assert await fake.post_event(url, event, signature=None) == 401
        assert await fake.post_event(url, event, signature="mac=" + "0" * 64) == 401
        other = fake.user_text(USER, "/help")  # a valid signature, of another body
        assert await fake.post_event(url, event, signature=fake.signature("{}", other)) == 401
        forged = {**event, "app_id": "999"}
        assert await fake.post_event(url, forged) == 401  # signed, but not for our app
        await asyncio.sleep(0.2)
        db = bot.app.services.db
        for model in (
            ZaloOAInboxEvent.id,
            ProcessedUpdate.id,
            OutboxMessage.id,
            ZaloOAUser.user_id,
        ):
            assert await count(db, model) == 0
        assert fake.sent == [] and fake.cs_calls == 0
    finally:
        await bot.stop()


async def test_events_are_kept_before_the_answer_and_handled_once(
    settings: Settings, fake: FakeZaloOA
) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        event = fake.user_text(USER, "/start")
        first = await chat.send_event(event)
        assert first and "Xin chào" in first[0].text
        assert await chat.send_event(dict(event)) == []  # Zalo sends it again: 200, no-op
        assert await count(db, ZaloOAInboxEvent.id) == 1
        assert await count(db, ProcessedUpdate.id, ProcessedUpdate.channel == CHANNEL) == 1
        assert len(fake.sent) == len(first)
        async with db.session() as session:
            stored = (await session.execute(select(ZaloOAInboxEvent))).scalar_one()
        # Done: what the person typed is not kept in the inbox.
        assert stored.processed_at is not None and stored.payload == {}
        # By the time Zalo has its answer, the event is stored (handled or not yet).
        url = f"{bot.url}{bot.app.services.settings.zalo_oa_webhook_path}"
        later = fake.user_text(USER, "/menu")
        assert await fake.post_event(url, later) == 200
        key = event_key(later)
        assert await count(db, ZaloOAInboxEvent.id, ZaloOAInboxEvent.event_key == key) == 1
        await chat.watch.settled(key)
    finally:
        await bot.stop()


async def test_follow_and_unfollow_switch_the_identity(
    settings: Settings, fake: FakeZaloOA
) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        await chat.send_text("/start")

        async def active() -> bool | None:
            async with db.session() as session:
                return await session.scalar(
                    select(Identity.active).where(
                        Identity.channel == CHANNEL, Identity.external_id == USER
                    )
                )

        await chat.send_event(fake.follow(USER, follow=False))
        assert await active() is False
        await chat.send_event(fake.follow(USER))
        assert await active() is True
    finally:
        await bot.stop()


async def test_an_unfollow_cancels_what_waits_for_the_person(
    settings: Settings, fake: FakeZaloOA
) -> None:
    """A reminder waiting outside the reply window is not kept for a week for someone who
    left: it is cancelled, and saying why; following again and writing sends nothing old."""
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        async with db.session() as session, session.begin():
            await session.execute(
                update(ZaloOAUser).values(last_message_at=utcnow() - timedelta(hours=49))
            )
        waiting = await push(bot, "Nhắc: hạn nộp báo cáo", "reminder:1")
        assert waiting.status == "waiting"
        await chat.send_event(fake.follow(USER, follow=False))
        async with db.session() as session:
            row = await session.get(OutboxMessage, waiting.id)
            assert row is not None and row.status == "cancelled"
            assert row.last_error == UNREACHABLE
        await chat.send_event(fake.follow(USER))
        assert await chat.send_text("/help")
        assert "Nhắc: hạn nộp báo cáo" not in fake.texts_to(USER)
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- tokens


async def test_an_expired_token_is_refreshed_once_stored_and_the_send_retried(
    settings: Settings, fake: FakeZaloOA
) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        first_refresh = fake.refresh_token
        assert (await token_row(db)).version == 1
        fake.expire_access_tokens()
        refusals = len(fake.refusals)
        replies = await chat.send_text("/help")
        assert replies and fake.refresh_calls == 1
        assert [r["error"] for r in fake.refusals[refusals:]] == [-216]  # one refused try
        row = await token_row(db)
        vault = SecretVault(bot.app.services.settings.secret_key)
        # The new pair is in the database (encrypted), and the spent refresh token is gone.
        assert row.version == 2 and row.failed_at is None and row.expires_at is not None
        assert vault.decrypt(row.access_token_enc) == fake.access_token
        assert vault.decrypt(row.refresh_token_enc) == fake.refresh_token != first_refresh
        assert fake.access_token not in row.access_token_enc
        assert all(m.access_token == fake.access_token for m in fake.sent[-len(replies) :])
        assert all(r.status == "sent" for r in await outbox_rows(db))
    finally:
        await bot.stop()


async def test_two_workers_refresh_the_single_use_token_once(
    settings: Settings, fake: FakeZaloOA
) -> None:
    config = oa_settings(settings, fake)
    db = Database(config.database_url)
    vault = SecretVault(config.secret_key)
    clients = [
        ZaloOAClient(fake.base_url, fake.base_url, fake.app_id, fake.app_secret) for _ in range(3)
    ]
    try:
        workers = [ZaloOATokens(db, vault, client, config) for client in clients]
        await workers[0].seed()
        fake.expire_access_tokens()
        got = await asyncio.gather(*(worker.refresh(1) for worker in workers))
        assert fake.refresh_calls == 1
        assert {token for token, _ in got} == {fake.access_token}
        assert {version for _, version in got} == {2}
        # A worker that still held the old version gets the stored token, no second call.
        assert await workers[1].refresh(1) == (fake.access_token, 2)
        assert fake.refresh_calls == 1
    finally:
        for client in clients:
            await client.close()
        await db.close()


async def test_a_refused_refresh_is_reported_and_not_retried(
    settings: Settings, fake: FakeZaloOA, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        fake.expire_access_tokens()
        fake.refuse_refresh()
        with caplog.at_level(logging.ERROR, logger="bot.channels.zalo_oa"):
            assert await chat.send_text("/help") == []
        assert fake.refresh_calls == 1
        assert any("Zalo OA token refresh failed" in r.getMessage() for r in caplog.records)
        row = await token_row(db)
        assert row.failed_at is not None and "-14014" in (row.last_error or "")
        # The next message does not spend another refresh on the refused token.
        assert await chat.send_text("/menu") == []
        assert fake.refresh_calls == 1
        failed = [r for r in await failed_messages(db) if r[1] == CHANNEL]
        assert failed and all("Zalo OA token refresh failed" in r[-1] for r in failed)
        assert all(USER not in " ".join(r) for r in failed)  # masked chat ids
    finally:
        await bot.stop()


async def test_a_new_token_pair_in_settings_replaces_a_refused_one(
    settings: Settings, fake: FakeZaloOA
) -> None:
    config = oa_settings(settings, fake)
    db = Database(config.database_url)
    vault = SecretVault(config.secret_key)
    client = ZaloOAClient(fake.base_url, fake.base_url, fake.app_id, fake.app_secret)
    try:
        tokens = ZaloOATokens(db, vault, client, config)
        await tokens.seed()
        fake.refuse_refresh()
        with pytest.raises(Exception, match="refresh failed"):
            await tokens.refresh(1)
        fake.refuse_refresh(False)
        new = config.model_copy(
            update={"zalo_oa_access_token": "new-access", "zalo_oa_refresh_token": "new-refresh"}
        )
        await ZaloOATokens(db, vault, client, new).seed()
        row = await token_row(db)
        assert row.failed_at is None and row.version == 2
        assert vault.decrypt(row.access_token_enc) == "new-access"
        # The same settings again (a restart) change nothing.
        await ZaloOATokens(db, vault, client, new).seed()
        assert (await token_row(db)).version == 2
    finally:
        await client.close()
        await db.close()


# --------------------------------------------------------------------------- reply window


async def test_a_push_outside_the_reply_window_waits_for_the_person_and_says_why(
    settings: Settings, fake: FakeZaloOA
) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        inside = await push(bot, "Nhắc: hạn nộp báo cáo", "reminder:1")
        assert inside.status == "sent" and fake.texts_to(USER)[-1] == "Nhắc: hạn nộp báo cáo"
        calls = fake.cs_calls
        async with db.session() as session, session.begin():
            await session.execute(
                update(ZaloOAUser).values(last_message_at=utcnow() - timedelta(hours=49))
            )
        outside = await push(bot, "Nhắc lần hai", "reminder:2")
        # No other channel to reach the person: it is not sent, and not lost either.
        assert outside.status == "waiting"
        assert (outside.last_error or "").startswith(OUTSIDE_WINDOW)
        assert "waits until the person writes again" in (outside.last_error or "")
        assert fake.cs_calls == calls  # not even tried
        listed = [r for r in await failed_messages(db) if r[0] == str(outside.id)]
        assert listed and listed[0][3] == "waiting" and listed[0][-1].startswith(OUTSIDE_WINDOW)
        # The person writes: the window reopens and the waiting reminder goes first.
        answer = await chat.send_text("/help")
        texts = fake.texts_to(USER)
        assert answer and "Nhắc lần hai" in texts
        assert texts.index("Nhắc lần hai") < len(texts) - 1  # before the answer to /help
        async with db.session() as session:
            row = await session.get(OutboxMessage, outside.id)
            assert row is not None and row.status == "sent"
        # Within the hours, but the window's few messages are used up: it waits too.
        async with db.session() as session, session.begin():
            await session.execute(
                update(ZaloOAUser).values(last_message_at=utcnow(), replies_since=8)
            )
        calls = fake.cs_calls
        used_up = await push(bot, "Nhắc lần ba", "reminder:3")
        assert used_up.status == "waiting" and "limit 8" in (used_up.last_error or "")
        assert fake.cs_calls == calls
        # A week later nobody has written: it is given up, and says so.
        async with db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == used_up.id)
                .values(created_at=utcnow() - timedelta(days=8))
            )
        await bot.app.sender.recover()
        async with db.session() as session:
            row = await session.get(OutboxMessage, used_up.id)
            assert row is not None and row.status == "failed"
            assert row.last_error == "gave up waiting for the person"
    finally:
        await bot.stop()


async def test_the_window_reopens_when_the_person_writes(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        window = ReplyWindow(db, 48, 2)
        assert (await window.closed(USER) or "").startswith(OUTSIDE_WINDOW)
        async with db.session() as session, session.begin():
            session.add(ZaloOAUser(user_id=USER, last_message_at=utcnow(), replies_since=0))
        assert await window.closed(USER) is None
        await window.count(USER)
        await window.count(USER)
        assert "limit 2" in (await window.closed(USER) or "")
    finally:
        await db.close()


async def test_server_errors_are_retried_and_sent_once(
    settings: Settings, fake: FakeZaloOA
) -> None:
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        calls, sent = fake.cs_calls, len(fake.sent)
        fake.fail_next("500")
        replies = await chat.send_text("/help")
        assert replies and len(fake.sent) - sent == len(replies)  # each once
        assert fake.cs_calls - calls == len(replies) + 1  # and one failed try
        assert all(r.status == "sent" for r in await outbox_rows(bot.app.services.db))
    finally:
        await bot.stop()


def test_oa_refusals_become_outbox_outcomes() -> None:
    from bot.channels.zalo_oa import ZaloOADelivery

    outcome = ZaloOADelivery._outcome

    class Stub:
        _pace = type("P", (), {"pause": staticmethod(lambda s: None)})()

    def of(error: int, status: int = 200) -> Exception:
        return outcome(Stub(), ZaloOAError("message/cs", status, error, "x"))  # type: ignore[arg-type]

    assert isinstance(of(-32), RetryAfter)
    assert isinstance(of(-213), Blocked)
    closed = of(-230)
    assert isinstance(closed, Rejected) and str(closed).startswith(OUTSIDE_WINDOW)
    assert isinstance(of(-216), Transient)  # still refused after a refresh
    assert isinstance(of(0, 502), Transient)
    assert isinstance(of(-201), Rejected)


def test_oa_settings_must_be_complete(tmp_path: Any) -> None:
    base: dict[str, Any] = {"data_dir": tmp_path, "_env_file": None}
    with pytest.raises(SettingsError, match="ZALO_OA_APP_ID"):
        load_settings(**base, zalo_oa_access_token="a")
    with pytest.raises(SettingsError, match="ZALO_OA_APP_SECRET"):
        load_settings(
            **base,
            zalo_oa_app_id="1",
            zalo_oa_secret_key="s",
            zalo_oa_access_token="a",
            zalo_oa_refresh_token="r",
        )
    ok = load_settings(**base, zalo_oa_app_id="1", zalo_oa_secret_key="s", zalo_oa_access_token="a")
    assert ok.zalo_oa_enabled and not load_settings(**base).zalo_oa_enabled
