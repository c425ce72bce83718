"""The Bot API as the bot speaks it: updates read with only the fields it uses, and the two
methods of the hot path (getUpdates, a text's sendMessage) as slim models sent as JSON.

aiogram's `Update` describes every field the Bot API has (a message alone has about eighty),
and reading a polled batch into it took about 40 µs an update, a twentieth of all the work
an update causes in a rush. These models read the same JSON in a tenth of that time and
ignore the rest; a field the channel starts to use is added here.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod

from aiogram.methods.base import TelegramMethod
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CallbackQuery",
    "Chat",
    "ChatMember",
    "ChatMemberUpdated",
    "Contact",
    "Document",
    "JsonBodied",
    "Message",
    "PhotoSize",
    "PollUpdates",
    "SendText",
    "SentMessage",
    "TelegramUpdate",
    "User",
]


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class User(_Read):
    id: int
    language_code: str | None = None


class Chat(_Read):
    id: int
    type: str


class PhotoSize(_Read):
    file_id: str
    file_unique_id: str


class Document(_Read):
    file_id: str
    file_name: str | None = None
    mime_type: str | None = None


class Contact(_Read):
    phone_number: str
    user_id: int | None = None


class Message(_Read):
    """Also an inaccessible message (a button under one too old to read): it has a chat."""

    chat: Chat
    from_user: User | None = Field(default=None, alias="from")
    text: str | None = None
    photo: list[PhotoSize] | None = None
    document: Document | None = None
    contact: Contact | None = None


class CallbackQuery(_Read):
    id: str
    from_user: User = Field(alias="from")
    message: Message | None = None
    data: str | None = None


class ChatMember(_Read):
    status: str


class ChatMemberUpdated(_Read):
    chat: Chat
    new_chat_member: ChatMember


class TelegramUpdate(_Read):
    """An update of a kind the bot asks for (telegram.ALLOWED_UPDATES); others read as empty."""

    update_id: int
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None
    my_chat_member: ChatMemberUpdated | None = None


class JsonBodied(ABC):
    """A method whose fields are plain JSON: posted as a JSON body (telegram_session.py)."""

    @abstractmethod
    def json_body(self) -> bytes: ...


class PollUpdates(TelegramMethod[list[TelegramUpdate]], JsonBodied):
    """``getUpdates``, answered as `TelegramUpdate` objects."""

    __returning__ = list[TelegramUpdate]
    __api_method__ = "getUpdates"

    offset: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None

    def json_body(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class SentMessage(BaseModel):
    """What we read of a message Telegram accepted: nothing else of it is ever used."""

    message_id: int


class SendText(TelegramMethod[SentMessage], JsonBodied):
    """``sendMessage`` with only the fields our replies use, read back as `SentMessage`.

    aiogram's own `SendMessage` is read back as a whole `Message`, and its keyboard is
    dumped field by field on every call: together more than the HTTP request itself. Here
    the keyboard arrives as JSON text made once per keyboard (telegram.py, `_markup_json`)
    and goes into the body as it is.
    """

    __returning__ = SentMessage
    __api_method__ = "sendMessage"

    chat_id: int | str
    text: str
    reply_markup: str | None = None

    def json_body(self) -> bytes:
        # Written out rather than dumped: the keyboard is JSON already, and this is the one
        # request every reply makes.
        text = json.dumps(self.text, ensure_ascii=False)
        body = f'{{"chat_id":{json.dumps(self.chat_id)},"text":{text}'
        if self.reply_markup is not None:
            body += f',"reply_markup":{self.reply_markup}'
        return (body + "}").encode()
