"""Telegram on aiogram 3: updates in (polling or webhook), replies out through the outbox.

Only aiogram's HTTP client and types are used; updates are never handed to aiogram's own
dispatcher, whose background processing a crash would lose. Each update goes through
`Dispatcher.handle`, which records ``telegram``/``<bot id>:<update_id>`` in the same
transaction as its effects, so a re-delivered update does nothing:

* polling confirms an update (advances the ``getUpdates`` offset) only after it was
  handled, so a crash re-fetches what was not confirmed and the record makes it a no-op;
* the webhook answers 200 only after the update is durably recorded; a failure answers
  500 and Telegram delivers it again.

Replies leave through `TelegramDelivery`, called by the outbox sender. Texts are sent plain
(no ``parse_mode``): what a person typed can never break the markup. No message text is
ever logged.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiohttp import ClientError, web
from pydantic import ValidationError

from bot.channels.linked_files import kept
from bot.channels.membership import record_reachability
from bot.channels.parts import PartProgress, Step
from bot.channels.telegram_session import TelegramSession
from bot.channels.telegram_types import Message, PollUpdates, SendText, TelegramUpdate
from bot.core.dispatcher import Dispatcher
from bot.core.messages import Attachment, Contact, Incoming, Reply
from bot.core.services import Services
from bot.i18n import Translator, translator
from bot.logs import log_failure
from bot.outbox import Blocked, Rejected, RetryAfter, Transient
from bot.settings import Settings
from bot.text import split_long_text
from bot.uploads import LOCAL_PREFIXES, Uploads

__all__ = [
    "ALLOWED_UPDATES",
    "CHANNEL",
    "SECRET_HEADER",
    "TelegramChannel",
    "TelegramDelivery",
    "bot_commands",
    "make_bot",
    "runtime_parts",
    "to_incoming",
]

log = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What the core understands; everything else Telegram would not even create for us.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates open
_BACKOFF_START = 0.5
_BACKOFF_MAX = 30.0
# Memberships meaning "the person can receive our messages" (private chats: member/kicked).
_ACTIVE_STATUSES = frozenset({"member", "administrator", "creator", "restricted"})


def make_bot(settings: Settings) -> Bot:
    """A Bot for the token in settings, pointed at another Bot API server when one is set."""
    assert settings.telegram_bot_token, "TELEGRAM_BOT_TOKEN is not set"
    server, plain_http = PRODUCTION, False
    if settings.telegram_api_base:
        base = settings.telegram_api_base.rstrip("/")
        server, plain_http = TelegramAPIServer.from_base(base), base.startswith("http://")
    return Bot(settings.telegram_bot_token, session=TelegramSession(server, plain_http=plain_http))


# Telegram lets bots download files up to 20 MB; a scan or a photo is far smaller.
MAX_KEPT_BYTES = 20 * 1024 * 1024


def bot_commands(t: Translator) -> list[BotCommand]:
    """The command menu; literal keys so the catalog extractor finds them."""
    return [
        BotCommand(command="start", description=t("command.start")),
        BotCommand(command="menu", description=t("command.menu")),
        BotCommand(command="help", description=t("command.help")),
        BotCommand(command="cancel", description=t("command.cancel")),
        BotCommand(command="lang", description=t("command.lang")),
        BotCommand(command="privacy", description=t("command.privacy")),
        BotCommand(command="mydata", description=t("command.mydata")),
        BotCommand(command="lienket", description=t("command.link")),
        BotCommand(command="export", description=t("command.export")),
        BotCommand(command="delete", description=t("command.delete")),
    ]


# --------------------------------------------------------------------------- updates in


def update_key(bot_id: int, update_id: int) -> str:
    # update_id is only unique per bot: two bots on one database must not collide.
    return f"{bot_id}:{update_id}"


def _start_arg(text: str | None) -> str | None:
    if not text:
        return None
    head, _, rest = text.strip().partition(" ")
    if head.split("@", 1)[0].lower() != "/start":
        return None
    return rest.strip() or None


def _message_incoming(message: Message, key: str) -> Incoming:
    attachment = None
    if message.photo:
        largest = message.photo[-1]  # sizes come smallest first
        attachment = Attachment(
            filename=f"{largest.file_unique_id}.jpg",
            mime_type="image/jpeg",
            file_ref=largest.file_id,
            kind="photo",
        )
    elif message.document is not None:
        document = message.document
        attachment = Attachment(
            filename=document.file_name or "file",
            mime_type=document.mime_type or "application/octet-stream",
            file_ref=document.file_id,
            kind="document",
        )
    contact = None
    if message.contact is not None:
        sender = message.from_user.id if message.from_user else None
        contact = Contact(
            phone=message.contact.phone_number,
            # Only one's own number counts: anybody can forward somebody else's card.
            user_is_sender=sender is not None and message.contact.user_id == sender,
        )
    user = message.from_user
    return Incoming(
        channel=CHANNEL,
        sender_id=str(message.chat.id),
        update_key=key,
        # Captions are not read as answers: a caption "/cancel" on a photo is no command.
        text=message.text,
        attachment=attachment,
        contact=contact,
        start_arg=_start_arg(message.text),
        language_hint=user.language_code if user else None,
    )


def to_incoming(update: TelegramUpdate, bot_id: int) -> Incoming | None:
    """The core's view of an update; None for updates that are not a person talking to us.

    Only private chats are conversations: in a group, one account would be shared by every
    member, and /mydata or /export would show personal data to all of them.
    """
    key = update_key(bot_id, update.update_id)
    if update.message is not None:
        if update.message.chat.type != "private":
            return None
        return _message_incoming(update.message, key)
    if update.callback_query is not None:
        query = update.callback_query
        if query.message is not None and query.message.chat.type != "private":
            return None
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        return Incoming(
            channel=CHANNEL,
            sender_id=str(chat_id),
            update_key=key,
            payload=query.data or None,
            language_hint=query.from_user.language_code,
        )
    if update.edited_message is not None:
        # Edits are not re-read as answers; the core kindly says it got nothing to read.
        edited = update.edited_message
        if edited.chat.type != "private":
            return None
        return Incoming(channel=CHANNEL, sender_id=str(edited.chat.id), update_key=key)
    return None


# --------------------------------------------------------------------------- replies out


def _buttons(reply: Reply) -> tuple[tuple[str, str], ...]:
    return tuple((button.title, button.payload) for button in reply.buttons)


@functools.lru_cache(maxsize=512)
def _markup_json(buttons: tuple[tuple[str, str], ...], contact_label: str | None) -> str | None:
    """The keyboard a text carries, as the Bot API takes it in a form field (JSON text),
    made once per keyboard: the buttons if any, else the contact button if asked for."""
    markup = _markup(buttons) or (_contact_keyboard(contact_label) if contact_label else None)
    return None if markup is None else markup.model_dump_json(exclude_none=True)


@functools.lru_cache(maxsize=512)
def _markup(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
    """Built once per set of buttons: most replies repeat a few menus, and building the
    models cost more than sending them. aiogram only reads a markup when it sends it."""
    rows: list[list[InlineKeyboardButton]] = []
    for title, payload in buttons:
        if not 1 <= len(payload.encode()) <= MAX_CALLBACK_DATA:
            # Telegram would refuse the whole message; losing one button is the lesser harm.
            log.warning(
                "dropped a button: callback data of %d bytes exceeds %d",
                len(payload.encode()),
                MAX_CALLBACK_DATA,
            )
            continue
        rows.append([InlineKeyboardButton(text=title, callback_data=payload)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


@functools.lru_cache(maxsize=64)
def _contact_keyboard(label: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=label, request_contact=True)]],
        one_time_keyboard=True,
        resize_keyboard=True,
    )


class TelegramDelivery:
    """Renders a `Reply` for Telegram and maps its errors onto the outbox's outcomes.

    A reply longer than one message goes out in parts. If a later part fails and the
    sender retries, the parts already accepted are not sent again (remembered in memory
    by chat and content until the reply is complete).
    """

    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._progress = PartProgress()

    async def deliver(self, chat_id: str, reply: Reply) -> None:
        try:
            await self._deliver(chat_id, reply)
        except TelegramRetryAfter as error:
            raise RetryAfter(float(error.retry_after)) from None
        except TelegramForbiddenError as error:
            raise Blocked(error.message) from None
        except (TelegramBadRequest, TelegramEntityTooLarge) as error:
            raise Rejected(error.message) from None
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as error:
            raise Transient(type(error).__name__) from None
        except TelegramUnauthorizedError as error:
            # A revoked token: every message fails the same way until an admin acts.
            raise Transient(f"unauthorized: {error.message}") from None
        except TelegramAPIError as error:
            raise Transient(f"{type(error).__name__}: {error.message}") from None

    def _steps(self, chat: int | str, reply: Reply) -> list[Step]:
        """Each API call this reply needs, in order."""
        bot = self.bot
        buttons = _buttons(reply)
        keyboard = _markup(buttons)
        asked = reply.extra.get("request_contact")
        label = str(asked) if asked else None
        contact = _contact_keyboard(label) if label else None
        steps: list[Step] = []
        text = reply.text or ""
        attachment = reply.attachment if reply.attachment and reply.attachment.content else None
        caption: str | None = None
        if attachment is not None and len(text) <= MAX_CAPTION:
            caption, text = text or None, ""
        parts = split_long_text(text, MAX_TEXT) if text.strip() else []
        # The last message carries the buttons (or, without buttons, the contact button).
        final_markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = keyboard or contact
        for number, part in enumerate(parts):
            last = number == len(parts) - 1 and attachment is None
            markup = _markup_json(buttons, label) if last else None
            steps.append(partial(bot, SendText(chat_id=chat, text=part, reply_markup=markup)))
        if attachment is not None:
            assert attachment.content is not None
            file = BufferedInputFile(attachment.content, filename=attachment.filename)
            if attachment.kind == "photo":
                steps.append(
                    partial(
                        bot.send_photo,
                        chat_id=chat,
                        photo=file,
                        caption=caption,
                        reply_markup=final_markup,
                    )
                )
            else:
                steps.append(
                    partial(
                        bot.send_document,
                        chat_id=chat,
                        document=file,
                        caption=caption,
                        reply_markup=final_markup,
                    )
                )
        if label is not None and keyboard is not None:
            # One message carries one keyboard: the question keeps its buttons, and the
            # contact button comes under its own short message.
            request = SendText(chat_id=chat, text=label, reply_markup=_markup_json((), label))
            steps.append(partial(bot, request))
        return steps

    async def _deliver(self, chat_id: str, reply: Reply) -> None:
        chat: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        steps = self._steps(chat, reply)
        if not steps:
            raise Rejected("nothing to send: empty text and no attachment")
        await self._progress.send(chat_id, reply, steps)


# --------------------------------------------------------------------------- the channel


class TelegramChannel:
    """Receives updates (polling loop or webhook route) and hands them to the dispatcher."""

    def __init__(self, services: Services, dispatcher: Dispatcher, bot: Bot | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.dispatcher = dispatcher
        self.bot = bot or make_bot(services.settings)
        self.bot_id = self.bot.id
        self.delivery = TelegramDelivery(self.bot)
        self.uploads = Uploads.under(services.settings.data_dir)
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        if self.settings.telegram_mode == "webhook":
            return [self.run_webhook_setup]
        return [self.run_polling]

    def add_routes(self, app: web.Application) -> None:
        if self.settings.telegram_mode == "webhook":
            app.router.add_post(self.webhook_path, self.webhook)

        async def close(_app: web.Application) -> None:
            await self.close()

        app.on_cleanup.append(close)

    @property
    def webhook_path(self) -> str:
        url = self.settings.telegram_webhook_url or ""
        return urlsplit(url).path or "/telegram/webhook"

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bot.session.close()

    async def register_commands(self) -> None:
        """The command menu in Vietnamese (the default) and English."""
        await self.bot.set_my_commands(bot_commands(translator("vi")))
        await self.bot.set_my_commands(bot_commands(translator("en")), language_code="en")

    async def _startup(self, calls: Iterable[Callable[[], Coroutine[Any, Any, Any]]]) -> None:
        """Run start-up calls, retrying network trouble; a refusal is logged, not fatal."""
        for call in calls:
            delay = _BACKOFF_START
            while True:
                try:
                    await call()
                    break
                except TelegramRetryAfter as error:
                    await asyncio.sleep(error.retry_after)
                except (TelegramNetworkError, TelegramServerError, TimeoutError):
                    log.warning("telegram start-up call failed; retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _BACKOFF_MAX)
                except TelegramAPIError as error:
                    log.error("telegram start-up call refused: %s", error.message)
                    break

    async def run_webhook_setup(self) -> None:
        url = self.settings.telegram_webhook_url
        assert url and self.settings.telegram_webhook_secret
        secret = self.settings.telegram_webhook_secret

        async def set_webhook() -> None:
            await self.bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            )

        await self._startup([set_webhook, self.register_commands])
        log.info("telegram webhook set")

    async def run_polling(self) -> None:
        await self._startup([self.bot.delete_webhook, self.register_commands])
        log.info("telegram polling started")
        offset: int | None = None
        delay = _BACKOFF_START
        while True:
            try:
                poll = PollUpdates(
                    offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
                updates = await self.bot(poll, request_timeout=POLL_TIMEOUT + 10)
            except asyncio.CancelledError:
                raise
            except TelegramRetryAfter as error:
                await asyncio.sleep(error.retry_after)
                continue
            except Exception as error:
                # Network trouble, a 5xx, a conflict with another instance: wait, retry.
                log.warning(
                    "getUpdates failed (%s); retrying in %.1fs", type(error).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            if not updates:
                delay = _BACKOFF_START
                continue
            try:
                await self.process_batch(updates)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Not confirmed: the same updates come again, and those already recorded
                # are no-ops.
                log_failure(
                    log, f"processing telegram updates failed; retry in {delay:.1f}s", error
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            delay = _BACKOFF_START
            offset = updates[-1].update_id + 1  # confirmed with the next getUpdates

    async def process_batch(self, updates: list[TelegramUpdate]) -> None:
        """One polled batch in one transaction, in update order; raises if not recorded."""
        pending: list[Incoming] = []
        for item in updates:
            if item.my_chat_member is not None:
                # Rare, and it must land after the messages before it: flush those first.
                await self._dispatch(pending)
                await self.process(item)
                continue
            if item.callback_query is not None:
                self._answer_callback(item.callback_query.id)
            incoming = to_incoming(item, self.bot_id)
            if incoming is not None:
                pending.append(await self.keep_file(incoming))
        await self._dispatch(pending)

    async def _dispatch(self, pending: list[Incoming]) -> None:
        if pending:
            await self.dispatcher.handle_batch(pending)
            pending.clear()

    async def process(self, item: TelegramUpdate) -> None:
        """Handle one update durably; raises if it could not be recorded."""
        if item.callback_query is not None:
            self._answer_callback(item.callback_query.id)
        member = item.my_chat_member
        if member is not None:
            active = member.new_chat_member.status in _ACTIVE_STATUSES
            await record_reachability(
                self.services.db,
                CHANNEL,
                update_key(self.bot_id, item.update_id),
                str(member.chat.id),
                active,
                self.services.clock(),
            )
            return
        incoming = to_incoming(item, self.bot_id)
        if incoming is None:
            return
        await self.dispatcher.handle(await self.keep_file(incoming))

    async def keep_file(self, incoming: Incoming) -> Incoming:
        """Fetch a file the person sent and keep it (bot/uploads.py), so that it can be
        shown on any channel; if Telegram will not give it, its file id is used instead."""
        file = incoming.attachment
        if file is None or not file.file_ref or file.file_ref.startswith(LOCAL_PREFIXES):
            return incoming
        try:
            found = await self.bot.get_file(file.file_ref)
            if not found.file_path or (found.file_size or 0) > MAX_KEPT_BYTES:
                return incoming
            downloaded = await self.bot.download_file(found.file_path)
        except (TelegramAPIError, ClientError, TimeoutError, OSError) as error:
            log.warning(
                "a telegram file was not kept (%s); its file id is used", type(error).__name__
            )
            return incoming
        if downloaded is None:
            return incoming
        return await kept(self.uploads, CHANNEL, incoming, downloaded.read())

    def _answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner at once, without waiting for the answer to be ready."""

        async def answer() -> None:
            try:
                await self.bot.answer_callback_query(query_id)
            except TelegramAPIError as error:
                # Already answered (a re-delivery) or too old: nothing to do.
                log.debug("answerCallbackQuery refused: %s", error.message)

        task = asyncio.create_task(answer())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- webhook -------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.telegram_webhook_secret or ""
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=401)
        try:
            data = await request.json()
            item = TelegramUpdate.model_validate(data)
        except (ValueError, ValidationError):
            log.warning("webhook: an update that could not be read was refused")
            return web.Response(status=400)
        try:
            await self.process(item)
        except Exception as error:
            # Not recorded: a 500 makes Telegram deliver it again.
            log_failure(log, "webhook: an update could not be processed", error)
            return web.Response(status=500)
        return web.Response(status=200)


def runtime_parts(
    services: Services, dispatcher: Dispatcher, app: web.Application
) -> tuple[TelegramDelivery, list[Callable[[], Coroutine[Any, Any, None]]]]:
    """Wire Telegram into the web app; returns its delivery and background loops."""
    channel = TelegramChannel(services, dispatcher)
    channel.add_routes(app)
    return channel.delivery, channel.background()
