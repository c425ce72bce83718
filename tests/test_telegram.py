"""Telegram end to end: the real bot and the real aiogram client against the fake Bot API.

Nothing of the project is mocked: the bot is started as `python -m bot run` starts it
(tests/support/server.py), with the token and API base pointing at tests/fakes/telegram.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Literal

import pytest
from aiogram import Bot
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.channels.telegram import CHANNEL, TelegramDelivery, to_incoming, update_key
from bot.channels.telegram_types import TelegramUpdate
from bot.core.context import Context
from bot.core.messages import Attachment, Button, Reply
from bot.core.router import Router
from bot.i18n import translator
from bot.outbox import Blocked, Rejected, RetryAfter, Transient
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    Identity,
    OutboxMessage,
    ProcessedUpdate,
    SubmissionRevision,
    utcnow,
)
from tests.conftest import import_units
from tests.fakes.telegram import TINY_JPEG, FakeTelegram
from tests.support.journeys import achievement_up_to_photo, new_household
from tests.support.server import RunningBot, start_bot
from tests.support.setup import prepare
from tests.support.telegram_chat import STICKER, OutboxWatch, TelegramChat, TelegramChats
from tests.support.transcripts import Transcript, find_button, load_transcripts, run_transcript

TRANSCRIPTS = load_transcripts()
CHAT = 4242
TRANSLATE = translator("vi", "Asia/Ho_Chi_Minh")
SECRET = "test-webhook-secret_0123"
Mode = Literal["polling", "webhook"]
MODES: list[Mode] = ["polling", "webhook"]
COMMANDS = [
    "start",
    "menu",
    "help",
    "cancel",
    "lang",
    "privacy",
    "mydata",
    "lienket",
    "export",
    "delete",
]


def telegram_settings(settings: Settings, fake: FakeTelegram, mode: Mode) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": fake.token,
            "telegram_api_base": fake.base_url,
            "telegram_mode": mode,
            "telegram_webhook_url": f"http://127.0.0.1:{settings.web_port}/telegram/webhook",
            "telegram_webhook_secret": SECRET,
            # The fake enforces no flood limit unless a test asks; don't pace the transcripts.
            "outbox_per_second": 1000.0,
        }
    )


async def start(settings: Settings, fake: FakeTelegram, mode: Mode = "polling") -> RunningBot:
    running = await start_bot(telegram_settings(settings, fake, mode))
    if mode == "webhook":
        await fake.wait_until(lambda: fake.webhook_url is not None)
    return running


@pytest.fixture(params=MODES)
async def running(
    request: pytest.FixtureRequest, settings: Settings, fake: FakeTelegram
) -> AsyncIterator[tuple[RunningBot, Mode]]:
    mode: Mode = request.param
    bot = await start(settings, fake, mode)
    yield bot, mode
    await bot.stop()


def chat_of(fake: FakeTelegram, bot: RunningBot, mode: Mode = "polling") -> TelegramChat:
    return TelegramChat(fake, OutboxWatch(bot.app, fake.bot_id), CHAT, mode)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count(model)).where(*where)) or 0)


async def identity_active(db: Database, chat_id: int = CHAT) -> bool | None:
    async with db.session() as session:
        return await session.scalar(
            select(Identity.active).where(
                Identity.channel == CHANNEL, Identity.external_id == str(chat_id)
            )
        )


async def eventually(predicate: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def sends_to(fake: FakeTelegram, chat_id: int = CHAT) -> list[dict[str, Any]]:
    return [p for p in fake.calls_to("sendMessage") if str(p.get("chat_id")) == str(chat_id)]


# --------------------------------------------------------------------------- transcripts


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[t.path.stem for t in TRANSCRIPTS])
async def test_transcript_over_telegram(
    transcript: Transcript, mode: Mode, settings: Settings, fake: FakeTelegram
) -> None:
    names = {**await prepare(settings.database_url, transcript.setup), "channel": "Telegram"}
    running = await start(settings, fake, mode)
    try:
        chats = TelegramChats(fake, running.app, mode, first_chat=CHAT)
        await run_transcript(chats, transcript, names)
    finally:
        await running.stop()


# --------------------------------------------------------------------------- exactly once


async def test_a_redelivered_update_is_answered_once(
    running: tuple[RunningBot, Mode], fake: FakeTelegram
) -> None:
    bot, mode = running
    chat = chat_of(fake, bot, mode)
    update = fake.user_text(CHAT, "/start")
    first = await chat.send_update(update)
    assert first and "Xin chào" in first[0].text
    again = await chat.send_update(dict(update))  # the same update_id
    if mode == "polling":
        await fake.wait_until(lambda: not fake.pending_updates)  # confirmed, not stuck
    assert again == []
    assert len(fake.sent) == len(first)
    db = bot.app.services.db
    assert await count(db, ProcessedUpdate.id, ProcessedUpdate.channel == CHANNEL) == 1
    key = update_key(fake.bot_id, update["update_id"])
    assert await count(db, ProcessedUpdate.id, ProcessedUpdate.update_key == key) == 1


async def test_a_batch_with_a_failing_journey_answers_everyone_once(
    settings: Settings, fake: FakeTelegram
) -> None:
    """A morning rush in one getUpdates batch (more than one chunk); one update hits a bug."""
    bot = await start(settings, fake)
    try:
        broken = Router()

        @broken.command("boom", onboarded=False)
        async def explode(ctx: Context) -> None:
            raise RuntimeError("a bug in a journey")

        bot.app.dispatcher.router.include(broken)
        bot.app.dispatcher.chunk = 20  # the failing update in the second transaction
        chats = [CHAT + n for n in range(25)]
        updates = [
            fake.user_text(chat, "/boom" if n == 22 else "/start") for n, chat in enumerate(chats)
        ]
        updates.append(fake.user_text(chats[0], "/help"))  # the same person again, same batch
        fake.inject(*updates)

        async def everyone_answered() -> bool:
            return all(fake.texts_to(chat) for chat in chats) and len(fake.texts_to(chats[0])) >= 3

        await eventually(everyone_answered, timeout=20)
        await asyncio.sleep(0.3)  # anything doubled would arrive now
        for n, chat in enumerate(chats[1:], 1):
            texts = fake.texts_to(chat)
            if n == 22:
                assert texts == [TRANSLATE("error.internal")]
            else:
                assert len(texts) == 1 and "Xin chào" in texts[0]
        # The first person: greeting, then /help in order, then the language question again.
        first = fake.texts_to(chats[0])
        assert len(first) == 3 and "Xin chào" in first[0] and "/menu" in first[1]
        db = bot.app.services.db
        assert await count(db, ProcessedUpdate.id) == len(updates)
    finally:
        await bot.stop()


async def test_an_erasure_later_in_a_batch_cancels_what_the_batch_queued_before_it(
    settings: Settings, fake: FakeTelegram
) -> None:
    """One getUpdates batch: /help, /delete and the confirmation from the same person.

    The batch is one transaction, and what it queued for the person before the erasure must
    be there for the erasure to cancel: only the goodbye goes out, and no row of the batch
    still names the erased account.
    """
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        await chat.send_payload("lang:vi")
        await chat.send_payload("consent:yes")
        await chat.send_payload("role:guest")
        before = len(fake.texts_to(CHAT))
        fake.inject(
            fake.user_text(CHAT, "/help"),
            fake.user_text(CHAT, "/delete"),
            fake.user_callback(CHAT, "account:delete_yes", check_button=False),
        )
        await fake.wait_until(lambda: len(fake.texts_to(CHAT)) > before, 20)
        await asyncio.sleep(0.3)  # the cancelled replies would arrive meanwhile
        assert fake.texts_to(CHAT)[before:] == [TRANSLATE("delete.done")]
        db = bot.app.services.db
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.status, OutboxMessage.account_id)
                    .where(OutboxMessage.chat_id == str(CHAT))
                    .order_by(OutboxMessage.id.desc())
                    .limit(3)
                )
            ).all()
        assert [status for status, _ in rows] == ["sent", "cancelled", "cancelled"]
        assert [account for _, account in rows] == [None, None, None]
    finally:
        await bot.stop()


async def test_a_new_person_onboarded_within_one_batch_is_kept_as_they_chose(
    settings: Settings, fake: FakeTelegram
) -> None:
    """Someone taps quickly and one getUpdates batch holds their first message and their
    answers: the account made for the first update is the one the later ones change, and
    what they chose is stored once the batch commits."""
    bot = await start(settings, fake)
    try:
        fake.inject(
            fake.user_text(CHAT, "/start"),
            fake.user_callback(CHAT, "lang:en", check_button=False),
            fake.user_callback(CHAT, "consent:yes", check_button=False),
        )
        await fake.wait_until(lambda: len(fake.texts_to(CHAT)) >= 3, 20)
        await asyncio.sleep(0.3)  # anything doubled would arrive now
        texts = fake.texts_to(CHAT)
        assert len(texts) == 3 and "Xin chào" in texts[0]
        assert texts[2] == translator("en")("onboarding.role")
        db = bot.app.services.db
        async with db.session() as session:
            accounts = (await session.execute(select(Account))).scalars().all()
            identity = (await session.execute(select(Identity))).scalar_one()
        assert len(accounts) == 1 and identity.account_id == accounts[0].id
        assert accounts[0].locale == "en" and accounts[0].consent_at is not None
    finally:
        await bot.stop()


async def test_webhook_refuses_a_missing_or_wrong_secret(
    settings: Settings, fake: FakeTelegram
) -> None:
    bot = await start(settings, fake, "webhook")
    try:
        assert fake.webhook_secret == SECRET
        assert fake.calls_to("setWebhook")[-1]["allowed_updates"]
        update = fake.user_text(CHAT, "/start")
        assert await fake.post_webhook(update, secret=None) == 401
        assert await fake.post_webhook(update, secret="wrong-secret") == 401
        assert await fake.post_webhook(update, secret=SECRET + "x") == 401
        await asyncio.sleep(0.2)
        db = bot.app.services.db
        assert await count(db, ProcessedUpdate.id) == 0
        assert await count(db, OutboxMessage.id) == 0
        assert fake.sent == []
    finally:
        await bot.stop()


async def test_webhook_answers_only_after_the_update_is_recorded(
    settings: Settings, fake: FakeTelegram
) -> None:
    bot = await start(settings, fake, "webhook")
    try:
        db = bot.app.services.db
        update = fake.user_text(CHAT, "/help")
        assert await fake.post_webhook(update) == 200
        # No waiting: by the time Telegram got its 200 the update and its replies are stored.
        key = update_key(fake.bot_id, update["update_id"])
        assert await count(db, ProcessedUpdate.id, ProcessedUpdate.update_key == key) == 1
        assert await count(db, OutboxMessage.id, OutboxMessage.chat_id == str(CHAT)) >= 1
        # The same update again (Telegram did not see the first 200): 200, nothing new.
        await chat_of(fake, bot, "webhook").settled(update["update_id"])
        sent = len(fake.sent)
        assert await fake.post_webhook(update) == 200
        await chat_of(fake, bot, "webhook").settled(update["update_id"])
        assert len(fake.sent) == sent
    finally:
        await bot.stop()


async def test_polling_survives_get_updates_errors(settings: Settings, fake: FakeTelegram) -> None:
    fake.fail_next("getUpdates", "500")
    bot = await start(settings, fake)
    try:
        replies = await chat_of(fake, bot).send_text("/start")
        assert replies and "Xin chào" in replies[0].text
        assert fake.calls_to("deleteWebhook")  # polling clears any webhook first
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- faults out


async def test_429_waits_retry_after_then_sends_once(
    settings: Settings, fake: FakeTelegram
) -> None:
    bot = await start(settings, fake)
    try:
        fake.fail_next("sendMessage", "429", retry_after=1)
        began = time.monotonic()
        replies = await chat_of(fake, bot).send_text("/start")
        assert time.monotonic() - began >= 0.9
        assert fake.n429 == 1
        assert [r.text for r in replies] == fake.texts_to(CHAT)
        assert len(fake.texts_to(CHAT)) == len(set(fake.texts_to(CHAT))) == len(replies) >= 1
    finally:
        await bot.stop()


async def test_500_is_retried_and_sent_once(settings: Settings, fake: FakeTelegram) -> None:
    bot = await start(settings, fake)
    try:
        fake.fail_next("sendMessage", "500")
        replies = await chat_of(fake, bot).send_text("/start")
        assert len(replies) == len(fake.texts_to(CHAT)) >= 1
        assert len(sends_to(fake)) == len(replies) + 1  # one failed try, then each once
    finally:
        await bot.stop()


async def test_403_mid_conversation_stops_sending(settings: Settings, fake: FakeTelegram) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        assert await identity_active(db) is True
        fake.block_chat(CHAT)
        tries_before = len(sends_to(fake))
        # Written just before blocking: the answer (two messages) meets a 403.
        assert await chat.send_text("/help") == []
        assert await identity_active(db) is False
        assert len(sends_to(fake)) == tries_before + 1  # the second message was not tried
        async with db.session() as session:
            statuses = sorted((await session.execute(select(OutboxMessage.status))).scalars().all())
        assert "failed" in statuses and "cancelled" in statuses
        await asyncio.sleep(0.3)
        assert len(sends_to(fake)) == tries_before + 1
    finally:
        await bot.stop()


async def test_my_chat_member_toggles_the_identity(settings: Settings, fake: FakeTelegram) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        await chat_of(fake, bot).send_text("/start")
        kicked = fake.my_chat_member(CHAT, "kicked")
        fake.inject(kicked)
        await eventually(lambda: _is(identity_active(db), False))
        member = fake.my_chat_member(CHAT, "member")
        fake.inject(member)
        await eventually(lambda: _is(identity_active(db), True))
        # An old "kicked" delivered again must not undo the newer "member".
        fake.inject(kicked)
        await fake.wait_until(lambda: not fake.pending_updates)
        await asyncio.sleep(0.1)
        assert await identity_active(db) is True
        keys = [update_key(fake.bot_id, u["update_id"]) for u in (kicked, member)]
        assert await count(db, ProcessedUpdate.id, ProcessedUpdate.update_key.in_(keys)) == 2
        # Someone who blocks the bot before ever writing: recorded, nothing else.
        fake.inject(fake.my_chat_member(777, "kicked"))
        await fake.wait_until(lambda: not fake.pending_updates)
        assert await identity_active(db, 777) is None
    finally:
        await bot.stop()


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_stale_or_forged_buttons_are_answered_politely(
    running: tuple[RunningBot, Mode], fake: FakeTelegram
) -> None:
    bot, mode = running
    chat = chat_of(fake, bot, mode)
    replies = await chat.send_text("/start")
    for title in ("Tiếng Việt", "Đồng ý", "Chỉ tìm hiểu"):
        replies = await chat.send_payload(find_button(replies, title))
    assert "Xong" in replies[0].text
    # Forged data, and a button of a question that is no longer asked.
    for forged in ("x:forged-payload", "f:home_unit=99999", "🙂"):
        update = fake.user_callback(CHAT, forged, check_button=False)
        replies = await chat.send_update(update)
        assert "Nút này thuộc một câu hỏi trước" in "\n".join(r.text for r in replies)
        query_id = update["callback_query"]["id"]
        # Every press stops its spinner, whatever the core makes of it.
        await fake.wait_until(
            lambda q=query_id: any(a.callback_query_id == q for a in fake.callback_answers)
        )


async def test_commands_are_registered_in_vietnamese_and_english(
    settings: Settings, fake: FakeTelegram
) -> None:
    bot = await start(settings, fake)
    try:
        await fake.wait_until(lambda: bool(fake.my_commands(language_code="en")))
        vi, en = fake.my_commands(), fake.my_commands(language_code="en")
        assert [c["command"] for c in vi] == COMMANDS
        assert [c["command"] for c in en] == COMMANDS
        assert all(c["description"] for c in vi + en)
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- restarts


@contextlib.asynccontextmanager
async def updates_cannot_be_recorded(url: str) -> AsyncIterator[None]:
    """Another connection holds the lock the bot needs to record an update."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")  # the bot's first write now waits
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            await conn.execute(text("LOCK TABLE processed_updates IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


async def test_polling_confirms_an_update_only_after_recording_it(
    settings: Settings, fake: FakeTelegram
) -> None:
    """The process dies while an update is being handled: it was not confirmed, so the
    next process gets it again from Telegram and answers it, once."""
    bot = await start(settings, fake)
    update = fake.user_text(CHAT, "/start")
    async with updates_cannot_be_recorded(settings.database_url):
        fake.inject(update)
        await fake.wait_until(lambda: len(fake.calls_to("getUpdates")) >= 1)
        await asyncio.sleep(0.3)  # fetched, and stuck recording it
        offsets = [c.get("offset") for c in fake.calls_to("getUpdates")]
        assert all(o is None or o <= update["update_id"] for o in offsets)
        await asyncio.wait_for(bot.stop(), 10)
    assert [u["update_id"] for u in fake.pending_updates] == [update["update_id"]]
    assert fake.sent == []
    bot = await start(settings, fake)
    try:
        await chat_of(fake, bot).settled(update["update_id"])
        await fake.wait_until(lambda: not fake.pending_updates)
        texts = fake.texts_to(CHAT)
        assert texts and "Xin chào" in texts[0] and len(texts) == len(set(texts))
    finally:
        await bot.stop()


async def test_restart_after_a_failed_try_delivers_once(
    settings: Settings, fake: FakeTelegram
) -> None:
    """Recorded, one try answered 500, then the process stops: the next one sends it."""
    bot = await start(settings, fake)
    db = bot.app.services.db
    fake.fail_next("sendMessage", "500")
    update = fake.user_text(CHAT, "/start")
    fake.inject(update)

    async def waiting_for_retry() -> bool:
        n = await count(db, OutboxMessage.id, OutboxMessage.status == "pending")
        return n >= 1 and len(sends_to(fake)) == 1

    await eventually(waiting_for_retry)
    await bot.stop()
    assert fake.sent == []
    bot = await start(settings, fake)
    try:
        await chat_of(fake, bot).settled(update["update_id"])
        texts = fake.texts_to(CHAT)
        assert texts and "Xin chào" in texts[0]
        assert len(texts) == len(set(texts))
    finally:
        await bot.stop()


async def test_restart_in_the_middle_of_a_send(settings: Settings, fake: FakeTelegram) -> None:
    """Stopped while Telegram was still answering the first of two messages.

    The interrupted message may or may not have reached the person; it is marked
    "uncertain" and never sent again. The second one (claimed, not started) is released
    by recover() and sent once.
    """
    bot = await start(settings, fake)
    fake.fail_next("sendMessage", "slow", delay=0.5)
    update = fake.user_text(CHAT, "/help")  # two replies before onboarding
    fake.inject(update)
    # Polled, not fake.wait_until: the fake notifies waiters only once a call is answered,
    # and this stop must land while the call is still open.
    for _ in range(500):
        if sends_to(fake):
            break
        await asyncio.sleep(0.01)
    await bot.stop()
    await fake.wait_until(lambda: len(fake.sent) == 1)  # Telegram finished it anyway
    bot = await start(settings, fake)
    try:
        sender = bot.app.sender
        # The dead worker's lease (60 s) lapses: emulated by moving the sender's clock on.
        lease = timedelta(seconds=sender.limits.lease_seconds + 1)
        sender.clock = lambda: utcnow() + lease
        await sender.recover()
        sender.wake()
        await chat_of(fake, bot).settled(update["update_id"])
        texts = fake.texts_to(CHAT)
        assert len(texts) == 2 and len(set(texts)) == 2
        async with bot.app.services.db.session() as session:
            rows = (
                await session.execute(select(OutboxMessage.status).order_by(OutboxMessage.id))
            ).scalars()
            assert list(rows) == ["uncertain", "sent"]
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- delivery


def paragraphs(total: int) -> str:
    out: list[str] = []
    number = 0
    while sum(len(p) + 2 for p in out) < total:
        number += 1
        out.append(f"Đoạn {number}: " + "thoát nghèo bền vững " * 12)
    return "\n\n".join(out)


async def test_a_long_reply_is_split_on_paragraphs(fake: FakeTelegram, tg_bot: Bot) -> None:
    text = paragraphs(5000)
    assert len(text) >= 5000
    buttons = (Button("Có", "yes"), Button("Quá dài", "x" * 65), Button("Không", "no"))
    await TelegramDelivery(tg_bot).deliver(str(CHAT), Reply(text, buttons))
    parts = fake.sent_to(CHAT)
    assert len(parts) == 2
    assert all(p.text and len(p.text) <= 4096 for p in parts)
    assert "\n\n".join(p.text or "" for p in parts) == text  # cut between paragraphs only
    assert all(p.params.get("parse_mode") is None for p in parts)
    assert parts[0].reply_markup is None
    # Buttons on the last part, one per row; the 65-byte one is dropped, not fatal.
    assert parts[1].reply_markup == {
        "inline_keyboard": [
            [{"text": "Có", "callback_data": "yes"}],
            [{"text": "Không", "callback_data": "no"}],
        ]
    }


async def test_a_retried_long_reply_does_not_repeat_parts(fake: FakeTelegram, tg_bot: Bot) -> None:
    fake.rate_limit(per_second=None, per_chat_per_second=1)
    delivery = TelegramDelivery(tg_bot)
    reply = Reply(paragraphs(5000))
    with pytest.raises(RetryAfter) as caught:
        await delivery.deliver(str(CHAT), reply)
    assert len(fake.sent) == 1
    await asyncio.sleep(caught.value.seconds)
    await delivery.deliver(str(CHAT), reply)
    assert "\n\n".join(fake.texts_to(CHAT)) == reply.text


async def test_plain_text_cannot_break_markup(fake: FakeTelegram, tg_bot: Bot) -> None:
    text = "Hộ <b>Nguyễn & Trần</b> <br> 5 < 6"
    await TelegramDelivery(tg_bot).deliver(str(CHAT), Reply(text))
    assert fake.texts_to(CHAT) == [text]


async def test_contact_request_and_attachments(fake: FakeTelegram, tg_bot: Bot) -> None:
    delivery = TelegramDelivery(tg_bot)
    label = "📱 Gửi số điện thoại của tôi"
    await delivery.deliver(str(CHAT), Reply("Số điện thoại?", extra={"request_contact": label}))
    asked = fake.sent[-1]
    assert asked.reply_markup == {
        "keyboard": [[{"text": label, "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }
    # With buttons too: the question keeps them, the contact keyboard comes with the label.
    await delivery.deliver(
        str(CHAT),
        Reply("Số điện thoại?", (Button("Bỏ qua", "f:skip"),), extra={"request_contact": label}),
    )
    question, contact = fake.sent[-2:]
    assert question.text == "Số điện thoại?" and question.callback_data == ["f:skip"]
    assert contact.text == label and contact.reply_markup is not None
    assert contact.reply_markup["keyboard"][0][0]["request_contact"] is True

    data = b'{"a": 1}'
    doc = Attachment("du-lieu-cua-toi.json", "application/json", content=data)
    await delivery.deliver(str(CHAT), Reply("Dữ liệu của bạn", attachment=doc))
    sent = fake.sent[-1]
    assert (sent.method, sent.filename, sent.file_bytes, sent.caption) == (
        "sendDocument",
        "du-lieu-cua-toi.json",
        data,
        "Dữ liệu của bạn",
    )
    long_text = "chữ " * 400  # over the 1,024-character caption limit: text first
    await delivery.deliver(str(CHAT), Reply(long_text, attachment=doc))
    text_part, file_part = fake.sent[-2:]
    assert text_part.text == long_text.strip() or text_part.text == long_text
    assert file_part.method == "sendDocument" and file_part.caption is None

    photo = Attachment("anh.jpg", "image/jpeg", content=TINY_JPEG, kind="photo")
    await delivery.deliver(str(CHAT), Reply("Ảnh", (Button("OK", "ok"),), attachment=photo))
    sent = fake.sent[-1]
    assert (sent.method, sent.caption, sent.callback_data) == ("sendPhoto", "Ảnh", ["ok"])


@pytest.mark.parametrize(
    ("fault", "error"),
    [("429", RetryAfter), ("500", Transient), ("403", Blocked), ("400", Rejected)],
)
async def test_errors_map_onto_the_outbox_outcomes(
    fake: FakeTelegram, tg_bot: Bot, fault: Any, error: type[Exception]
) -> None:
    fake.fail_next("sendMessage", fault, retry_after=3)
    with pytest.raises(error) as caught:
        await TelegramDelivery(tg_bot).deliver(str(CHAT), Reply("Xin chào"))
    if isinstance(caught.value, RetryAfter):
        assert caught.value.seconds == 3
    assert "Xin chào" not in str(caught.value)  # the text never ends up in logs or rows


async def test_a_dropped_connection_is_transient(tg_bot: Bot) -> None:
    await tg_bot.session.close()
    dead = Bot(tg_bot.token, session=type(tg_bot.session)(api=_unreachable()))
    try:
        with pytest.raises(Transient):
            await TelegramDelivery(dead).deliver(str(CHAT), Reply("Xin chào"))
    finally:
        await dead.session.close()


def _unreachable() -> Any:
    from aiogram.client.telegram import TelegramAPIServer

    from tests.support.server import free_port

    return TelegramAPIServer.from_base(f"http://127.0.0.1:{free_port()}")


# --------------------------------------------------------------------------- updates in


def parse(fake: FakeTelegram, data: dict[str, Any]) -> Any:
    return to_incoming(TelegramUpdate.model_validate(data), fake.bot_id)


def test_updates_become_incoming(fake: FakeTelegram) -> None:
    own = parse(fake, fake.user_contact(CHAT, "+84912345678"))
    assert own.contact.phone == "+84912345678" and own.contact.user_is_sender
    assert own.sender_id == str(CHAT) and own.channel == CHANNEL and own.text is None
    other = parse(fake, fake.user_contact(CHAT, "0987654321", own=False))
    assert other.contact.phone == "0987654321" and not other.contact.user_is_sender

    text = fake.user_text(CHAT, "/start ABCD2345", language_code="en")
    incoming = parse(fake, text)
    assert incoming.text == "/start ABCD2345" and incoming.start_arg == "ABCD2345"
    assert incoming.update_key == f"{fake.bot_id}:{text['update_id']}"
    assert incoming.language_hint == "en"
    assert parse(fake, fake.user_text(CHAT, "/start")).start_arg is None

    photo = parse(fake, fake.user_photo(CHAT, file_id="AgACbig", caption="/cancel"))
    assert photo.attachment.kind == "photo" and photo.attachment.file_ref == "AgACbig"
    assert photo.text is None  # a caption is not an answer, nor a command
    document = parse(fake, fake.user_document(CHAT, "giay.pdf", file_id="BQACdoc"))
    assert (document.attachment.filename, document.attachment.mime_type) == (
        "giay.pdf",
        "application/pdf",
    )
    assert document.attachment.file_ref == "BQACdoc" and document.attachment.kind == "document"

    press = parse(fake, fake.user_callback(CHAT, "lang:vi", check_button=False))
    assert press.payload == "lang:vi" and press.sender_id == str(CHAT)

    sticker = parse(fake, fake.user_message(CHAT, sticker=STICKER))
    assert sticker.text is None and sticker.attachment is None and sticker.payload is None
    edited = fake.user_text(CHAT, "sửa lại")
    edited["edited_message"] = {**edited.pop("message"), "edit_date": 1}
    assert parse(fake, edited).text is None
    assert parse(fake, fake.my_chat_member(CHAT, "kicked")) is None
    # Groups are not conversations: nobody's data is shown to a whole group.
    assert parse(fake, fake.user_text(-100123, "/mydata")) is None


async def test_a_photo_sent_on_telegram_is_kept_and_erased_with_the_person(
    settings: Settings, fake: FakeTelegram
) -> None:
    """Kept under DATA_DIR/uploads so any channel can show it; /delete removes it."""
    await import_units(settings.database_url, "lam_dong_2025.csv")
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await new_household(chat)
        await achievement_up_to_photo(chat)
        photo = b"\xff\xd8\xff\xe0 a field of rice \xff\xd9"
        last = await chat.send_update(fake.user_photo(CHAT, data=photo))
        await chat.send_payload(find_button(last, "Gửi"))
        db = bot.app.services.db
        async with db.session() as session:
            answers = (await session.execute(select(SubmissionRevision.answers))).scalar_one()
        kept = next(v for v in answers.values() if isinstance(v, dict) and "file_ref" in v)
        assert str(kept["file_ref"]).startswith("file:")
        uploads = settings.data_dir / "uploads"
        assert [p.read_bytes() for p in uploads.iterdir()] == [photo]
        last = await chat.send_text("/delete")
        await chat.send_payload(find_button(last, "Xoá"))
        assert list(uploads.iterdir()) == []
    finally:
        await bot.stop()


async def test_a_sticker_is_answered_kindly(
    running: tuple[RunningBot, Mode], fake: FakeTelegram
) -> None:
    bot, mode = running
    replies = await chat_of(fake, bot, mode).send_text("")  # sent as a sticker
    assert "Tin nhắn trống hoặc là nhãn dán" in replies[0].text


async def test_a_shared_contact_reaches_the_core(settings: Settings, fake: FakeTelegram) -> None:
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        replies = await chat.send_update(fake.user_contact(CHAT, "+84912345678"))
        assert replies  # answered like any other message, not dropped
    finally:
        await bot.stop()
