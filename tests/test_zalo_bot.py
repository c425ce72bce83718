"""The Zalo Bot Platform end to end: the real bot and its own client against the fake API.

Nothing of the project is mocked: the bot is built as `python -m bot run` builds it, with
ZALO_BOT_TOKEN and ZALO_BOT_API_BASE pointing at tests/fakes/zalo.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.channels.zalo_bot import (
    CHANNEL,
    MAX_TEXT,
    ZaloApiError,
    delivery_error,
    to_incoming,
    unwrap,
    update_key,
)
from bot.channels.zalo_render import MenuStore, looks_like_payload, parse_menu, render
from bot.core.messages import Attachment, Button, Incoming, Reply
from bot.i18n import translator
from bot.outbox import Blocked, Rejected, RetryAfter, Transient
from bot.settings import Settings, SettingsError, load_settings
from bot.storage.db import Database
from bot.storage.models import Identity, OutboxMessage, ProcessedUpdate, ZaloChatMenu
from tests.fakes.zalo import FakeZaloBot
from tests.support.server import RunningBot
from tests.support.setup import prepare
from tests.support.transcripts import Transcript, find_button, load_transcripts, run_transcript
from tests.support.zalo_chat import (
    BOT_SECRET,
    ChannelWatch,
    ZaloBotChat,
    ZaloChats,
    bot_settings,
    start_zalo,
)

TRANSCRIPTS = load_transcripts()
CHAT = "e4ea2cd5189df1c3a88c"
Mode = Literal["polling", "webhook"]
MODES: list[Mode] = ["polling", "webhook"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloBot]:
    async with FakeZaloBot() as server:
        yield server


async def start(settings: Settings, fake: FakeZaloBot, mode: Mode = "polling") -> RunningBot:
    running = await start_zalo(bot_settings(settings, fake, mode))
    if mode == "webhook":
        await fake.wait_until(lambda: fake.webhook_url is not None)
    return running


def chat_of(fake: FakeZaloBot, bot: RunningBot, mode: Mode = "polling") -> ZaloBotChat:
    return ZaloBotChat(fake, ChannelWatch(bot.app, CHANNEL), CHAT, mode)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count(model)).where(*where)) or 0)


async def identity_active(db: Database, chat_id: str = CHAT) -> bool | None:
    async with db.session() as session:
        return await session.scalar(
            select(Identity.active).where(
                Identity.channel == CHANNEL, Identity.external_id == chat_id
            )
        )


def sends_to(fake: FakeZaloBot, chat_id: str = CHAT) -> list[dict[str, Any]]:
    return [p for p in fake.calls_to("sendMessage") if p.get("chat_id") == chat_id]


# --------------------------------------------------------------------------- transcripts


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[t.path.stem for t in TRANSCRIPTS])
async def test_transcript_over_zalo_bot(
    transcript: Transcript, mode: Mode, settings: Settings, fake: FakeZaloBot
) -> None:
    names = {**await prepare(settings.database_url, transcript.setup), "channel": "Zalo"}
    running = await start(settings, fake, mode)
    try:
        await run_transcript(ZaloChats(running, fake, mode), transcript, names)
    finally:
        await running.stop()


# --------------------------------------------------------------------------- updates in


def test_updates_become_incoming_values() -> None:
    fake = FakeZaloBot()
    text = fake.user_text(CHAT, "/start ABCD1234")
    incoming = to_incoming(text, fake.bot_id)
    assert incoming is not None
    assert (incoming.channel, incoming.sender_id, incoming.text) == (
        CHANNEL,
        CHAT,
        "/start ABCD1234",
    )
    assert incoming.start_arg == "ABCD1234"
    assert incoming.update_key == update_key(fake.bot_id, text["message"]["message_id"])

    image = to_incoming(fake.user_image(CHAT, "https://zalo.example/p.jpg"), fake.bot_id)
    assert image is not None and image.text is None and image.attachment is not None
    assert (image.attachment.kind, image.attachment.file_ref) == (
        "photo",
        "https://zalo.example/p.jpg",
    )
    # Nothing to read: the core answers that it got nothing it understands.
    for empty in (fake.user_sticker(CHAT), fake.unsupported(CHAT)):
        got = to_incoming(empty, fake.bot_id)
        assert got is not None and got.text is None and got.attachment is None

    # Not a person writing privately: ignored.
    assert to_incoming(fake.group_text("g1", "hi"), fake.bot_id) is None
    assert to_incoming({"event_name": "message.unsupported.received"}, fake.bot_id) is None
    from_bot = fake.user_text(CHAT, "hi")
    from_bot["message"]["from"]["is_bot"] = True
    assert to_incoming(from_bot, fake.bot_id) is None


def test_webhook_bodies_bare_or_wrapped() -> None:
    update = FakeZaloBot().user_text(CHAT, "hi")
    assert unwrap(update) == update
    assert unwrap({"ok": True, "result": update}) == update
    assert unwrap({"ok": False}) is None and unwrap([update]) is None


# --------------------------------------------------------------------------- rendering


def test_menus_are_numbered_with_a_vietnamese_hint() -> None:
    vi, en = translator("vi"), translator("en")
    buttons = (Button("Hộ gia đình", "role:household"), Button("Cán bộ", "role:official"))
    menu = render("Bạn là ai?", buttons, 1, vi)
    assert menu.text == "Bạn là ai?\n\n1. Hộ gia đình\n2. Cán bộ\n👉 Gõ 1 hoặc 2 để chọn."
    assert menu.numbered and [o.number for o in menu.options] == [1, 2]
    assert parse_menu(menu.text) == ("Bạn là ai?", [(1, "Hộ gia đình"), (2, "Cán bộ")])
    three = render("?", (*buttons, Button("Quay lại", "f!back")), 4, vi)
    assert three.text.endswith("4. Hộ gia đình\n5. Cán bộ\n6. Quay lại\n👉 Gõ 4, 5 hoặc 6 để chọn.")
    many = render("?", tuple(Button(f"Thôn {n}", f"f:unit={n}") for n in range(8)), 1, en)
    assert many.text.endswith("👉 Type a number from 1 to 8 to choose.")
    # Controls only: the question wants a value, so its choices go by name.
    controls = render("Hộ có mấy người?", (Button("Bỏ qua", "f!skip"),), 1, vi)
    assert not controls.numbered and controls.text.endswith("👉 Gõ “Bỏ qua”.")
    assert parse_menu(controls.text) == ("Hộ có mấy người?", [(None, "Bỏ qua")])
    assert render("Xong.", (), 1, vi).text == "Xong." and parse_menu("Xong.") == ("Xong.", [])


def test_what_looks_like_a_button_payload() -> None:
    for payload in ("qa:ask", "f:home_unit=99999", "f!skip", "rv:confirm:1", "x:forged-payload"):
        assert looks_like_payload(payload), payload
    for text in ("Có", "1.200", "10/2026", "https://zalo.me/x", "có 1 hộ", "8:30", "/start"):
        assert not looks_like_payload(text), text


async def test_typed_numbers_and_words_choose_and_survive_a_restart(database_url: str) -> None:
    db = Database(database_url)
    try:
        menus = MenuStore(db, CHANNEL)
        vi = translator("vi")
        turn = await menus.turn(CHAT)
        assert (turn.start, turn.fresh) == (1, True)
        first = render(
            "Ngôn ngữ?", (Button("Tiếng Việt", "lang:vi"), Button("English", "lang:en")), 1, vi
        )
        await menus.remember(CHAT, turn, first)
        # A second message of the same answer numbers on.
        turn = await menus.turn(CHAT)
        assert (turn.start, turn.fresh) == (3, False)
        second = render("Hoặc:", (Button("Quay lại", "f!back"), Button("Thoát", "x:quit")), 3, vi)
        await menus.remember(CHAT, turn, second)

        async def read(text: str) -> Incoming:
            # A new store each time: what was shown lives in the database, not in memory.
            incoming = Incoming(CHANNEL, CHAT, f"k-{text}", text=text)
            return await MenuStore(db, CHANNEL).read(incoming)

        assert (await read("2")).payload == "lang:en"
        assert (await read("4")).payload == "x:quit"
        assert (await read("tieng viet")).payload == "lang:vi"
        assert (await read("  QUAY LẠI ")).payload == "f!back"
        nine = await read("9")  # no such choice: the typed text stays text
        assert (nine.text, nine.payload) == ("9", None)
        # After the person wrote, the next menu starts again at 1.
        assert (await menus.turn(CHAT)).start == 1
        # A message of controls only asks for a value: "2" is an answer, words still choose.
        skip = render("Hộ có mấy người?", (Button("Bỏ qua", "f!skip"),), 1, vi)
        await menus.remember(CHAT, await menus.turn(CHAT), skip)
        two = await read("2")
        assert (two.text, two.payload) == ("2", None)
        assert (await read("bo qua")).payload == "f!skip"
        async with db.session() as session:
            assert await session.get(ZaloChatMenu, (CHANNEL, CHAT)) is not None
    finally:
        await db.close()


def test_zalo_errors_become_outbox_outcomes() -> None:
    def outcome(code: int, **kw: Any) -> Exception:
        return delivery_error(ZaloApiError("sendMessage", code, code, "x", **kw))

    limited = outcome(429, retry_after=3)
    assert isinstance(limited, RetryAfter) and limited.seconds == 3
    assert isinstance(outcome(403), Blocked)
    assert isinstance(outcome(400), Rejected)
    for code in (500, 502, 401):
        assert isinstance(outcome(code), Transient)


def test_webhook_mode_needs_a_url_and_a_secret_of_8_to_256_characters(tmp_path: Any) -> None:
    base: dict[str, Any] = {
        "zalo_bot_token": "1:x",
        "zalo_bot_mode": "webhook",
        "data_dir": tmp_path,
        "_env_file": None,
    }
    with pytest.raises(SettingsError, match="ZALO_BOT_WEBHOOK_URL"):
        load_settings(**base)
    url = {"zalo_bot_webhook_url": "https://bot.example.vn/zalo/webhook"}
    with pytest.raises(SettingsError, match="ZALO_BOT_WEBHOOK_SECRET"):
        load_settings(**base, **url, zalo_bot_webhook_secret="short")
    assert load_settings(**base, **url, zalo_bot_webhook_secret="x" * 8).zalo_bot_mode == "webhook"


# --------------------------------------------------------------------------- exactly once


@pytest.mark.parametrize("mode", MODES)
async def test_a_redelivered_message_is_answered_once(
    mode: Mode, settings: Settings, fake: FakeZaloBot
) -> None:
    bot = await start(settings, fake, mode)
    try:
        chat = chat_of(fake, bot, mode)
        update = fake.user_text(CHAT, "/start")
        first = await chat.send_update(update)
        assert first and "Xin chào" in first[0].text
        assert await chat.send_update(dict(update)) == []  # the same message_id again
        assert len(fake.sent) == len(first)
        db = bot.app.services.db
        assert await count(db, ProcessedUpdate.id, ProcessedUpdate.channel == CHANNEL) == 1
    finally:
        await bot.stop()


async def test_webhook_refuses_a_missing_or_wrong_secret(
    settings: Settings, fake: FakeZaloBot
) -> None:
    bot = await start(settings, fake, "webhook")
    try:
        assert (fake.webhook_secret, fake.calls_to("setWebhook")[-1]["secret_token"]) == (
            BOT_SECRET,
            BOT_SECRET,
        )
        update = fake.user_text(CHAT, "/start")
        assert await fake.post_webhook(update, secret=None) == 401
        assert await fake.post_webhook(update, secret="wrong-secret") == 401
        assert await fake.post_webhook(update, secret=BOT_SECRET + "x") == 401
        await asyncio.sleep(0.2)
        db = bot.app.services.db
        assert await count(db, ProcessedUpdate.id) == 0
        assert await count(db, OutboxMessage.id) == 0
        assert fake.sent == []
    finally:
        await bot.stop()


async def test_webhook_answers_only_after_the_update_is_recorded(
    settings: Settings, fake: FakeZaloBot
) -> None:
    bot = await start(settings, fake, "webhook")
    try:
        db = bot.app.services.db
        update = fake.user_text(CHAT, "/help")
        assert await fake.post_webhook(update, envelope=False) == 200  # bare body too
        key = update_key(fake.bot_id, update["message"]["message_id"])
        assert await count(db, ProcessedUpdate.id, ProcessedUpdate.update_key == key) == 1
        assert await count(db, OutboxMessage.id, OutboxMessage.chat_id == CHAT) >= 1
    finally:
        await bot.stop()


async def test_polling_clears_the_webhook_and_survives_get_updates_errors(
    settings: Settings, fake: FakeZaloBot
) -> None:
    fake.fail_next("getUpdates", "500")
    fake.fail_next("deleteWebhook", "500")
    bot = await start(settings, fake)
    try:
        replies = await chat_of(fake, bot).send_text("/start")
        assert replies and "Xin chào" in replies[0].text
        assert len(fake.calls_to("deleteWebhook")) == 2  # retried, then polling began
    finally:
        await bot.stop()


async def test_stickers_and_photos_are_answered(settings: Settings, fake: FakeZaloBot) -> None:
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        sticker = await chat.send_update(fake.user_sticker(CHAT))
        assert sticker and "nhãn dán" in sticker[0].text
        photo = await chat.send_update(fake.user_image(CHAT, "https://zalo.example/p.jpg"))
        assert photo  # the core read it as an attachment and said something about it
        # A group message is not a conversation: nothing recorded, nothing said.
        before = len(fake.sent)
        fake.inject(fake.group_text("group-1", "/start"))
        await fake.wait_until(lambda: not fake.pending_updates)
        await asyncio.sleep(0.2)
        assert len(fake.sent) == before
    finally:
        await bot.stop()


# --------------------------------------------------------------------------- faults out


async def test_429_waits_retry_after_then_sends_once(settings: Settings, fake: FakeZaloBot) -> None:
    bot = await start(settings, fake)
    try:
        fake.fail_next("sendMessage", "429", retry_after=1)
        began = time.monotonic()
        replies = await chat_of(fake, bot).send_text("/start")
        assert time.monotonic() - began >= 0.9
        assert fake.n429 == 1
        texts = fake.texts_to(CHAT)
        assert len(texts) == len(set(texts)) == len(replies) >= 1
    finally:
        await bot.stop()


async def test_500_is_retried_and_sent_once(settings: Settings, fake: FakeZaloBot) -> None:
    bot = await start(settings, fake)
    try:
        fake.fail_next("sendMessage", "500")
        replies = await chat_of(fake, bot).send_text("/start")
        assert len(replies) == len(fake.texts_to(CHAT)) >= 1
        assert len(sends_to(fake)) == len(replies) + 1  # one failed try, then each once
    finally:
        await bot.stop()


async def test_a_blocked_person_is_not_written_to_again(
    settings: Settings, fake: FakeZaloBot
) -> None:
    bot = await start(settings, fake)
    try:
        db = bot.app.services.db
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        assert await identity_active(db) is True
        fake.block_chat(CHAT)
        tries = len(sends_to(fake))
        assert await chat.send_text("/help") == []
        assert await identity_active(db) is False
        assert len(sends_to(fake)) == tries + 1  # the next message was not tried
        async with db.session() as session:
            statuses = set((await session.execute(select(OutboxMessage.status))).scalars())
        assert "failed" in statuses
    finally:
        await bot.stop()


async def test_a_long_reply_is_split_at_the_documented_limit(
    settings: Settings, fake: FakeZaloBot
) -> None:
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        delivery = bot.app.sender.deliveries[CHANNEL]
        paragraph = "Một đoạn văn khá dài về chính sách giảm nghèo bền vững. " * 15
        text = "\n\n".join([paragraph.strip()] * 6)
        assert len(text) > 2 * MAX_TEXT
        reply = Reply(text, (Button("Đồng ý", "privacy:agree"), Button("Không", "privacy:no")))
        start_at = len(fake.sent)
        fake.fail_next("sendMessage", "500", times=1)
        with pytest.raises(Transient):  # the first part fails: nothing was sent
            await delivery.deliver(CHAT, reply)
        await delivery.deliver(CHAT, reply)
        parts = [m.text or "" for m in fake.sent[start_at:]]
        assert len(parts) >= 3 and all(1 <= len(p) <= MAX_TEXT for p in parts)
        body, options = parse_menu(parts[-1])
        # The /start answer's menu (1, 2) is still on screen: this one numbers on.
        assert options == [(3, "Đồng ý"), (4, "Không")]
        assert "\n\n".join([*parts[:-1], body]) == text  # cut between paragraphs only
        # A later part failing: the retry does not send the parts already accepted again.
        start_at = len(fake.sent)
        fake.fail_next("sendMessage", "500", after=1)
        with pytest.raises(Transient):
            await delivery.deliver(CHAT, reply)
        await delivery.deliver(CHAT, reply)
        again = [m.text or "" for m in fake.sent[start_at:]]
        assert [*again[:-1], parse_menu(again[-1])[0]] == [*parts[:-1], body]
    finally:
        await bot.stop()


async def test_files_go_as_expiring_links(settings: Settings, fake: FakeZaloBot) -> None:
    bot = await start(settings, fake)
    try:
        chat = chat_of(fake, bot)
        await chat.send_text("/start")
        delivery = bot.app.sender.deliveries[CHANNEL]
        doc = Attachment("bao-cao.xlsx", "application/vnd.ms-excel", content=b"PK\x03\x04data")
        photo = Attachment("bieu-do.png", "image/png", content=b"\x89PNG\r\n\x1a\nxx", kind="photo")
        start_at = len(fake.sent)
        await delivery.deliver(CHAT, Reply("Báo cáo tháng", attachment=doc))
        await delivery.deliver(CHAT, Reply("Biểu đồ", attachment=photo))
        text, link_message, caption, sent_photo = fake.sent[start_at:]
        assert text.text == "Báo cáo tháng" and caption.text == "Biểu đồ"
        assert link_message.text and "bao-cao.xlsx" in link_message.text
        url = next(w for w in link_message.text.split() if w.startswith("http"))
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200 and await response.read() == b"PK\x03\x04data"
            assert "attachment" in response.headers["Content-Disposition"]
        # Zalo fetched the picture from its link, as it does.
        assert sent_photo.method == "sendPhoto" and sent_photo.photo_bytes == photo.content
        bad = url.replace("/zalo/files/", "/zalo/files/nope")
        async with aiohttp.ClientSession() as http, http.get(bad) as response:
            assert response.status == 404
    finally:
        await bot.stop()


async def test_stale_or_forged_choices_are_answered_politely(
    settings: Settings, fake: FakeZaloBot
) -> None:
    bot = await start(settings, fake, "webhook")
    try:
        chat = chat_of(fake, bot, "webhook")
        replies = await chat.send_text("/start")
        for title in ("Tiếng Việt", "Đồng ý", "Chỉ tìm hiểu"):
            replies = await chat.send_payload(find_button(replies, title))
        assert "Xong" in replies[0].text
        for forged in ("x:forged-payload", "f:home_unit=99999"):
            replies = await chat.send_text(forged)
            assert "Nút này thuộc một câu hỏi trước" in "\n".join(r.text for r in replies)
    finally:
        await bot.stop()
