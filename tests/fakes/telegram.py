"""An in-process fake of the Telegram Bot API, for tests.

Why a fake *server* rather than mocking ``Bot`` methods: the real aiogram client
talks HTTP to it (``TelegramAPIServer.from_base(fake.base_url)``), so everything
that can break in production runs in tests too - URL building, form/multipart
encoding, JSON-encoded nested params (``reply_markup``), file uploads and
downloads, and aiogram's mapping of error responses to exceptions
(``TelegramRetryAfter``, ``TelegramForbiddenError`` ...).  The JSON returned
follows the Bot API shapes closely enough for aiogram's pydantic models to
validate it, and the fake enforces the server-side rules that bite real bots
(HTML that does not parse, texts over 4096 chars, callback_data over 64 bytes,
"message is not modified", answering a callback query twice, getUpdates while
a webhook is set, a user who blocked the bot ...).

Typical use::

    async with FakeTelegram() as fake:
        bot = fake.make_bot()
        fake.inject(fake.user_text(42, "/start"))
        ...                                   # run the dispatcher
        await fake.wait_for_sent(1)
        assert fake.texts_to(42) == ["Xin chào!"]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import mimetypes
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import (
    BodyPartReader,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    web,
)
from aiohttp.web_request import FileField

__all__ = [
    "DEFAULT_TOKEN",
    "SECRET_HEADER",
    "CallbackAnswer",
    "FakeTelegram",
    "FaultKind",
    "SentMessage",
    "StoredFile",
]

JSON = dict[str, Any]
FaultKind = Literal["429", "500", "403", "400", "slow"]

# aiogram only checks the shape "<digits>:<non-empty>"; the digits are the bot id.
DEFAULT_TOKEN: Final = "123456789:AAFakeTokenForGiamNgheoBotTests_000000"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"

# Every update type of Bot API 9.x; the first key of an update other than update_id.
_ALL_UPDATE_TYPES: Final = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
# Telegram's default when allowed_updates is empty/unset: these need an explicit opt-in.
_OPT_IN_UPDATE_TYPES: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)

# Methods that put (or change) a message in a chat: subject to flood control.
_SEND_METHODS: Final = frozenset(
    {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageReplyMarkup"}
)
# Methods that reach the user: refused with 403 once the user blocked the bot.
_CHAT_METHODS: Final = _SEND_METHODS | {"sendChatAction"}

_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# aiogram sends every `str` field verbatim and JSON-encodes everything else
# (ints, bools, lists, objects).  So decoding a form value means json.loads -
# except for these string-typed fields, where "123" or "true" must stay text.
_RAW_STRING_KEYS: Final = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "url",
        "secret_token",
        "callback_query_id",
        "file_id",
        "language_code",
        "action",
        "ip_address",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "document",
        "photo",
        "thumbnail",
        "emoji",
        "title",
        "description",
        "short_description",
        "name",
        "method",
    }
)

_MAX_TEXT: Final = 4096
_MAX_CAPTION: Final = 1024
_MAX_CALLBACK_DATA: Final = 64
_MAX_UPLOAD: Final = 50 * 1024 * 1024  # bots may upload up to 50 MB ...
_MAX_DOWNLOAD: Final = 20 * 1024 * 1024  # ... and download up to 20 MB via getFile
_COMMAND_RE: Final = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")

# Telegram HTML: only these tags, and only these entities, are understood.
_HTML_TAGS: Final = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_TAG_RE: Final = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>")
_ENTITY_RE: Final = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9A-Fa-f]+);")
_NAMED_ENTITIES: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

# Smallest byte strings the image decoder would recognise; enough for a fake.
_IMAGE_MAGICS: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
TINY_JPEG: Final = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


class _Unset:
    """Sentinel type: "argument not given" where None is a meaningful value."""


_UNSET: Final = _Unset()


# --------------------------------------------------------------------------- records


@dataclass
class SentMessage:
    """One message the bot put into (or changed in) a chat, as Telegram accepted it.

    ``text`` is the text exactly as the bot sent it (HTML tags included) for
    sendMessage / editMessageText, ``None`` for media; media captions are in
    ``caption``.  ``params`` holds every decoded request parameter.
    """

    method: str
    chat_id: int | str | None
    text: str | None
    reply_markup: JSON | None
    message_id: int | None
    params: JSON
    caption: str | None = None
    filename: str | None = None
    file_bytes: bytes | None = None
    file_id: str | None = None

    @property
    def buttons(self) -> list[JSON]:
        """Inline keyboard buttons, row by row, flattened ([] without an inline keyboard)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        """The callback_data of every inline button, in keyboard order."""
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]


@dataclass(frozen=True)
class CallbackAnswer:
    """One accepted answerCallbackQuery call."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    params: JSON


@dataclass
class StoredFile:
    """Bytes the fake serves via getFile + /file/bot<token>/<file_path>."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int
    retry_after: int
    delay: float


@dataclass(frozen=True)
class _Upload:
    filename: str
    data: bytes
    content_type: str | None


class _ApiError(Exception):
    """Raised by method handlers; becomes {"ok": false, ...} with this HTTP status."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


Params = dict[str, Any]
Uploads = dict[str, _Upload]
_Handler = Callable[[Params, Uploads], Awaitable[Any]]


# --------------------------------------------------------------------------- helpers


def _error_body(code: int, description: str, parameters: JSON | None = None) -> JSON:
    body: JSON = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


def _decode_value(key: str, value: str) -> Any:
    """Undo aiogram's form encoding for one field (see _RAW_STRING_KEYS)."""
    if key in _RAW_STRING_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channel"


def _utf16_len(text: str) -> int:
    # Telegram measures text lengths and entity offsets in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _unescape(chunk: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith("#x"):
            return chr(int(name[2:], 16))
        if name.startswith("#"):
            return chr(int(name[1:]))
        return _NAMED_ENTITIES[name]

    return _ENTITY_RE.sub(repl, chunk)


def html_to_plain(text: str) -> str:
    """Parse Telegram-flavoured HTML like the server does; return the visible text.

    Raises the same kind of 400 Telegram gives for a stray ``<``, an unsupported
    tag (``<br>``, ``<p>``...) or unbalanced tags - the classic bug of putting
    unescaped user input into an HTML message.
    """
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while (lt := text.find("<", pos)) >= 0:
        out.append(_unescape(text[pos:lt]))
        offset = len(text[:lt].encode())
        m = _TAG_RE.match(text, lt)
        if m is None:
            raise _bad(
                f"can't parse entities: Unexpected end of name token at byte offset {offset}"
            )
        closing, name = m.group(1) == "/", m.group(2).lower()
        if name not in _HTML_TAGS:
            kind = "end" if closing else "start"
            raise _bad(
                f'can\'t parse entities: Unsupported {kind} tag "{name}" at byte offset {offset}'
            )
        if not closing:
            stack.append(name)
        elif not stack:
            raise _bad(f"can't parse entities: Unexpected end tag at byte offset {offset}")
        elif stack[-1] != name:
            raise _bad(
                f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                f'expected "</{stack[-1]}>", found "</{name}>"'
            )
        else:
            stack.pop()
        pos = m.end()
    out.append(_unescape(text[pos:]))
    if stack:
        raise _bad(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


def _visible_text(text: str, parse_mode: Any) -> str:
    if parse_mode is None or parse_mode == "":
        return text
    if not isinstance(parse_mode, str):
        raise _bad("unsupported parse_mode")
    mode = parse_mode.lower()
    if mode == "html":
        return html_to_plain(text)
    if mode in ("markdown", "markdownv2"):
        return text  # not parsed by the fake; the bot under test uses HTML
    raise _bad("unsupported parse_mode")


def _check_reply_markup(markup: Any) -> JSON | None:
    """Validate reply_markup the way Telegram rejects it; return it as a dict."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("can't parse inline keyboard button: Text buttons are unallowed")
                actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if not actions:
                    raise _bad("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not (1 <= len(str(data).encode()) <= _MAX_CALLBACK_DATA):
                    # The classic production crash: Vietnamese text or long ids in callback_data.
                    raise _bad("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not re.match(r"(https?|tg)://", str(url)):
                    raise _bad(f"inline keyboard button URL '{url}' is invalid: Unsupported URL")
        return markup
    if "keyboard" in markup:
        if not isinstance(markup["keyboard"], list):
            raise _bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
        return markup
    if "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise _bad("can't parse reply keyboard markup JSON object")


def _inline_only(markup: JSON | None) -> JSON | None:
    # Message.reply_markup is always an InlineKeyboardMarkup: Telegram never echoes
    # reply keyboards back (and aiogram's model would reject one).
    if markup is not None and "inline_keyboard" in markup:
        return markup
    return None


def _update_type(update: JSON) -> str:
    return next((k for k in update if k != "update_id"), "")


def _image_size(data: bytes) -> tuple[int, int]:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 1280, 960


# --------------------------------------------------------------------------- the fake


class FakeTelegram:
    """Fake Bot API server on 127.0.0.1 (random port).  See the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "giamngheo_test_bot",
        bot_first_name: str = "Giảm Nghèo Bot (test)",
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self._host = host

        # ---- what the bot did (public, read by tests)
        self.sent: list[SentMessage] = []
        self.calls: list[tuple[str, Params]] = []
        self.body_types: list[tuple[str, str]] = []  # (method, Content-Type) of each call
        self.callback_answers: list[CallbackAnswer] = []
        self.deleted: list[tuple[int | str, int]] = []
        self.chat_actions: list[tuple[int | str, str]] = []
        self.n429 = 0  # every 429 answered (rate limit + fail_next)
        self.n429_rate_limited = 0  # only those from rate_limit()
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None

        # ---- server state
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._client: ClientSession | None = None
        self._closing = False
        # One "something changed" event, replaced on every change: long polls and
        # wait_* helpers grab it, await it, then re-check their own condition.
        self._changed = asyncio.Event()

        self._updates: list[JSON] = []  # unconfirmed updates, oldest first
        self._next_update_id = 700_000_001
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._webhook_allowed_updates: list[str] | None = None
        self._webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None

        self._messages: dict[tuple[int | str, int], JSON] = {}
        self._next_message_id: dict[int | str, int] = {}
        self._profiles: dict[int, JSON] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = 0
        self._next_callback_id = 4_242_000_000_000_000_001
        self._open_callbacks: set[str] = set()
        self._commands: dict[tuple[str, str], list[JSON]] = {}

        self._faults: dict[str, deque[_Fault]] = {}
        self._blocked: set[int | str] = set()
        self._rate_per_second: int | None = None
        self._rate_per_chat: int | None = None
        self._send_times: deque[float] = deque()
        self._chat_send_times: dict[int | str, deque[float]] = {}

        self._handlers: dict[str, _Handler] = {
            "getMe": self._api_get_me,
            "getUpdates": self._api_get_updates,
            "setWebhook": self._api_set_webhook,
            "deleteWebhook": self._api_delete_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "sendMessage": self._api_send_message,
            "editMessageText": self._api_edit_message_text,
            "editMessageReplyMarkup": self._api_edit_message_reply_markup,
            "answerCallbackQuery": self._api_answer_callback_query,
            "sendDocument": self._api_send_document,
            "sendPhoto": self._api_send_photo,
            "getFile": self._api_get_file,
            "setMyCommands": self._api_set_my_commands,
            "getMyCommands": self._api_get_my_commands,
            "deleteMyCommands": self._api_delete_my_commands,
            "sendChatAction": self._api_send_chat_action,
            "deleteMessage": self._api_delete_message,
        }
        # Bot API method names are case-insensitive.
        self._method_names = {name.lower(): name for name in self._handlers}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeTelegram:
        if self._runner is not None:
            raise RuntimeError("FakeTelegram already started")
        # Big enough for a 50 MB upload plus multipart framing; aiohttp's 1 MB default
        # would answer 413 to legitimate document uploads.
        app = web.Application(client_max_size=_MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, 0)  # port 0: the OS picks a free one
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False
        return self

    async def stop(self) -> None:
        # Wake pending long polls / "slow" faults first so shutdown does not wait for them.
        self._closing = True
        self._notify()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def api_server(self) -> TelegramAPIServer:
        return TelegramAPIServer.from_base(self.base_url)

    def make_bot(self, **bot_kwargs: Any) -> Bot:
        """A real aiogram Bot wired to this fake (close it with ``await bot.session.close()``)."""
        return Bot(self.token, session=AiohttpSession(api=self.api_server), **bot_kwargs)

    @property
    def bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------ test-side queries

    def texts_to(self, chat_id: int | str) -> list[str]:
        """Texts sent (sendMessage) or edited in (editMessageText) to a chat, in order."""
        return [m.text for m in self.sent if m.chat_id == chat_id and m.text is not None]

    def sent_to(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def message(self, chat_id: int | str, message_id: int) -> JSON | None:
        """Current state of a stored message (bot's or user's), as Telegram would return it."""
        return self._messages.get((chat_id, message_id))

    def calls_to(self, method: str) -> list[Params]:
        name = self._method_names.get(method.lower(), method)
        return [params for m, params in self.calls if m == name]

    def my_commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    # A plain `timeout=` argument reads best in tests; hence the noqa on ASYNC109.
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until ``predicate()`` holds; re-checked after every API call/injection."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            await self._wait_changed(remaining)

    async def wait_for_sent(self, n: int, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109
        """Wait until at least ``n`` messages were recorded in ``sent``; return ``sent``."""
        try:
            await self.wait_until(lambda: len(self.sent) >= n, timeout)
        except TimeoutError:
            got = [(m.method, m.chat_id, m.text or m.caption) for m in self.sent]
            raise TimeoutError(
                f"expected >= {n} sent messages within {timeout}s, got {got}"
            ) from None
        return self.sent

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        kind: FaultKind,
        count: int = 1,
        retry_after: int = 1,
        delay: float = 2.0,
    ) -> None:
        """Make the next ``count`` calls of ``method`` ("*" = any method) fail as ``kind``.

        "slow" does not fail: it sleeps ``delay`` seconds, then answers normally
        (like Telegram does, the message is still delivered if the client gave up).
        """
        if kind not in ("429", "500", "403", "400", "slow"):
            raise ValueError(f"unknown fault kind {kind!r}")
        key = "*" if method == "*" else method.lower()
        if key != "*" and key not in self._method_names:
            raise ValueError(f"FakeTelegram does not serve {method!r}")  # catches typos
        self._faults.setdefault(key, deque()).append(_Fault(kind, count, retry_after, delay))

    def block_chat(self, chat_id: int | str) -> None:
        """The user blocked the bot: every send to ``chat_id`` answers 403."""
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int | str) -> None:
        self._blocked.discard(chat_id)

    def rate_limit(
        self, per_second: int | None = 30, per_chat_per_second: int | None = None
    ) -> None:
        """Answer 429 once accepted sends in the last second reach the limit (None = off)."""
        self._rate_per_second = per_second
        self._rate_per_chat = per_chat_per_second

    # ------------------------------------------------------------------ update builders

    def inject(self, *updates: JSON) -> None:
        """Queue updates for getUpdates (an update_id is assigned when missing)."""
        for update in updates:
            if "update_id" not in update:
                update = {"update_id": self._new_update_id(), **update}
            self._updates.append(update)
        self._notify()

    def user_message(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        language_code: str | None = None,
        **fields: Any,
    ) -> JSON:
        """A private-chat message update from a user; ``fields`` go into the message."""
        user = self._user(user_id, first_name, language_code)
        msg: JSON = {
            "message_id": self._new_message_id(user_id),
            "from": user,
            "chat": self._chat(user_id),
            "date": int(time.time()),
            **fields,
        }
        self._messages[(user_id, msg["message_id"])] = msg
        return {"update_id": self._new_update_id(), "message": msg}

    def user_text(
        self, user_id: int, text: str, first_name: str = "Ana", *, language_code: str = "vi"
    ) -> JSON:
        fields: JSON = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self.user_message(user_id, first_name, language_code=language_code, **fields)

    def user_contact(
        self,
        user_id: int,
        phone: str,
        own: bool = True,
        *,
        first_name: str | None = None,
        contact_first_name: str | None = None,
    ) -> JSON:
        """A shared contact; ``own`` = the user's own number (then contact.user_id is set)."""
        user = self._user(user_id, first_name)
        contact: JSON = {
            "phone_number": phone,
            "first_name": contact_first_name or (user["first_name"] if own else "Bình"),
        }
        if own:
            contact["user_id"] = user_id
        return self.user_message(user_id, first_name, contact=contact)

    def user_photo(
        self,
        user_id: int,
        file_id: str | None = None,
        caption: str | None = None,
        *,
        data: bytes = TINY_JPEG,
        first_name: str | None = None,
    ) -> JSON:
        """A photo; ``file_id`` names the largest size (what bots use: ``photo[-1]``)."""
        sizes = self._photo_sizes(data, file_id)
        fields: JSON = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return self.user_message(user_id, first_name, **fields)

    def user_document(
        self,
        user_id: int,
        file_name: str = "giay-xac-nhan.pdf",
        data: bytes = b"%PDF-1.4\n% fake document\n%%EOF\n",
        *,
        mime_type: str | None = None,
        file_id: str | None = None,
        caption: str | None = None,
        first_name: str | None = None,
    ) -> JSON:
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self.register_file(data, file_name=file_name, mime_type=mime, file_id=file_id)
        fields: JSON = {"document": self._document_json(stored)}
        if caption is not None:
            fields["caption"] = caption
        return self.user_message(user_id, first_name, **fields)

    def user_callback(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        *,
        first_name: str | None = None,
        check_button: bool = True,
    ) -> JSON:
        """A button press.  Without ``message_id`` the latest bot message in the chat that
        has a button with this callback_data is used.  With ``check_button`` a press of a
        button the recorded message does not have raises ValueError (a test bug)."""
        msg = self._find_button_message(user_id, data, message_id)
        if check_button and msg is not None:
            rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
            offered = [b.get("callback_data") for row in rows for b in row]
            if rows and data not in offered:
                raise ValueError(f"message {msg['message_id']} has no button {data!r}: {offered}")
        if msg is None:  # not recorded (e.g. sent before a restart): synthesize it
            mid = message_id if message_id is not None else self._new_message_id(user_id)
            msg = {
                "message_id": mid,
                "from": self.bot_user,
                "chat": self._chat(user_id),
                "date": int(time.time()),
                "text": "…",
            }
        query_id = str(self._next_callback_id)
        self._next_callback_id += 1
        self._open_callbacks.add(query_id)
        query: JSON = {
            "id": query_id,
            "from": self._user(user_id, first_name),
            "message": msg,
            "chat_instance": str((user_id * 2_654_435_761) % 2**63),
            "data": data,
        }
        return {"update_id": self._new_update_id(), "callback_query": query}

    def my_chat_member(self, user_id: int, status: Literal["kicked", "member"] = "kicked") -> JSON:
        """The user blocked ("kicked") or restarted ("member") the bot.

        The block state applies right away (Telegram already knows when the update
        is created): after "kicked" sends to the user answer 403.
        """
        if status == "kicked":
            self.block_chat(user_id)
        else:
            self.unblock_chat(user_id)
        old_status, new_status = (
            ("member", "kicked") if status == "kicked" else ("kicked", "member")
        )

        def member(st: str) -> JSON:
            m: JSON = {"status": st, "user": self.bot_user}
            if st == "kicked":
                m["until_date"] = 0
            return m

        event: JSON = {
            "chat": self._chat(user_id),
            "from": self._user(user_id),
            "date": int(time.time()),
            "old_chat_member": member(old_status),
            "new_chat_member": member(new_status),
        }
        return {"update_id": self._new_update_id(), "my_chat_member": event}

    def register_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_id: str | None = None,
        folder: str = "documents",
    ) -> StoredFile:
        """Store bytes so getFile + download (and sending by file_id) serve them."""
        self._file_counter += 1
        ext = ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        elif folder == "photos":
            ext = ".jpg"
        prefix = "AgACAgUAAxkBAAI" if folder == "photos" else "BQACAgUAAxkBAAI"
        stored = StoredFile(
            file_id=file_id or f"{prefix}{self._file_counter}{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{self._file_counter}{secrets.token_hex(4)}",
            file_path=f"{folder}/file_{self._file_counter}{ext}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    async def post_webhook(
        self, update: JSON, secret: str | _Unset | None = _UNSET, request_timeout: float = 10.0
    ) -> int:
        """POST an update to the webhook set via setWebhook; return the HTTP status.

        The secret header carries the secret_token given to setWebhook, unless
        ``secret`` overrides it (a string, or None to send no header).  Like
        Telegram, a 2xx answer carrying a method (aiogram's "reply in webhook
        response") is executed as an API call.
        """
        if not self.webhook_url:
            raise RuntimeError("no webhook set: the bot must call setWebhook first")
        headers = {"Content-Type": "application/json"}
        token = self.webhook_secret if isinstance(secret, _Unset) else secret
        if token is not None:
            headers[SECRET_HEADER] = token
        if self._client is None or self._client.closed:
            self._client = ClientSession()
        async with self._client.post(
            self.webhook_url,
            data=json.dumps(update),
            headers=headers,
            timeout=ClientTimeout(total=request_timeout),
        ) as resp:
            status = resp.status
            if 200 <= status < 300:
                self._webhook_last_error = None
                await self._run_webhook_reply(resp)
            else:
                self._webhook_last_error = (
                    int(time.time()),
                    f"Wrong response from the webhook: {status} {resp.reason}",
                )
        return status

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.body_types.append((method, request.content_type))
        try:
            params, uploads = await self._read_params(request)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(_error_body(413, "Request Entity Too Large"), status=413)
        if request.match_info["token"] != self.token:
            self.calls.append((method, params))
            return web.json_response(_error_body(401, "Unauthorized"), status=401)
        status, body = await self._call(method, params, uploads)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(_error_body(401, "Unauthorized"), status=401)
        stored = self._files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return web.json_response(_error_body(404, "Not Found"), status=404)
        ctype = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=ctype)

    async def _read_params(self, request: web.Request) -> tuple[Params, Uploads]:
        """Decode query string + urlencoded / multipart / JSON body into typed params."""
        params: Params = {k: _decode_value(k, v) for k, v in request.query.items()}
        uploads: Uploads = {}
        if not request.can_read_body:
            return params, uploads
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                for k, v in body.items():
                    # Some clients JSON-encode nested objects even inside a JSON body.
                    params[k] = _decode_value(k, v) if isinstance(v, str) else v
            return params, uploads
        form = await request.post()
        for k, v in form.items():
            if isinstance(v, FileField):
                uploads[k] = _Upload(v.filename, v.file.read(), v.content_type)
            else:
                params[k] = _decode_value(k, v if isinstance(v, str) else v.decode())
        return params, uploads

    async def _run_webhook_reply(self, resp: ClientResponse) -> None:
        params: Params = {}
        uploads: Uploads = {}
        if resp.content_type.startswith("multipart/"):
            # aiogram's "reply in webhook response" is multipart/form-data.
            reader = MultipartReader(resp.headers, resp.content)
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename:
                    data = await part.read(decode=True)
                    uploads[part.name] = _Upload(part.filename, bytes(data), None)
                else:
                    params[part.name] = _decode_value(part.name, await part.text())
        elif resp.content_type == "application/json":
            body = await resp.json()
            if isinstance(body, dict):
                params = {
                    k: _decode_value(k, v) if isinstance(v, str) else v for k, v in body.items()
                }
        method = params.pop("method", None)
        if isinstance(method, str) and method:
            await self._call(method, params, uploads)

    # ------------------------------------------------------------------ dispatch

    async def _call(self, method_raw: str, params: Params, uploads: Uploads) -> tuple[int, JSON]:
        method = self._method_names.get(method_raw.lower())
        self.calls.append((method or method_raw, params))
        try:
            if method is None:
                raise _ApiError(404, "Not Found")
            await self._apply_fault(method)
            chat_id = self._opt_chat_id(params)
            if method in _CHAT_METHODS and chat_id is not None and chat_id in self._blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if method in _SEND_METHODS:
                self._check_rate(chat_id)
            result = await self._handlers[method](params, uploads)
            if method in _SEND_METHODS:
                self._accepted_send(chat_id)
            return 200, {"ok": True, "result": result}
        except _ApiError as e:
            if e.code == 429:
                self.n429 += 1
            return e.code, _error_body(e.code, e.description, e.parameters)
        finally:
            self._notify()

    async def _apply_fault(self, method: str) -> None:
        for key in (method.lower(), "*"):
            queue = self._faults.get(key)
            if not queue:
                continue
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            if fault.kind == "slow":
                await self._sleep(fault.delay)
                return
            if fault.kind == "429":
                raise _ApiError(
                    429,
                    f"Too Many Requests: retry after {fault.retry_after}",
                    {"retry_after": fault.retry_after},
                )
            if fault.kind == "500":
                raise _ApiError(500, "Internal Server Error")
            if fault.kind == "403":
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            raise _bad("message text is empty")

    def _check_rate(self, chat_id: int | str | None) -> None:
        now = time.monotonic()
        windows: list[tuple[deque[float], int]] = []
        if self._rate_per_second is not None:
            windows.append((self._send_times, self._rate_per_second))
        if self._rate_per_chat is not None and chat_id is not None:
            windows.append(
                (self._chat_send_times.setdefault(chat_id, deque()), self._rate_per_chat)
            )
        for times, limit in windows:
            while times and times[0] <= now - 1.0:
                times.popleft()
            if len(times) >= limit:
                retry_after = max(1, math.ceil(times[0] + 1.0 - now))
                self.n429_rate_limited += 1
                raise _ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )

    def _accepted_send(self, chat_id: int | str | None) -> None:
        now = time.monotonic()
        self._send_times.append(now)
        if chat_id is not None:
            self._chat_send_times.setdefault(chat_id, deque()).append(now)

    # ------------------------------------------------------------------ state helpers

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_changed(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def _sleep(self, delay: float) -> None:
        """Sleep that ends early when the server stops."""
        deadline = asyncio.get_running_loop().time() + delay
        while not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await self._wait_changed(remaining)

    def _new_update_id(self) -> int:
        self._next_update_id += 1
        return self._next_update_id - 1

    def _new_message_id(self, chat_id: int | str) -> int:
        # Private chats share one id sequence for both directions, like Telegram.
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return mid

    def _user(
        self, user_id: int, first_name: str | None = None, language_code: str | None = None
    ) -> JSON:
        profile = self._profiles.get(user_id, {})
        user: JSON = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or profile.get("first_name", "Ana"),
            "language_code": language_code or profile.get("language_code", "vi"),
        }
        self._profiles[user_id] = user
        return dict(user)

    def _chat(self, chat_id: int | str) -> JSON:
        if isinstance(chat_id, str):  # "@channelusername"
            username = chat_id.lstrip("@")
            return {
                "id": -1_000_000_000_000,
                "type": "channel",
                "title": username,
                "username": username,
            }
        if chat_id > 0:
            name = self._profiles.get(chat_id, {}).get("first_name", "Ana")
            return {"id": chat_id, "type": "private", "first_name": name}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": f"Nhóm {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Nhóm {chat_id}"}

    @staticmethod
    def _opt_chat_id(params: Params) -> int | str | None:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            return int(chat_id)
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str):
            return None
        return chat_id

    def _chat_id(self, params: Params) -> int | str:
        chat_id = self._opt_chat_id(params)
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        return chat_id

    def _record(self, sent: SentMessage) -> None:
        self.sent.append(sent)

    def _bot_message(self, chat_id: int | str, params: Params, **fields: Any) -> JSON:
        """Validate reply/markup params, then store and return a new bot message."""
        reply_to = params.get("reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
        replied: JSON | None = None
        if isinstance(reply_to, int):
            replied = self._messages.get((chat_id, reply_to))
            without_reply = params.get("allow_sending_without_reply") or (
                isinstance(reply_parameters, dict)
                and reply_parameters.get("allow_sending_without_reply")
            )
            if replied is None and not without_reply:
                raise _bad("message to be replied not found")
        markup = _inline_only(_check_reply_markup(params.get("reply_markup")))
        msg: JSON = {
            "message_id": self._new_message_id(chat_id),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **fields,
        }
        if replied is not None:
            msg["reply_to_message"] = replied
        if markup is not None:
            msg["reply_markup"] = markup
        self._messages[(chat_id, msg["message_id"])] = msg
        return msg

    def _find_button_message(self, chat_id: int, data: str, message_id: int | None) -> JSON | None:
        if message_id is not None:
            return self._messages.get((chat_id, message_id))
        bot_messages = [
            m
            for (cid, _), m in self._messages.items()
            if cid == chat_id and m.get("from", {}).get("id") == self.bot_id
        ]
        for msg in reversed(bot_messages):
            rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
            if any(b.get("callback_data") == data for row in rows for b in row):
                return msg
        return bot_messages[-1] if bot_messages else None

    def _commands_key(self, scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _document_json(self, stored: StoredFile) -> JSON:
        doc: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if stored.file_name:
            doc["file_name"] = stored.file_name
        if stored.mime_type:
            doc["mime_type"] = stored.mime_type
        return doc

    def _photo_sizes(self, data: bytes, file_id: str | None) -> list[JSON]:
        # Telegram returns several sizes, smallest first; we don't resize, so all
        # serve the same bytes, but each has its own file_id like the real thing.
        width, height = _image_size(data)
        sizes: list[JSON] = []
        for scale, fid in ((90 / max(width, height), None), (1.0, file_id)):
            stored = self.register_file(data, mime_type="image/jpeg", file_id=fid, folder="photos")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                }
            )
        return sizes

    def _resolve_file(
        self, params: Params, uploads: Uploads, field_name: str, folder: str
    ) -> tuple[StoredFile, _Upload | None]:
        """The file given as upload ("attach://x" or a direct part), file_id or URL."""
        value = params.get(field_name)
        upload = uploads.get(field_name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad(f"wrong file identifier/HTTP URL specified ({value} not attached)")
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename)[0] or mime
            stored = self.register_file(
                upload.data, file_name=upload.filename, mime_type=mime, folder=folder
            )
            return stored, upload
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {field_name} in the request")
        if value in self._files:
            return self._files[value], None
        if re.match(r"https?://", value):
            name = value.rstrip("/").rsplit("/", 1)[-1] or field_name
            return self.register_file(b"", file_name=name, folder=folder), None
        raise _bad("wrong file identifier/HTTP URL specified")

    def _caption(self, params: Params) -> str | None:
        caption = params.get("caption")
        if caption is None:
            return None
        caption = str(caption)
        if _utf16_len(_visible_text(caption, params.get("parse_mode"))) > _MAX_CAPTION:
            raise _bad("message caption is too long")
        return caption

    def _text(self, params: Params) -> tuple[str, str]:
        """Return (text as sent, visible text) or raise like Telegram does."""
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _bad("message text is empty")
        text = str(text)
        visible = _visible_text(text, params.get("parse_mode"))
        if visible.strip() == "":
            raise _bad("message text is empty")
        if _utf16_len(visible) > _MAX_TEXT:
            raise _bad("message is too long")
        return text, visible

    def _editable(self, params: Params) -> tuple[int | str, int, JSON]:
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad("message identifier is not specified")
        msg = self._messages.get((chat_id, message_id))
        if msg is None:
            raise _bad("message to edit not found")
        if msg.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return chat_id, message_id, msg

    # ------------------------------------------------------------------ API methods

    async def _api_get_me(self, params: Params, uploads: Uploads) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_get_updates(self, params: Params, uploads: Uploads) -> list[JSON]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = params.get("limit")
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        timeout = params.get("timeout")
        timeout = max(timeout, 0) if isinstance(timeout, int | float) else 0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]  # sticky, like Telegram

        # Confirm: updates with update_id < offset are forgotten; a negative offset
        # keeps only the last -offset updates.
        if isinstance(offset, int) and offset < 0:
            self._updates = self._updates[offset:]
        elif isinstance(offset, int) and offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

        # Only one long poll at a time: a newer getUpdates terminates the older one
        # with 409, which is how Telegram reveals two running bot instances.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._drop_disallowed_updates()
            if self._updates:
                return [dict(u) for u in self._updates[:limit]]
            remaining = deadline - loop.time()
            if self._closing or remaining <= 0:
                return []
            await self._wait_changed(remaining)
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )

    def _drop_disallowed_updates(self) -> None:
        # Telegram does not even create updates of types the bot did not ask for.
        allowed = self._allowed_updates
        wanted = set(allowed) if allowed else _ALL_UPDATE_TYPES - _OPT_IN_UPDATE_TYPES
        self._updates = [u for u in self._updates if _update_type(u) in wanted]

    async def _api_set_webhook(self, params: Params, uploads: Uploads) -> bool:
        url = params.get("url")
        if not url:  # an empty url removes the webhook, like deleteWebhook
            return await self._api_delete_webhook(params, uploads)
        if not isinstance(url, str) or not re.match(r"https?://", url):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = url
        self.webhook_secret = str(secret) if secret is not None else None
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._webhook_allowed_updates = [str(a) for a in allowed]
        max_connections = params.get("max_connections")
        if isinstance(max_connections, int):
            self._webhook_max_connections = max_connections
        return True

    async def _api_delete_webhook(self, params: Params, uploads: Uploads) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = None
        self.webhook_secret = None
        self._webhook_last_error = None
        return True

    async def _api_get_webhook_info(self, params: Params, uploads: Uploads) -> JSON:
        info: JSON = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = self._webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self._webhook_allowed_updates is not None:
                info["allowed_updates"] = self._webhook_allowed_updates
        if self._webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    async def _api_send_message(self, params: Params, uploads: Uploads) -> JSON:
        chat_id = self._chat_id(params)
        text, visible = self._text(params)
        msg = self._bot_message(chat_id, params, text=visible)
        self._record(
            SentMessage(
                method="sendMessage",
                chat_id=chat_id,
                text=text,
                reply_markup=params.get("reply_markup"),
                message_id=msg["message_id"],
                params=params,
            )
        )
        return msg

    async def _api_edit_message_text(self, params: Params, uploads: Uploads) -> JSON | bool:
        text, visible = self._text(params)
        markup = _check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            self._record(SentMessage("editMessageText", None, text, markup, None, params))
            return True
        chat_id, message_id, msg = self._editable(params)
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        new_markup = _inline_only(markup)
        if msg["text"] == visible and msg.get("reply_markup") == new_markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        msg["text"] = visible
        msg["edit_date"] = int(time.time())
        # Editing without reply_markup removes the inline keyboard, as on Telegram.
        if new_markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = new_markup
        self._record(SentMessage("editMessageText", chat_id, text, markup, message_id, params))
        return dict(msg)

    async def _api_edit_message_reply_markup(self, params: Params, uploads: Uploads) -> JSON | bool:
        markup = _check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            self._record(SentMessage("editMessageReplyMarkup", None, None, markup, None, params))
            return True
        chat_id, message_id, msg = self._editable(params)
        new_markup = _inline_only(markup)
        if msg.get("reply_markup") == new_markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        if new_markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = new_markup
        msg["edit_date"] = int(time.time())
        self._record(
            SentMessage("editMessageReplyMarkup", chat_id, None, markup, message_id, params)
        )
        return dict(msg)

    async def _api_answer_callback_query(self, params: Params, uploads: Uploads) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        # Unknown or already answered: Telegram gives this exact 400.
        if query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        cache_time = params.get("cache_time")
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=None if text is None else str(text),
                show_alert=bool(params.get("show_alert", False)),
                url=params.get("url"),
                cache_time=cache_time if isinstance(cache_time, int) else None,
                params=params,
            )
        )
        return True

    async def _api_send_document(self, params: Params, uploads: Uploads) -> JSON:
        chat_id = self._chat_id(params)
        stored, upload = self._resolve_file(params, uploads, "document", "documents")
        caption = self._caption(params)
        fields: JSON = {"document": self._document_json(stored)}
        if caption is not None:
            fields["caption"] = _visible_text(caption, params.get("parse_mode"))
        msg = self._bot_message(chat_id, params, **fields)
        self._record(
            SentMessage(
                method="sendDocument",
                chat_id=chat_id,
                text=None,
                caption=caption,
                reply_markup=params.get("reply_markup"),
                message_id=msg["message_id"],
                params=params,
                filename=upload.filename if upload else stored.file_name,
                file_bytes=upload.data if upload else stored.data,
                file_id=stored.file_id,
            )
        )
        return msg

    async def _api_send_photo(self, params: Params, uploads: Uploads) -> JSON:
        chat_id = self._chat_id(params)
        stored, upload = self._resolve_file(params, uploads, "photo", "photos")
        if upload is not None and not upload.data.startswith(_IMAGE_MAGICS):
            raise _bad("IMAGE_PROCESS_FAILED")  # Telegram decodes uploaded photos
        caption = self._caption(params)
        sizes = self._photo_sizes(stored.data, None)
        sizes[-1]["file_id"] = stored.file_id  # the largest size is the uploaded file
        sizes[-1]["file_unique_id"] = stored.file_unique_id
        fields: JSON = {"photo": sizes}
        if caption is not None:
            fields["caption"] = _visible_text(caption, params.get("parse_mode"))
        msg = self._bot_message(chat_id, params, **fields)
        self._record(
            SentMessage(
                method="sendPhoto",
                chat_id=chat_id,
                text=None,
                caption=caption,
                reply_markup=params.get("reply_markup"),
                message_id=msg["message_id"],
                params=params,
                filename=upload.filename if upload else stored.file_name,
                file_bytes=upload.data if upload else stored.data,
                file_id=stored.file_id,
            )
        )
        return msg

    async def _api_get_file(self, params: Params, uploads: Uploads) -> JSON:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.data) > _MAX_DOWNLOAD:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _api_set_my_commands(self, params: Params, uploads: Uploads) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('field "commands" must be an Array')
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        clean: list[JSON] = []
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_RE.fullmatch(str(cmd.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            description = str(cmd.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise _bad("command description must be non-empty")
            clean.append({"command": cmd["command"], "description": description})
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = clean
        return True

    async def _api_get_my_commands(self, params: Params, uploads: Uploads) -> list[JSON]:
        return self.my_commands(params.get("scope"), str(params.get("language_code") or ""))

    async def _api_delete_my_commands(self, params: Params, uploads: Uploads) -> bool:
        self._commands.pop(
            self._commands_key(params.get("scope"), params.get("language_code")), None
        )
        return True

    async def _api_send_chat_action(self, params: Params, uploads: Uploads) -> bool:
        chat_id = self._chat_id(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append((chat_id, str(action)))
        return True

    async def _api_delete_message(self, params: Params, uploads: Uploads) -> bool:
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        if (
            not isinstance(message_id, int)
            or self._messages.pop((chat_id, message_id), None) is None
        ):
            raise _bad("message to delete not found")
        self.deleted.append((chat_id, message_id))
        return True
