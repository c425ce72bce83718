"""Tests of the fake Telegram Bot API, driven by the real aiogram client over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram import SECRET_HEADER, TINY_JPEG, FakeTelegram

USER = 4242


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    # Plain aiogram, wired as it is pointed at a local Bot API server: the fake is checked
    # against the client as its authors wrote it, not against the bot's own session.
    b = fake.make_bot()
    yield b
    await b.session.close()


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Có", callback_data="yes"),
                InlineKeyboardButton(text="Không", callback_data="no"),
            ],
            [InlineKeyboardButton(text="Trang web", url="https://example.org")],
        ]
    )


async def start_receiver(handler: Any) -> tuple[web.AppRunner, str]:
    """A tiny aiohttp app on a free port, standing in for the bot's webhook endpoint."""
    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/webhook"


# --------------------------------------------------------------------------- basics


async def test_get_me(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot_id
    assert me.is_bot
    assert me.username == "giamngheo_test_bot"
    assert fake.calls[0][0] == "getMe"


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    other = Bot("111:other", session=AiohttpSession(api=fake.api_server))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await other.get_me()
    finally:
        await other.session.close()


async def test_unknown_method_is_404(fake: FakeTelegram) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/bot{fake.token}/sendTelepathy") as resp,
    ):
        assert resp.status == 404
        assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/bot1:bad/getMe") as resp,
    ):
        assert resp.status == 401
        assert await resp.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }


async def test_send_message_records_inline_keyboard(bot: Bot, fake: FakeTelegram) -> None:
    first = await bot.send_message(USER, "Bạn có muốn tiếp tục?", reply_markup=keyboard())
    second = await bot.send_message(USER, "Lần hai")

    assert isinstance(first, Message)
    assert (first.message_id, second.message_id) == (1, 2)  # per-chat sequence
    assert first.from_user is not None and first.from_user.id == fake.bot_id
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.reply_markup is not None  # echoed back, parsed by aiogram
    assert first.reply_markup.inline_keyboard[0][1].callback_data == "no"

    sent = fake.sent[0]
    assert sent.method == "sendMessage"
    assert sent.chat_id == USER
    assert sent.message_id == 1
    assert sent.reply_markup is not None
    assert sent.reply_markup["inline_keyboard"][0][0] == {"text": "Có", "callback_data": "yes"}
    assert sent.callback_data == ["yes", "no"]
    assert [b["text"] for b in sent.buttons] == ["Có", "Không", "Trang web"]
    assert fake.texts_to(USER) == ["Bạn có muốn tiếp tục?", "Lần hai"]
    assert await fake.wait_for_sent(2) == fake.sent


async def test_reply_keyboard_recorded_but_not_echoed(bot: Bot, fake: FakeTelegram) -> None:
    markup = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Chia sẻ số điện thoại", request_contact=True)]],
        resize_keyboard=True,
    )
    msg = await bot.send_message(USER, "Số điện thoại?", reply_markup=markup)
    assert msg.reply_markup is None  # Message.reply_markup is inline-only on Telegram
    assert fake.sent[0].reply_markup is not None
    assert fake.sent[0].reply_markup["keyboard"][0][0]["request_contact"] is True


async def test_server_side_validation_like_telegram(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "thu nhập < 1 triệu", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "a" * 4097)
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="hộ nghèo " * 10)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=too_long)
    assert fake.sent == []  # rejected sends are not recorded ...
    assert len(fake.calls) == 3  # ... but every call is

    ok = await bot.send_message(USER, "<b>Hộ</b> &amp; <i>gia đình</i>", parse_mode="HTML")
    assert ok.text == "Hộ & gia đình"  # Telegram returns the visible text
    assert fake.texts_to(USER) == ["<b>Hộ</b> &amp; <i>gia đình</i>"]  # as the bot sent it


async def test_edit_delete_and_chat_action(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_message(USER, "Bước 1", reply_markup=keyboard())
    edited = await bot.edit_message_text("Bước 2", chat_id=USER, message_id=msg.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "Bước 2"
    assert edited.reply_markup is None  # editing without reply_markup drops the keyboard
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Bước 2", chat_id=USER, message_id=msg.message_id)
    assert [m.method for m in fake.sent] == ["sendMessage", "editMessageText"]

    assert await bot.send_chat_action(USER, "typing")
    assert fake.chat_actions == [(USER, "typing")]
    assert await bot.delete_message(USER, msg.message_id)
    assert fake.deleted == [(USER, msg.message_id)]
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, msg.message_id)


async def test_my_commands_round_trip(bot: Bot, fake: FakeTelegram) -> None:
    commands = [
        BotCommand(command="start", description="Bắt đầu"),
        BotCommand(command="help", description="Trợ giúp"),
    ]
    assert await bot.set_my_commands(commands)
    got = await bot.get_my_commands()
    assert [(c.command, c.description) for c in got] == [("start", "Bắt đầu"), ("help", "Trợ giúp")]
    assert await bot.get_my_commands(language_code="en") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])


# --------------------------------------------------------------------------- updates


async def test_builders_produce_valid_updates(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(USER, "Chọn", reply_markup=keyboard())
    raw = [
        fake.user_text(USER, "/start ref_abc"),
        fake.user_text(USER, "xin chào"),
        fake.user_callback(USER, "yes"),
        fake.user_contact(USER, "+84901234567"),
        fake.user_contact(USER, "+84900000000", own=False),
        fake.user_photo(USER, caption="giấy tờ"),
        fake.user_document(USER),
        fake.my_chat_member(USER, "kicked"),
        fake.my_chat_member(USER, "member"),
    ]
    ids = [u["update_id"] for u in raw]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    updates = [Update.model_validate(u, context={"bot": bot}) for u in raw]

    start = updates[0].message
    assert start is not None and start.entities is not None
    assert start.entities[0].type == "bot_command" and start.entities[0].length == 6
    assert start.from_user is not None and start.from_user.language_code == "vi"
    # user messages share the chat's message_id sequence with the bot's message (#1)
    assert start.message_id == 2

    cb = updates[2].callback_query
    assert cb is not None and cb.data == "yes"
    assert isinstance(cb.message, Message) and cb.message.message_id == 1  # the recorded one
    assert cb.message.text == "Chọn"

    own, other = updates[3].message, updates[4].message
    assert own is not None and own.contact is not None and own.contact.user_id == USER
    assert other is not None and other.contact is not None and other.contact.user_id is None
    photo = updates[5].message
    assert photo is not None and photo.photo is not None and len(photo.photo) >= 2
    kicked = updates[7].my_chat_member
    assert kicked is not None and kicked.new_chat_member.status == "kicked"

    with pytest.raises(ValueError, match="no button"):
        fake.user_callback(USER, "maybe", message_id=1)


async def test_get_updates_returns_injected_and_honours_offset(
    bot: Bot, fake: FakeTelegram
) -> None:
    fake.inject(fake.user_text(USER, "/start"), fake.user_text(USER, "một"))
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["/start", "một"]
    # Without confirming, the same updates come again.
    assert len(await bot.get_updates(timeout=0)) == 2

    fake.inject(fake.user_text(USER, "hai"))
    after = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert [u.message.text for u in after if u.message] == ["hai"]
    assert len(fake.pending_updates) == 1  # older ones were confirmed and dropped
    assert await bot.get_updates(offset=after[-1].update_id + 1, timeout=0) == []

    fake.inject(*(fake.user_text(USER, str(i)) for i in range(5)))
    assert len(await bot.get_updates(limit=2, timeout=0)) == 2


async def test_allowed_updates_filter(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(USER, "Chọn", reply_markup=keyboard())
    fake.inject(fake.user_text(USER, "hi"), fake.user_callback(USER, "no"))
    got = await bot.get_updates(allowed_updates=["callback_query"], timeout=0)
    assert [u.callback_query.data for u in got if u.callback_query] == ["no"]
    assert len(got) == 1


async def test_long_polling_returns_early_on_inject(bot: Bot, fake: FakeTelegram) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10, request_timeout=20))
    await asyncio.sleep(0.2)
    assert not poll.done()  # really waiting
    fake.inject(fake.user_text(USER, "đây"))
    updates = await asyncio.wait_for(poll, 3)
    assert time.monotonic() - started < 3
    assert [u.message.text for u in updates if u.message] == ["đây"]


async def test_long_polling_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_second_poller_terminates_first(bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await first
    assert await second == []


# --------------------------------------------------------------------------- faults


async def test_429_is_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", "429", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(USER, "x")
    assert exc.value.retry_after == 3
    assert fake.n429 == 1
    await bot.send_message(USER, "x")  # only the next call failed
    assert fake.texts_to(USER) == ["x"]


async def test_403_blocked(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", "403")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "x")

    fake.block_chat(USER)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(USER, "x")
    await bot.send_message(USER + 1, "other chats still work")
    fake.unblock_chat(USER)
    await bot.send_message(USER, "back")

    fake.my_chat_member(USER, "kicked")  # the user blocking the bot blocks sends too
    with pytest.raises(TelegramForbiddenError):
        await bot.send_chat_action(USER, "typing")
    assert fake.texts_to(USER) == ["back"]


async def test_500_and_400(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("getMe", "500")
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    fake.fail_next("*", "400", count=2)
    for _ in range(2):
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(USER, "x")
    assert (await bot.get_me()).id == fake.bot_id
    with pytest.raises(ValueError):
        fake.fail_next("sendMesage", "500")  # typos in tests are caught


async def test_slow_answer(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", "slow", delay=0.5)
    started = time.monotonic()
    await bot.send_message(USER, "chậm")
    assert time.monotonic() - started >= 0.5
    assert fake.texts_to(USER) == ["chậm"]


async def test_rate_limit(bot: Bot, fake: FakeTelegram) -> None:
    fake.rate_limit(per_second=3)
    for i in range(3):
        await bot.send_message(USER, str(i))
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(USER, "3")
    assert exc.value.retry_after >= 1
    assert fake.n429 == 1 and fake.n429_rate_limited == 1
    await asyncio.sleep(1.05)  # the window slides
    await bot.send_message(USER, "4")
    assert fake.texts_to(USER) == ["0", "1", "2", "4"]


# --------------------------------------------------------------------------- files


async def test_send_document_records_filename_and_bytes(bot: Bot, fake: FakeTelegram) -> None:
    data = "họ tên,số điện thoại\nAn,0901\n".encode()
    msg = await bot.send_document(
        USER, BufferedInputFile(data, filename="ho-ngheo.csv"), caption="Danh sách"
    )
    sent = fake.sent[0]
    assert sent.method == "sendDocument"
    assert (sent.filename, sent.file_bytes, sent.caption) == ("ho-ngheo.csv", data, "Danh sách")
    assert sent.text is None
    assert msg.document is not None and msg.document.file_name == "ho-ngheo.csv"
    assert msg.document.file_size == len(data)
    downloaded = await bot.download(msg.document)
    assert downloaded is not None and downloaded.read() == data

    # Re-sending by file_id works, as on Telegram.
    await bot.send_document(USER + 1, msg.document.file_id)
    assert fake.sent[1].file_bytes == data


async def test_send_photo(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_photo(USER, BufferedInputFile(TINY_JPEG, filename="anh.jpg"))
    assert msg.photo is not None
    assert fake.sent[0].filename == "anh.jpg" and fake.sent[0].file_bytes == TINY_JPEG
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, BufferedInputFile(b"not an image", filename="x.jpg"))


async def test_get_file_and_download_user_files(bot: Bot, fake: FakeTelegram) -> None:
    doc_update = fake.user_document(USER, "cccd.pdf", b"%PDF-1.7 real bytes")
    file_id = doc_update["message"]["document"]["file_id"]
    file = await bot.get_file(file_id)
    assert file.file_path and file.file_size == len(b"%PDF-1.7 real bytes")
    downloaded = await bot.download(file_id)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.7 real bytes"

    photo_update = fake.user_photo(USER, file_id="AgAC-big-photo", data=TINY_JPEG + b"x")
    assert photo_update["message"]["photo"][-1]["file_id"] == "AgAC-big-photo"
    photo = await bot.download("AgAC-big-photo")
    assert photo is not None and photo.read() == TINY_JPEG + b"x"

    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


# --------------------------------------------------------------------------- webhook


async def test_webhook_post_includes_secret_header(bot: Bot, fake: FakeTelegram) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((request.headers.get(SECRET_HEADER), await request.json()))
        if request.headers.get(SECRET_HEADER) != "s3cr3t-Token_1":
            return web.Response(status=401, text="Unauthorized")
        return web.json_response({})

    runner, url = await start_receiver(receive)
    try:
        assert await bot.set_webhook(url, secret_token="s3cr3t-Token_1")
        update = fake.user_text(USER, "/start")
        assert await fake.post_webhook(update) == 200
        assert received[0] == ("s3cr3t-Token_1", update)

        assert await fake.post_webhook(update, secret="wrong") == 401
        assert await fake.post_webhook(update, secret=None) == 401
        assert received[2][0] is None
        info = await bot.get_webhook_info()
        assert info.url == url
        assert info.last_error_message and "401" in info.last_error_message

        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        with pytest.raises(TelegramBadRequest, match="unallowed characters"):
            await bot.set_webhook(url, secret_token="có dấu")
    finally:
        await runner.cleanup()


async def test_delete_webhook_drops_pending_updates(bot: Bot, fake: FakeTelegram) -> None:
    await bot.set_webhook("http://127.0.0.1:9/hook")
    fake.inject(fake.user_text(USER, "cũ"))
    assert (await bot.get_webhook_info()).pending_update_count == 1
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.webhook_url is None
    assert await bot.get_updates(timeout=0) == []


# ---------------------------------------------------------------- with aiogram's dispatcher


async def test_dispatcher_polling_end_to_end(bot: Bot, fake: FakeTelegram) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Chào bạn! Tiếp tục?", reply_markup=keyboard())

    @router.callback_query(F.data == "yes")
    async def yes(callback: CallbackQuery) -> None:
        await callback.answer("Đã ghi nhận")
        assert isinstance(callback.message, Message)
        await callback.message.edit_text("Cảm ơn!")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, polling_timeout=1, close_bot_session=False)
    )
    try:
        fake.inject(fake.user_text(USER, "/start"))
        await fake.wait_for_sent(1)
        assert fake.sent[0].callback_data == ["yes", "no"]

        fake.inject(fake.user_callback(USER, "yes"))  # presses the button on sent[0]
        await fake.wait_until(lambda: len(fake.sent) >= 2 and bool(fake.callback_answers))
        assert fake.callback_answers[0].text == "Đã ghi nhận"
        assert fake.sent[1].method == "editMessageText"
        assert fake.sent[1].message_id == fake.sent[0].message_id
        assert fake.texts_to(USER) == ["Chào bạn! Tiếp tục?", "Cảm ơn!"]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)


async def test_webhook_reply_in_response_is_executed(bot: Bot, fake: FakeTelegram) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> SendMessage:
        # Returning the method lets aiogram put it in the webhook HTTP response.
        return message.answer(f"Bạn nói: {message.text}")

    handler = SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="abc")

    async def receive(request: web.Request) -> web.StreamResponse:
        return await handler.handle(request)

    runner, url = await start_receiver(receive)
    try:
        await bot.set_webhook(url, secret_token="abc")
        assert await fake.post_webhook(fake.user_text(USER, "xin chào")) == 200
        assert fake.texts_to(USER) == ["Bạn nói: xin chào"]
        assert await fake.post_webhook(fake.user_text(USER, "x"), secret="sai") == 401
        assert len(fake.sent) == 1
    finally:
        await runner.cleanup()


async def test_callback_answer_only_once(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(USER, "Chọn", reply_markup=keyboard())
    query_id = fake.user_callback(USER, "no")["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id, text="ok", show_alert=True)
    answer = fake.callback_answers[0]
    assert (answer.callback_query_id, answer.text, answer.show_alert) == (query_id, "ok", True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
