"""The bot's Bot API client: our texts and polls go as JSON, arrive exactly as written, and
Telegram's refusals raise what aiogram raises (the outbox maps those, see test_telegram)."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.channels.telegram import TelegramDelivery
from bot.channels.telegram_types import PollUpdates, SendText
from bot.core.messages import Button, Reply
from tests.fakes.telegram import FakeTelegram, FaultKind

CHAT = 5151
# Quotes, a backslash, control characters, an emoji (two UTF-16 units), combining marks, and
# what would be markup if anything parsed it.
TRICKY = 'Bà "Hoa" \\ nói:\tđược\nrồi 😀 Nguyễn Thị Ngọc Ánh — 100% <b>&amp;</b> {"x": 1}'


async def test_a_reply_goes_as_json_and_arrives_as_written(fake: FakeTelegram, tg_bot: Bot) -> None:
    buttons = (Button("Đồng ý ✅", "yes"), Button('Không "ạ"', "no"))
    await TelegramDelivery(tg_bot).deliver(str(CHAT), Reply(TRICKY, buttons))
    [sent] = fake.sent_to(CHAT)
    assert sent.text == TRICKY
    assert sent.reply_markup == {
        "inline_keyboard": [
            [{"text": "Đồng ý ✅", "callback_data": "yes"}],
            [{"text": 'Không "ạ"', "callback_data": "no"}],
        ]
    }
    assert ("sendMessage", "application/json") in fake.body_types


async def test_a_text_without_buttons_has_no_keyboard(fake: FakeTelegram, tg_bot: Bot) -> None:
    sent = await tg_bot(SendText(chat_id=CHAT, text="Cảm ơn"))
    [message] = fake.sent_to(CHAT)
    assert (message.text, message.reply_markup) == ("Cảm ơn", None)
    assert sent.message_id == message.message_id


async def test_polled_updates_are_read_from_a_json_request(fake: FakeTelegram, tg_bot: Bot) -> None:
    fake.inject(fake.user_text(CHAT, TRICKY), fake.user_text(CHAT + 1, "/start"))
    updates = await tg_bot(PollUpdates(timeout=0, allowed_updates=["message"]))
    assert [u.message.text for u in updates if u.message] == [TRICKY, "/start"]
    assert [u.message.chat.id for u in updates if u.message] == [CHAT, CHAT + 1]
    assert ("getUpdates", "application/json") in fake.body_types
    # Confirmed by the next offset: not delivered again.
    assert await tg_bot(PollUpdates(offset=updates[-1].update_id + 1, timeout=0)) == []


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("429", TelegramRetryAfter),
        ("403", TelegramForbiddenError),
        ("400", TelegramBadRequest),
        ("500", TelegramServerError),
    ],
)
async def test_refusals_raise_what_aiogram_raises(
    fake: FakeTelegram, tg_bot: Bot, kind: FaultKind, error: type[Exception]
) -> None:
    fake.fail_next("sendMessage", kind, retry_after=7)
    with pytest.raises(error) as raised:
        await tg_bot(SendText(chat_id=CHAT, text="Xin chào"))
    if isinstance(raised.value, TelegramRetryAfter):
        assert raised.value.retry_after == 7
    assert fake.sent_to(CHAT) == []
    await tg_bot(SendText(chat_id=CHAT, text="Xin chào"))  # only the next call failed
    assert fake.texts_to(CHAT) == ["Xin chào"]


async def test_a_slow_answer_times_out_as_a_network_error(fake: FakeTelegram, tg_bot: Bot) -> None:
    fake.fail_next("sendMessage", "slow", delay=2.0)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await tg_bot(SendText(chat_id=CHAT, text="Xin chào"), request_timeout=1)


async def test_other_methods_still_go_aiogram_s_way(fake: FakeTelegram, tg_bot: Bot) -> None:
    await tg_bot.set_my_commands([])
    assert fake.body_types[-1][0] == "setMyCommands"
    assert fake.body_types[-1][1] != "application/json"
