"""A person on Telegram, talking to the real bot through the fake Bot API server.

Implements the transcript `Chat` protocol: each step hands one update to the bot (queued
for getUpdates in polling mode, POSTed to the webhook in webhook mode), waits until the bot
recorded it and nothing is left in the Telegram outbox (its replies and any pushes it
caused have gone out), and returns what the fake server received for this chat since the
step began. Pushes that reached the chat between its own steps wait for `inbox()`.

Waiting is driven by the app's own hooks (replies queued, a message sent, failed or put
back for a retry), with a slow poll of the database as the safety net.
"""

from __future__ import annotations

from typing import Any, Literal

from aiogram import Bot

from bot.app import BotApp
from bot.channels.telegram import CHANNEL, make_bot, update_key
from bot.settings import load_settings
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.support.transcripts import Reply
from tests.support.watch import ChannelWatch

__all__ = ["STICKER", "OutboxWatch", "TelegramChat", "TelegramChats", "bot_client", "to_reply"]

Mode = Literal["polling", "webhook"]
# Telegram has no empty message: the nearest thing a person can send is a sticker.
STICKER: dict[str, Any] = {
    "file_id": "CAACAgIAAxkBAAIBsticker",
    "file_unique_id": "AgADsticker",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "emoji": "🙂",
}


def to_reply(message: SentMessage) -> Reply:
    buttons = [(b["text"], b["callback_data"]) for b in message.buttons if "callback_data" in b]
    attachment = None
    if message.method in ("sendDocument", "sendPhoto"):
        attachment = {"filename": message.filename, "method": message.method}
    return Reply(message.text or message.caption or "", buttons, attachment)


class OutboxWatch(ChannelWatch):
    """The watch for Telegram, where an update is known by its update_id."""

    def __init__(self, app: BotApp, bot_id: int) -> None:
        super().__init__(app, CHANNEL)
        self.bot_id = bot_id

    async def settled(self, update_id: int | None, timeout: float = 10.0) -> None:  # type: ignore[override]  # noqa: ASYNC109
        key = None if update_id is None else update_key(self.bot_id, update_id)
        await super().settled(key, timeout)


class TelegramChat:
    def __init__(
        self,
        fake: FakeTelegram,
        watch: OutboxWatch,
        chat_id: int,
        mode: Mode = "polling",
        *,
        language_code: str = "vi",
        timeout: float = 10.0,
    ) -> None:
        self.fake = fake
        self.watch = watch
        self.chat_id = chat_id
        self.mode = mode
        self.language_code = language_code
        self.timeout = timeout
        self._read_up_to = len(fake.sent)  # fake.sent before this index is accounted for
        self._unread: list[SentMessage] = []

    def _take(self) -> list[SentMessage]:
        end = len(self.fake.sent)
        mine = [m for m in self.fake.sent[self._read_up_to : end] if m.chat_id == self.chat_id]
        self._read_up_to = end
        return mine

    async def send_text(self, text: str) -> list[Reply]:
        if text == "":
            update = self.fake.user_message(self.chat_id, sticker=STICKER)
        else:
            update = self.fake.user_text(self.chat_id, text, language_code=self.language_code)
        return await self.send_update(update)

    async def send_file(self, filename: str) -> list[Reply]:
        return await self.send_update(self.fake.user_document(self.chat_id, file_name=filename))

    async def send_payload(self, payload: str) -> list[Reply]:
        # The latest bot message offering this button; a forged payload rides on the latest.
        update = self.fake.user_callback(self.chat_id, payload, check_button=False)
        return await self.send_update(update)

    async def send_update(self, update: dict[str, Any]) -> list[Reply]:
        """Deliver one update and return the bot's messages to this chat that it caused."""
        self._unread.extend(self._take())  # pushes that came in between steps
        await self.deliver(update)
        await self.settled(int(update["update_id"]))
        return [to_reply(m) for m in self._take()]

    async def inbox(self) -> list[Reply]:
        """What was pushed to this person since their last step."""
        await self.settled(None)
        unread, self._unread = [*self._unread, *self._take()], []
        return [to_reply(m) for m in unread]

    async def deliver(self, update: dict[str, Any]) -> None:
        if self.mode == "polling":
            self.fake.inject(update)
            return
        if self.fake.webhook_url is None:
            await self.fake.wait_until(lambda: self.fake.webhook_url is not None, self.timeout)
        status = await self.fake.post_webhook(update)
        assert status == 200, f"webhook answered {status}"

    async def settled(self, update_id: int | None) -> None:
        await self.watch.settled(update_id, self.timeout)


class TelegramChats:
    """One Telegram user per transcript person ("user" first, then one id per newcomer)."""

    def __init__(self, fake: FakeTelegram, app: BotApp, mode: Mode, first_chat: int) -> None:
        self.fake = fake
        self.watch = OutboxWatch(app, fake.bot_id)
        self.mode = mode
        self.next_chat = first_chat
        self.chats: dict[str, TelegramChat] = {}

    def __call__(self, person: str) -> TelegramChat:
        if person not in self.chats:
            self.chats[person] = TelegramChat(self.fake, self.watch, self.next_chat, self.mode)
            self.next_chat += 1
        return self.chats[person]


def bot_client(fake: FakeTelegram) -> Bot:
    """The bot's own Telegram client (bot/channels/telegram_session.py), pointed at ``fake``
    as the app points it at TELEGRAM_API_BASE; close it with ``await bot.session.close()``."""
    settings = load_settings(
        telegram_bot_token=fake.token, telegram_api_base=fake.base_url, _env_file=None
    )
    return make_bot(settings)
